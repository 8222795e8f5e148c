"""Waiting for a server a test started, however loaded the machine is.

Each attempt may time out or be refused while the server starts (a worker still importing,
four test suites on two cores); only the overall deadline, which is generous, ends the wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

START_TIMEOUT = 120.0
ATTEMPT_TIMEOUT = 5.0


def wait_for_http(
    url: str,
    check_alive: Callable[[], None],
    deadline_seconds: float = START_TIMEOUT,
    attempt_timeout: float = ATTEMPT_TIMEOUT,
) -> None:
    """Return once `url` answers 200; `check_alive` raises if the server process died."""
    deadline = time.monotonic() + deadline_seconds
    last = "no answer yet"
    while True:
        check_alive()
        try:
            status = requests.get(url, timeout=attempt_timeout).status_code
            if status == 200:
                return
            last = f"HTTP {status}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {deadline_seconds:.0f} s ({last})")
        time.sleep(0.2)
