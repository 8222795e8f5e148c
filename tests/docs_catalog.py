"""What the docs promise, read from the files, and what the code really reads.

The programs' settings come from their declarations (planner.config.Settings,
signer.config.Settings and clientkit.config.Settings: one pydantic-settings field per
setting). Anything else the code
reads from the environment is found in its syntax tree, not in a list kept by hand, so a
new `os.environ.get("PLANNER_X")` shows up here, and test_docs refuses it unless it is
declared. Helpers for tests/test_docs.py and tests/test_deploy.py.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic.fields import FieldInfo

from clientkit.config import Settings as ClientKitSettings
from envsettings import EnvSettings
from planner.config import Settings as PlannerSettings
from signer.config import Settings as SignerSettings
from signer.errors import HTTP_CODES
from signer.gunicorn_conf import DETAILS

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("planner", "signer", "clientkit", "envsettings")
DECLARATIONS: tuple[type[EnvSettings], ...] = (PlannerSettings, SignerSettings, ClientKitSettings)
TEST_SERVERS = REPO / "tests" / "servers"
DOCS = REPO / "docs"
ENV_EXAMPLE = REPO / ".env.example"
CONFIGURATION = DOCS / "configuration.md"
SIGNER_DOC = DOCS / "signer.md"
PROCFILE = REPO / "Procfile"
APP_SPEC = REPO / ".do" / "app.yaml"

SETTING = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
# Calls that read an environment-style mapping by name: env.get / os.getenv / f(env, NAME).
ENV_HOLDERS = frozenset({"env", "environ", "environment"})
MAPPING_READS = frozenset({"get", "getenv", "pop"})
# Variables of the operating system, not of this project.
SYSTEM = frozenset({"PATH", "HOME", "TMPDIR", "USER", "LANG", "TZ"})
SHELL_DEFAULT = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::-([^}]*))?\}|\$([A-Z][A-Z0-9_]*)")


def python_files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.is_dir():
            yield from sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _strings(node: ast.AST) -> list[str]:
    """The string constants of a constant, tuple or list node."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for element in node.elts for s in _strings(element)]
    return []


def _name_of(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _reads_env(func: ast.AST) -> bool:
    if not isinstance(func, ast.Attribute):
        return False
    return func.attr in MAPPING_READS and _name_of(func.value) in ENV_HOLDERS | {"os"}


def settings_in_source(source: str) -> set[str]:
    """Every environment setting a piece of Python code reads by name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == "envvar":
            found.update(_strings(node.value))
        elif isinstance(node, ast.Call):
            args = node.args
            reads_env = _reads_env(node.func) or any(_name_of(a) in ENV_HOLDERS for a in args)
            if reads_env:
                found.update(s for arg in args for s in _strings(arg) if SETTING.fullmatch(s))
        elif isinstance(node, ast.Subscript) and _name_of(node.value) in ENV_HOLDERS:
            found.update(s for s in _strings(node.slice) if SETTING.fullmatch(s))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [_name_of(t) or "" for t in targets]
            if node.value is not None and any(
                n == "ENV_NAMES" or n.endswith("_ENV") for n in names
            ):
                found.update(s for s in _strings(node.value) if SETTING.fullmatch(s))
    return found - SYSTEM


def shell_settings(text: str) -> dict[str, str | None]:
    """Variables a shell command line expands, with their `${NAME:-default}` defaults."""
    found: dict[str, str | None] = {}
    for match in SHELL_DEFAULT.finditer(text):
        name = match.group(1) or match.group(3)
        found[name] = match.group(2)
    return found


def declared_settings() -> dict[str, FieldInfo]:
    """Environment name -> its declaration, for every setting of both programs."""
    declared: dict[str, FieldInfo] = {}
    for settings in DECLARATIONS:
        for name, env_name in settings.env_names().items():
            declared[env_name] = settings.model_fields[name]
    return declared


def undeclared_reads() -> set[str]:
    """Settings the packages read from the environment by name, outside the declarations."""
    names: set[str] = set()
    for path in python_files(*(REPO / p for p in PACKAGES)):
        names |= settings_in_source(path.read_text(encoding="utf-8"))
    return names - set(declared_settings())


def code_settings() -> set[str]:
    """Settings the programs read: the declarations, other reads in the source, the Procfile."""
    return set(declared_settings()) | undeclared_reads() | set(shell_settings(procfile_web()))


def suite_settings() -> set[str]:
    names: set[str] = set()
    for path in python_files(TEST_SERVERS):
        names |= settings_in_source(path.read_text(encoding="utf-8"))
    return names


def procfile_web() -> str:
    """The command of the Procfile's web process."""
    for line in PROCFILE.read_text(encoding="utf-8").splitlines():
        kind, _, command = line.partition(":")
        if kind.strip() == "web":
            return command.strip()
    raise AssertionError("the Procfile has no web process")


def env_example() -> dict[str, str]:
    """NAME -> value of every `NAME=value` line of .env.example, as a shell would read it."""
    entries: dict[str, str] = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, raw = line.partition("=")
        assert sep and SETTING.fullmatch(name), f".env.example line {number}: not NAME=value"
        assert name not in entries, f".env.example line {number}: {name} is listed twice"
        values = shlex.split(raw) or [""]
        assert len(values) == 1, f".env.example line {number}: quote the value of {name}"
        entries[name] = values[0]
    return entries


@dataclass(frozen=True)
class Documented:
    name: str
    default: str | None
    section: str


def configuration_reference() -> dict[str, Documented]:
    """The settings tables of docs/configuration.md: name, default (None for "—"), section."""
    entries: dict[str, Documented] = {}
    section = ""
    for line in CONFIGURATION.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3:
            continue
        name = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        if name is None:
            continue
        default = re.fullmatch(r"`([^`]*)`", cells[1])
        assert default or cells[1] == "—", f"configuration.md {name[1]}: default {cells[1]!r}"
        assert name[1] not in entries, f"configuration.md lists {name[1]} twice"
        entries[name[1]] = Documented(name[1], default[1] if default else None, section)
    return entries


@dataclass(frozen=True)
class Fence:
    path: Path
    info: str
    line: int
    text: str


def fences(paths: Iterable[Path]) -> Iterator[Fence]:
    """Every fenced code block of the given Markdown files."""
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        opened: tuple[int, str] | None = None
        body: list[str] = []
        for number, line in enumerate(lines, 1):
            if line.startswith("```"):
                if opened is None:
                    opened, body = (number, line[3:].strip()), []
                else:
                    yield Fence(path, opened[1], opened[0], "\n".join(body))
                    opened = None
            elif opened is not None:
                body.append(line)


# The signer's error codes: what each refusal is raised or answered with, found in the code.
ERROR_CALLS = frozenset({"SignerError", "error_response"})
ERROR_LIST = "Errors are always JSON"
"""How docs/signer.md's error list, one paragraph, begins."""
CODE = re.compile(r"`([a-z]+(?:_[a-z]+)*)`")
ERROR_BODY_KEYS = frozenset({"fields"})
"""Words in backquotes in the error list that are keys of the error body, not codes."""


def _error_code(call: ast.Call) -> list[str]:
    """The code of a SignerError(status, code, ...) or error_response(status, code, ...)
    written out, or the default of a lookup in its place (HTTP_CODES.get(status, "x"))."""
    code = call.args[1] if len(call.args) > 1 else None
    code = next((k.value for k in call.keywords if k.arg == "code"), code)
    if isinstance(code, ast.Call) and _name_of(code.func) == "get" and len(code.args) == 2:
        code = code.args[1]
    return [] if code is None else _strings(code)


def error_codes_in_source(source: str) -> set[str]:
    """Every error code a piece of the signer's code raises or answers with by name."""
    return {
        code
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and _name_of(node.func) in ERROR_CALLS
        for code in _error_code(node)
    }


def signer_error_codes() -> set[str]:
    """Every error code the signer answers with: those its code names (error_codes_in_source),
    Flask's HTTP errors' (signer.errors.HTTP_CODES) and gunicorn's own answers'
    (signer.gunicorn_conf.DETAILS)."""
    found = {code for path in python_files(REPO / "signer") for code in _file_codes(path)}
    return found | set(HTTP_CODES.values()) | {code for code, _ in DETAILS.values()}


def _file_codes(path: Path) -> set[str]:
    return error_codes_in_source(path.read_text(encoding="utf-8"))


def documented_error_codes() -> set[str]:
    """The codes docs/signer.md's error list names (its paragraph "Errors are always JSON")."""
    text = SIGNER_DOC.read_text(encoding="utf-8")
    start = text.index(ERROR_LIST)
    end = text.find("\n\n", start)
    return set(CODE.findall(text[start : None if end < 0 else end])) - ERROR_BODY_KEYS


def doc_pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


@dataclass(frozen=True)
class Invocation:
    """One `planner ...` or `signer ...` command found in a doc's code block."""

    where: str
    program: str
    subcommand: str
    options: tuple[str, ...]


COMMAND = re.compile(r"(?:^|[\s/;&|(])(planner|signer)\s+([a-z][a-z-]*)((?:\s+[^\s;&|)]+)*)")


def invocations(fence: Fence) -> Iterator[Invocation]:
    """The planner/signer commands of a shell block (continuations joined, comments dropped)."""
    text = fence.text.replace("\\\n", " ")
    for offset, line in enumerate(text.splitlines()):
        code = line.split(" #", 1)[0]
        if code.lstrip().startswith("#"):
            continue
        for match in COMMAND.finditer(code):
            options = tuple(
                token.split("=", 1)[0]
                for token in match.group(3).split()
                if token.startswith("-") and token != "-"
            )
            yield Invocation(
                f"{fence.path.relative_to(REPO)}:{fence.line + offset + 1}",
                match.group(1),
                match.group(2),
                options,
            )


@dataclass(frozen=True)
class RunnableBlock:
    """A ```sh tested``` block and the files the page defined before it (```csv name```)."""

    fence: Fence
    files: dict[str, str]

    @property
    def where(self) -> str:
        return f"{self.fence.path.relative_to(REPO)}:{self.fence.line}"


EXPECTED_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")


def runnable_blocks(paths: Iterable[Path]) -> Iterator[RunnableBlock]:
    for path in paths:
        files: dict[str, str] = {}
        for fence in fences([path]):
            words = fence.info.split()
            if len(words) == 2 and words[0] != "sh":
                files[words[1]] = fence.text + "\n"
            elif words == ["sh", "tested"]:
                yield RunnableBlock(fence, dict(files))


def checked_script(text: str) -> str:
    """A bash script that runs each line and stops when one exits other than its `# exit N`."""
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = EXPECTED_EXIT.search(line)
        expected = int(match[1]) if match else 0
        lines.append(line)
        lines.append(
            f'rc=$?; if [ "$rc" -ne {expected} ]; then '
            f'echo "line {number} exited $rc, expected {expected}: {shlex.quote(line)}" >&2; '
            "exit 99; fi"
        )
    return "\n".join(lines) + "\n"
