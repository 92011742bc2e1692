"""ds.epizoo on a small simulated store, and the lazy top-level exports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import epizoo
from epizoo.errors import EmptyResultError, UnknownNameError
from epizoo.sequence import decode


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    path = tmp_path_factory.mktemp("acc") / "syn.zarr"
    return epizoo.simulate_store(path, n_pairs=300, n_contigs=3, cell_lines=2)


def test_open_store_is_lazy_and_validated(ds):
    assert ds["enhancer_sequence"].chunks is not None  # dask-backed
    assert ds["enhancer_sequence"].dtype == np.int8
    assert ds.attrs["dataset"] == "synthetic"


def test_lookups(ds):
    assert ds.epizoo.cell_lines == [str(v) for v in ds["cell_line_id"].values] and len(ds.epizoo.cell_lines) == 2
    assert ds.epizoo.contigs[0] == "chr1"


def test_sequences_decode_the_model_window_and_shifted_views(ds):
    window, flank = ds.attrs["enhancer_window"], ds.attrs["flank"]
    stored = ds["enhancer_sequence"][3].values
    assert ds.epizoo.sequences("enhancer", 3) == [decode(stored[flank : flank + window])]
    assert ds.epizoo.sequences("enhancer", [3], shift=-450, length=100) == [decode(stored[flank + 1450 - 450 : flank + 1550 - 450])]
    codes = ds.epizoo.codes("promoter", [0, 1, 2], length=50)
    assert codes.shape == (3, 50) and codes.dtype == np.int8
    assert ds.epizoo.codes("promoter", 0, length=50).shape == (50,)
    with pytest.raises(UnknownNameError, match="enhancer"):
        ds.epizoo.codes("silencer", 0)


def test_pairs_filters(ds):
    line_code, contig_code = int(ds["pair_cell_line"][0]), int(ds["pair_contig"][0])
    line, contig = ds.epizoo.cell_lines[line_code], ds.epizoo.contigs[contig_code]
    subset = ds.epizoo.pairs(cell_line=line, contig=contig, label=0)
    assert (subset["pair_cell_line"].values == line_code).all() and (subset["pair_label"].values == 0).all()
    assert (subset["pair_contig"].values == contig_code).all()
    expected = (ds["pair_cell_line"].values == line_code) & (ds["pair_contig"].values == contig_code) & (ds["pair_label"].values == 0)
    assert subset.sizes["pairs"] == expected.sum() > 0
    with pytest.raises(UnknownNameError, match="unknown cell line 'HeLa'"):
        ds.epizoo.pairs(cell_line="HeLa")
    with pytest.raises(EmptyResultError):
        ds.epizoo.pairs(label=5)


def test_pairs_matches_contig_names_in_either_style_as_the_splits_do(ds):
    chr1 = int(ds.epizoo.pairs(contig="chr1").sizes["pairs"])
    assert chr1 == int((ds["pair_contig"].values == ds.epizoo.contigs.index("chr1")).sum()) > 0
    assert all(ds.epizoo.pairs(contig=name).sizes["pairs"] == chr1 for name in ("1", "CHR1", "Chr1"))
    assert ds.epizoo.pairs(contig="x").sizes["pairs"] == int(ds.epizoo.folds("loco", folds="x")[0].test.sum())
    with pytest.raises(UnknownNameError, match=r"^unknown contig 'chr7'; this store has chr1, chr2, chrX$"):
        ds.epizoo.pairs(contig="chr7")


def test_summary_counts_per_cell_line_and_contig(ds):
    summary = ds.epizoo.summary()
    assert summary["pairs"].sum() == ds.sizes["pairs"]
    assert summary["positives"].sum() == int(ds["pair_label"].values.sum())
    assert (summary["pairs"] == summary["positives"] + summary["negatives"]).all()
    assert set(summary.index.get_level_values("cell_line")) == set(ds.epizoo.cell_lines)


def test_folds_delegate_to_the_registered_split(ds, monkeypatch):
    from epizoo import plugins
    from epizoo.plugins import Registered

    seen = {}

    def fake_split(dataset, **options):
        seen.update(options, n=dataset.sizes["pairs"])
        return ["fold"]

    monkeypatch.setattr(plugins, "get_split", lambda name: Registered(name, fake_split))
    assert ds.epizoo.folds("anything", test_contigs=["chr1"]) == ["fold"]
    assert seen == {"test_contigs": ["chr1"], "n": ds.sizes["pairs"]}


def test_import_epizoo_stays_cheap():
    code = "import sys, epizoo; print('xarray' in sys.modules, 'zarr' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == ["False", "False"]
    with pytest.raises(AttributeError):
        epizoo.no_such_thing
