"""epizoo.contigs: one place for contig names and their natural order, used by every part that sorts or matches them."""

from __future__ import annotations

import random

import numpy as np
import pytest

from epizoo import contigs
from epizoo.errors import EpizooError, UnknownNameError

NATURAL = ["chr1", "chr2", "3", "chr10", "chr22", "chrX", "chrY", "chrM", "chr1_random", "chr10_random", "chrUn_gl2", "chrUn_gl10"]


def test_natural_order_is_numbers_then_x_y_m_then_other_names_naturally():
    shuffled = NATURAL[:]
    random.Random(0).shuffle(shuffled)
    assert contigs.natural_order(shuffled) == NATURAL
    assert contigs.natural_order(["chrX", "chr10", "chr2"]) == ["chr2", "chr10", "chrX"]
    # the two naming styles of one chromosome tie-break by name, so the order never depends on the input's
    assert contigs.natural_order(["chr1", "1"]) == contigs.natural_order(["1", "chr1"]) == ["1", "chr1"]
    # other fold names (cell lines, source groups) in natural text order
    assert contigs.natural_order(["cv-10", "GM12878", "cv-2"]) == ["GM12878", "cv-2", "cv-10"]


@pytest.mark.parametrize("name", ["1", "chr1", "CHR1", "Chr1", " chr1 ", 1])
def test_every_spelling_of_chr1_names_it(name):
    assert contigs.canonical(name) == "1"
    assert contigs.find(name, ["chrX", "chr1", "chr2"]) == 1
    assert contigs.resolve(name, ["1", "X"]) == 0


@pytest.mark.parametrize("name, known, expected", [("chrX", ["X"], 0), ("X", ["chrX"], 0), ("x", ["chr1", "chrX"], 1), ("MT", ["chrM"], 0), ("chrM", ["MT"], 0)])
def test_sex_and_mitochondrial_names_match_in_either_style(name, known, expected):
    assert contigs.resolve(name, known) == expected


def test_the_exact_spelling_wins_when_a_store_has_both_styles():
    assert contigs.find("1", ["chr1", "1"]) == 1 and contigs.find("chr1", ["chr1", "1"]) == 0


def test_an_unknown_contig_is_one_line_listing_the_known_names_in_natural_order():
    with pytest.raises(UnknownNameError) as caught:
        contigs.resolve("chr99", ["chrX", "chr10", "chr2"], prefix="folds: ")
    assert str(caught.value) == "folds: unknown contig 'chr99'; the store has chr2, chr10, chrX"
    assert isinstance(caught.value, EpizooError) and "\n" not in str(caught.value)


def test_main_chromosomes_are_the_autosomes_and_x_in_either_style():
    assert all(contigs.is_main(n) for n in ("chr1", "22", "chrX", "x"))
    assert not any(contigs.is_main(n) for n in ("chrY", "chrM", "MT", "chr23", "chr1_random", "chrUn_gl2"))


# ---- every place that orders or matches contigs uses the one rule ----------------------------------


def test_the_store_builder_orders_contigs_by_the_one_rule():
    from epizoo.store.build import natural_contig_key

    assert natural_contig_key is contigs.natural_key
    assert sorted(NATURAL[::-1], key=natural_contig_key) == NATURAL


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    import epizoo

    return epizoo.simulate_store(tmp_path_factory.mktemp("contigs") / "syn.zarr", n_pairs=120, n_contigs=4, cell_lines=1)


def test_splits_and_the_accessor_match_contig_names_the_same_way(ds):
    for name in ("1", "chr1", "CHR1"):
        (fold,) = ds.epizoo.folds("loco", folds=name)
        subset = ds.epizoo.pairs(contig=name)
        assert fold.name == "chr1" and subset.sizes["pairs"] == int(fold.test.sum()) > 0
    for name in ("X", "chrx"):
        assert ds.epizoo.pairs(contig=name).sizes["pairs"] == int(ds.epizoo.folds("loco", folds=name)[0].test.sum())
    messages = []
    for call in (lambda: ds.epizoo.pairs(contig="chr99"), lambda: ds.epizoo.folds("loco", folds="chr99")):
        with pytest.raises(UnknownNameError) as caught:
            call()
        messages.append(str(caught.value))
    assert messages[0] == "unknown contig 'chr99'; this store has chr1, chr2, chr3, chrX"
    assert messages[1] == "folds: unknown contig 'chr99'; the store has chr1, chr2, chr3, chrX"
    assert ds.epizoo.contigs == ["chr1", "chr2", "chr3", "chrX"]  # the store keeps the one order
    assert [fold.name for fold in ds.epizoo.folds("loco", valid_contigs=0)] == ds.epizoo.contigs


def test_report_plots_order_folds_by_the_one_rule():
    from epizoo.bench.plots import _fold_order

    assert _fold_order(np.array(["chrX", "chr10", "chrM", "chr2", "chrY"])) == ["chr2", "chr10", "chrX", "chrY", "chrM"]


def test_a_sequence_source_hints_at_the_other_naming_style():
    from epizoo.sources.genome import _naming_hint

    assert "the source names it 'chr1'" in _naming_hint("1", ["chr1", "chr2"])
    assert "the source names it '1'" in _naming_hint("CHR1", ["1", "2"])
    assert "names it" not in _naming_hint("chr9", ["chr1", "chr2"])


def test_bench_folds_name_a_chromosome_in_either_style(ds):
    from epizoo.bench.config import BenchConfig
    from epizoo.bench.plan import plan

    for wanted in (["1"], ["chr1"], ["CHR1"]):
        tasks, _, _ = plan(ds, BenchConfig(store="", out="", models=["m"], folds=wanted), warn=lambda text: None)
        assert {task.fold for task in tasks} == {"chr1"}
