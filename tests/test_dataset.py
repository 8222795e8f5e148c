"""Loading, validating and summarising zipcode files and the state priority list."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import zipcodes

from planner.dataset import (
    STATE_CODES,
    DatasetError,
    PrioritiesError,
    StatePriority,
    load_dataset,
    load_priorities,
    parse_priorities,
    summarise,
)

DATA = Path(__file__).parents[1] / "data"
SAMPLES = [DATA / "zipcodes.csv", DATA / "zipcodes.json"]
HEADER = "zipcode,state,city,county,recently_sold_listings"


def write(tmp_path: Path, text: str, name: str = "zips.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, **options) -> list[str]:
    with pytest.raises(DatasetError) as caught:
        load_dataset(path, **options)
    return caught.value.problems


def test_state_codes_are_those_of_the_zipcodes_package():
    assert {record["state"] for record in zipcodes.list_all()} == STATE_CODES
    assert {"DC", "PR", "GU", "VI", "AE"} <= STATE_CODES


@pytest.mark.parametrize("path", SAMPLES, ids=["csv", "json"])
def test_sample_keeps_leading_zeros(path):
    dataset = load_dataset(path)
    assert "07030" in dataset.zipcode.tolist()
    hoboken = dataset.zipcode.tolist().index("07030")
    assert (dataset.state[hoboken], dataset.city[hoboken]) == ("NJ", "Hoboken")
    assert all(len(z) == 5 and z.isdigit() for z in dataset.zipcode.tolist())
    assert all(z.startswith("0") for z in dataset.zipcode[dataset.state == "NJ"].tolist())


@pytest.mark.parametrize("path", SAMPLES, ids=["csv", "json"])
def test_sample_has_every_real_zipcode_of_pa_and_nj(path):
    dataset = load_dataset(path)
    assert dataset.states() == ["NJ", "PA"]
    for state, count in (("PA", 2215), ("NJ", 738)):
        real = {r["zip_code"] for r in zipcodes.filter_by(state=state)}
        assert len(real) == count
        assert set(dataset.zipcode[dataset.state == state].tolist()) == real


def test_csv_and_json_samples_hold_identical_records():
    with (DATA / "zipcodes.csv").open(newline="", encoding="utf-8") as handle:
        from_csv = list(csv.DictReader(handle))
    from_json = json.loads((DATA / "zipcodes.json").read_text(encoding="utf-8"))
    assert all(isinstance(item["zipcode"], str) for item in from_json)
    assert all(isinstance(item["recently_sold_listings"], int) for item in from_json)
    assert [{k: str(v) for k, v in item.items()} for item in from_json] == from_csv


def test_loaded_dataset_is_sorted_hashed_and_read_only():
    path = SAMPLES[0]
    dataset = load_dataset(path)
    assert dataset.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert dataset.source == str(path)
    assert dataset.zipcode.tolist() == sorted(dataset.zipcode.tolist())
    assert dataset.listings.dtype == np.int64
    assert len(dataset) == 2953
    with pytest.raises(ValueError):
        dataset.listings[0] = 5


def test_rows_are_sorted_by_zipcode_with_their_values(tmp_path):
    path = write(
        tmp_path,
        f"{HEADER}\n19103,PA,Philadelphia,Philadelphia County,245\n"
        "07030,nj, Hoboken ,Hudson,12.0\n",
    )
    dataset = load_dataset(path)
    assert dataset.zipcode.tolist() == ["07030", "19103"]
    assert dataset.state.tolist() == ["NJ", "PA"]
    assert dataset.city.tolist() == ["Hoboken", "Philadelphia"]
    assert dataset.listings.tolist() == [12, 245]
    assert dataset.market_tier.tolist() == ["", ""]


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ("7030,NJ,Hoboken,Hudson,5", "line 2, column zipcode: '7030' is not five digits"),
        ("1910A,PA,Phila,Phila,5", "line 2, column zipcode: '1910A' is not five digits"),
        ("191030,PA,Phila,Phila,5", "line 2, column zipcode: '191030' is not five digits"),
        (",PA,Phila,Phila,5", "line 2, column zipcode: empty; a zipcode is required"),
        ("19103,XX,Phila,Phila,5", "line 2, column state: unknown state code 'XX'"),
        ("19103,,Phila,Phila,5", "line 2, column state: empty; a two-letter state code"),
        ("19103,PA,Phila,Phila,-3", "line 2, column recently_sold_listings: '-3' is negative"),
        (
            "19103,PA,Phila,Phila,many",
            "line 2, column recently_sold_listings: 'many' is not a number",
        ),
        (
            '19103,PA,Phila,Phila,"1,234"',
            "line 2, column recently_sold_listings: '1,234' is not a number: thousands "
            "separators are not accepted (write 1234)",
        ),
        (
            "19103,PA,Phila,Phila,2.5",
            "line 2, column recently_sold_listings: '2.5' is not a whole number",
        ),
        ("19103,PA,Phila,Phila,", "line 2, column recently_sold_listings: empty"),
        (
            "19103,PA,Phila,Phila,1e12",
            "line 2, column recently_sold_listings: '1e12' is implausibly large",
        ),
        ("19103,PA", "line 2, column recently_sold_listings: empty"),
    ],
)
def test_bad_csv_row_names_line_and_column(tmp_path, rows, problem):
    path = write(tmp_path, f"{HEADER}\n{rows}\n")
    problems = problems_of(path)
    assert len(problems) == 1
    assert problems[0].startswith(problem)


def test_duplicate_names_both_rows(tmp_path):
    path = write(tmp_path, f"{HEADER}\n19103,PA,a,b,1\n07030,NJ,c,d,2\n19103,PA,e,f,3\n")
    assert problems_of(path) == ["line 4, column zipcode: 19103 repeats line 2"]


def test_blank_lines_do_not_shift_line_numbers(tmp_path):
    path = write(tmp_path, f"{HEADER}\n19103,PA,a,b,1\n\n07030,NJ,c,d,-1\n")
    assert problems_of(path) == ["line 4, column recently_sold_listings: '-1' is negative"]


def test_every_problem_is_reported_at_once_in_file_order(tmp_path):
    path = write(
        tmp_path,
        f"{HEADER}\n"
        "19103,PA,a,b,x\n"  # line 2
        "7030,ZZ,c,d,4\n"  # line 3
        "19104,PA,e,f,-2\n"  # line 4
        "19103,NJ,g,h,1\n",  # line 5
    )
    problems = problems_of(path)
    assert problems == [
        "line 2, column recently_sold_listings: 'x' is not a number",
        "line 3, column zipcode: '7030' is not five digits "
        "(a leading zero lost? keep zipcodes as text)",
        "line 3, column state: unknown state code 'ZZ'",
        "line 4, column recently_sold_listings: '-2' is negative",
        "line 5, column zipcode: 19103 repeats line 2",
    ]
    with pytest.raises(DatasetError) as caught:
        load_dataset(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: 5 problems:")
    assert all(problem in message for problem in problems)


def test_missing_columns_are_named_with_the_file_columns(tmp_path):
    path = write(tmp_path, "zip,town\n19103,Philadelphia\n")
    problems = problems_of(path)
    assert problems == [
        "missing column state (also accepted: StateName)",
        "missing column recently_sold_listings; name another count column with --count-column"
        " or PLANNER_COUNT_COLUMN",
        "the file's columns are: zip, town",
    ]


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_file_separated_by_semicolons_says_so(tmp_path, separator):
    """A European Excel saves CSV with semicolons: its header was one column, and the
    message said `zipcode` was missing while showing a header that held it."""
    rows = ["zipcode", "state", "recently_sold_listings"], ["19103", "PA", "5"]
    path = write(tmp_path, "".join(separator.join(row) + "\n" for row in rows))
    problems = problems_of(path)
    assert problems[-1] == (
        f"the header is one column holding {separator!r}: the file separates its columns "
        "with that, not commas; save it as CSV with commas (in Excel: CSV UTF-8, comma "
        "delimited)"
    )
    assert problems[0].startswith("missing column zipcode")


def test_long_problem_lists_are_capped_when_printed(tmp_path):
    rows = "".join(f"{10000 + i},PA,a,b,-1\n" for i in range(60))
    path = write(tmp_path, f"{HEADER}\n{rows}")
    with pytest.raises(DatasetError) as caught:
        load_dataset(path)
    assert len(caught.value.problems) == 60
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path}: 60 problems:"
    assert len(lines) == 1 + 50 + 1
    assert lines[-1].strip() == "... and 10 more"
    assert "line 61," not in str(caught.value)


def test_json_problems_name_the_item_index(tmp_path):
    items = [
        {"zipcode": "19103", "state": "PA", "recently_sold_listings": 3},
        {"zipcode": 7030, "state": "NJ", "recently_sold_listings": 1},
        {"zipcode": "19104", "state": "PA"},
        {"zipcode": "19105", "state": "PA", "recently_sold_listings": -4.5},
    ]
    path = write(tmp_path, json.dumps(items), "zips.json")
    assert problems_of(path) == [
        "item 1, field zipcode: '7030' is not five digits "
        "(a leading zero lost? keep zipcodes as text)",
        "item 2, field recently_sold_listings: missing",
        "item 3, field recently_sold_listings: '-4.5' is negative",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"zipcode": "19103"}', "expected a JSON array of objects"),
        ('[{"zipcode": "19103"}, 5]', "item 1: not an object"),
        ('[{"zipcode": "19103",}]', "not valid JSON: "),
        ("[]", "no data rows"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON: it is nested too deeply"),
        (
            '[{"zipcode": "19103", "recently_sold_listings": ' + "9" * 5000 + "}]",
            "not valid JSON: a number has more than 4300 digits",
        ),
    ],
    ids=["object", "not-an-object", "trailing-comma", "empty", "deep", "long-number"],
)
def test_malformed_json_is_reported(tmp_path, text, problem):
    """Deep nesting and a number of over 4,300 digits ended in json's RecursionError and
    ValueError tracebacks, the latter advising sys.set_int_max_str_digits()."""
    path = write(tmp_path, text, "zips.json")
    assert problems_of(path)[0].startswith(problem)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty or holds only blank lines"),
        (b"\n \r\n\n", "the file is empty or holds only blank lines"),
        (
            b"\n\n" + HEADER.encode() + b"\n19103,PA,a,b,1\n",
            "line 1 is blank and the header comes on line 3",
        ),
        (HEADER.encode() + b"\n", "no data rows"),
        (b"zipcode,state\n\xff\xfe,PA\n", "not UTF-8 text"),
        (
            HEADER.encode() + b"\n19103,PA,a,b,1\n19104,PA,a,b,2,9\n",
            "not a readable CSV file: Error tokenizing data. C error: Expected 5 fields in line 3",
        ),
        (HEADER.encode() + b"\n19103,PA,a,b,1,9\n", "line 2 has more fields than the header's 5"),
        (HEADER.encode() + b'\n"19103,PA,a,b,1\n', 'line 2 opens a quote (")'),
    ],
)
def test_unreadable_files_are_reported(tmp_path, content, problem):
    path = tmp_path / "zips.csv"
    path.write_bytes(content)
    assert problems_of(path)[0].startswith(problem)


def test_an_unclosed_quote_is_named_by_its_line_not_pandas_row(tmp_path):
    """pandas says "EOF inside string starting at row 3", counting records from 0: one
    earlier quoted field holding a line break puts it two lines off the file's."""
    path = tmp_path / "zips.csv"
    path.write_text(f'{HEADER}\n19103,PA,"Phila\ndelphia",b,1\n\n19104,PA,"a,b,2\n19105,PA,a,b,3\n')
    problem = problems_of(path)[0]
    assert problem.startswith('line 5 opens a quote (") that no later quote closes')
    assert "row" not in problem


def test_an_unclosed_quote_after_a_huge_field_is_named_without_a_line(tmp_path):
    """csv, which counts the lines, refuses fields over 128 KiB that pandas reads."""
    path = tmp_path / "zips.csv"
    huge = "x" * (csv.field_size_limit() + 1)
    path.write_text(f'{HEADER}\n19103,PA,"{huge}",b,1\n19104,PA,"a,b,2\n')
    assert problems_of(path)[0].startswith('the file holds a quote (") that no later quote')


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path / "nope.csv")
    assert str(caught.value).startswith(f"{tmp_path / 'nope.csv'}: cannot read the file")


ZILLOW = (
    "RegionID,SizeRank,RegionName,RegionType,StateName,State,City,Metro,CountyName,"
    "2024-08-31,2024-09-30\n"
    '61639,1,7030,zip,NJ,NJ,Hoboken,"New York-Newark-Jersey City, NY-NJ-PA",'
    "Hudson County,40.0,42.0\n"
    "65810,2,19103,zip,PA,PA,Philadelphia,Philadelphia,Philadelphia County,99.0,101.0\n"
)


def test_zillow_columns_are_accepted_with_a_named_count_column(tmp_path):
    dataset = load_dataset(write(tmp_path, ZILLOW), count_column="2024-09-30")
    assert dataset.zipcode.tolist() == ["07030", "19103"]
    assert dataset.state.tolist() == ["NJ", "PA"]
    assert dataset.city.tolist() == ["Hoboken", "Philadelphia"]
    assert dataset.county.tolist() == ["Hudson County", "Philadelphia County"]
    assert dataset.listings.tolist() == [42, 101]


def test_named_count_column_that_is_absent_is_reported(tmp_path):
    problems = problems_of(write(tmp_path, ZILLOW), count_column="2024-10-31")
    assert problems[0] == "missing column '2024-10-31' (named as the count column)"
    assert problems[1].startswith("the file's columns are: RegionID, SizeRank, RegionName")


def test_zillow_file_without_count_column_asks_for_one(tmp_path):
    problems = problems_of(write(tmp_path, ZILLOW))
    assert problems[0] == (
        "missing column recently_sold_listings; "
        "name another count column with --count-column or PLANNER_COUNT_COLUMN"
    )


@pytest.mark.parametrize("source", SAMPLES, ids=["csv", "json"])
def test_format_is_detected_from_content_without_a_known_extension(tmp_path, source):
    path = tmp_path / "export.txt"
    path.write_bytes(source.read_bytes())
    dataset = load_dataset(path)
    assert len(dataset) == 2953
    assert "07030" in dataset.zipcode.tolist()


def test_summary_counts_eligible_zipcodes_and_listings(tmp_path):
    path = write(
        tmp_path,
        f"{HEADER}\n"
        "19103,PA,a,b,50\n19104,PA,a,b,0\n19105,PA,a,b,500\n"
        "07030,NJ,c,d,20\n07031,NJ,c,d,30\n"
        "10001,NY,e,f,70\n",
    )
    rows = summarise(load_dataset(path), parse_priorities("PA\nNJ\nDE\n"), 1, 100)
    assert [(r.state, r.rank, r.weight) for r in rows] == [
        ("PA", 1, 1.0),
        ("NJ", 2, 0.5),
        ("DE", 3, pytest.approx(1 / 3)),
        ("NY", None, None),
    ]
    assert [(r.zipcodes, r.eligible_zipcodes, r.listings, r.eligible_listings) for r in rows] == [
        (3, 1, 550, 50),
        (2, 2, 50, 50),
        (0, 0, 0, 0),
        (1, 0, 70, 0),
    ]
    unbounded = summarise(load_dataset(path), parse_priorities("PA"), 0, None)
    assert (unbounded[0].eligible_zipcodes, unbounded[0].eligible_listings) == (3, 550)


def test_sample_priorities_are_pa_then_nj_with_every_other_state_commented():
    path = DATA / "state_priorities.txt"
    assert load_priorities(path) == [
        StatePriority(state="PA", rank=1, weight=1.0),
        StatePriority(state="NJ", rank=2, weight=0.5),
    ]
    state_lines = [
        line.removeprefix("# ")
        for line in path.read_text().splitlines()
        if re.fullmatch(r"(# )?[A-Z]{2}(\s+#.*)?", line)
    ]
    listed = [p.state for p in parse_priorities("\n".join(state_lines))]
    assert listed[:2] == ["PA", "NJ"]
    assert sorted(listed) == sorted(STATE_CODES)


def test_priorities_default_to_one_over_rank():
    text = "# header\n\n pa \nNJ   # second\nNY\n"
    assert parse_priorities(text) == [
        StatePriority("PA", 1, 1.0),
        StatePriority("NJ", 2, 0.5),
        StatePriority("NY", 3, pytest.approx(1 / 3)),
    ]


def test_explicit_weights_in_both_notations():
    assert [(p.state, p.rank, p.weight) for p in parse_priorities("PA 3\nNJ:1\nNY : 1.5\n")] == [
        ("PA", 1, 3.0),
        ("NJ", 2, 1.0),
        ("NY", 3, 1.5),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("PA\nXX\n", "line 2: unknown state code 'XX'"),
        ("PA\nNJ\npa\n", "line 3: PA is already listed on line 1"),
        ("PA abc\n", "line 1: weight of PA must be a positive number, got 'abc'"),
        ("PA 0\n", "line 1: weight of PA must be a positive number, got '0'"),
        ("PA:-2\n", "line 1: weight of PA must be a positive number, got '-2'"),
        ("PA:inf\n", "line 1: weight of PA must be a positive number, got 'inf'"),
        ("PA 3 4\n", "line 1: expected a state code with an optional weight"),
        ("Pennsylvania\n", "line 1: expected a state code with an optional weight"),
        ("# PA\n\n# NJ\n", "no state listed: uncomment at least one state code"),
        ("PA 2\nNJ\n", "line 1 gives a weight but NJ (line 2) not"),
    ],
)
def test_bad_priorities_name_the_line(text, problem):
    with pytest.raises(PrioritiesError) as caught:
        parse_priorities(text, "prio.txt")
    assert caught.value.problems[0].startswith(problem)
    assert len(caught.value.problems) == 1
    assert str(caught.value).startswith("prio.txt: ")


def test_every_priority_problem_is_reported_at_once(tmp_path):
    path = write(tmp_path, "PA\nQQ\nNJ x\nPA\n", "prio.txt")
    with pytest.raises(PrioritiesError) as caught:
        load_priorities(path)
    assert caught.value.problems == [
        "line 2: unknown state code 'QQ'",
        "line 3: weight of NJ must be a positive number, got 'x'",
        "line 4: PA is already listed on line 1",
    ]
    assert isinstance(caught.value, DatasetError)


def test_missing_priorities_file_is_reported(tmp_path):
    with pytest.raises(PrioritiesError, match="cannot read the file"):
        load_priorities(tmp_path / "absent.txt")


def test_zipcodes_in_other_scripts_digits_are_refused(tmp_path):
    """Unicode digits matched `\\d{5}`: Arabic-Indic zipcodes were planned and published,
    and not seen as repeats of the same zipcode in ASCII."""
    path = write(tmp_path, f"{HEADER}\n07001,NJ,a,b,1\n\u0660\u0667\u0660\u0660\u0661,NJ,c,d,1\n")
    assert problems_of(path) == [
        "line 3, column zipcode: '\u0660\u0667\u0660\u0660\u0661' is not five digits 0-9"
    ]


def test_a_pipe_is_refused_without_being_read(tmp_path):
    """`planner check fifo.csv` waited for ever (and cron with it)."""
    pipe = tmp_path / "zipcodes.csv"
    os.mkfifo(pipe)
    with pytest.raises(DatasetError, match="not a regular file"):
        load_dataset(pipe)
    with pytest.raises(PrioritiesError, match="not a regular file"):
        load_priorities(pipe)


def test_weights_whose_sum_overflows_are_refused():
    """Each finite, PA 1e308 and NJ 1e308 summed to infinity: shares of nan%, then a crash."""
    with pytest.raises(PrioritiesError, match="add up to more than a number can hold"):
        parse_priorities("PA 1e308\nNJ 1e308\n")
    assert [p.weight for p in parse_priorities("PA 1e300\nNJ 1e300\n")] == [1e300, 1e300]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            "utf-16",
            "UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8: save it as UTF-8",
        ),
        (
            "utf-16-le",
            "not UTF-8 text: line 1 holds NUL bytes (UTF-16 text, or no text at all): save it "
            "as UTF-8",
        ),
        (
            "cp1252",
            "not UTF-8 text: line 3 holds the byte 0xe9, which UTF-8 does not allow there (a "
            "Latin-1 or Windows-1252 file?): save it as UTF-8",
        ),
        (
            "xlsx",
            "a ZIP archive, such as an Excel workbook (.xlsx), not text: save it as CSV UTF-8",
        ),
    ],
)
def test_a_file_in_another_encoding_says_which_and_where(tmp_path, content, problem):
    """A UTF-16 export said `not UTF-8 text (byte 0)`, or without its byte-order mark listed
    thousands of cells full of NUL bytes; a Latin-1 one named a byte offset, not a line; a
    workbook saved as .csv named its first bad byte."""
    text = f"{HEADER}\n19103,PA,Philadelphia,P,12\n19104,PA,Montréal,P,13\n"
    path = tmp_path / "zips.csv"
    if content == "xlsx":
        path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00")
    else:
        path.write_bytes(text.encode(content))
    assert problems_of(path) == [problem]


def test_a_priority_list_in_another_encoding_says_which(tmp_path, monkeypatch):
    """It said `cannot read the file: not UTF-8 text (a relative path, read in ...)`: the
    file was found and read; its path was never the problem."""
    monkeypatch.chdir(tmp_path)
    Path("prio.txt").write_bytes("PA\nNJ # Jérsey\n".encode("cp1252"))
    with pytest.raises(PrioritiesError) as caught:
        load_priorities("prio.txt")
    assert str(caught.value) == (
        "prio.txt: not UTF-8 text: line 2 holds the byte 0xe9, which UTF-8 does not allow "
        "there (a Latin-1 or Windows-1252 file?): save it as UTF-8"
    )


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (
            "zipcode,state,recently_sold_listings,recently_sold_listings",
            "columns 3 ('recently_sold_listings') and 4 ('recently_sold_listings') are one "
            "name, case and punctuation aside: which one is read would be a guess; keep one",
        ),
        (
            "Zip Code,state,zip_code,recently_sold_listings",
            "columns 1 ('Zip Code') and 3 ('zip_code') are one name, case and punctuation "
            "aside: which one is read would be a guess; keep one",
        ),
    ],
)
def test_a_column_named_twice_is_refused(tmp_path, header, problem):
    """Two columns of one name (two exports pasted side by side) loaded silently from the
    first: pandas renamed the second `recently_sold_listings.1`, and nothing said which
    counts were planned from."""
    path = write(tmp_path, f"{header}\n19103,PA,12,400\n")
    assert problems_of(path) == [problem]


def test_other_columns_may_repeat(tmp_path):
    path = write(tmp_path, "zipcode,state,recently_sold_listings,note,note\n19103,PA,12,a,b\n")
    assert len(load_dataset(path)) == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '[{"zipcode": "19103", "ZipCode": "19104", "state": "PA",'
            ' "recently_sold_listings": 3}]',
            "item 0: keys 'zipcode' and 'ZipCode' are one name, case and punctuation aside: "
            "which one is read would be a guess; keep one",
        ),
        (
            '[{"zipcode": "19103", "state": "PA", "recently_sold_listings": 3},'
            ' {"zipcode": "19104", "state": "PA", "recently_sold_listings": 3,'
            ' "recently_sold_listings": 400}]',
            "item 1: keys 'recently_sold_listings' and 'recently_sold_listings' are one name, "
            "case and punctuation aside: which one is read would be a guess; keep one",
        ),
    ],
    ids=["case", "same-key"],
)
def test_a_json_key_named_twice_in_an_item_is_refused(tmp_path, text, problem):
    """An item holding one accepted name twice loaded silently: `ZipCode` was ignored for
    `zipcode`, and of two `recently_sold_listings` keys json kept the last, as a CSV with a
    column named twice is refused."""
    path = write(tmp_path, text, "zips.json")
    assert problems_of(path) == [problem]


def test_json_items_may_spell_a_key_differently(tmp_path):
    """Each JSON item is its own header: one spelling `ZipCode` where the others spell
    `zipcode` was reported `missing`, though names are matched case and punctuation aside."""
    items = [
        {"zipcode": "19103", "state": "PA", "recently_sold_listings": 3},
        {"ZipCode": "19104", "State": "PA", "Recently Sold Listings": 4},
    ]
    dataset = load_dataset(write(tmp_path, json.dumps(items), "zips.json"))
    assert dataset.zipcode.tolist() == ["19103", "19104"]
    assert dataset.listings.tolist() == [3, 4]


def test_other_json_keys_may_repeat(tmp_path):
    text = (
        '[{"zipcode": "19103", "state": "PA", "recently_sold_listings": 3, "note": 1, "Note": 2}]'
    )
    assert len(load_dataset(write(tmp_path, text, "zips.json"))) == 1
