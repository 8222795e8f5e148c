"""`make run`: the whole system on this machine from the sample data, no cloud account.

Seals the coming week into published/, reveals the current epoch, serves published/ as the
CDN would, and starts the signer under gunicorn with the demo metagraph. The secret is
generated once and kept in .planner/demo-secret (git-ignored): a demo has no built-in key.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path


def demo_secret(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def _stop(signum: int, frame: object) -> None:
    """SIGTERM ends the demo like Ctrl-C, so its two servers are stopped too."""
    raise KeyboardInterrupt


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    cdn = f"http://{host}:{port + 1}"
    env = dict(os.environ)
    env.setdefault("PLANNER_SECRET", demo_secret(Path(".planner/demo-secret")))
    env.update(
        SIGNER_METAGRAPH=env.get("SIGNER_METAGRAPH", "data/metagraph.demo.json"),
        SIGNER_PUBLISHED=env.get("SIGNER_PUBLISHED", "published"),
        SIGNER_CDN_URL=env.get("SIGNER_CDN_URL", cdn),
        SIGNER_METAGRAPH_MAX_AGE=env.get("SIGNER_METAGRAPH_MAX_AGE", "0"),
        SIGNER_METAGRAPH_REFRESH=env.get("SIGNER_METAGRAPH_REFRESH", "0"),
    )
    tick = subprocess.run([sys.executable, "-m", "planner", "tick"], env=env)
    if tick.returncode:
        return tick.returncode
    published = env.get("PLANNER_PUBLISHED", "published")
    cdn_server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port + 1),
            "--bind",
            host,
            "--directory",
            published,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    signer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{host}:{port}",
            "--workers",
            "2",
            "--timeout",
            "30",
            "signer:create_app()",
        ],
        env=env,
    )
    print(
        "\nSubnet 46 demo is running (Ctrl-C stops it):\n"
        f"  Swagger UI (every API)   http://{host}:{port}/docs\n"
        f"  signer landing page      http://{host}:{port}/\n"
        f"  current assignment       http://{host}:{port}/assignments/current\n"
        f"  status page (the 'CDN')  {cdn}/index.html\n"
        f"  published files          {cdn}/index.json\n"
        "Demo keys: //Alice is a validator, //Bob and //Charlie are miners "
        "(see data/README.md).\n",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _stop)
    try:
        return signer.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for process in (signer, cdn_server):
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
