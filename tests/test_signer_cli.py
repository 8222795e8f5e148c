"""`signer sync-metagraph` and `signer serve`, with the chain replaced by a fake metagraph."""

from __future__ import annotations

import json

from signer.cli import CliState, cli
from signer.metagraph import SnapshotError, load_snapshot

from servers.fake_chain import DEMO_METAGRAPH as DEMO
from servers.fake_chain import fake_metagraph

NOW = 1795626000.0


def state_with(fetch) -> CliState:
    return CliState(fetch=fetch, clock=lambda: NOW)


def test_sync_writes_the_snapshot(runner, tmp_path):
    output = tmp_path / "metagraph.json"
    asked = []

    def fetch(network, netuid):
        asked.append((network, netuid))
        return fake_metagraph(netuid=netuid)

    result = runner.invoke(
        cli,
        ["sync-metagraph", "--network", "test", "--netuid", "428", "--output", str(output)],
        obj=state_with(fetch),
    )
    assert result.exit_code == 0, result.output
    assert asked == [("test", 428)]
    assert "428 at block 7000000, 2 neurons (1 with a validator permit)" in result.output
    snapshot = load_snapshot(output, 428)
    assert snapshot.fetched_at.timestamp() == NOW


def test_sync_reads_settings_from_the_environment(runner, tmp_path, monkeypatch):
    output = tmp_path / "env.json"
    monkeypatch.setenv("SIGNER_METAGRAPH", str(output))
    monkeypatch.setenv("SIGNER_NETWORK", "test")
    seen = []
    result = runner.invoke(
        cli,
        ["sync-metagraph"],
        obj=state_with(lambda network, netuid: seen.append((network, netuid)) or fake_metagraph()),
    )
    assert result.exit_code == 0, result.output
    assert seen == [("test", 46)]
    assert json.loads(output.read_text())["netuid"] == 46


def test_unreachable_chain_keeps_the_old_snapshot(runner, tmp_path):
    output = tmp_path / "metagraph.json"
    output.write_bytes(DEMO.read_bytes())

    def fetch(network, netuid):
        raise ConnectionError("wss://entrypoint-finney.opentensor.ai:443 unreachable")

    result = runner.invoke(cli, ["sync-metagraph", "--output", str(output)], obj=state_with(fetch))
    assert result.exit_code == 1
    assert "could not read netuid 46 from finney" in result.output
    assert "the old snapshot is kept" in result.output
    assert output.read_bytes() == DEMO.read_bytes()
    output.unlink()
    first = runner.invoke(cli, ["sync-metagraph", "--output", str(output)], obj=state_with(fetch))
    assert first.exit_code == 1 and "old snapshot" not in first.output, "there was none"
    assert f"{output} is not written" in first.output


def test_missing_subnet_is_a_clear_error(runner, tmp_path):
    def fetch(network, netuid):
        raise SnapshotError(f"netuid {netuid} does not exist on {network}")

    result = runner.invoke(
        cli,
        ["sync-metagraph", "--netuid", "999", "--output", str(tmp_path / "m.json")],
        obj=state_with(fetch),
    )
    assert result.exit_code == 1
    assert "netuid 999 does not exist on finney" in result.output
    assert not (tmp_path / "m.json").exists()


def test_sync_needs_an_output(runner, monkeypatch):
    monkeypatch.delenv("SIGNER_METAGRAPH", raising=False)
    result = runner.invoke(cli, ["sync-metagraph"], obj=state_with(fake_metagraph))
    assert result.exit_code == 1
    assert "Error: SIGNER_METAGRAPH (or --output) is required" in result.output, (
        "the option that gives it is named too"
    )
    assert "--output" in runner.invoke(cli, ["sync-metagraph", "--help"]).output


def test_serve_refuses_bad_configuration(runner, monkeypatch):
    monkeypatch.delenv("SIGNER_METAGRAPH", raising=False)
    result = runner.invoke(cli, ["serve", "--port", "8123"])
    assert result.exit_code == 1
    assert "SIGNER_METAGRAPH is required" in result.output


def test_serve_names_the_environment_it_reads(runner, monkeypatch):
    shown = runner.invoke(cli, ["serve", "--help"]).output
    assert "env var: HOST" in shown
    assert "env var: PORT" in shown
    monkeypatch.setenv("PORT", "abc")
    result = runner.invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert "(env var: 'PORT')" in result.output


def test_h_is_help(runner):
    assert runner.invoke(cli, ["-h"]).output == runner.invoke(cli, ["--help"]).output


def test_serve_on_an_address_it_cannot_take_names_host_and_port(runner, monkeypatch):
    """Werkzeug printed only "Name or service not known" (a HOST typo) or "Cannot assign
    requested address" (an address of another machine), naming neither setting."""
    monkeypatch.setenv("SIGNER_METAGRAPH", str(DEMO))
    monkeypatch.setenv("SIGNER_METAGRAPH_REFRESH", "0")
    for host in ("notahost.invalid", "192.0.2.1"):
        result = runner.invoke(cli, ["serve", "--host", host, "--port", "8123"])
        assert result.exit_code == 1
        assert result.output.startswith(
            f"Error: cannot serve on {host} port 8123 (--host/HOST, --port/PORT): "
        )
