"""BEDPE reader: header and headerless layouts, positives-only files, and clear errors."""

from __future__ import annotations

import gzip

import pytest

from epizoo.datasets.base import DatasetRequest
from epizoo.datasets.negatives import add_negatives
from epizoo.errors import EmptyResultError, InputFileError
from epizoo.plugins import get_dataset


def load(path, **kwargs):
    return get_dataset("bedpe").load(DatasetRequest(path=str(path), **kwargs))


def write(tmp_path, text, name="pairs.bedpe"):
    path = tmp_path / name
    path.write_text(text.replace("|", "\t"))
    return path


def test_header_names_columns_in_any_order(tmp_path):
    path = write(tmp_path, "#chrom1|start1|end1|chrom2|start2|end2|cell_line|label|strand2|extra\n"
                           "chr1|1000|2500|chr1|90000|90001|K562|1|-|x\n"
                           "chr1|1000|2500|chr2|5000|5001|K562|0|+|y\n"
                           "chr3|10|20|chr3|50000|50001|HeLa|0|+|z\n")
    loaded = load(path)
    pairs = loaded.pairs
    assert list(pairs["cell_line"]) == ["K562", "K562", "HeLa"]
    assert list(pairs["label"]) == [1, 0, 0]
    assert list(pairs["promoter_strand"]) == ["-", "+", "+"]
    assert (pairs.loc[0, "enhancer_start"], pairs.loc[0, "promoter_end"]) == (1000, 90001)  # kept 0-based
    assert set(pairs["source"]) == {"bedpe/pairs.bedpe"}
    assert loaded.report["inter_chromosomal"] == 1 and loaded.report["positives_only"] == 0
    assert set(load(path, cell_lines=("HeLa",)).pairs["cell_line"]) == {"HeLa"}
    with pytest.raises(EmptyResultError, match="no pairs for cell line"):
        load(path, cell_lines=("IMR90",))


def test_headerless_gzip_and_positives_only_with_negatives(tmp_path):
    lines = "".join(f"chr1\t{s}\t{s + 800}\tchr1\t{s + d}\t{s + d + 1}\tp{i}\n"
                    for i, (s, d) in enumerate((s, d) for s in range(0, 400_000, 20_000) for d in (30_000, 60_000)))
    path = tmp_path / "loops.bedpe.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("track name=loops\n# a comment\n" + lines)
    loaded = load(path, cell_lines=("GM12878",))
    pairs = loaded.pairs
    assert (pairs["label"] == 1).all() and loaded.report["positives_only"] == 1
    assert set(pairs["cell_line"]) == {"GM12878"} and pairs.loc[0, "enhancer_name"] == "p0"
    table, report = add_negatives(pairs, ratio=2, seed=0)
    assert report["generated"] > 0 and (table["label"] == 0).sum() == report["generated"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("chr1|10|20|chr1|500\n", r"pairs.bedpe:1: 5 columns"),
        ("chr1|10|20|chr1|500|501\nchr1|x|20|chr1|500|501\n", r"pairs.bedpe:2: start1 'x' is not a non-negative integer"),
        ("chr1|30|20|chr1|500|501\n", r"pairs.bedpe:1: end1 must be greater than start1"),
        ("chr1|10|20|chr1|500|501|n|yes\n", r"pairs.bedpe:1: label 'yes' must be 0 or 1"),
        # a short row must not shift the label of every pair to NaN (and so to "positive")
        ("#chrom1|start1|end1|chrom2|start2|end2|name|label\nchr1|10|20|chr1|500|501|a|0\nchr1|10|20|chr1|600|601|b\n",
         r"pairs.bedpe:3: 7 tab-separated columns but the header names 8"),
        ("#chrom1|start1|end1|chrom2|start2|end2|label\nchr1|10|20|chr1|500|501|0|x\n",
         r"pairs.bedpe:2: 8 tab-separated columns but the header names 7"),
        ("chr1|10|20|chr1|500|501|a|0\nchr1|10|20|chr1|600|601|b\n", r"pairs.bedpe:2: 7 tab-separated columns but the first row has 8"),
        ("chr1|10|20|chr1|500|501|a|0|GM|x\n", r"pairs.bedpe:1: 10 columns but a BEDPE file without a header has at most 9"),
        ("#chrom1|start|end1|chrom2|start2|end2\n", "header must begin with"),
        ("# only comments\n", "has no pairs"),
    ],
)
def test_malformed_files_name_file_line_and_problem(tmp_path, text, message):
    with pytest.raises((InputFileError, EmptyResultError), match=message) as info:
        load(write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_missing_path(tmp_path):
    with pytest.raises(InputFileError, match="--bedpe"):
        get_dataset("bedpe").load(DatasetRequest())
    with pytest.raises(InputFileError, match="not found"):
        load(tmp_path / "nope.bedpe")
