"""Epigenomic signals: readers (real TransEPI tables, bigWigs written here), the join, pairs without
signals, signal stores, the transepi split and bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import epizoo
from epizoo.sources import signals
from epizoo.cli import cli
from epizoo.datasets.base import DatasetRequest
from epizoo.datasets.synthetic import simulate
from epizoo.errors import EpizooError, InputFileError
from epizoo.splits import check_leakage, get_folds
from epizoo.store.build import build_store

MARKS = ("CTCF", "H3K27ac")
TRANSEPI = "chenkenbio-TransEPI/comparison/TargetFinder"


@pytest.fixture(autouse=True)
def offline_catalog(shared_data, monkeypatch):
    monkeypatch.setenv("EPIZOO_DATA_DIR", str(shared_data))  # the catalogs' pre-filled cache


def run_cli(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def synthetic():
    return simulate(DatasetRequest(seed=3, options={"n_pairs": 600, "n_contigs": 6, "cell_lines": 2}))


def _name(contig, start, end, cell) -> str:
    return f"{contig}:{start}-{end}|{cell}|_"


def write_table(path: Path, pairs: pd.DataFrame, keep: np.ndarray | None = None, marks=MARKS, **override) -> Path:
    """A TargetFinder-style feature table of ``pairs`` (BED names): H3K27ac at the enhancer tracks the label."""
    keep = np.ones(len(pairs), bool) if keep is None else keep
    rng = np.random.default_rng(0)
    rows = pairs[keep]
    table = pd.DataFrame({
        "label": rows["label"].to_numpy(),
        "enh_name": [_name(c, s, e, cl) for c, s, e, cl in zip(rows.enhancer_contig, rows.enhancer_start, rows.enhancer_end, rows.cell_line)],
        "prom_name": [_name(c, s, e, cl) for c, s, e, cl in zip(rows.promoter_contig, rows.promoter_start, rows.promoter_end, rows.cell_line)],
        "celltype": rows["cell_line"].to_numpy(),
    })
    for mark in marks:
        for region in signals.REGIONS:
            value = rng.gamma(1.0, 0.01, len(rows))
            if mark == "H3K27ac" and region == "enhancer":
                value = value + 0.05 * rows["label"].to_numpy()
            table[f"{mark} ({region})"] = value
    for column, values in override.items():
        table[column] = values
    table.to_csv(path, index=False)
    return path


# ---- readers on the real tables ----------------------------------------------------------------


def test_reads_a_real_bengi_feature_table(shared_data):
    path = shared_data / TRANSEPI / "BENGI.NHEK.HiC-Benchmark.v3.targetfinder_features.tsv.gz"
    table = signals.read_feature_table(path, "bed")
    assert table.marks == signals.MARKS and table.values.shape == (15402, 8, 3)
    with gzip.open(path, "rt") as handle:
        header, first = handle.readline().strip().split(","), handle.readline().strip().split(",")
    assert table.keys.iloc[0].tolist() == ["NHEK", "chr12", 678895, 680420, "chr12", 861758, 861759]
    assert table.values[0, signals.MARKS.index("H3K27ac"), 1] == pytest.approx(float(first[header.index("H3K27ac (promoter)")]), rel=1e-6)
    assert table.labels[0] == 1 and set(np.unique(table.labels)) == {0, 1}


def test_reads_a_real_whalen_table_with_targetfinder_names(shared_data):
    table = signals.read_feature_table(shared_data / TRANSEPI / "data/Whalen.NHEK.HiC-Whalen.targetfinder_features.tsv.gz", "targetfinder")
    assert table.values.shape == (26891, 8, 3) and int(table.labels.sum()) == 1291  # TargetFinder's NHEK
    # the names carry TargetFinder's own numbers S-E; the BED interval is S-1..E
    assert table.keys.iloc[0][["enhancer_contig", "enhancer_start", "enhancer_end"]].tolist() == ["chr1", 3399799, 3400600]


def test_catalog_signals_join_every_bengi_pair():
    loaded = epizoo.plugins.get_dataset("bengi").load(DatasetRequest(variant="transepi", cell_lines=("NHEK",)))
    measured = signals.resolve("targetfinder-features", loaded.pairs, "bengi")
    assert measured.has.all() and measured.missing == {}
    assert measured.values.shape == (len(loaded.pairs), 8, 3) and np.isfinite(measured.values).all()


def test_catalog_signals_join_targetfinder_pairs_by_coordinates():
    spec = epizoo.plugins.get_dataset("targetfinder")
    paper = spec.load(DatasetRequest(cell_lines=("NHEK", "IMR90")))
    measured = signals.resolve("targetfinder-features", paper.pairs, "targetfinder")
    assert measured.has.all()  # TransEPI's tables of these two cell lines are TargetFinder's own pairs
    transepi = spec.load(DatasetRequest(variant="transepi", cell_lines=("GM12878",)))
    assert signals.resolve("targetfinder-features", transepi.pairs, "targetfinder").has.all()


def test_a_catalog_table_that_cannot_be_had_leaves_its_pairs_counted(monkeypatch, tmp_path):
    monkeypatch.setenv("EPIZOO_CATALOG_BASE_URL", "http://127.0.0.1:9")  # nothing listens: no download
    monkeypatch.setattr(epizoo.catalog, "RETRY_DELAYS", ())
    pairs = pd.DataFrame({
        "cell_line": ["NHEK", "K562"], "source": ["bengi/NHEK.HiC-Benchmark.v3", "bengi/K562.HiC-Benchmark.v3"],
        "enhancer_contig": ["chr12", "chr1"], "enhancer_start": [678895, 10], "enhancer_end": [680420, 20],
        "promoter_contig": ["chr12", "chr1"], "promoter_start": [861758, 100], "promoter_end": [861759, 101],
    })
    measured = signals.resolve("targetfinder-features", pairs, "bengi")
    assert measured.has.tolist() == [True, False]
    assert list(measured.missing.values()) == [1] and "bengi/K562.HiC unavailable" in next(iter(measured.missing))


# ---- bigWig tracks ----------------------------------------------------------------------------


def write_bigwig(path: Path, chroms: dict[str, int], intervals: list[tuple[str, int, int, float]]) -> Path:
    import pyBigWig

    handle = pyBigWig.open(str(path), "w")
    handle.addHeader(list(chroms.items()))
    for contig, start, end, value in intervals:
        handle.addEntries([contig], [start], ends=[end], values=[float(value)])
    handle.close()
    return path


def write_tracks(tmp_path: Path, cells=("A", "B"), marks=MARKS, chroms=None, skip=None) -> Path:
    chroms = chroms or {"chr1": 10_000, "chr2": 10_000}
    lines = []
    for cell in cells:
        lines.append(f"{cell}:")
        for k, mark in enumerate(marks):
            if skip == (cell, mark):
                continue
            name = f"{cell}_{mark}.bw"
            contig = next(iter(chroms))
            write_bigwig(tmp_path / name, chroms, [(contig, 100, 200, 2.0 + k), (contig, 1000, 1100, 4.0)])
            lines.append(f"  {mark}: {name}")
    path = tmp_path / "tracks.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def pair_frame(rows) -> pd.DataFrame:
    columns = ["cell_line", "enhancer_contig", "enhancer_start", "enhancer_end", "promoter_contig", "promoter_start", "promoter_end"]
    return pd.DataFrame(rows, columns=columns)


def test_bigwig_features_are_mean_signal_per_bp(tmp_path):
    path = write_tracks(tmp_path)
    pairs = pair_frame([
        ("A", "chr1", 100, 300, "chr1", 1000, 1200),  # enhancer half covered, promoter half covered, window 300..1000 empty
        ("A", "chr1", 1000, 1100, "chr1", 0, 50),  # promoter upstream: the window is 50..1000
        ("B", "chr1", 150, 250, "chr2", 0, 100),  # across contigs: no window
        ("C", "chr1", 0, 10, "chr1", 20, 30),  # a cell line without tracks
    ])
    measured = signals.resolve(str(path), pairs)
    ctcf, k27 = measured.values[:, 0], measured.values[:, 1]
    assert measured.marks == MARKS
    assert ctcf[0].tolist() == pytest.approx([2.0 * 100 / 200, 4.0 * 100 / 200, 0.0])
    assert k27[0, 0] == pytest.approx(3.0 * 100 / 200)
    assert ctcf[1, 2] == pytest.approx((2.0 * 100) / 950)  # 50..1000 holds the 100..200 peak
    assert np.isnan(ctcf[2, 2]) and ctcf[2, 0] == pytest.approx(2.0 * 50 / 100)
    assert np.isnan(measured.values[3]).all() and measured.missing == {"no tracks for cell line C": 1}


@pytest.mark.parametrize(
    "problem, expected",
    [
        ({"skip": ("B", "H3K27ac")}, "mark H3K27ac missing for cell line B"),
        ({"chroms": {"1": 10_000, "2": 10_000}}, "the track names contigs like '1' but the pairs use 'chr1'"),
        ({"chroms": {"chr9": 10_000}}, "lacks contig(s) chr1"),
    ],
)
def test_bad_tracks_are_one_line(tmp_path, problem, expected):
    path = write_tracks(tmp_path, **problem)
    pairs = pair_frame([("A", "chr1", 100, 300, "chr1", 1000, 1200), ("B", "chr1", 100, 300, "chr1", 1000, 1200)])
    with pytest.raises(InputFileError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        signals.resolve(str(path), pairs)


def test_a_nan_only_track_is_refused(tmp_path):
    write_bigwig(tmp_path / "nan.bw", {"chr1": 10_000}, [("chr1", 0, 100, float("nan"))])
    (tmp_path / "tracks.yaml").write_text("A:\n  CTCF: nan.bw\n")
    with pytest.raises(InputFileError, match="holds no values"):
        signals.resolve(str(tmp_path / "tracks.yaml"), pair_frame([("A", "chr1", 0, 10, "chr1", 500, 510)]))


# ---- stores of signals ------------------------------------------------------------------------


def test_store_with_sequence_and_signals_keeps_unmeasured_pairs_as_nan(synthetic, tmp_path):
    keep = np.arange(len(synthetic.pairs)) % 10 != 0  # every tenth pair has no row
    table = write_table(tmp_path / "features.csv", synthetic.pairs, keep)
    report = build_store(synthetic, tmp_path / "both.zarr", signals=str(table), progress=False, dataset="synthetic")
    ds = epizoo.open_store(tmp_path / "both.zarr")
    assert ds.attrs["epizoo_layers"] == "pairs,sequence,signals"
    assert report.pairs_kept == len(synthetic.pairs) and report.signals["pairs_with_signals"] == int(keep.sum())
    assert sum(report.signals["pairs without signals"].values()) == int((~keep).sum())
    values = ds["pair_signal"].values
    assert np.isnan(values).all(axis=(1, 2)).sum() == int((~keep).sum())  # NaN, never zeros
    assert list(ds["signal_mark_id"].values) == list(MARKS) and list(ds["signal_region_id"].values) == list(signals.REGIONS)
    assert ds.epizoo.signals().dims == ("pairs", "signal_marks", "signal_regions")


def test_store_of_signals_only_leaves_out_unmeasured_pairs_counted(synthetic, tmp_path):
    keep = np.arange(len(synthetic.pairs)) % 4 != 0
    table = write_table(tmp_path / "features.csv", synthetic.pairs, keep)
    report = build_store(synthetic, tmp_path / "sig.zarr", signals=str(table), with_sequence=False, progress=False)
    ds = epizoo.open_store(tmp_path / "sig.zarr")
    assert ds.attrs["epizoo_layers"] == "pairs,signals" and "enhancer_sequence" not in ds
    assert report.pairs_kept == int(keep.sum()) and sum(report.dropped.values()) == int((~keep).sum())
    assert np.isfinite(ds["pair_signal"].values).all()


def test_build_store_cli_with_signals_and_inspect(synthetic, tmp_path):
    table = write_table(tmp_path / "features.csv", synthetic.pairs)
    out = tmp_path / "cli.zarr"
    result = run_cli("build-store", "--dataset", "synthetic", "--option", "n_pairs=600", "--option", "n_contigs=6",
                     "--option", "cell_lines=2", "--seed", "3", "--signals", table, "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "pairs with signals" in result.output
    shown = run_cli("inspect", out)
    assert shown.exit_code == 0 and "signals" in shown.output and "H3K27ac" in shown.output


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p, t: write_table(t / "f.csv", p, marks=("CTCF",), **{"CTCF (window)": "high"}), "CTCF (window) is 'high', not a number"),
        (lambda p, t: write_table(t / "f.csv", p.assign(enhancer_start=p.enhancer_start + 7)), "no pair joins the signal table"),
        (lambda p, t: write_table(t / "f.csv", p).write_text((t / "f.csv").read_text().replace(",H3K27ac (window)", ",H3K27ac (windows)")) and t / "f.csv",
         "mark H3K27ac lacks column(s) 'H3K27ac (window)'"),
    ],
)
def test_bad_feature_tables_are_one_line_and_leave_no_store(synthetic, tmp_path, make, expected):
    table = make(synthetic.pairs, tmp_path)
    out = tmp_path / "bad.zarr"
    result = run_cli("build-store", "--dataset", "synthetic", "--option", "n_pairs=600", "--option", "n_contigs=6",
                     "--option", "cell_lines=2", "--seed", "3", "--signals", table, "--out", out, "--no-progress")
    assert result.exit_code != 0 and expected in " ".join(result.output.split())
    assert "Traceback" not in result.output and not out.exists()
    assert not list(tmp_path.glob("bad.zarr*"))


def test_a_mark_missing_for_one_cell_line_between_tables_is_refused(synthetic, tmp_path):
    first = signals.read_feature_table(write_table(tmp_path / "a.csv", synthetic.pairs))
    second = signals.read_feature_table(write_table(tmp_path / "b.csv", synthetic.pairs, marks=("CTCF",)))
    with pytest.raises(InputFileError, match="mark.*H3K27ac.*missing for cell line"):
        signals.concat_tables([first, second])


def test_no_sequence_needs_signals(tmp_path):
    result = run_cli("build-store", "--dataset", "synthetic", "--no-sequence", "--out", tmp_path / "x.zarr", "--no-progress")
    assert result.exit_code != 0 and "--no-sequence builds a store of signals only" in result.output


# ---- the transepi split -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def signal_store(synthetic, tmp_path_factory):
    folder = tmp_path_factory.mktemp("signals")
    table = write_table(folder / "features.csv", synthetic.pairs)
    build_store(synthetic, folder / "sig.zarr", signals=str(table), with_sequence=False, progress=False)
    return folder / "sig.zarr"


def test_transepi_folds_hold_out_chromosome_groups_and_cell_lines(signal_store):
    ds = epizoo.open_store(signal_store)
    groups = [["chr1", "chr2"], ["chr3", "chrX"], ["chr4", "chr5"]]
    folds = get_folds(ds, "transepi", train=["SYN-A"], test=["SYN-B"], groups=groups)
    assert [f.name for f in folds] == ["fold1", "fold2", "fold3"]
    contig = ds["contig_id"].values[ds["pair_contig"].values]
    cell = ds["cell_line_id"].values[ds["pair_cell_line"].values]
    covered = np.zeros(ds.sizes["pairs"], bool)
    for fold, group in zip(folds, groups):
        assert set(cell[fold.train]) == {"SYN-A"} and not np.isin(contig[fold.train], group).any()
        assert set(cell[fold.test]) == {"SYN-B"} and np.isin(contig[fold.test], group).all()
        assert not fold.valid.any() and fold.info["train_cell_lines"] == ["SYN-A"]
        assert not check_leakage(ds, fold).leaks
        covered |= fold.test
    assert covered.sum() == (cell == "SYN-B").sum()  # every test pair is scored once over the folds


def test_transepi_default_groups_and_bad_options(signal_store):
    ds = epizoo.open_store(signal_store)
    folds = get_folds(ds, "transepi", train="SYN-A", test="SYN-B")
    assert len(folds) == 5 and folds[0].info["test_contigs"] == ["chr1"]  # chr10, chr15, chr21 are not in this store
    with pytest.raises(EpizooError, match="both a train and a test cell line"):
        get_folds(ds, "transepi", train="SYN-A", test="SYN-A")
    with pytest.raises(EpizooError, match="unknown cell line 'K562'"):
        get_folds(ds, "transepi", train="K562", test="SYN-B")


def test_bench_transepi_pools_folds_per_test_cell_line(signal_store, tmp_path):
    out = tmp_path / "run"
    result = run_cli("bench", signal_store, "--models", "distance,targetfinder", "--tiny", "--split", "transepi",
                     "--split-option", "train=SYN-A", "--split-option", "test=SYN-B", "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "## Pooled over folds" in report and "SYN-A -> SYN-B" in report
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    # TransEPI's fourth group (chr12, 14, 16, 18, 20) is absent from this store: its fold is skipped
    assert set(metrics["model"]) == {"distance", "targetfinder"} and len(metrics) == 8
    assert "fold4" in (out / "skipped.tsv").read_text()
    pooled = epizoo.bench.report.build_report(out).pooled
    targetfinder = pooled[pooled["model"] == "targetfinder"].iloc[0]
    assert targetfinder["pairs"] == (epizoo.open_store(signal_store)["pair_cell_line"].values == 1).sum()
    assert targetfinder["auroc"] > 0.8  # H3K27ac at the enhancer tracks the label


def test_bench_refuses_a_signals_model_on_a_sequence_store(tmp_path):
    store = tmp_path / "seq.zarr"
    epizoo.simulate_store(store, n_pairs=60, n_contigs=3, cell_lines=1)
    result = run_cli("bench", store, "--models", "targetfinder", "--tiny", "--split", "loco", "--out", tmp_path / "run")
    assert result.exit_code != 0 and "targetfinder reads signals, which store" in " ".join(result.output.split())


def test_transepi_trains_once_per_fold_for_several_test_cell_lines(synthetic, tmp_path):
    """Three cell lines: train on one, test on two; each fold trains once and scores both."""
    loaded = simulate(DatasetRequest(seed=4, options={"n_pairs": 900, "n_contigs": 6, "cell_lines": 3}))
    table = write_table(tmp_path / "features.csv", loaded.pairs)
    build_store(loaded, tmp_path / "three.zarr", signals=str(table), with_sequence=False, progress=False)
    out = tmp_path / "run"
    result = run_cli("bench", tmp_path / "three.zarr", "--models", "distance", "--split", "transepi",
                     "--split-option", "train=SYN-A", "--split-option", "groups=chr1,chr2;chr3,chrX", "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "tasks" / "distance").iterdir()) == ["SYN-A-to-SYN-B+SYN-C"]
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert sorted(metrics["cell_line"]) == ["SYN-B", "SYN-B", "SYN-C", "SYN-C"]
    for line in ("SYN-B", "SYN-C"):
        assert len(list((out / "predictions" / "distance" / f"SYN-A-to-{line}").glob("fold*.tsv"))) == 2
    pooled = epizoo.bench.report.build_report(out).pooled
    assert sorted(pooled["column"]) == ["SYN-A -> SYN-B", "SYN-A -> SYN-C"]
