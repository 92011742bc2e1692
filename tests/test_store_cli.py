"""build-store, inspect and datasets through click's runner: results and every bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from epizoo import plugins
from epizoo.cli import cli
from epizoo.datasets.base import DatasetSpec, LoadedDataset
from epizoo.sources.genome import ArrayGenome
from epizoo.hookspecs import hookimpl
from epizoo.store.io import open_store

WINDOW_ARGS = ["--enhancer-window", "300", "--promoter-window", "200", "--no-progress"]


def _read_table(request) -> LoadedDataset:
    """A test reader: a TSV of pair-table columns named by --bedpe, optionally filtered by cell line."""
    try:
        table = pd.read_csv(request.path, sep="\t")
    except FileNotFoundError:
        from epizoo.errors import InputFileError

        raise InputFileError(f"pair file {request.path} does not exist") from None
    if request.cell_lines:
        table = table[table["cell_line"].isin(request.cell_lines)]
    return LoadedDataset(table, "hg19", variant=request.variant or "", report={"rows read": len(table)})


class _TestDatasets:
    @hookimpl
    def register_datasets(self, register):
        register(DatasetSpec("tsvpairs", "Pairs from a TSV (tests).", _read_table, variants=("a", "b"), default_variant="a"))


@pytest.fixture(autouse=True)
def tsv_dataset():
    manager = plugins.get_plugin_manager()
    plugin = _TestDatasets()
    manager.register(plugin, name="test-tsvpairs")
    plugins._cache.clear()
    yield
    manager.unregister(plugin)
    plugins._cache.clear()


@pytest.fixture
def genome_fa(tmp_path):
    rng = np.random.default_rng(1)
    genome = ArrayGenome({"chr1": rng.integers(0, 4, 6000, dtype=np.int8), "chr2": rng.integers(0, 4, 6000, dtype=np.int8)})
    return genome.write_fasta(tmp_path / "genome.fa")


def _write_pairs(path, rows):
    columns = ["enhancer_contig", "enhancer_start", "enhancer_end", "promoter_contig", "promoter_start",
               "promoter_end", "cell_line", "label", "source"]
    pd.DataFrame(rows, columns=columns).to_csv(path, sep="\t", index=False)
    return path


GOOD_ROWS = [
    ("chr1", 1000, 1200, "chr1", 3000, 3001, "GM", 1, "t"),
    ("chr1", 1000, 1200, "chr1", 4500, 4501, "GM", 0, "t"),
    ("chr2", 500, 700, "chr2", 2500, 2501, "K5", 1, "t"),
]


@pytest.fixture
def pairs_tsv(tmp_path):
    return _write_pairs(tmp_path / "pairs.tsv", GOOD_ROWS)


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _build_args(pairs, genome, out, *extra):
    return ["build-store", "--dataset", "tsvpairs", "--bedpe", pairs, "--genome", genome, "--out", out, *WINDOW_ARGS, *extra]


def test_build_store_then_inspect(tmp_path, pairs_tsv, genome_fa):
    out = tmp_path / "s.zarr"
    result = _run(*_build_args(pairs_tsv, genome_fa, out, "--json"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["pairs_kept"] == 3 and report["enhancers"] == 2 and report["reader"] == {"rows read": 3}
    ds = open_store(out)
    assert ds.attrs["dataset"] == "tsvpairs" and ds.attrs["variant"] == "a" and ds.attrs["enhancer_window"] == 300
    assert ds.attrs["command"].startswith("epizoo")
    info = json.loads(_run("inspect", out, "--json").output)
    assert (info["pairs"], info["positives"], info["negatives"], info["generated_negatives"]) == (3, 2, 1, 0)
    assert {(r["cell_line"], r["contig"], r["pairs"]) for r in info["counts"]} == {("GM", "chr1", 2), ("K5", "chr2", 1)}
    assert info["provenance"]["genome_build"] == "hg19" and info["bytes_on_disk"] > 0
    table = _run("inspect", out)
    assert table.exit_code == 0 and "GM" in table.output and "provenance" in table.output


def test_build_store_prints_a_summary_table(tmp_path, pairs_tsv, genome_fa):
    result = _run(*_build_args(pairs_tsv, genome_fa, tmp_path / "s.zarr", "--cell-lines", "GM", "--variant", "b"))
    assert result.exit_code == 0, result.output
    assert "pairs kept" in result.output and "bytes/base" in result.output
    ds = open_store(tmp_path / "s.zarr")
    assert ds.epizoo.cell_lines == ["GM"] and ds.attrs["variant"] == "b"


def test_datasets_lists_the_registry():
    rows = json.loads(_run("datasets", "--json").output)
    tsv = next(r for r in rows if r["name"] == "tsvpairs")
    assert tsv["variants"] == ["a", "b"] and tsv["genome_build"] == "hg19"
    assert "tsvpairs" in _run("datasets").output


def test_synthetic_dataset_brings_its_own_genome(tmp_path):
    result = _run("build-store", "--dataset", "synthetic", "--option", "n_pairs=200", "--out", tmp_path / "syn.zarr", "--no-progress")
    assert result.exit_code == 0, result.output
    assert open_store(tmp_path / "syn.zarr").attrs["sequence_source"].startswith("synthetic")


def test_negatives_are_generated_through_the_negatives_module(tmp_path, pairs_tsv, genome_fa, monkeypatch):
    calls = {}

    def add_negatives(pairs, ratio, seed, available=None):
        calls.update(ratio=ratio, seed=seed, available=available("enhancer", "chr1", 0, 10))
        negative = pairs.iloc[[0]].assign(label=0, label_generated=True, promoter_start=5000, promoter_end=5001)
        return pd.concat([pairs, negative], ignore_index=True), {"generated": 1, "shortfall": 0}

    monkeypatch.setattr("epizoo.store.build.add_negatives", add_negatives)  # the build's own name for it
    result = _run(*_build_args(pairs_tsv, genome_fa, tmp_path / "s.zarr", "--negatives", "2", "--seed", "5"))
    assert result.exit_code == 0, result.output
    assert calls == {"ratio": 2, "seed": 5, "available": True}
    info = json.loads(_run("inspect", tmp_path / "s.zarr", "--json").output)
    assert info["generated_negatives"] == 1 and info["pairs"] == 4


def _assert_one_line_failure(result, pattern, tmp_path):
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith("warning: plugin")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert pattern in lines[0], lines[0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("s.zarr") and p.name != "s.zarr.keep"]


@pytest.mark.parametrize(
    ("case", "pattern"),
    [
        ("missing genome", "does not exist"),
        ("missing pair file", "does not exist"),
        ("malformed row", "label must be 0 or 1"),
        ("contig absent", "contig 'chr9' is not in genome.fa"),
        ("off the end", "off the end of chr2"),
        ("unknown dataset", "unknown dataset 'tsvpair'"),
        ("unknown variant", "unknown variant 'c'"),
        ("empty result", "has no pairs"),
        ("both sources", "not both"),
        ("bad option", "KEY=VALUE"),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_store(tmp_path, pairs_tsv, genome_fa, case, pattern):
    out = tmp_path / "s.zarr"
    args = _build_args(pairs_tsv, genome_fa, out)
    rows = list(GOOD_ROWS)
    if case == "missing genome":
        args = _build_args(pairs_tsv, tmp_path / "absent.fa", out)
    elif case == "missing pair file":
        args = _build_args(tmp_path / "absent.tsv", genome_fa, out)
    elif case == "malformed row":
        rows[1] = ("chr1", 1000, 1200, "chr1", 4500, 4501, "GM", 2, "t")
    elif case == "contig absent":
        rows[1] = ("chr9", 1000, 1200, "chr9", 4500, 4501, "GM", 0, "t")
    elif case == "off the end":
        rows[2] = ("chr2", 7000, 7200, "chr2", 2500, 2501, "K5", 1, "t")
    elif case == "unknown dataset":
        args[2] = "tsvpair"
    elif case == "unknown variant":
        args += ["--variant", "c"]
    elif case == "empty result":
        args += ["--cell-lines", "HeLa"]
    elif case == "both sources":
        args += ["--regions", genome_fa]
    elif case == "bad option":
        args += ["--option", "novalue"]
    _write_pairs(pairs_tsv, rows)
    _assert_one_line_failure(_run(*args), pattern, tmp_path)


def test_regions_with_nothing_usable_is_an_empty_result(tmp_path, pairs_tsv):
    regions = tmp_path / "regions.fa"
    regions.write_text(">chr7:0-4\nACGT\n")
    args = ["build-store", "--dataset", "tsvpairs", "--bedpe", pairs_tsv, "--regions", regions, "--out", tmp_path / "s.zarr", "--no-progress"]
    _assert_one_line_failure(_run(*args), "none of the 3 pairs", tmp_path)


def test_existing_store_needs_force(tmp_path, pairs_tsv, genome_fa):
    out = tmp_path / "s.zarr"
    assert _run(*_build_args(pairs_tsv, genome_fa, out)).exit_code == 0
    refused = _run(*_build_args(pairs_tsv, genome_fa, out))
    assert refused.exit_code != 0 and "--force" in refused.output
    _write_pairs(pairs_tsv, GOOD_ROWS[:2])
    assert _run(*_build_args(pairs_tsv, genome_fa, out, "--force")).exit_code == 0
    assert open_store(out).sizes["pairs"] == 2


def test_force_refuses_to_replace_what_is_not_a_store(tmp_path, pairs_tsv, genome_fa):
    out = tmp_path / "s.zarr"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    result = _run(*_build_args(pairs_tsv, genome_fa, out, "--force"))
    assert result.exit_code != 0 and "is not an epizoo store" in result.output and "Traceback" not in result.output
    assert (out / "precious.txt").read_text() == "mine"


def test_positives_only_pairs_need_negatives(tmp_path, genome_fa):
    """Without --negatives, a BEDPE of loops alone would make an all-positive store."""
    bedpe = tmp_path / "loops.bedpe"
    bedpe.write_text("chr1\t1000\t1200\tchr1\t3000\t3001\tp0\nchr2\t500\t700\tchr2\t2500\t2501\tp1\n")
    args = ["build-store", "--dataset", "bedpe", "--bedpe", bedpe, "--genome", genome_fa, "--out", tmp_path / "s.zarr", *WINDOW_ARGS]
    _assert_one_line_failure(_run(*args), "have no negatives (every label is 1); add --negatives K", tmp_path)


def test_inspect_rejects_what_is_not_a_store(tmp_path):
    result = _run("inspect", tmp_path / "nothing.zarr")
    assert result.exit_code != 0 and "does not exist" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("extra", [[], ["--negatives", "2"]])
def test_negatives_only_pairs_are_refused(tmp_path, genome_fa, extra):
    bedpe = tmp_path / "neg.bedpe"
    bedpe.write_text("chr1\t1000\t1200\tchr1\t3000\t3001\tp0\t.\t.\t.\t0\nchr2\t500\t700\tchr2\t2500\t2501\tp1\t.\t.\t.\t0\n")
    args = ["build-store", "--dataset", "bedpe", "--bedpe", bedpe, "--genome", genome_fa, "--out", tmp_path / "s.zarr", *WINDOW_ARGS, *extra]
    _assert_one_line_failure(_run(*args), "have no positives (every label is 0)", tmp_path)


def test_bedpe_pair_names_join_predictions_back_to_the_rows(tmp_path, genome_fa):
    """Each pair keeps its own BEDPE name, even where pairs share an element."""
    rows = [("chr1", 1000, 1200, "chr1", 3000, 3001, "row-a", 1), ("chr1", 1000, 1200, "chr1", 4500, 4501, "row-b", 0),
            ("chr2", 500, 700, "chr1", 3000, 3001, "row-c", 0), ("chr2", 500, 700, "chr2", 2500, 2501, "row-d", 1)]
    bedpe = tmp_path / "pairs.bedpe"
    bedpe.write_text("".join(f"{a}\t{b}\t{c}\t{d}\t{e}\t{f}\t{name}\t.\t.\t+\t{label}\n" for a, b, c, d, e, f, name, label in rows))
    out = tmp_path / "s.zarr"
    result = _run("build-store", "--dataset", "bedpe", "--bedpe", bedpe, "--genome", genome_fa, "--out", out, *WINDOW_ARGS)
    assert result.exit_code == 0, result.output
    ds = open_store(out)
    stored = {str(name): int(label) for name, label in zip(ds["pair_name"].values, ds["pair_label"].values)}
    assert stored == {name: label for *_, name, label in rows}
    assert set(map(str, ds["enhancer_name"].values)) == {""}  # a pair's name is not an element's
    from epizoo.bench.task import _prediction_table

    pairs = np.arange(ds.sizes["pairs"])
    table = _prediction_table(ds, pairs, ds["pair_label"].values, np.full(pairs.size, 0.5))
    assert dict(zip(table["pair_name"], table["label"])) == stored  # prediction rows name their BEDPE rows


def test_a_truncated_gzip_bedpe_is_one_line_not_aborted(tmp_path, genome_fa):
    import gzip

    bedpe = tmp_path / "loops.bedpe.gz"
    with gzip.open(bedpe, "wt") as handle:
        handle.write("".join(f"chr1\t{i}\t{i + 10}\tchr1\t{i + 500}\t{i + 501}\tp{i}\n" for i in range(0, 100_000, 10)))
    bedpe.write_bytes(bedpe.read_bytes()[:-100])
    args = ["build-store", "--dataset", "bedpe", "--bedpe", bedpe, "--genome", genome_fa, "--out", tmp_path / "s.zarr",
            "--negatives", "1", *WINDOW_ARGS]
    result = _run(*args)
    assert "Aborted" not in result.output
    _assert_one_line_failure(result, "loops.bedpe.gz is truncated or not valid gzip", tmp_path)


# ---- builds that distort the data (issue 17) -----------------------------------------------------

DROP_ROWS = [
    ("chr1", 1000, 1200, "chr1", 3000, 3001, "GM", 1, "t"),
    ("chr1", 1000, 1200, "chr1", 4500, 4501, "GM", 0, "t"),
    ("chr2", 500, 700, "chr2", 2500, 2501, "GM", 0, "t"),
    ("chr2", 800, 1000, "chr2", 2500, 2501, "GM", 0, "t"),
    ("chr2", 1100, 1300, "chr2", 2500, 2501, "GM", 0, "t"),
]


@pytest.fixture
def partial_regions(tmp_path):
    """Pre-extracted sequences of the chr1 elements only: the three chr2 pairs have none."""
    rng = np.random.default_rng(2)
    path = tmp_path / "regions.fa"
    records = [("chr1", 1000, 1200), ("chr1", 3000, 3001), ("chr1", 4500, 4501)]
    path.write_text("".join(f">{c}:{s}-{e}\n{''.join(rng.choice(list('ACGT'), e - s))}\n" for c, s, e in records))
    return path


def _drop_args(tmp_path, regions, *extra):
    pairs = _write_pairs(tmp_path / "drops.tsv", DROP_ROWS)
    return ["build-store", "--dataset", "tsvpairs", "--bedpe", pairs, "--regions", regions, "--out", tmp_path / "d.zarr",
            *WINDOW_ARGS, *extra]


def test_build_that_drops_most_pairs_is_refused_in_one_line(tmp_path, partial_regions):
    result = _run(*_drop_args(tmp_path, partial_regions))
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "drops 3 of 5 pairs" in lines[0] and "from 20.0 % to 50.0 %" in lines[0] and "--allow-drops" in lines[0]
    assert "3 both sequences unavailable" in lines[0] and "nothing was written" in lines[0]
    assert not list(tmp_path.glob("d.zarr*"))


def test_allow_drops_builds_warns_and_reports_drops_by_reason(tmp_path, partial_regions):
    result = _run(*_drop_args(tmp_path, partial_regions, "--allow-drops", "--json"))
    assert result.exit_code == 0, result.output
    assert "WARNING: this build drops 3 of 5 pairs" in result.stderr and "--allow-drops" in result.stderr
    report = json.loads(result.stdout)
    assert report["pairs_read"] == 5 and report["pairs_kept"] == 2
    assert report["dropped"] == {"both sequences unavailable": 3}
    assert (report["positive_rate_read"], report["positive_rate_kept"]) == (0.2, 0.5) and len(report["warnings"]) == 1
    info = json.loads(_run("inspect", tmp_path / "d.zarr", "--json").stdout)
    assert info["build_report"]["dropped"] == {"both sequences unavailable": 3}
    text = _run("inspect", tmp_path / "d.zarr").stdout
    assert "dropped: both sequences unavailable" in text and "20.0 % read, 50.0 % kept" in text and "WARNING" in text


def test_negatives_shortfall_is_a_loud_warning(tmp_path, partial_regions):
    result = _run(*_drop_args(tmp_path, partial_regions, "--allow-drops", "--negatives", "20", "--json"))
    assert result.exit_code == 0, result.output
    assert "WARNING: --negatives could not be reached" in result.stderr and "short" in result.stderr
    report = json.loads(result.stdout)
    assert any("--negatives could not be reached" in w for w in report["warnings"])


def test_track_cell_line_mismatch_is_a_loud_warning(capsys):
    from epizoo.store.build import _warn_untracked, track_cell_line_mismatch

    warnings = []
    track_cell_line_mismatch(["GM", "K5"], {"GM": {}}, warnings)
    track_cell_line_mismatch(["GM"], {"GM": {}, "K5": {}}, warnings)  # extra tracks are harmless
    track_cell_line_mismatch(["GM"], {}, warnings)  # no --tracks
    _warn_untracked({"pairs without signals": {"no tracks for cell line HeLa": 7}}, True, warnings)
    err = capsys.readouterr().err
    assert len(warnings) == 2 and "WARNING: --tracks has no tracks for cell line K5" in err
    assert "name no cell line HeLa of the pairs (7 pairs kept with NaN signals)" in err and "--cell-lines" in err


def test_warnings_as_errors_refuses_a_shortfall_and_writes_nothing(tmp_path, partial_regions):
    args = _drop_args(tmp_path, partial_regions, "--allow-drops", "--negatives", "20", "--warnings-as-errors")
    result = _run(*args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "--negatives could not be reached" in result.output and "refused: --warnings-as-errors" in result.output
    assert not (tmp_path / "d.zarr").exists() and not list(tmp_path.glob("d.zarr.wip-*"))


def test_warnings_as_errors_refuses_a_track_cell_line_mismatch():
    from epizoo.errors import EpizooError
    from epizoo.store.build import BuildWarnings, track_cell_line_mismatch

    with pytest.raises(EpizooError, match=r"--tracks has no tracks for cell line K5.*refused: --warnings-as-errors"):
        track_cell_line_mismatch(["GM", "K5"], {"GM": {}}, BuildWarnings(as_errors=True))
    quiet = BuildWarnings(as_errors=True)
    track_cell_line_mismatch(["GM"], {"GM": {}, "K5": {}}, quiet)  # nothing to warn about: nothing refused
    assert quiet == []
