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
    assert set(pairs["cell_line"]) == {"GM12878"} and pairs.loc[0, "pair_name"] == "p0"
    assert pairs.loc[0, "enhancer_name"] == "" and pairs.loc[0, "promoter_name"] == ""  # a pair name names no element
    table, report = add_negatives(pairs, ratio=2, seed=0)
    assert report["generated"] > 0 and (table["label"] == 0).sum() == report["generated"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("chr1|10|20|chr1|500\n", r"pairs.bedpe:1: 5 columns"),
        ("chr1|10|20|chr1|500|501\nchr1|x|20|chr1|500|501\n", r"pairs.bedpe:2: start1 'x' is not a non-negative integer"),
        ("chr1|30|20|chr1|500|501\n", r"pairs.bedpe:1: end1 must be greater than start1"),
        ("chr1|10|20|chr1|500|501|n|0|+|-|yes\n", r"pairs.bedpe:1: column 11 \(label\) 'yes' must be 0 or 1"),
        ("chr1|10|20|chr1|500|501|n|0|+|x\n", r"pairs.bedpe:1: strand2 'x' must be \+, - or \."),
        ("#chrom1|start1|end1|chrom2|start2|end2|strand1\nchr1|10|20|chr1|500|501|minus\n", r"pairs.bedpe:2: strand1 'minus'"),
        # a short row must not shift the label of every pair to NaN (and so to "positive")
        ("#chrom1|start1|end1|chrom2|start2|end2|name|label\nchr1|10|20|chr1|500|501|a|0\nchr1|10|20|chr1|600|601|b\n",
         r"pairs.bedpe:3: 7 tab-separated columns but the header names 8"),
        ("#chrom1|start1|end1|chrom2|start2|end2|label\nchr1|10|20|chr1|500|501|0|x\n",
         r"pairs.bedpe:2: 8 tab-separated columns but the header names 7"),
        ("chr1|10|20|chr1|500|501|a|0\nchr1|10|20|chr1|600|601|b\n", r"pairs.bedpe:2: 7 tab-separated columns but the first row has 8"),
        ("chr1|10|20|chr1|500|501|a|0|+|+|1|GM|x\n", r"pairs.bedpe:1: 13 columns but a BEDPE file without a header has at most 12"),
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


def test_headerless_rows_follow_the_bedpe_convention(tmp_path):
    """chrom1 start1 end1 chrom2 start2 end2 name score strand1 strand2, then label and cell line."""
    standard = write(tmp_path, "chr1|100|200|chr1|5000|5001|loop1|0|+|-\nchr1|300|400|chr1|7000|7001|loop2|1|.|+\n")
    pairs = load(standard).pairs
    assert list(pairs["label"]) == [1, 1]  # a score of 0 or 1 is not a label
    assert list(pairs["pair_name"]) == ["loop1", "loop2"] and list(pairs["promoter_strand"]) == ["-", "+"]
    nine = write(tmp_path, "chr1|100|200|chr1|5000|5001|a|0|+\n", name="nine.bedpe")
    assert load(nine).report["positives_only"] == 1 and list(load(nine).pairs["label"]) == [1]
    full = write(tmp_path, "chr1|100|200|chr1|5000|5001|a|.|.|-|0|HeLa\nchr2|1|20|chr2|900|901|.|7|+|+|1|K562\n", name="twelve.bedpe")
    pairs = load(full).pairs
    assert list(pairs["label"]) == [0, 1] and list(pairs["cell_line"]) == ["HeLa", "K562"]
    assert list(pairs["pair_name"]) == ["a", ""]  # '.' is no name


def test_a_byte_order_mark_does_not_hide_the_header(tmp_path):
    path = tmp_path / "bom.bedpe"
    path.write_bytes("\ufeff#chrom1\tstart1\tend1\tchrom2\tstart2\tend2\tlabel\tname1\tname2\tname\n"
                     "chr1\t10\t20\tchr1\t500\t501\t0\tenhA\tGENE1\tp1\n"
                     "chr1\t10\t20\tchr1\t900\t901\t1\tenhA\tGENE2\tp2\n".encode("utf-8"))
    pairs = load(path).pairs
    assert list(pairs["label"]) == [0, 1]
    assert list(pairs["enhancer_name"]) == ["enhA", "enhA"] and list(pairs["promoter_name"]) == ["GENE1", "GENE2"]
    assert list(pairs["pair_name"]) == ["p1", "p2"]
    unheaded = tmp_path / "bom2.bedpe"
    unheaded.write_bytes("\ufeffchr1\t10\t20\tchr1\t500\t501\n".encode("utf-8"))
    assert list(load(unheaded).pairs["enhancer_contig"]) == ["chr1"]


def test_a_truncated_gzip_names_the_file_in_one_line(tmp_path):
    path = tmp_path / "loops.bedpe.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("".join(f"chr1\t{i}\t{i + 10}\tchr1\t{i + 5000}\t{i + 5001}\tp{i}\n" for i in range(0, 200_000, 20)))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputFileError, match=r"loops\.bedpe\.gz is truncated or not valid gzip") as error:
        load(path)
    assert "\n" not in str(error.value)
    renamed = tmp_path / "loops.txt"  # gzip is recognised by its content, not its name
    with gzip.open(renamed, "wt") as handle:
        handle.write("chr1\t10\t20\tchr1\t500\t501\n")
    assert len(load(renamed).pairs) == 1
