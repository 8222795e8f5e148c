"""Load, validate and summarise the operator's zipcode file and state priority list.

The operator exports zipcodes from Zillow (or edits the sample in `data/`), so the file is
untrusted input: every cell is read as text, checked, and *all* problems are reported at once,
each naming the row as the operator sees it (the line number for CSV, the array index for JSON)
and the column. Zipcodes stay strings end to end, because New Jersey's start with 0.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import json
import math
import re
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import PlannerError

# Every state code of the `zipcodes` package: the 50 states, DC, the territories and the
# military codes. Kept literal because materialising the package's 42k records costs ~0.4 s
# on every load; tests/test_dataset.py proves the two sets are equal.
_STATE_CODES = (
    "AA AE AK AL AP AR AS AZ CA CO CT DC DE FL FM GA GU HI IA ID IL IN KS KY LA MA MD ME MH MI "
    "MN MO MP MS MT NC ND NE NH NJ NM NV NY OH OK OR PA PR PW RI SC SD TN TX UT VA VI VT WA WI "
    "WV WY"
)
STATE_CODES: frozenset[str] = frozenset(_STATE_CODES.split())

# Accepted header names per field, first match wins (compared case- and punctuation-blind),
# so both the seed schema and Zillow's research exports load without renaming columns.
ALIASES: dict[str, tuple[str, ...]] = {
    "zipcode": ("zipcode", "zip", "zip_code", "RegionName", "postal_code"),
    "state": ("state", "StateName"),
    "city": ("city",),
    "county": ("county", "CountyName"),
    "market_tier": ("market_tier",),
    "listings": ("recently_sold_listings",),
}
REQUIRED = ("zipcode", "state", "listings")

# Zillow writes RegionName as a number, dropping New Jersey's leading zero; from that column
# only, 3-4 digit values are padded back. Elsewhere a short zipcode is reported, not guessed.
ZILLOW_ZIPCODE = "regionname"

MAX_LISTINGS = 1_000_000_000
MAX_SHOWN = 50


class DatasetError(PlannerError, ValueError):
    """Bad input: carries every problem found, so the operator can fix them in one pass."""

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self.problems)

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        if len(self.problems) == 1:
            return where + self.problems[0]
        shown = [f"  {problem}" for problem in self.problems[:MAX_SHOWN]]
        if len(self.problems) > MAX_SHOWN:
            shown.append(f"  ... and {len(self.problems) - MAX_SHOWN} more")
        return "\n".join([f"{where}{len(self.problems)} problems:", *shown])


class PrioritiesError(DatasetError):
    """Bad state priority list."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated zipcode file: read-only numpy columns, one row per zipcode, sorted by zipcode.

    `sha256` is the hex digest of the file's bytes, so an assignment can name the exact data
    it was planned from.
    """

    source: str
    sha256: str
    zipcode: np.ndarray
    state: np.ndarray
    city: np.ndarray
    county: np.ndarray
    market_tier: np.ndarray
    listings: np.ndarray

    def __len__(self) -> int:
        return len(self.zipcode)

    def states(self) -> list[str]:
        """The state codes present, sorted."""
        return sorted(set(self.state.tolist()))


@dataclass(frozen=True)
class StatePriority:
    """One line of the priority list: `rank` is 1-based, `weight` the state's relative share."""

    state: str
    rank: int
    weight: float


@dataclass(frozen=True)
class StateSummary:
    """One row of `planner check`: a state's zipcodes and listings, all and eligible."""

    state: str
    rank: int | None
    weight: float | None
    zipcodes: int
    eligible_zipcodes: int
    listings: int
    eligible_listings: int


def load_dataset(
    path: str | Path, count_column: str | None = None, setting: str | None = None
) -> Dataset:
    """Read and validate a CSV or JSON zipcode file; raise DatasetError listing every problem.

    `count_column` names the column holding the listing count when it is not
    `recently_sold_listings`, e.g. a date column of a Zillow sales-count export. `setting`
    is what gave the path (`PLANNER_DATA`, `--data`), for a file that cannot be read.
    """
    path = Path(path)
    special = _special(path)
    if special is not None:
        raise DatasetError([special], _given(path, setting))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError([_unreadable(path, exc.strerror)], _given(path, setting)) from exc
    return parse_dataset(raw, str(path), count_column)


def _given(path: Path, setting: str | None) -> str:
    """A path that cannot be read, with what gave it: a folder or a typo there is fixed
    where the setting, option or argument is, which the path alone does not say."""
    return str(path) if setting is None else f"{path} ({setting})"


def _special(path: Path) -> str | None:
    """Why `path` must not be read at all: a pipe or a device would block (cron waiting for
    ever) or never end. None for a regular file, a folder or a missing path, whose read says
    what is wrong."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return "not a regular file (a pipe or a device): give the path of the file itself"


def parse_dataset(raw: bytes, source: str, count_column: str | None = None) -> Dataset:
    """Validate the bytes of a zipcode file; the format comes from `source`'s extension,
    or from the content when the extension is neither .csv nor .json."""
    text = _decoded(raw, source, DatasetError)
    if _is_json(source, text):
        items = _json_items(text, source)
        repeated = [
            f"item {i}: keys {item.written[first]!r} and {item.written[second]!r} {_ONE_NAME}"
            for i, item in enumerate(items)
            for first, second in _repeated_names(item.written, count_column)
        ]
        if repeated:
            raise DatasetError(repeated, source)
        found, missing = _resolve_columns(
            list(dict.fromkeys(k for i in items for k in i)), count_column
        )
        # each item is its own header: its key is matched case and punctuation aside
        normal = [{_normal(k): v for k, v in item.items()} for item in items]
        table = pd.DataFrame(
            {
                column: [
                    _json_text(item[_normal(column)]) if _normal(column) in item else None
                    for item in normal
                ]
                for column in found.values()
            },
            index=range(len(items)),
            dtype=str,
        )
        labels = np.array([f"item {i}" for i in range(len(items))], dtype=object)
        noun = "field"
    else:
        table, labels = _read_csv(text, source)
        header = _header(text)
        repeated = [
            f"columns {first + 1} ({header[first]!r}) and {second + 1} ({header[second]!r}) "
            + _ONE_NAME
            for first, second in _repeated_names(header, count_column)
        ]
        if repeated:
            raise DatasetError(repeated, source)
        found, missing = _resolve_columns(list(table.columns), count_column)
        noun = "column"
    if len(table) == 0:
        raise DatasetError(["no data rows"], source)
    return _validate(table, labels, noun, found, missing, source, hashlib.sha256(raw).hexdigest())


def _decoded(raw: bytes, source: str, error: type[DatasetError]) -> str:
    """The file's text, UTF-8 with or without a byte-order mark; else `error` saying what
    the file seems to be (_not_text), or on which line a byte UTF-8 does not allow is (a
    Latin-1 or Windows-1252 export)."""
    problem = _not_text(raw)
    if problem is None:
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            problem = (
                f"not UTF-8 text: line {line} holds the byte 0x{raw[exc.start]:02x}, which "
                "UTF-8 does not allow there (a Latin-1 or Windows-1252 file?): save it as UTF-8"
            )
    raise error([problem], source)


def _not_text(raw: bytes) -> str | None:
    """What a file that is not UTF-8 text at all seems to be: a UTF-16 export (Excel's
    "Unicode Text"), with its byte-order mark or with NUL bytes, or a workbook saved under
    a .csv name."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8: save it as UTF-8"
    if raw.startswith(b"PK\x03\x04"):
        return "a ZIP archive, such as an Excel workbook (.xlsx), not text: save it as CSV UTF-8"
    if b"\0" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\0")) + 1
        return (
            f"not UTF-8 text: line {line} holds NUL bytes (UTF-16 text, or no text at all): "
            "save it as UTF-8"
        )
    return None


def _is_json(source: str, text: str) -> bool:
    suffix = Path(source).suffix.lower()
    if suffix in (".csv", ".json"):
        return suffix == ".json"
    return text.lstrip()[:1] in ("[", "{")


def _read_csv(text: str, source: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Every cell as text. Blank lines are kept while parsing so that row i sits on line i + 2."""
    if not text.strip():
        raise DatasetError(
            [
                "the file is empty or holds only blank lines: a CSV needs a header line (the "
                "column names) and then a line per zipcode"
            ],
            source,
        )
    blank_lines = len(re.findall(r"\r\n?|\n", text[: len(text) - len(text.lstrip())]))
    if blank_lines:
        raise DatasetError(
            [
                f"line 1 is blank and the header comes on line {blank_lines + 1}: delete the blank "
                "lines before it, the column names must be on the first line"
            ],
            source,
        )
    try:
        table = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        unclosed = _UNCLOSED_QUOTE.search(str(exc))
        if unclosed:
            raise DatasetError([_unclosed_quote(text, int(unclosed[1]))], source) from exc
        raise DatasetError([f"not a readable CSV file: {exc}"], source) from exc
    if not isinstance(table.index, pd.RangeIndex):
        # pandas' reading of rows that all have one field more than the header
        raise DatasetError(
            [f"line 2 has more fields than the header's {len(table.columns)}"], source
        )
    labels = np.array([f"line {i + 2}" for i in range(len(table))], dtype=object)
    keep = ~(table.fillna("") == "").all(axis=1).to_numpy()
    return table[keep].reset_index(drop=True), labels[keep]


_UNCLOSED_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


def _unclosed_quote(text: str, record: int) -> str:
    """pandas names an unclosed quote by its record, counted from 0 with the header and
    blind to line breaks inside quoted fields; people read lines."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for _ in itertools.islice(reader, record):
            pass
    except csv.Error:  # a field over csv's size limit: say no line rather than a wrong one
        place = "the file holds"
    else:
        place = f"line {reader.line_num + 1} opens"
    return (
        f'{place} a quote (") that no later quote closes, so the rest of the file would be '
        "one field: close the quote, or remove it"
    )


def _header(text: str) -> list[str]:
    """The CSV header as written: read_csv renames a repeated name `name.1`."""
    first = pd.read_csv(io.StringIO(text), header=None, nrows=1, dtype=str, keep_default_na=False)
    return [str(name) for name in first.iloc[0]]


class _Item(dict):
    """A JSON object, with its keys as written: a key given twice is kept once by a dict."""

    def __init__(self, pairs: list[tuple[str, object]]) -> None:
        super().__init__(pairs)
        self.written = [key for key, _ in pairs]


def _json_items(text: str, source: str) -> list[_Item]:
    """A JSON array of objects, one per zipcode."""
    try:
        items = json.loads(text, object_pairs_hook=_Item)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            [f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"], source
        ) from exc
    except RecursionError:
        raise DatasetError(["not valid JSON: it is nested too deeply"], source) from None
    except ValueError:
        # Not a JSONDecodeError: the int conversion past Python's limit on digits.
        raise DatasetError(
            [f"not valid JSON: a number has more than {sys.get_int_max_str_digits()} digits"],
            source,
        ) from None
    if not isinstance(items, list):
        raise DatasetError(["expected a JSON array of objects, one per zipcode"], source)
    problems = [
        f"item {i}: not an object" for i, item in enumerate(items) if not isinstance(item, dict)
    ]
    if problems:
        raise DatasetError(problems, source)
    return items


def _json_text(value: object) -> str:
    """A JSON scalar as the text a CSV would hold, so both formats validate alike."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return json.dumps(value)


def _normal(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


_ONE_NAME = "are one name, case and punctuation aside: which one is read would be a guess; keep one"


def _repeated_names(names: Sequence[str], count_column: str | None) -> list[tuple[int, int]]:
    """(first, later) positions of each accepted name that `names` (a CSV header, a JSON
    item's keys as written) holds more than once, case and punctuation aside: pandas renames
    a repeated column `name.1`, json keeps a repeated key's last value, and an item's
    `ZipCode` would go unread beside `zipcode`, so either would be read in silence."""
    accepted = {_normal(n) for names in ALIASES.values() for n in names}
    if count_column is not None:
        accepted.add(_normal(count_column))
    first: dict[str, int] = {}
    repeats = []
    for position, name in enumerate(names):
        key = _normal(name)
        if key not in accepted:
            continue
        if key in first:
            repeats.append((first[key], position))
        else:
            first[key] = position
    return repeats


def _resolve_columns(
    columns: Sequence[str], count_column: str | None
) -> tuple[dict[str, str], list[str]]:
    """Map each field to the file's column for it; report the required ones that are absent."""
    by_normal: dict[str, str] = {}
    for column in columns:
        by_normal.setdefault(_normal(str(column)), str(column))
    aliases = dict(ALIASES)
    if count_column is not None:
        aliases["listings"] = (count_column,)
    found: dict[str, str] = {}
    missing: list[str] = []
    for field, names in aliases.items():
        match = next((by_normal[_normal(n)] for n in names if _normal(n) in by_normal), None)
        if match is not None:
            found[field] = match
        elif field == "listings" and count_column is not None:
            missing.append(f"missing column {count_column!r} (named as the count column)")
        elif field in REQUIRED:
            also = f" (also accepted: {', '.join(names[1:])})" if len(names) > 1 else ""
            hint = (
                "; name another count column with --count-column or PLANNER_COUNT_COLUMN"
                if field == "listings"
                else ""
            )
            missing.append(f"missing column {names[0]}{also}{hint}")
    if missing:
        shown = ", ".join(str(column) for column in columns[:20])
        more = f" and {len(columns) - 20} more" if len(columns) > 20 else ""
        missing.append(f"the file's columns are: {shown}{more}")
        separator = _other_separator(columns)
        if separator:
            missing.append(
                f"the header is one column holding {separator!r}: the file separates its "
                "columns with that, not commas; save it as CSV with commas (in Excel: "
                "CSV UTF-8, comma delimited)"
            )
    return found, missing


def _other_separator(columns: Sequence[str]) -> str | None:
    """The separator a one-column header is split by, if it is not a comma: a European
    Excel's CSV uses semicolons, and its `zipcode;state;...` was read as one column."""
    if len(columns) != 1:
        return None
    return next((s for s in (";", "\t", "|") if s in str(columns[0])), None)


Located = tuple[int, int, str]  # (row, column order, message): sorts problems by row


def _validate(
    table: pd.DataFrame,
    labels: np.ndarray,
    noun: str,
    found: dict[str, str],
    problems: list[str],
    source: str,
    sha256: str,
) -> Dataset:
    """Check the required columns, then build the sorted, read-only Dataset."""
    cells = {field: _cells(table[column]) for field, column in found.items()}
    checks = {"zipcode": _check_zipcodes, "state": _check_states, "listings": _check_counts}
    clean: dict[str, np.ndarray] = {}
    located: list[Located] = []
    for order, (field, check) in enumerate(checks.items()):
        if field not in found:
            continue
        column = found[field]
        text, absent = cells[field]
        if field == "zipcode" and _normal(column) == ZILLOW_ZIPCODE:
            text = text.where(~text.str.fullmatch(r"[0-9]{3,4}"), text.str.zfill(5))
        clean[field], bad = check(text, absent, labels)
        located += [(row, order, f"{labels[row]}, {noun} {column}: {what}") for row, what in bad]
    problems = problems + [message for _, _, message in sorted(located, key=lambda p: p[:2])]
    if problems:
        raise DatasetError(problems, source)

    def optional(field: str) -> np.ndarray:
        if field not in cells:
            return np.full(len(table), "", dtype=str)
        return cells[field][0].to_numpy(dtype=str)

    by_zipcode = np.argsort(clean["zipcode"], kind="stable")
    columns = {
        "zipcode": clean["zipcode"],
        "state": clean["state"],
        "city": optional("city"),
        "county": optional("county"),
        "market_tier": optional("market_tier"),
        "listings": clean["listings"],
    }
    for name, values in columns.items():
        columns[name] = values[by_zipcode]
        columns[name].setflags(write=False)
    return Dataset(source=source, sha256=sha256, **columns)


def _cells(column: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Stripped text, and where the cell was absent (a JSON item without the key)."""
    return column.fillna("").str.strip(), column.isna().to_numpy()


def _problems(
    bad: np.ndarray, absent: np.ndarray, describe: Callable[[int], str]
) -> list[tuple[int, str]]:
    """(row, message) for each bad row; an absent cell is simply "missing"."""
    return [
        (int(row), "missing" if absent[row] else describe(int(row))) for row in np.flatnonzero(bad)
    ]


def _check_zipcodes(
    text: pd.Series, absent: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    values = text.tolist()
    good = text.str.fullmatch(r"[0-9]{5}").to_numpy() & ~absent
    bad = _problems(~good, absent, lambda row: _bad_zipcode(values[row]))
    duplicate = text.duplicated(keep="first").to_numpy() & good
    if duplicate.any():
        first: dict[str, str] = {}
        for row in np.flatnonzero(good):
            first.setdefault(values[row], labels[row])
        bad += [
            (int(row), f"{values[row]} repeats {first[values[row]]}")
            for row in np.flatnonzero(duplicate)
        ]
    return text.to_numpy(dtype=str), bad


def _check_states(
    text: pd.Series, absent: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    codes = text.str.upper()
    good = codes.isin(STATE_CODES).to_numpy() & ~absent
    values = codes.tolist()
    return codes.to_numpy(dtype=str), _problems(~good, absent, lambda row: _bad_state(values[row]))


def _check_counts(
    text: pd.Series, absent: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    number = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        good = (number >= 0) & (number <= MAX_LISTINGS) & (number == np.floor(number)) & ~absent
    values = text.tolist()
    bad = _problems(~good, absent, lambda row: _bad_count(values[row], number[row]))
    return np.where(good, number, 0).astype(np.int64), bad


def _bad_zipcode(value: str) -> str:
    if value == "":
        return "empty; a zipcode is required"
    if not value.isascii():
        return f"{value!r} is not five digits 0-9"
    if value.isdigit() and len(value) < 5:
        return f"{value!r} is not five digits (a leading zero lost? keep zipcodes as text)"
    return f"{value!r} is not five digits"


def _bad_state(value: str) -> str:
    if value == "":
        return "empty; a two-letter state code is required"
    return f"unknown state code {value!r}"


def _separators_hint(value: str) -> str:
    """What to write instead of a count with thousands separators (`1,234`), if it is one."""
    if not re.fullmatch(r"\d{1,3}(,\d{3})+", value):
        return ""
    return f": thousands separators are not accepted (write {value.replace(',', '')})"


def _bad_count(value: str, number: float) -> str:
    if value == "":
        return "empty; a listing count is required"
    if math.isnan(number) or math.isinf(number):
        return f"{value!r} is not a number{_separators_hint(value)}"
    if number < 0:
        return f"{value!r} is negative"
    if number != math.floor(number):
        return f"{value!r} is not a whole number"
    return f"{value!r} is implausibly large (more than {MAX_LISTINGS:,})"


def eligible_mask(
    dataset: Dataset,
    priorities: Sequence[StatePriority],
    min_listings: int,
    max_listings: int | None,
) -> np.ndarray:
    """Which rows the planner may assign: a listed state and listings within the bounds
    (inclusive; no upper bound when `max_listings` is None)."""
    mask = np.isin(dataset.state, [p.state for p in priorities]) & (
        dataset.listings >= min_listings
    )
    if max_listings is not None:
        mask &= dataset.listings <= max_listings
    return mask


def summarise(
    dataset: Dataset,
    priorities: Sequence[StatePriority],
    min_listings: int,
    max_listings: int | None,
) -> list[StateSummary]:
    """Per-state counts for `planner check`: listed states in priority order (even when the
    file has none of their zipcodes), then the file's other states alphabetically."""
    eligible = eligible_mask(dataset, priorities, min_listings, max_listings)
    ranked = {p.state: p for p in priorities}
    others = [s for s in dataset.states() if s not in ranked]
    rows = []
    for code in [p.state for p in priorities] + others:
        here = dataset.state == code
        priority = ranked.get(code)
        rows.append(
            StateSummary(
                state=code,
                rank=priority.rank if priority else None,
                weight=priority.weight if priority else None,
                zipcodes=int(here.sum()),
                eligible_zipcodes=int((here & eligible).sum()),
                listings=int(dataset.listings[here].sum()),
                eligible_listings=int(dataset.listings[here & eligible].sum()),
            )
        )
    return rows


PRIORITY_LINE = re.compile(r"([A-Za-z]{2})(?:(?:\s*:\s*|\s+)(\S+))?")


def _unreadable(path: Path, reason: str | None) -> str:
    """Why a file cannot be read; a relative path names the folder it was read in, since cron
    starts in the home folder, not in the checkout the path is relative to."""
    where = "" if path.is_absolute() else f" (a relative path, read in {Path.cwd()})"
    return f"cannot read the file: {reason}{where}"


def load_priorities(path: str | Path, setting: str | None = None) -> list[StatePriority]:
    """Read the state priority list; raise PrioritiesError naming every bad line. `setting`
    is what gave the path (`PLANNER_PRIORITIES`, `--priorities`), for a file that cannot be
    read."""
    path = Path(path)
    special = _special(path)
    if special is not None:
        raise PrioritiesError([special], _given(path, setting))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PrioritiesError([_unreadable(path, exc.strerror)], _given(path, setting)) from exc
    return parse_priorities(_decoded(raw, str(path), PrioritiesError), str(path))


def parse_priorities(text: str, source: str = "priorities") -> list[StatePriority]:
    """Parse a priority list: one state code per line, highest priority first.

    `#` starts a comment (whole line or after the code); blank lines are ignored. A line may
    give an explicit weight after the code, `PA 3` or `PA:3`; then every listed state must
    have one. Without weights, the state at rank r (1-based) gets weight 1/r, so PA, NJ get
    1 and 1/2: the planner gives each state a share of listings proportional to its weight
    (PA 2/3, NJ 1/3). Only listed states are eligible.
    """
    problems: list[str] = []
    entries: list[tuple[int, str, float | None]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        match = PRIORITY_LINE.fullmatch(content)
        if match is None:
            problems.append(
                f"line {number}: expected a state code with an optional weight "
                f"('PA', 'PA 3' or 'PA:3'), got {content!r}"
            )
            continue
        code, weight_text = match.group(1).upper(), match.group(2)
        weight = None
        if weight_text is not None:
            weight = _weight(weight_text)
            if weight is None:
                problems.append(
                    f"line {number}: weight of {code} must be a positive number, "
                    f"got {weight_text!r}"
                )
                continue
        if code not in STATE_CODES:
            problems.append(f"line {number}: unknown state code {code!r}")
        elif code in seen:
            problems.append(f"line {number}: {code} is already listed on line {seen[code]}")
        else:
            seen[code] = number
            entries.append((number, code, weight))
    weighted = [number for number, _, weight in entries if weight is not None]
    if weighted and len(weighted) < len(entries):
        bare = ", ".join(f"{code} (line {n})" for n, code, w in entries if w is None)
        problems.append(
            f"line {weighted[0]} gives a weight but {bare} not: "
            "give every listed state a weight, or none"
        )
    if not problems and not entries:
        problems.append("no state listed: uncomment at least one state code")
    if not problems and not math.isfinite(sum(w for _, _, w in entries if w is not None)):
        problems.append(
            "the weights add up to more than a number can hold: only their ratios matter, "
            "so use smaller ones"
        )
    if problems:
        raise PrioritiesError(problems, source)
    return [
        StatePriority(state=code, rank=rank, weight=weight if weight is not None else 1 / rank)
        for rank, (_, code, weight) in enumerate(entries, start=1)
    ]


def _weight(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None
