"""Splits and the leakage check, on small hand-built stores (and one simulated store)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr

import epizoo
from epizoo import coords, schema
from epizoo.errors import EmptyResultError, EpizooError, LeakageError, UnknownNameError
from epizoo.splits import Fold, LeakageWarning, SplitOptionError, check_folds, check_leakage, get_folds

WINDOW, FLANK = 100, 10
CONTIGS = ["chr1", "chr2", "chr3", "chr4", "chrX", "chrY"]


def make_dataset(enhancers, promoters, pairs, cell_lines=("A", "B"), cv_groups=()) -> xr.Dataset:
    """A schema-valid store in memory.

    ``enhancers``/``promoters``: (contig name, start, end); ``pairs``: (enhancer index, promoter
    index, cell line index, label, cv group index or -1).
    """
    contig_code = {name: i for i, name in enumerate(CONTIGS)}
    data = {}
    for kind, elements in (("enhancer", enhancers), ("promoter", promoters)):
        contig = np.array([contig_code[c] for c, _, _ in elements], dtype=np.int32)
        start = np.array([s for _, s, _ in elements], dtype=np.int64)
        end = np.array([e for _, _, e in elements], dtype=np.int64)
        dim = f"{kind}s"
        data.update({
            f"{kind}_contig": (dim, contig),
            f"{kind}_start": (dim, start),
            f"{kind}_end": (dim, end),
            f"{kind}_name": (dim, np.array([f"{kind[0]}{i}" for i in range(len(elements))])),
            f"{kind}_window_start": (dim, coords.stored_window_start(start, end, WINDOW, FLANK)),
            f"{kind}_sequence": ((dim, f"{kind}_bases"), np.zeros((len(elements), WINDOW + 2 * FLANK), dtype=np.int8)),
        })
    table = np.array(pairs, dtype=np.int64).reshape(-1, 5)
    enhancer_contig = data["enhancer_contig"][1]
    data.update({
        "promoter_strand": ("promoters", np.array(["+"] * len(promoters))),
        "pair_enhancer": ("pairs", table[:, 0]),
        "pair_promoter": ("pairs", table[:, 1]),
        "pair_contig": ("pairs", enhancer_contig[table[:, 0]]),
        "pair_cell_line": ("pairs", table[:, 2]),
        "pair_label": ("pairs", table[:, 3].astype(np.int8)),
        "pair_cv_group": ("pairs", table[:, 4]),
        "pair_distance": ("pairs", np.full(len(table), 1000)),
        "pair_source": ("pairs", np.zeros(len(table), dtype=np.int64)),
        "pair_label_generated": ("pairs", np.zeros(len(table), dtype=bool)),
        "contig_id": ("contigs", np.array(CONTIGS)),
        "contig_length": ("contigs", np.full(len(CONTIGS), 10_000_000)),
        "cell_line_id": ("cell_lines", np.array(cell_lines)),
        "source_id": ("sources", np.array(["hand/made"])),
        "cv_group_id": ("cv_groups", np.array(list(cv_groups), dtype="<U8")),
    })
    attrs = {name: "" for name in schema.ATTRIBUTES}
    attrs.update(epizoo_format_version=schema.FORMAT_VERSION, enhancer_window=WINDOW, promoter_window=WINDOW, flank=FLANK)
    return schema.validate(xr.Dataset(data, attrs=attrs))


def grid_dataset(positives_on_x: bool = True) -> xr.Dataset:
    """Per contig chr1..4, chrX: 3 enhancers and 2 promoters 10 kb apart, every pairing in both
    cell lines; plus one chrY pair. cv group = contig position. Elements never overlap."""
    enhancers, promoters, pairs = [], [], []
    for c, contig in enumerate(CONTIGS[:5]):
        first_e, first_p = len(enhancers), len(promoters)
        enhancers += [(contig, 10_000 * (i + 1), 10_000 * (i + 1) + 200) for i in range(3)]
        promoters += [(contig, 100_000 + 10_000 * i, 100_000 + 10_000 * i + 1) for i in range(2)]
        for cell in (0, 1):
            for e in range(3):
                for p in range(2):
                    label = int((e + p + cell) % 3 == 0) if (contig != "chrX" or positives_on_x) else 0
                    pairs.append((first_e + e, first_p + p, cell, label, c))
    enhancers.append(("chrY", 5_000, 5_200))
    promoters.append(("chrY", 50_000, 50_001))
    pairs.append((len(enhancers) - 1, len(promoters) - 1, 0, 1, -1))
    return make_dataset(enhancers, promoters, pairs, cv_groups=[f"cv-{i}" for i in range(5)])


@pytest.fixture(scope="module")
def grid() -> xr.Dataset:
    return grid_dataset()


def contigs_of(ds: xr.Dataset, mask: np.ndarray) -> set[str]:
    return {CONTIGS[c] for c in ds["pair_contig"].values[mask]}


def assert_disjoint(fold: Fold) -> None:
    assert not (fold.train & fold.valid).any()
    assert not (fold.train & fold.test).any()
    assert not (fold.valid & fold.test).any()
    assert fold.train.dtype == bool and fold.test.any()


# ---- loco --------------------------------------------------------------------------------------


def test_loco_one_fold_per_autosome_and_x(grid):
    folds = get_folds(grid, "loco")
    assert [f.name for f in folds] == ["chr1", "chr2", "chr3", "chr4", "chrX"]  # chrY is never held out
    for fold in folds:
        assert_disjoint(fold)
        assert fold.info["leaks_by_design"] is False
        (valid,) = fold.info["valid_contigs"]
        assert contigs_of(grid, fold.test) == {fold.name}
        assert contigs_of(grid, fold.valid) == {valid} and valid != fold.name
        assert not contigs_of(grid, fold.train) & {fold.name, valid}
        assert "chrY" in contigs_of(grid, fold.train)
        assert check_leakage(grid, fold).leaks is False
    assert folds[0].info["valid_contigs"] == ["chr2"] and folds[-1].info["valid_contigs"] == ["chr1"]


def test_loco_options(grid):
    folds = get_folds(grid, "loco", folds=["2", "chrX"], cell_lines=["B"], valid_contigs=2, seed=3)
    assert [f.name for f in folds] == ["chr2", "chrX"]
    cell_line = grid["pair_cell_line"].values
    for fold in folds:
        assert (cell_line[fold.train | fold.valid | fold.test] == 1).all()
        assert len(fold.info["valid_contigs"]) == 2 and fold.name not in fold.info["valid_contigs"]
    again = get_folds(grid, "loco", folds=["2", "chrX"], cell_lines=["B"], valid_contigs=2, seed=3)
    assert [f.info["valid_contigs"] for f in again] == [f.info["valid_contigs"] for f in folds]


def test_loco_marks_test_sides_without_positives():
    ds = grid_dataset(positives_on_x=False)
    by_name = {f.name: f for f in get_folds(ds, "loco")}
    assert by_name["chrX"].info["test_has_positives"] is False
    assert "test side has no positives" in by_name["chrX"].info["notes"]
    assert by_name["chr1"].info["test_has_positives"] is True
    assert by_name["chr1"].info["counts"]["test"] == {"pairs": 12, "positives": 4}


def test_loco_drops_trans_pairs_whose_promoter_is_on_another_side():
    enhancers = [("chr1", 1_000, 1_200), ("chr2", 1_000, 1_200), ("chr3", 1_000, 1_200)]
    promoters = [("chr1", 9_000, 9_001), ("chr2", 9_000, 9_001), ("chr3", 9_000, 9_001)]
    # the last two are trans pairs: chr1 enhancer with chr2 promoter, and the reverse
    pairs = [(0, 0, 0, 1, -1), (1, 1, 0, 0, -1), (2, 2, 0, 1, -1), (0, 1, 0, 0, -1), (1, 0, 0, 1, -1)]
    ds = make_dataset(enhancers, promoters, pairs)
    fold = get_folds(ds, "loco", folds=["chr2"], valid_contigs=0)[0]
    assert fold.info["dropped_trans_pairs"] == 2
    assert fold.train.tolist() == [True, False, True, False, False]
    assert fold.test.tolist() == [False, True, False, False, False]
    assert not check_leakage(ds, fold).leaks


def test_loco_on_two_chromosomes_has_no_validation_side_by_default():
    enhancers = [("chr1", 1_000, 1_200), ("chr2", 1_000, 1_200)]
    promoters = [("chr1", 9_000, 9_001), ("chr2", 9_000, 9_001)]
    ds = make_dataset(enhancers, promoters, [(0, 0, 0, 1, -1), (1, 1, 0, 0, -1)])
    folds = get_folds(ds, "loco")
    assert [f.info["valid_contigs"] for f in folds] == [[], []]
    assert "valid side is empty" in folds[0].info["notes"]
    with pytest.raises(SplitOptionError, match="valid_contigs must be a whole number from 0 to 0, got 1"):
        get_folds(ds, "loco", valid_contigs=1)


# ---- chromosome ----------------------------------------------------------------------------------


def test_chromosome_named_test_and_valid(grid):
    (fold,) = get_folds(grid, "chromosome", test=["chr1", "chr2"], valid="chr3")
    assert fold.name == "chr1+chr2"
    assert contigs_of(grid, fold.test) == {"chr1", "chr2"} and contigs_of(grid, fold.valid) == {"chr3"}
    assert contigs_of(grid, fold.train) == {"chr4", "chrX", "chrY"}
    assert_disjoint(fold)


def test_chromosome_errors_are_one_line(grid):
    with pytest.raises(UnknownNameError, match=r"test: unknown contig 'chr99'; the store has chr1, chr2"):
        get_folds(grid, "chromosome", test=["chr99"])
    with pytest.raises(SplitOptionError, match="both test and valid"):
        get_folds(grid, "chromosome", test=["chr1"], valid=["1"])
    with pytest.raises(SplitOptionError, match="missing a required argument: 'test'"):
        get_folds(grid, "chromosome")


# ---- cross-cell-line ---------------------------------------------------------------------------


def test_cross_cell_line_one_fold_per_test_cell_line(grid):
    folds = get_folds(grid, "cross-cell-line")
    assert [f.name for f in folds] == ["A", "B"]
    cell_line = grid["pair_cell_line"].values
    for code, fold in enumerate(folds):
        assert_disjoint(fold)
        assert (cell_line[fold.test] == code).all() and (cell_line[fold.train | fold.valid] != code).all()
        assert contigs_of(grid, fold.valid) == set(fold.info["valid_contigs"])
        assert not contigs_of(grid, fold.train) & set(fold.info["valid_contigs"])
        report = check_leakage(grid, fold, strict=False)  # both cell lines share every element
        assert report.shared_enhancers > 0 and report.leaks and fold.info["leaks_by_design"]
    with pytest.raises(LeakageError, match="use the 'cross-cell-line-strict' split"):
        check_leakage(grid, folds[0])


def overlapping_cell_lines() -> xr.Dataset:
    """Cell line A and B share enhancer 0; B's enhancer 2 overlaps A's enhancer 1 (windows, not intervals)."""
    enhancers = [("chr1", 1_000, 1_200), ("chr1", 5_000, 5_200), ("chr1", 5_080, 5_280), ("chr1", 50_000, 50_200), ("chr2", 1_000, 1_200)]
    promoters = [("chr1", 20_000, 20_001), ("chr1", 30_000, 30_001), ("chr2", 20_000, 20_001)]
    pairs = [
        (0, 0, 0, 1, -1), (1, 0, 0, 0, -1), (4, 2, 0, 1, -1),  # A
        (0, 1, 1, 1, -1), (2, 1, 1, 0, -1), (3, 1, 1, 1, -1), (3, 0, 1, 0, -1),  # B
    ]
    return make_dataset(enhancers, promoters, pairs)


def test_cross_cell_line_strict_removes_shared_and_overlapping_elements():
    ds = overlapping_cell_lines()
    loose = get_folds(ds, "cross-cell-line", test="B", valid_contigs=0)[0]
    assert loose.test.tolist() == [False] * 3 + [True] * 4
    strict = get_folds(ds, "cross-cell-line-strict", test="B", valid_contigs=0)[0]
    assert strict.test.tolist() == [False] * 5 + [True, False]  # only enhancer 3 with promoter 1 is clean
    assert strict.info["dropped_test_pairs"] == 3 and not strict.info["leaks_by_design"]
    assert not check_leakage(ds, strict).leaks
    by_interval = get_folds(ds, "cross-cell-line", test="B", valid_contigs=0, strict="interval")[0]
    assert by_interval.test.tolist() == [False] * 4 + [True, True, False]  # the overlapping enhancer 2 stays
    report = check_leakage(ds, by_interval, strict=False)
    assert (report.shared_enhancers, report.overlapping_enhancers) == (0, 1)
    assert "test enhancer chr1:5080-5280 overlaps training enhancer chr1:5000-5200" in report.examples[0]


def test_cross_cell_line_errors(grid):
    with pytest.raises(UnknownNameError, match="unknown cell line 'C'"):
        get_folds(grid, "cross-cell-line", test="C")
    with pytest.raises(SplitOptionError, match="both a train and the test"):
        get_folds(grid, "cross-cell-line", test="A", train=["A", "B"])
    with pytest.raises(SplitOptionError, match="strict must be"):
        get_folds(grid, "cross-cell-line", strict="yes")
    one_line = make_dataset([("chr1", 0, 10)], [("chr1", 50, 51)], [(0, 0, 0, 1, -1)], cell_lines=("A",))
    with pytest.raises(EmptyResultError, match="at least 2 cell lines"):
        get_folds(one_line, "cross-cell-line")


# ---- source-groups -------------------------------------------------------------------------------


def test_source_groups_one_fold_per_group(grid):
    folds = get_folds(grid, "source-groups")
    assert [f.name for f in folds] == [f"hand/made/cv-{i}" for i in range(5)]
    assert {f.info["source"] for f in folds} == {"hand/made"}
    groups = grid["pair_cv_group"].values
    for i, fold in enumerate(folds):
        assert_disjoint(fold)
        assert (groups[fold.test] == i).all() and (groups[fold.valid] == (i + 1) % 5).all()
        assert not (fold.train & (groups < 0)).any()  # the ungrouped chrY pair takes no part
        assert fold.info["ungrouped_pairs"] == 1


def test_source_groups_sources_option(grid):
    assert len(get_folds(grid, "source-groups", sources="HAND/*")) == 5
    with pytest.raises(UnknownNameError, match="no source table matches 'other'; the store has hand/made"):
        get_folds(grid, "source-groups", sources="other")


@pytest.fixture(scope="module")
def bengi_store_path(shared_data, tmp_path_factory):
    """A store of TransEPI's three GM12878 BENGI tables, each with its own cv-k numbering."""
    from epizoo import catalog
    from epizoo.datasets.base import DatasetRequest
    from epizoo.sources.genome import RegionSequences
    from epizoo.plugins import get_dataset
    from epizoo.store.build import build_store

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(catalog.DATA_DIR_ENV, str(shared_data))
        loaded = get_dataset("bengi").load(DatasetRequest(variant="transepi", cell_lines=("GM12878",)))
    out = tmp_path_factory.mktemp("bengi") / "gm12878.zarr"
    regions = RegionSequences(shared_data / "derived" / "targetfinder-regions.hg19.fa.gz")
    build_store(loaded, out, sequence=regions, progress=False, allow_drops=True)  # few elements have sequence offline
    return out


@pytest.fixture
def bengi_store(bengi_store_path):
    from epizoo.store.io import open_store

    return open_store(bengi_store_path)


def test_source_groups_do_not_leak_on_several_bengi_tables(bengi_store):
    ds = bengi_store
    folds = get_folds(ds, "source-groups")
    sources = ds["source_id"].values
    assert len(sources) == 3 and {f.info["source"] for f in folds} == set(sources)
    pair_source = sources[ds["pair_source"].values]
    for fold in folds:
        assert fold.name == f"{fold.info['source']}/{fold.info['test_groups'][0]}"
        assert (pair_source[fold.train | fold.valid | fold.test] == fold.info["source"]).all()
    reports = check_folds(ds, folds, strict=False)
    assert [r.summary() for r in reports if r.leaks] == []
    # pooling a group name across the tables, as before, puts the same elements on both sides
    groups, names = ds["pair_cv_group"].values, list(ds["cv_group_id"].values)
    test, valid = groups == names.index("cv-5"), groups == names.index("cv-6")
    pooled = Fold("pooled", (groups >= 0) & ~test & ~valid, valid, test)
    assert check_folds(ds, [pooled], strict=False)[0].shared_enhancers > 0
    hic = get_folds(ds, "source-groups", sources="*HiC*")
    assert hic and {f.info["source"] for f in hic} == {"bengi/GM12878.HiC-Benchmark.v3"}


def test_builtin_split_does_not_load_the_models(bengi_store_path):
    """Built-in splits need no plugins, so no model (and no torch) is imported for them."""
    path = str(bengi_store_path)
    code = (
        "import sys; from epizoo.store.io import open_store; from epizoo.splits import get_folds; "
        f"ds = open_store({path!r}); assert get_folds(ds, 'loco') and ds.epizoo.folds('LOCO'); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_source_groups_without_groups_is_one_line():
    ds = overlapping_cell_lines()
    with pytest.raises(EmptyResultError, match="no upstream cv groups"):
        get_folds(ds, "source-groups")


# ---- random --------------------------------------------------------------------------------------


def test_random_warns_and_its_leakage_is_reported(grid):
    with pytest.warns(LeakageWarning, match="leaks"):
        (fold,) = get_folds(grid, "random", test_fraction=0.25, valid_fraction=0.2, seed=1)
    assert_disjoint(fold)
    assert fold.info["leaks_by_design"] is True
    labels = grid["pair_label"].values
    assert abs(labels[fold.test].mean() - labels.mean()) < 0.1  # stratified
    report = check_leakage(grid, fold, strict=False)
    assert report.leaks and report.shared_enhancers + report.shared_promoters > 0 and report.examples
    with pytest.raises(LeakageError, match="leaks"):
        check_leakage(grid, fold)
    with pytest.raises(SplitOptionError, match="test_fraction must be between 0 and 1"):
        get_folds(grid, "random", test_fraction=1.5)


# ---- the leakage check ---------------------------------------------------------------------------


def fold_of(ds: xr.Dataset, train, test, valid=()) -> Fold:
    masks = [np.zeros(ds.sizes["pairs"], dtype=bool) for _ in range(3)]
    for mask, chosen in zip(masks, (train, valid, test)):
        mask[list(chosen)] = True
    return Fold("planted", *masks, info={})


def test_leakage_check_catches_a_planted_shared_element(grid):
    clean = get_folds(grid, "loco", folds=["chr1"])[0]
    train = np.flatnonzero(clean.train)
    test = np.flatnonzero(clean.test)
    planted = fold_of(grid, train=[*train, test[0]], test=test[1:])  # a chr1 pair moved to training
    report = check_leakage(grid, planted, strict=False)
    assert report.shared_enhancers == 1 and report.shared_promoters == 1 and report.overlapping_enhancers == 0
    with pytest.raises(LeakageError, match=r"1 enhancers and 1 promoters shared .* \(e\.g\. enhancer chr1:10000-10200"):
        check_leakage(grid, planted)


def test_leakage_check_catches_a_planted_overlapping_interval():
    ds = overlapping_cell_lines()
    planted = fold_of(ds, train=[1], test=[4])  # enhancers 1 and 2 differ but their windows overlap
    report = check_leakage(ds, planted, strict=False)
    assert (report.shared_enhancers, report.overlapping_enhancers) == (0, 1)
    with pytest.raises(LeakageError, match="1 test enhancers and 0 test promoters overlapping"):
        check_leakage(ds, planted)
    assert not check_leakage(ds, fold_of(ds, train=[0], test=[5])).leaks  # 49 kb apart: clean


def test_leakage_check_catches_overlapping_masks(grid):
    planted = fold_of(grid, train=[0, 1], test=[1], valid=[0])
    report = check_leakage(grid, planted, strict=False)
    assert report.mask_overlaps == {"train&valid": 1, "train&test": 1, "valid&test": 0}
    with pytest.raises(LeakageError, match="1 pairs in train&valid"):
        check_leakage(grid, planted)


def test_leakage_overlaps_agree_with_brute_force():
    rng = np.random.default_rng(7)
    n = 300
    starts = rng.integers(0, 60_000, size=n)
    enhancers = [(CONTIGS[rng.integers(0, 2)], int(s), int(s) + int(rng.integers(1, 400))) for s in starts]
    promoters = [(CONTIGS[rng.integers(0, 2)], int(s), int(s) + 1) for s in rng.integers(0, 60_000, size=n)]
    pairs = [(i, int(rng.integers(0, n)), 0, int(rng.integers(0, 2)), -1) for i in range(n)]
    ds = make_dataset(enhancers, promoters, pairs)
    side = rng.integers(0, 3, size=n)
    fold = fold_of(ds, train=np.flatnonzero(side == 0), valid=np.flatnonzero(side == 1), test=np.flatnonzero(side == 2))
    report = check_leakage(ds, fold, strict=False)

    def window(kind, i):
        contig = int(ds[f"{kind}_contig"].values[i])
        start = int(ds[f"{kind}_window_start"].values[i])
        return contig, start, start + WINDOW + 2 * FLANK

    table = np.array(pairs)
    train_side = {("enhancer", e) for e in table[side < 2, 0]} | {("promoter", p) for p in table[side < 2, 1]}
    for kind, column in (("enhancer", 0), ("promoter", 1)):
        tested = set(table[side == 2, column]) - {i for k, i in train_side if k == kind}
        expected = 0
        for i in tested:
            contig, start, end = window(kind, i)
            expected += any(c == contig and s < end and start < e for c, s, e in (window(k, j) for k, j in train_side))
        assert getattr(report, f"overlapping_{kind}s") == expected
    assert report.overlapping_enhancers > 0


# ---- registry, options, accessor ---------------------------------------------------------------


def test_every_split_is_registered_and_bad_options_are_one_line(grid):
    from epizoo.plugins import get_splits

    assert {"loco", "cross-cell-line", "cross-cell-line-strict", "source-groups", "chromosome", "random"} <= set(get_splits())
    with pytest.raises(SplitOptionError, match=r"split 'loco': .*'bogus'.*; its options are folds, cell_lines, valid_contigs, seed"):
        get_folds(grid, "loco", bogus=1)
    with pytest.raises(SplitOptionError, match="valid_contigs must be a whole number from 0 to 3"):
        get_folds(grid, "loco", valid_contigs=7)
    with pytest.raises(UnknownNameError, match="unknown split 'lcoo'"):
        get_folds(grid, "lcoo")
    with pytest.raises(EpizooError, match="lacks pair_contig"):
        get_folds(xr.Dataset(), "loco")


def test_simulated_store_folds_through_the_accessor(tmp_path):
    ds = epizoo.simulate_store(tmp_path / "sim.zarr", n_pairs=300, n_contigs=4, cell_lines=2)
    folds = ds.epizoo.folds("loco")
    assert [f.name for f in folds] == list(ds.epizoo.contigs)
    assert sum(int(f.test.sum()) for f in folds) == ds.sizes["pairs"]  # every pair tested exactly once
    for fold in folds:
        assert_disjoint(fold)
        check_leakage(ds, fold)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LeakageWarning)
        (random_fold,) = ds.epizoo.folds("random")
    assert check_leakage(ds, random_fold, strict=False).leaks


def test_real_targetfinder_cell_lines_overlap_and_strict_removes_it(shared_data, tmp_path, monkeypatch):
    """TargetFinder calls elements per cell line: HeLa-S3 and NHEK elements rarely coincide but
    often overlap, which only the window check sees."""
    from click.testing import CliRunner

    from epizoo.cli import cli
    from epizoo.splits import check_folds

    monkeypatch.setenv("EPIZOO_DATA_DIR", str(shared_data))
    store = tmp_path / "tf.zarr"
    built = CliRunner().invoke(cli, [
        "build-store", "--dataset", "targetfinder", "--cell-line", "NHEK", "--cell-line", "HeLa-S3",
        "--regions", str(shared_data / "derived" / "targetfinder-regions.hg19.fa.gz"), "--out", str(store), "--no-progress",
        "--allow-drops",  # few elements have sequence offline
    ])
    assert built.exit_code == 0, built.output
    ds = epizoo.open_store(store)
    loco_folds = get_folds(ds, "loco")
    present = set(ds.epizoo.table().contig)
    main = [f"chr{i}" for i in range(1, 23)] + ["chrX"]
    assert [f.name for f in loco_folds] == [c for c in main if c in present]
    check_folds(ds, loco_folds)  # strict: raises if any LOCO fold leaks
    loose = check_folds(ds, get_folds(ds, "cross-cell-line"), strict=False)
    assert all(r.overlapping_enhancers + r.overlapping_promoters > 0 for r in loose)
    strict_folds = get_folds(ds, "cross-cell-line-strict")
    check_folds(ds, strict_folds)
    assert all(f.info["dropped_test_pairs"] > 0 and f.test.any() for f in strict_folds)


# ---- what `epizoo splits` reports ----------------------------------------------------------------


def test_splits_rows_carry_the_dropped_trans_pairs_count():
    from epizoo.cli.embed_commands import _fold_rows

    enhancers = [("chr1", 1_000, 1_200), ("chr2", 1_000, 1_200), ("chr3", 1_000, 1_200)]
    promoters = [("chr1", 9_000, 9_001), ("chr2", 9_000, 9_001), ("chr3", 9_000, 9_001)]
    pairs = [(0, 0, 0, 1, -1), (1, 1, 0, 0, -1), (2, 2, 0, 1, -1), (0, 1, 0, 0, -1), (1, 0, 0, 1, -1)]
    ds = make_dataset(enhancers, promoters, pairs)
    folds = get_folds(ds, "loco", folds=["chr2"], valid_contigs=0)
    (row,) = _fold_rows(ds, folds)
    assert row["dropped_trans_pairs"] == folds[0].info["dropped_trans_pairs"] == 2
    assert row["dropped_test_pairs"] == 0
    json.dumps(row)  # plain numbers, as --json prints them


def test_splits_json_has_dropped_trans_pairs(tmp_path):
    from click.testing import CliRunner

    from epizoo.cli import cli

    path = tmp_path / "s.zarr"
    epizoo.simulate_store(path, n_pairs=60, n_contigs=3, cell_lines=1)
    result = CliRunner().invoke(cli, ["splits", str(path), "--split", "loco", "--split-option", "valid_contigs=0", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    expected = {f.name: f.info["dropped_trans_pairs"] for f in epizoo.open_store(path).epizoo.folds("loco", valid_contigs=0)}
    assert {row["fold"]: row["dropped_trans_pairs"] for row in rows} == expected


def shared_cell_lines() -> xr.Dataset:
    """Cell line B's every pair uses an element of cell line A (or one overlapping it)."""
    enhancers = [("chr1", 1_000, 1_200), ("chr1", 1_050, 1_250), ("chr2", 1_000, 1_200)]
    promoters = [("chr1", 20_000, 20_001), ("chr2", 20_000, 20_001), ("chr2", 60_000, 60_001)]
    pairs = [(0, 0, 0, 1, -1), (2, 1, 0, 0, -1), (0, 2, 1, 1, -1), (1, 2, 1, 0, -1)]  # A: 0, 1; B: 2, 3
    return make_dataset(enhancers, promoters, pairs)


def test_strict_cross_cell_line_says_when_every_test_pair_overlapped_training(tmp_path):
    ds = shared_cell_lines()
    (fold,) = get_folds(ds, "cross-cell-line-strict", test="B", valid_contigs=0)
    assert not fold.test.any() and fold.info["dropped_test_pairs"] == 2
    (note,) = [n for n in fold.info["notes"] if n.startswith("test side is empty")]
    assert "every one of its 2 test pairs overlapped training" in note and "\n" not in note
    (loose,) = get_folds(ds, "cross-cell-line", test="B", valid_contigs=0)
    assert "overlapped" not in " ".join(loose.info["notes"])


def test_splits_command_warns_in_one_line_when_strict_empties_the_test_side(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from epizoo.cli import cli

    monkeypatch.setattr("epizoo.store.io.open_store", lambda path, **kw: shared_cell_lines())
    result = CliRunner().invoke(cli, ["splits", str(tmp_path), "--split", "cross-cell-line-strict", "--split-option", "test=B",
                                      "--split-option", "valid_contigs=0", "--json"])
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stderr.splitlines() if "test side is empty" in line]
    assert line.startswith("warning: fold B: test side is empty: every one of its 2 test pairs overlapped training")


def test_the_splits_package_keeps_every_public_import_path():
    import epizoo.splits as splits
    from epizoo import plugins
    from epizoo.splits import (  # noqa: F401  the paths docs, plugins and the CLI use
        SPLITS, Fold, LeakageReport, LeakageWarning, SplitOptionError, check_folds, check_leakage, get_folds,
        get_split, parse_option_value, parse_options, register_splits,
    )

    assert set(splits.__all__) <= set(dir(splits))
    assert {"folds", "leakage", "options", "pairs"} <= {m.rsplit(".", 1)[-1] for m in sys.modules if m.startswith("epizoo.splits.")}
    assert set(SPLITS) <= set(plugins.get_splits())  # registered through the package, a default plugin
    assert get_split("LOCO").__wrapped__ is splits.loco


def test_bench_plan_says_why_a_strict_test_side_is_empty():
    from epizoo.bench.config import BenchConfig
    from epizoo.bench.plan import plan

    enhancers = [("chr1", 1_000, 1_200), ("chr1", 1_050, 1_250), ("chr2", 1_000, 1_200), ("chr3", 1_000, 1_200)]
    promoters = [("chr1", 20_000, 20_001), ("chr2", 20_000, 20_001), ("chr2", 60_000, 60_001), ("chr3", 9_000, 9_001), ("chr3", 90_000, 90_001)]
    # as shared_cell_lines, plus two pairs of A alone on chr3, so A's test side stays scorable
    pairs = [(0, 0, 0, 1, -1), (2, 1, 0, 0, -1), (3, 3, 0, 1, -1), (3, 4, 0, 0, -1), (0, 2, 1, 1, -1), (1, 2, 1, 0, -1)]
    ds = make_dataset(enhancers, promoters, pairs)
    config = BenchConfig(store="", out="", models=["m"], split="cross-cell-line-strict", split_options={"valid_contigs": 0})
    tasks, skipped, _ = plan(ds, config, warn=lambda text: None)
    assert {(t.train_cell_line, t.cell_line) for t in tasks} == {("B", "A")}
    (entry,) = skipped
    assert (entry["train_cell_line"], entry["cell_line"]) == ("A", "B")
    assert entry["reason"].startswith("the test side is empty: every one of its 2 test pairs overlapped training")
