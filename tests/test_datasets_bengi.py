"""BENGI reader: accession tables resolved with a registry built from TransEPI, and TransEPI tables."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from epizoo import catalog
from epizoo.datasets import bengi
from epizoo.datasets.base import DatasetRequest
from epizoo.errors import EmptyResultError, InputFileError, UnknownNameError
from epizoo.plugins import get_dataset

TRANSEPI_HELA = "chenkenbio-TransEPI/data/BENGI/HeLa.HiC-Benchmark.v3.tsv.gz"
BENGI_HELA = "weng-lab-BENGI/Benchmark/All-Pairs.Natural-Ratio/HeLa.HiC-Benchmark.v3.txt"


@pytest.fixture
def shared_cache(shared_data, monkeypatch):
    monkeypatch.setenv(catalog.DATA_DIR_ENV, str(shared_data))
    return shared_data


@pytest.fixture(scope="module")
def registry(shared_data, tmp_path_factory) -> str:
    """A small cCRE registry: the coordinates TransEPI's e_names carry for HeLa Hi-C accessions."""
    table = bengi.read_transepi_table(shared_data / TRANSEPI_HELA)
    rows = table.drop_duplicates("enhancer_name")
    path = tmp_path_factory.mktemp("registry") / "cCREs.bed.gz"
    bed = pd.DataFrame({"c": rows["enhancer_contig"], "s": rows["enhancer_start"], "e": rows["enhancer_end"],
                        "rdhs": "EH37D0000001", "ccre": rows["enhancer_name"], "group": "Enhancer-like"})
    bed.to_csv(path, sep="\t", header=False, index=False)
    return str(path)


def load(**kwargs):
    return get_dataset("bengi").load(DatasetRequest(**kwargs))


def test_accession_table_resolved_with_a_registry(shared_cache, registry):
    loaded = load(variant="all-natural", cell_lines=("HeLa",), options={"assays": "HiC", "ccre_registry": registry})
    pairs, report = loaded.pairs, loaded.report
    upstream = pd.read_csv(shared_cache / BENGI_HELA, sep="\t", header=None)
    assert report["rows_read"] == len(upstream)
    assert report["rows_read"] == len(pairs) + report["dropped_unknown_ccre"] + report["dropped_unresolved_gene"]
    assert report["dropped_unknown_ccre"] > 0 and len(pairs) > 30000
    assert set(pairs["source"]) == {"bengi/HeLa.HiC-Benchmark.v3"} and set(pairs["cell_line"]) == {"HeLa"}
    assert pairs["cv_group"].str.match(r"^cv-\d+$").all()
    assert ((pairs["promoter_end"] - pairs["promoter_start"]) == 1).all()
    assert (pairs["promoter_contig"] == pairs["enhancer_contig"]).all()
    # coordinates agree with TransEPI's for the same enhancer, transcript and label
    transepi = bengi.read_transepi_table(shared_cache / TRANSEPI_HELA)
    both = pairs.merge(transepi, on=["enhancer_name", "promoter_name"], suffixes=("", "_t"))
    assert len(both) > 1000
    for column in ("enhancer_start", "enhancer_end", "promoter_start", "label"):
        assert (both[column] == both[f"{column}_t"]).all(), column


def test_the_nearest_tss_of_the_gene_is_chosen(shared_cache, registry):
    pairs = load(variant="ra-fixed", cell_lines=("HeLa",), options={"assays": ["HiC"], "ccre_registry": registry}).pairs
    tss = bengi.read_tss(shared_cache / "weng-lab-BENGI/Benchmark/Annotations/GENCODEv19-TSSs.bed.gz")
    for row in pairs.sample(40, random_state=1).itertuples():
        gene = tss[(tss["gene"] == row.promoter_name.split("|")[0]) & (tss["promoter_contig"] == row.enhancer_contig)]
        edge = np.minimum(abs(row.enhancer_start - gene["promoter_end"]), abs(row.enhancer_end - gene["promoter_end"]))
        assert abs(row.enhancer_start - row.promoter_end) == edge.min() or abs(row.enhancer_end - row.promoter_end) == edge.min()


def test_tss_file_is_one_based():
    """GENCODE v19 DDX11L1 transcript ENST00000456328.2 starts at base 11,869 (1-based)."""
    start, end = bengi.coords.from_one_based_closed(11869, 11869)
    assert (start, end) == (11868, 11869)


def test_transepi_tables(shared_cache):
    loaded = load(variant="transepi", cell_lines=("HeLa",))
    pairs = loaded.pairs
    assert set(pairs["source"]) == {f"bengi/HeLa.{a}-Benchmark.v3" for a in ("HiC", "CTCF-ChIAPET", "RNAPII-ChIAPET")}
    hic = pairs[pairs["source"] == "bengi/HeLa.HiC-Benchmark.v3"]
    with gzip.open(shared_cache / TRANSEPI_HELA, "rt") as handle:
        first = handle.readline().rstrip("\n").split("\t")
    row = hic.iloc[0]
    assert (row["enhancer_contig"], row["enhancer_start"], row["enhancer_end"]) == (first[2], int(first[3]), int(first[4]))
    assert row["enhancer_name"] == first[5].split("|")[2]
    assert (row["promoter_start"], row["promoter_end"], row["promoter_strand"]) == (861758, 861759, "+")
    assert len(hic) == 23342 and int(hic["label"].sum()) == 2256
    # the groups are BENGI's own: the same chromosome gets the same group as in BENGI's table
    upstream = bengi.read_accession_table(shared_cache / BENGI_HELA)
    merged = hic.merge(upstream, left_on="enhancer_name", right_on="ccre", suffixes=("", "_u"))
    assert (merged["cv_group"] == merged["cv_group_u"]).all()
    assert loaded.report["tables_cv_group_upstream"] == 3


def test_bengi_group_rule():
    """23 chromosomes: cv-0 pairs the smallest with the 2nd largest; the largest alone is cv-11."""
    chroms = [f"chr{i}" for i in range(1, 23)] + ["chrX"]
    rows = [(c, f"E{c}-{k}") for n, c in enumerate(chroms) for k in range(n + 1)]
    pairs = pd.DataFrame(rows, columns=["enhancer_contig", "enhancer_name"]).assign(label=1)
    groups = dict(zip(pairs["enhancer_contig"], bengi.bengi_cv_groups(pairs)))
    assert groups["chr1"] == groups["chr22"] == "cv-0" and groups["chrX"] == "cv-11"
    assert groups["chr11"] == groups["chr12"] == "cv-10"
    assert (bengi.bengi_cv_groups(pairs.iloc[:5]) == "").all()  # not 23 chromosomes: no groups


def test_bad_requests(shared_cache, registry, tmp_path):
    with pytest.raises(UnknownNameError, match="unknown BENGI variant 'v3'.*all-natural.*transepi"):
        load(variant="v3")
    with pytest.raises(UnknownNameError, match="no cell line 'Hela'.*HeLa"):
        load(variant="transepi", cell_lines=("Hela",))
    with pytest.raises(UnknownNameError, match="no assay 'HiC3'"):
        load(variant="transepi", options={"assays": "HiC3"})
    with pytest.raises(EmptyResultError, match="no table"):
        load(variant="transepi", cell_lines=("HMEC",), options={"assays": "CTCF-ChIAPET"})
    bad = tmp_path / "bad.tsv"
    bad.write_text("EH37E0000001\tENSG1\t1 \tcv-0\nEH37E0000002\tENSG1\tyes\tcv-0\n")
    with pytest.raises(InputFileError, match="bad.tsv, line 2: label 'yes'"):
        bengi.read_accession_table(bad)
    bad.write_text("chr1\t1\t2\n")
    with pytest.raises(InputFileError, match="no column of cCRE accessions"):
        bengi.read_registry(bad)
