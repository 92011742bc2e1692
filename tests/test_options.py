"""epizoo.options: the one reading of comma lists and KEY=VALUE options, and the commands that use it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import epizoo
from epizoo.cli import cli
from epizoo.errors import EpizooError
from epizoo.options import comma_list, groups_list, parse_option_value, parse_options


@pytest.mark.parametrize("value, expected", [
    ("a,b", ["a", "b"]),
    (" a , b ,", ["a", "b"]),                   # spaces around names, a trailing comma
    ("a,,b", ["a", "b"]),                       # an empty name between commas
    ("", []), (",", []), (" , ", []), (None, []),
    ("one", ["one"]),
    (["a", " b "], ["a", "b"]),                 # already split
    (("a,b", "c"), ["a", "b", "c"]),            # a repeated option, each with commas
    ([["a", "b"], "c,d"], ["a", "b", "c", "d"]),  # nested lists are flattened
    ([], []), (["", " "], []),
    (8, ["8"]),                                 # test=8 is JSON 8: one name
])
def test_comma_list(value, expected):
    assert comma_list(value) == expected


def test_groups_list():
    assert groups_list("chr1,chr2;chr3,chrX") == [["chr1", "chr2"], ["chr3", "chrX"]]
    assert groups_list(" chr1 ; ;chr2, ") == [["chr1"], ["chr2"]]  # a group naming nothing is dropped
    assert groups_list([["chr1", "chr2"], "chr3,chr4", "chr5"]) == [["chr1", "chr2"], ["chr3", "chr4"], ["chr5"]]
    assert groups_list(None) == [] and groups_list("") == []


@pytest.mark.parametrize("text, expected", [
    ("2", 2), ("0.5", 0.5), ("-1", -1),
    ("true", True), ("TRUE", True), ("False", False), ("none", None), ("None", None), ("null", None),
    ('["chr1", "chr2"]', ["chr1", "chr2"]), ('"a,b"', "a,b"), ('{"a": 1}', {"a": 1}),
    ("chr1,chr2", ["chr1", "chr2"]), (" chr1 , chr2 ,", ["chr1", "chr2"]),
    ("chr1,chr2;chr3", [["chr1", "chr2"], ["chr3"]]),  # groups, not ["chr1", "chr2;chr3"]
    ("chr8", "chr8"), ("HAND/*", "HAND/*"), (" padded ", "padded"), ("", ""),
])
def test_parse_option_value(text, expected):
    assert parse_option_value(text) == expected


def test_parse_options():
    assert parse_options(["n=2", "folds=chr1,chr2", " strict = true", "name=a=b", "empty="]) == {
        "n": 2, "folds": ["chr1", "chr2"], "strict": True, "name": "a=b", "empty": "",
    }
    assert parse_options([]) == {}
    assert parse_options(["k=1", "k=2"]) == {"k": 2}  # the last one given wins, as for any repeated flag


@pytest.mark.parametrize("item", ["novalue", "=3", " =3"])
def test_parse_options_without_key_or_equals_is_one_line_naming_the_flag(item):
    with pytest.raises(EpizooError) as caught:
        parse_options([item], "--split-option", example="valid_contigs=2")
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"--split-option {item!r} is not KEY=VALUE") and "--split-option valid_contigs=2" in message


def test_split_options_keep_their_error_class():
    from epizoo.splits import SplitOptionError
    from epizoo.splits import parse_options as split_options

    with pytest.raises(SplitOptionError, match="--option 'x' is not KEY=VALUE"):
        split_options(["x"])
    assert split_options(["folds=chr1,chr2"]) == parse_options(["folds=chr1,chr2"])


# ---- the commands ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """Contigs chr1, chr2, chr3, chrX; cell lines SYN-A and SYN-B."""
    path = tmp_path_factory.mktemp("options") / "small.zarr"
    epizoo.simulate_store(path, n_pairs=200, n_contigs=4, cell_lines=2, seed=1)
    return str(path)


def test_splits_split_option_and_its_old_name_option(store):
    new = CliRunner().invoke(cli, ["splits", store, "--split", "loco", "--split-option", "folds=chr1, chr3", "--json"])
    old = CliRunner().invoke(cli, ["splits", store, "--split", "loco", "--option", "folds=chr1,chr3", "--json"])
    assert new.exit_code == 0 and old.exit_code == 0, new.output + old.output
    assert [row["fold"] for row in json.loads(new.stdout)] == ["chr1", "chr3"]
    assert json.loads(new.stdout) == json.loads(old.stdout)
    assert "deprecated" not in new.stderr and "note: --option is deprecated; use --split-option" in old.stderr


def test_splits_groups_option_reads_semicolons_as_groups(store):
    """``groups=chr1,chr2;chr3,chrX`` is two groups of two, as the Python list of lists is."""
    result = CliRunner().invoke(cli, ["splits", store, "--split", "transepi", "--split-option", "train=SYN-A",
                                      "--split-option", "groups=chr1,chr2;chr3,chrX", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    folds = epizoo.open_store(store).epizoo.folds("transepi", train=["SYN-A"], groups=[["chr1", "chr2"], ["chr3", "chrX"]])
    assert [row["test"]["pairs"] for row in rows] == [int(fold.test.sum()) for fold in folds]
    assert len(rows) == 2 and all(row["test"]["pairs"] > 0 for row in rows)


@pytest.mark.parametrize("flag", ["--split-option", "--option"])
def test_splits_malformed_option_is_one_line(store, flag):
    result = CliRunner().invoke(cli, ["splits", store, "--split", "loco", flag, "valid_contigs"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # an EpizooError, not a crash
    lines = result.output.strip().splitlines()
    assert lines[-1] == ("Error: --split-option 'valid_contigs' is not KEY=VALUE; "
                         "write it as e.g. --split-option valid_contigs=2"), result.output
    assert "Traceback" not in result.output


def test_python_split_options_take_comma_text_as_the_command_line_does(store):
    ds = epizoo.open_store(store)
    assert [f.name for f in ds.epizoo.folds("loco", folds="chr1, chr3")] == ["chr1", "chr3"]
