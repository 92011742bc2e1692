"""TargetFinder reader on the real tables."""

from __future__ import annotations

import gzip

import pytest

from epizoo import catalog
from epizoo.datasets.base import DatasetRequest
from epizoo.errors import EmptyResultError, InputFileError, UnknownNameError
from epizoo.plugins import get_dataset

# positives / negatives per cell line, as published
COUNTS = {
    "GM12878": (2113, 42200),
    "HUVEC": (1524, 30400),
    "HeLa-S3": (1740, 34800),
    "IMR90": (1254, 25000),
    "K562": (1977, 39500),
    "NHEK": (1291, 25600),
}


@pytest.fixture
def shared_cache(shared_data, monkeypatch):
    monkeypatch.setenv(catalog.DATA_DIR_ENV, str(shared_data))
    return shared_data


def load(**kwargs):
    return get_dataset("targetfinder").load(DatasetRequest(**kwargs))


def test_all_six_cell_lines_match_the_published_counts(shared_cache):
    loaded = load()
    pairs = loaded.pairs
    assert loaded.genome_build == "hg19"
    for cell, (positives, negatives) in COUNTS.items():
        rows = pairs[pairs["cell_line"] == cell]
        assert (int(rows["label"].sum()), int((rows["label"] == 0).sum())) == (positives, negatives), cell
        assert set(rows["source"]) == {f"targetfinder/{cell}"}
    assert (pairs["enhancer_contig"] == pairs["promoter_contig"]).all()
    assert not pairs["label_generated"].any()
    assert loaded.report["rows_read"] == len(pairs)


def test_names_become_bed_intervals_that_match_the_region_fasta(shared_cache):
    pairs = load(cell_lines=("NHEK",)).pairs
    row = pairs[pairs["enhancer_name"] == "NHEK|chr10:129809400-129810000"].iloc[0]
    assert (row["enhancer_contig"], row["enhancer_start"], row["enhancer_end"]) == ("chr10", 129809399, 129810000)
    with gzip.open(shared_cache / "derived" / "targetfinder-regions.hg19.fa.gz", "rt") as handle:
        headers = {line[1:].strip() for line in handle if line.startswith(">")}
    assert "chr10:129809399-129810000" in headers
    enhancers = set(pairs["enhancer_contig"] + ":" + pairs["enhancer_start"].astype(str) + "-" + pairs["enhancer_end"].astype(str))
    assert len(enhancers & headers) > 900  # hundreds of full-length records agree with the conversion


def test_cell_line_selection_and_unknown_cell_line(shared_cache):
    pairs = load(cell_lines=("HeLa-S3", "IMR90")).pairs
    assert set(pairs["cell_line"]) == {"HeLa-S3", "IMR90"}
    with pytest.raises(UnknownNameError, match="no cell line 'HeLa'.*known: GM12878"):
        load(cell_lines=("HeLa",))


def test_malformed_row_names_file_and_line(tmp_path):
    bad = tmp_path / "predictions-gbm.csv"
    bad.write_text(
        "enhancer_name,promoter_name,label,prediction\n"
        "NHEK|chr1:100-200,NHEK|chr1:20000-21000,1,0\n"
        "NHEK|chr1:100-200,NHEK|chr1-20000-21000,0,0\n"
    )
    with pytest.raises(InputFileError, match=r"predictions-gbm.csv, line 3: malformed promoter name 'NHEK\|chr1-20000-21000'"):
        load(cell_lines=("NHEK",), path=str(bad))
    bad.write_text("enhancer_name,promoter_name,label\nNHEK|chr1:100-200,NHEK|chr1:20000-21000,yes\n")
    with pytest.raises(InputFileError, match="line 2: label 'yes' must be 0 or 1"):
        load(cell_lines=("NHEK",), path=str(bad))
    bad.write_text("enhancer,promoter\n")
    with pytest.raises(InputFileError, match="missing column"):
        load(cell_lines=("NHEK",), path=str(bad))


def test_an_empty_table_is_an_empty_result(tmp_path):
    empty = tmp_path / "predictions-gbm.csv"
    empty.write_text("enhancer_name,promoter_name,label,prediction\n")
    with pytest.raises(EmptyResultError):
        load(cell_lines=("K562",), path=str(empty))
