"""The docs cannot drift: every setting the code reads is documented with its real default, and
every `planner`/`signer` command quoted in docs/ names a real subcommand and real options."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from docs_catalog import (
    ENV_EXAMPLE,
    REPO,
    checked_script,
    code_settings,
    configuration_reference,
    declared_settings,
    doc_pages,
    documented_error_codes,
    env_example,
    error_codes_in_source,
    fences,
    invocations,
    procfile_web,
    runnable_blocks,
    settings_in_source,
    shell_settings,
    signer_error_codes,
    suite_settings,
    undeclared_reads,
)

from clientkit.config import Settings as ClientKitSettings
from envsettings import shown_default
from planner.cli import cli as planner_cli
from planner.config import Settings as PlannerSettings
from signer import create_app
from signer.cli import cli as signer_cli
from signer.config import ENV_NAMES, load_settings
from signer.config import Settings as SignerSettings

SHELL_BLOCKS = {"sh", "bash", "shell", "console", "crontab", "yaml", ""}
# Settings under which the planner reads its bucket options, so their defaults are exercised.
PLANNER_BASE = {
    "SPACES_BUCKET": "subnet46-published",
    "SPACES_ENDPOINT_URL": "http://127.0.0.1:9",
    "SPACES_KEY": "docs-test-key",
    "SPACES_SECRET": "docs-test-secret",
}
SIGNER_BASE = {"SIGNER_METAGRAPH": "data/metagraph.demo.json"}


def test_the_extractor_finds_each_way_code_reads_a_setting():
    source = """
import os
a = os.environ.get("PLANNER_ONE")
b = os.getenv("SIGNER_TWO", "x")
c = env["S3_THREE"]
d = _number(env, "PLANNER_FOUR", 1)
f = click.option("--six", envvar="SIX")
ENV_NAMES = ("SEVEN_A", "SEVEN_B")
PREFIX_ENV = "EIGHT_X"
g = response.get("Error")
config_value = current_app.config.get("MAX_CONTENT_LENGTH")
h = item.get("lowercase_key")
"""
    assert settings_in_source(source) == {
        "PLANNER_ONE",
        "SIGNER_TWO",
        "S3_THREE",
        "PLANNER_FOUR",
        "SIX",
        "SEVEN_A",
        "SEVEN_B",
        "EIGHT_X",
    }
    assert shell_settings("gunicorn -b 0.0.0.0:${PORT:-8000} -w ${WEB_CONCURRENCY:-2} $X") == {
        "PORT": "8000",
        "WEB_CONCURRENCY": "2",
        "X": None,
    }


def test_the_extractor_finds_each_way_the_signer_names_an_error_code():
    source = """
raise SignerError(503, "one", "detail", headers={"Retry-After": "1"})
error = SignerError(status=400, code="two", detail="x")
error_response(500, "three", "x")
error_response(status, HTTP_CODES.get(status, "four"), detail)
other(400, "not_a_code")
"""
    assert error_codes_in_source(source) == {"one", "two", "three", "four"}
    assert {
        "assignment_unavailable",  # SignerError in signer/published.py
        "internal_error",  # error_response in signer/errors.py
        "http_error",  # the default of its HTTP_CODES lookup
        "method_not_allowed",  # HTTP_CODES
        "uri_too_long",  # gunicorn's answers
    } <= signer_error_codes()


def test_the_error_list_names_every_code_the_signer_answers_and_no_other():
    """docs/signer.md's error list is where a client looks a code up: one the signer answers
    that it leaves out (503 assignment_unavailable was) is a code nobody can look up."""
    answered, listed = signer_error_codes(), documented_error_codes()
    assert not answered - listed, (
        f"docs/signer.md's error list (the paragraph beginning 'Errors are always JSON') "
        f"leaves out {sorted(answered - listed)}"
    )
    assert not listed - answered, (
        f"docs/signer.md's error list names {sorted(listed - answered)}, which the signer "
        "never answers"
    )


def test_the_code_reads_the_settings_design_md_names():
    names = code_settings()
    contract = {
        "PLANNER_DATA",
        "PLANNER_PRIORITIES",
        "PLANNER_PUBLISHED",
        "PLANNER_NOW",
        "PLANNER_SECRET",
        "PLANNER_TARGET_LISTINGS",
        "PLANNER_TOLERANCE_PERCENT",
        "SPACES_ENDPOINT_URL",
        "SPACES_REGION",
        "SPACES_BUCKET",
        "SPACES_KEY",
        "SPACES_SECRET",
        "S3_ENDPOINT_URL",
        "S3_REGION",
        "S3_BUCKET",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
        "SIGNER_METAGRAPH",
        "SIGNER_NETUID",
        "SIGNER_NETWORK",
        "SIGNER_PUBLISHED",
        "SIGNER_MIN_VALIDATOR_STAKE",
        "SIGNER_RATELIMIT_STORAGE",
        "SIGNER_RATELIMIT_MINER",
        "SIGNER_RATELIMIT_VALIDATOR",
    }
    assert contract <= names, sorted(contract - names)
    assert set(ENV_NAMES) <= names


def test_every_setting_the_code_reads_is_documented_in_both_places():
    read = code_settings()
    example = set(env_example())
    reference = set(configuration_reference())
    assert not read - example, f"missing from .env.example: {sorted(read - example)}"
    assert not read - reference, f"missing from docs/configuration.md: {sorted(read - reference)}"
    tests_only = suite_settings()
    assert not tests_only - reference, (
        f"test settings missing from docs/configuration.md: {sorted(tests_only - reference)}"
    )


def test_every_documented_setting_is_read_by_the_code():
    read = code_settings()
    example = set(env_example())
    assert not example - read, f".env.example documents unread settings: {sorted(example - read)}"
    reference = configuration_reference()
    tests_only = suite_settings()
    stray = {n for n, d in reference.items() if n not in read and n not in tests_only}
    assert not stray, f"docs/configuration.md documents unread settings: {sorted(stray)}"
    in_test_section = {n for n, d in reference.items() if d.section == "Test suite"}
    assert in_test_section == tests_only
    assert not in_test_section & example


def test_reference_and_env_example_give_the_same_defaults():
    example = env_example()
    for name, documented in configuration_reference().items():
        if name in example:
            assert (documented.default or "") == example[name], name


def _click_defaults(group: click.Group, name: str) -> set[str]:
    found = set()
    for command in group.commands.values():
        for param in command.params:
            envvars = param.envvar if isinstance(param.envvar, list | tuple) else [param.envvar]
            unset = param.default is None or param.default is getattr(click.core, "UNSET", None)
            if name in envvars and not unset and not param.multiple:
                found.add(str(param.default))
    return found


@pytest.mark.parametrize("name", sorted(n for n, v in env_example().items() if v))
def test_a_documented_default_is_what_the_code_does_when_the_setting_is_unset(name):
    """Setting a variable to its documented default changes nothing, wherever it is read."""
    value = env_example()[name]
    checked = []
    base = {k: v for k, v in PLANNER_BASE.items() if k != name}
    if name in _planner_reads():
        assert PlannerSettings.from_env({**base, name: value}) == PlannerSettings.from_env(base)
        checked.append("planner settings")
    if name in ENV_NAMES:
        assert load_settings({**SIGNER_BASE, name: value}) == load_settings(SIGNER_BASE)
        checked.append("signer settings")
    for group in (planner_cli, signer_cli):
        for default in _click_defaults(group, name):
            assert default == value, f"{name}: option default {default!r}, documented {value!r}"
            checked.append(f"{group.name} option")
    procfile = shell_settings(procfile_web())
    if procfile.get(name) is not None:
        assert procfile[name] == value
        checked.append("Procfile")
    assert checked, f"{name}: no code reads a default for it; document it as empty"


def _planner_reads() -> set[str]:
    return set(PlannerSettings.env_names().values())


# The addresses of the development servers: `signer serve` and `make run` read them (gunicorn,
# in the Procfile, binds to PORT too). Neither program's settings, so not declared there.
SERVER_ADDRESS = {"HOST", "PORT", "CDN_PORT"}


def test_settings_are_read_only_through_their_declarations():
    """A setting read the old way (os.environ.get, click's envvar=) must be declared instead."""
    assert undeclared_reads() <= SERVER_ADDRESS, (
        f"declare these in planner/config.py, signer/config.py or clientkit/config.py: "
        f"{sorted(undeclared_reads() - SERVER_ADDRESS)}"
    )


@pytest.mark.parametrize("name", sorted(declared_settings()))
def test_each_declared_default_is_the_documented_one(name):
    shown = shown_default(declared_settings()[name])
    assert env_example()[name] == shown, f".env.example {name}"
    assert (configuration_reference()[name].default or "") == shown, f"configuration.md {name}"


def test_options_follow_the_declarations():
    """An option that overrides a setting names its environment variable and default."""
    checked = 0
    for group, settings in (
        (planner_cli, PlannerSettings),
        (planner_cli, ClientKitSettings),
        (signer_cli, SignerSettings),
    ):
        for command in group.commands.values():
            for param in command.params:
                if param.name in settings.model_fields and isinstance(param, click.Option):
                    info = settings.model_fields[param.name]
                    assert param.opts == [settings.flag(param.name)]
                    assert f"[env var: {info.alias}" in (param.help or "")
                    assert param.envvar is None, "the declaration reads the environment"
                    checked += 1
    assert checked > 20


def test_env_example_loads_in_a_shell_and_both_programs_accept_it(tmp_path: Path):
    """`set -a; . ./.env.example` as the file says, then every settings loader accepts it."""
    script = f"set -a; . {ENV_EXAMPLE}; set +a; env -0"
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, check=True, env={"PATH": "/usr/bin:/bin"}
    )
    loaded = dict(
        entry.split("=", 1) for entry in result.stdout.decode().split("\0") if "=" in entry
    )
    for name, value in env_example().items():
        assert loaded.get(name) == value, name
    planner = PlannerSettings.from_env(loaded)
    assert planner.bucket is None and planner.secret is None
    assert ClientKitSettings.from_env(loaded).head_file is None
    signer = load_settings({**loaded, **SIGNER_BASE})
    assert signer.ratelimit_miner == "10/minute;200/day"
    assert signer.s3_bucket is None


def test_the_test_suite_default_bucket_prefix_is_documented():
    from servers.seaweed import DEFAULT_BUCKET_PREFIX

    assert configuration_reference()["S3_TEST_BUCKET_PREFIX"].default == DEFAULT_BUCKET_PREFIX


def _quoted_commands():
    for fence in fences(doc_pages()):
        if (fence.info.split() or [""])[0] in SHELL_BLOCKS:
            yield from invocations(fence)


def test_the_docs_quote_commands():
    """The check below must have something to check: the guides quote both programs."""
    found = {(i.program, i.subcommand) for i in _quoted_commands()}
    for subcommand in ("tick", "check", "verify", "doctor", "rotate-secret", "generate-data"):
        assert ("planner", subcommand) in found
    assert ("signer", "sync-metagraph") in found


@pytest.mark.parametrize("invocation", list(_quoted_commands()), ids=lambda i: i.where)
def test_every_quoted_command_is_a_real_subcommand_with_real_options(invocation):
    group = {"planner": planner_cli, "signer": signer_cli}[invocation.program]
    command = group.commands.get(invocation.subcommand)
    assert command is not None, (
        f"{invocation.where}: `{invocation.program} {invocation.subcommand}` is not a command "
        f"(commands: {', '.join(sorted(group.commands))})"
    )
    known = {"--help", "-h"}
    for param in command.params:
        known.update(param.opts)
        known.update(param.secondary_opts)
    unknown = [o for o in invocation.options if o not in known]
    assert not unknown, f"{invocation.where}: {invocation.subcommand} has no option {unknown}"


TESTED = list(runnable_blocks(doc_pages()))


def test_some_doc_blocks_are_run():
    assert len(TESTED) >= 3


@pytest.mark.parametrize("block", TESTED, ids=lambda b: b.where)
def test_a_tested_doc_block_runs_as_written(block, tmp_path: Path):
    """Run the block's lines with bash in a copy of the repository's data folder, as an
    operator would from the repository root, with only the virtualenv on PATH."""
    shutil.copytree(REPO / "data", tmp_path / "data")
    for name, text in block.files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        ["bash", "-c", checked_script(block.fence.text)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"{block.where}\n{result.stdout}\n{result.stderr}"


def test_the_block_runner_notices_an_unexpected_exit_status(tmp_path: Path):
    script = checked_script("true\nfalse   # exit 1\nfalse\necho unreachable")
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert result.returncode == 99
    assert "line 3 exited 1, expected 0" in result.stderr
    assert "unreachable" not in result.stdout


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    return {_anchor(m[1]) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def _links():
    for page in doc_pages():
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"\]\(([^)\s]+)\)", text):
            target = match[1]
            if not target.startswith(("http://", "https://", "mailto:")):
                yield page, target


def test_anchor_names_follow_github():
    assert _anchor("4. The CDN, its TTL, and purging") == "4-the-cdn-its-ttl-and-purging"
    assert _anchor("`POST /get-folder-access` (miners)") == "post-get-folder-access-miners"


@pytest.mark.parametrize(("page", "target"), list(_links()), ids=lambda v: str(v))
def test_every_relative_link_in_the_docs_resolves(page: Path, target: str):
    path, _, anchor = target.partition("#")
    resolved = (page.parent / path).resolve() if path else page
    assert resolved.exists(), f"{page.name}: {target} does not exist"
    if anchor:
        assert anchor in _anchors(resolved), f"{page.name}: no heading #{anchor} in {path}"


SIGNED_MESSAGE = re.compile(r"`((?:s3|zipcode):[^`]+)`")


def _shape(message: str) -> str:
    """A signed message with its placeholders blanked: `{epochId}` and `{epoch_id}` agree."""
    return re.sub(r"\{[^}]+\}", "{}", message)


def test_design_md_gives_each_signed_endpoint_its_message(signer_config):
    """docs/design.md's endpoint table against the messages the signer documents (and
    checks: tests/test_signer_openapi.py): every signed operation in a row of its own
    message, and no row calling a signed operation unsigned."""
    spec = create_app(signer_config).test_client().get("/openapi.json").json
    signed = {
        f"{method.upper()} {path}": _shape(SIGNED_MESSAGE.search(operation["description"])[1])
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    }
    text = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    table = text[text.index("| endpoint | who | signed message |") :].split("\n\n")[0]
    rows = {}
    for line in table.splitlines()[2:]:
        endpoints, _, message = (cell.strip() for cell in line.strip("|").split("|"))
        for endpoint in re.findall(r"`((?:GET|POST) [^`]+)`", endpoints):
            rows[endpoint] = _shape(message.strip("`"))
    for endpoint, message in signed.items():
        assert rows.get(endpoint) == message, endpoint
