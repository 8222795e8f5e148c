"""The App Platform spec (.do/app.yaml) is well-formed and says what the docs rely on.

DigitalOcean publishes no JSON Schema of the app spec, but doctl checks a spec offline
(`doctl apps spec validate --schema-only`) by decoding it into godo's AppSpec types with
unknown fields refused. KNOWN_FIELDS below are the json names of those types (godo
apps.gen.go) for the parts this spec uses, so a misspelt or invented key fails here as it
would there.
"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from docs_catalog import (
    APP_SPEC,
    DOCS,
    REPO,
    code_settings,
    configuration_reference,
    fences,
    procfile_web,
)

from planner import keys
from planner.cli import cli as planner_cli
from planner.config import Settings as PlannerSettings
from signer.config import load_settings

KNOWN_FIELDS: dict[str, frozenset[str]] = {
    "app": frozenset(
        [
            "name",
            "services",
            "static_sites",
            "workers",
            "jobs",
            "functions",
            "databases",
            "domains",
            "region",
            "envs",
            "alerts",
            "ingress",
            "egress",
            "features",
            "maintenance",
            "vpc",
            "disable_edge_cache",
            "disable_email_obfuscation",
            "enhanced_threat_control_enabled",
        ]
    ),
    "service": frozenset(
        [
            "name",
            "git",
            "github",
            "image",
            "gitlab",
            "bitbucket",
            "dockerfile_path",
            "build_command",
            "run_command",
            "source_dir",
            "environment_slug",
            "envs",
            "instance_size_slug",
            "instance_count",
            "autoscaling",
            "http_port",
            "protocol",
            "routes",
            "health_check",
            "cors",
            "internal_ports",
            "alerts",
            "log_destinations",
            "termination",
            "inactivity_sleep",
            "liveness_health_check",
        ]
    ),
    "job": frozenset(
        [
            "name",
            "git",
            "github",
            "image",
            "gitlab",
            "bitbucket",
            "dockerfile_path",
            "build_command",
            "run_command",
            "source_dir",
            "environment_slug",
            "envs",
            "instance_size_slug",
            "instance_count",
            "kind",
            "schedule",
            "alerts",
            "log_destinations",
            "termination",
            "timeout",
        ]
    ),
    "health_check": frozenset(
        [
            "path",
            "initial_delay_seconds",
            "period_seconds",
            "timeout_seconds",
            "success_threshold",
            "failure_threshold",
            "http_path",
            "port",
        ]
    ),
    "env": frozenset({"key", "value", "scope", "type"}),
    "github": frozenset({"repo", "branch", "deploy_on_push"}),
    "schedule": frozenset({"cron", "time_zone"}),
    "database": frozenset(
        [
            "name",
            "engine",
            "version",
            "size",
            "num_nodes",
            "production",
            "cluster_name",
            "db_name",
            "db_user",
        ]
    ),
    "alert": frozenset({"rule", "disabled", "operator", "value", "window"}),
}
# godo's AppDatabaseSpecEngine values.
DATABASE_ENGINES = {"UNSET", "MYSQL", "PG", "REDIS", "MONGODB", "KAFKA", "OPENSEARCH", "VALKEY"}
JOB_KINDS = {"UNSPECIFIED", "PRE_DEPLOY", "POST_DEPLOY", "FAILED_DEPLOY", "SCHEDULED"}
ENV_SCOPES = {"UNSET", "RUN_TIME", "BUILD_TIME", "RUN_AND_BUILD_TIME"}
ENV_TYPES = {"GENERAL", "SECRET"}
# DigitalOcean's OpenAPI spec, app_component_instance_base.yml (current, non-deprecated sizes).
INSTANCE_SIZES = {
    "apps-s-1vcpu-0.5gb",
    "apps-s-1vcpu-1gb-fixed",
    "apps-s-1vcpu-1gb",
    "apps-s-1vcpu-2gb",
    "apps-s-2vcpu-4gb",
    "apps-d-1vcpu-0.5gb",
    "apps-d-1vcpu-1gb",
    "apps-d-1vcpu-2gb",
    "apps-d-1vcpu-4gb",
    "apps-d-2vcpu-4gb",
    "apps-d-2vcpu-8gb",
    "apps-d-4vcpu-8gb",
    "apps-d-4vcpu-16gb",
    "apps-d-8vcpu-32gb",
}
ALERT_RULES = {"DEPLOYMENT_FAILED", "JOB_INVOCATION_FAILED", "RESTART_COUNT", "MEM_UTILIZATION"}
COMPONENT_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]")
ENV_KEY = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
SECRETS = {
    "PLANNER_SECRET",
    "PLANNER_NEW_SECRET",
    "SPACES_KEY",
    "SPACES_SECRET",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
}
CRON_FIELD = re.compile(r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*")
CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(APP_SPEC.read_text(encoding="utf-8"))


def _components(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("service", s) for s in spec.get("services", [])] + [
        ("job", j) for j in spec.get("jobs", [])
    ]


def _envs(component: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {env["key"]: env for env in component.get("envs", [])}


def _unknown(node: dict[str, Any], kind: str) -> set[str]:
    return set(node) - KNOWN_FIELDS[kind]


def test_every_key_is_a_field_of_digitaloceans_app_spec(spec):
    assert not _unknown(spec, "app")
    for alert in spec.get("alerts", []):
        assert not _unknown(alert, "alert") and alert["rule"] in ALERT_RULES
    for kind, component in _components(spec):
        assert not _unknown(component, kind), component["name"]
        assert COMPONENT_NAME.fullmatch(component["name"])
        assert not _unknown(component["github"], "github")
        assert component["instance_size_slug"] in INSTANCE_SIZES
        assert isinstance(component["instance_count"], int) and component["instance_count"] >= 1
        for alert in component.get("alerts", []):
            assert not _unknown(alert, "alert") and alert["rule"] in ALERT_RULES
        for env in component["envs"]:
            assert not _unknown(env, "env"), env
            assert ENV_KEY.fullmatch(env["key"])
            assert env["scope"] in ENV_SCOPES
            assert env.get("type", "GENERAL") in ENV_TYPES
            assert "value" not in env or isinstance(env["value"], str), env["key"]
    for database in spec.get("databases", []):
        assert not _unknown(database, "database"), database["name"]
        assert COMPONENT_NAME.fullmatch(database["name"])
        assert database["engine"] in DATABASE_ENGINES
        assert isinstance(database.get("version", ""), str)
    names = [c["name"] for _, c in _components(spec)] + [
        d["name"] for d in spec.get("databases", [])
    ]
    assert len(names) == len(set(names))


def test_two_signer_instances_share_their_limits_in_managed_valkey(spec):
    """memory:// counts per process; several instances need the shared store."""
    (signer,) = spec["services"]
    assert signer["instance_count"] == 2
    (database,) = spec["databases"]
    assert database["engine"] == "VALKEY"
    # Only PostgreSQL has dev databases: Valkey is attached as an existing managed cluster.
    assert database["production"] is True and database["cluster_name"]
    storage = _envs(signer)["SIGNER_RATELIMIT_STORAGE"]
    assert storage["value"] == "${" + database["name"] + ".DATABASE_URL}"
    assert load_settings({"SIGNER_METAGRAPH": "m.json"}).ratelimit_storage == "memory://"


def test_the_signer_is_health_checked_on_healthz_and_runs_the_procfile_command(spec, client):
    (signer,) = [s for s in spec["services"] if s["name"] == "signer"]
    assert not _unknown(signer["health_check"], "health_check")
    assert signer["health_check"]["http_path"] == "/healthz"
    assert client.get("/healthz").status_code == 200
    assert signer["run_command"] == procfile_web()
    command = shlex.split(signer["run_command"])
    assert command[0] == "gunicorn"
    assert command[-1] == "signer:create_app()"
    # App Platform's Python buildpack asks for it: gunicorn's heartbeat files off the disk.
    assert command[command.index("--worker-tmp-dir") + 1] == "/dev/shm"


def test_the_planner_tick_is_a_scheduled_job_every_few_minutes(spec):
    (job,) = spec["jobs"]
    assert job["kind"] == "SCHEDULED"
    assert not _unknown(job["schedule"], "schedule")
    assert job["schedule"]["time_zone"] == "UTC"
    fields = job["schedule"]["cron"].split()
    assert len(fields) == 5
    for field, (low, high) in zip(fields, CRON_RANGES, strict=True):
        assert CRON_FIELD.fullmatch(field), field
        assert all(low <= int(n) <= high for n in re.findall(r"(?<!/)\b\d+", field)), field
    minute = fields[0]
    assert minute == "*" or minute.startswith("*/"), "tick must run at least hourly"
    assert fields[1:] == ["*"] * 4
    assert re.fullmatch(r"\d+[smh]", job["timeout"])
    program, subcommand = shlex.split(job["run_command"])
    assert (program, subcommand) == ("planner", "tick")
    assert subcommand in planner_cli.commands


def test_every_environment_key_is_a_documented_setting(spec):
    read = code_settings()
    documented = configuration_reference()
    for _, component in _components(spec):
        for key in _envs(component):
            assert key in read and key in documented, key


def test_secrets_are_typed_secret_and_have_no_value_in_the_repository(spec):
    for _, component in _components(spec):
        for key, env in _envs(component).items():
            if key in SECRETS:
                assert env.get("type") == "SECRET", key
                assert "value" not in env, f"{key}: secret values never belong in the repository"
            else:
                assert env.get("type", "GENERAL") == "GENERAL", key
                assert "value" in env, key


def test_each_program_gets_only_its_own_credentials(spec):
    """The signer holds no planner secret; the planner job holds no data-bucket key."""
    (signer,) = spec["services"]
    (job,) = spec["jobs"]
    signer_keys, job_keys = set(_envs(signer)), set(_envs(job))
    assert not {k for k in signer_keys if k.startswith(("PLANNER_", "SPACES_"))}
    assert not {k for k in job_keys if k.startswith(("SIGNER_", "S3_"))}
    assert "envs" not in spec, "app-level envs would reach both components"
    assert {"PLANNER_SECRET", "SPACES_KEY", "SPACES_SECRET", "SPACES_BUCKET"} <= job_keys
    assert {"S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_BUCKET"} <= signer_keys


def _with_dummy_secrets(component: dict[str, Any]) -> dict[str, str]:
    env = {k: e.get("value", "") for k, e in _envs(component).items()}
    env.update({k: keys.new_secret() for k in env if k in SECRETS})
    return env


def test_the_spec_environment_is_accepted_by_each_program(spec, tmp_path):
    (signer,) = spec["services"]
    (job,) = spec["jobs"]
    settings = load_settings(_with_dummy_secrets(signer))
    assert settings.s3_bucket and settings.published_is_url
    assert settings.proxy_hops == 1, "App Platform puts a proxy in front of the service"
    planner = PlannerSettings.from_env(_with_dummy_secrets(job))
    assert planner.bucket is not None and planner.bucket.bucket
    assert planner.secret_bytes()
    for path in (planner.data, planner.priorities):
        assert (REPO / path).is_file(), path
    assert settings.published.startswith(f"https://{planner.bucket.bucket}.")


def test_both_components_build_from_the_same_source(spec):
    (signer,) = spec["services"]
    (job,) = spec["jobs"]
    assert signer["github"] == job["github"]
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", signer["github"]["repo"])
    assert signer["environment_slug"] == job["environment_slug"] == "python"


def test_the_python_buildpack_finds_the_project_and_its_python():
    """App Platform's buildpack detects requirements.txt and reads runtime.txt (DigitalOcean's
    documented way; its buildpack does not read .python-version, kept for local tools).

    The base install is only the client kit: the app needs the planner's and the signer's
    extras, the chain's (the signer refreshes its metagraph from it) and redis (the two
    signer instances share their limits in managed Valkey).
    """
    lines = [
        line.strip()
        for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    (line,) = lines
    (extras,) = re.fullmatch(r"\.\[([\w,]+)\]", line).groups()
    assert {"planner", "signer", "chain", "redis"} <= set(extras.split(","))
    version = (REPO / ".python-version").read_text(encoding="utf-8").strip()
    runtime = (REPO / "runtime.txt").read_text(encoding="utf-8").strip()
    # DigitalOcean documents the exact form (python-3.10.4); its buildpack lists the patch
    # releases it has, 3.11.0 to 3.11.7 on Ubuntu-22.
    assert re.fullmatch(rf"python-{re.escape(version)}\.\d+", runtime), runtime
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    minimum = setup["options"]["python_requires"].removeprefix(">=")
    assert "redis" in setup["options.extras_require"]["redis"]
    assert re.fullmatch(r"3\.\d+", version)
    assert tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split(".")))


def test_the_droplet_crontab_line_exports_the_settings_and_ticks(tmp_path):
    """The guide's crontab line, with its paths moved under tmp_path, run as cron would (sh)."""
    (fence,) = [f for f in fences([DOCS / "deploy-digitalocean.md"]) if f.info == "crontab"]
    (line,) = [x for x in fence.text.splitlines() if x.strip() and not x.startswith("#")]
    schedule, command = line.split()[:5], line.split(maxsplit=5)[5]
    assert schedule == ["*/5", "*", "*", "*", "*"]
    checkout = tmp_path / "opt"
    checkout.mkdir()
    shutil.copytree(REPO / "data", checkout / "data")
    (checkout / ".venv").symlink_to(REPO / ".venv")
    settings = tmp_path / "planner.env"
    settings.write_text(f"PLANNER_SECRET={keys.new_secret()}\nPLANNER_DAYS=1\n", encoding="utf-8")
    log = tmp_path / "planner.log"
    command = (
        command.replace("/opt/subnet46", str(checkout))
        .replace("/etc/subnet46/planner.env", str(settings))
        .replace("/var/log/subnet46-planner.log", str(log))
    )
    result = subprocess.run(["sh", "-c", command], env={"PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode == 0, log.read_text(encoding="utf-8")
    assert "sealed" in log.read_text(encoding="utf-8")
    assert (checkout / "published" / "index.json").is_file()
