"""``epizoo bench``: every model end to end, resume after a kill, determinism, leakage, dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import epizoo
from epizoo.bench.runner import BenchConfig, bench
from epizoo.cli import cli
from epizoo.errors import LeakageError
from epizoo.plugins import Registered, get_models
from epizoo.splits import Fold

FAST = ["--tiny", "--epochs", "1", "--batch-size", "16", "--max-pairs", "16", "--no-progress"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("bench") / "tiny.zarr"
    epizoo.simulate_store(path, n_pairs=90, n_contigs=3, cell_lines=1, ratio=2, seed=2)
    return str(path)


@pytest.fixture(autouse=True)
def offline_vectors(shared_data, monkeypatch):
    monkeypatch.setenv("EPIZOO_DATA_DIR", str(shared_data))  # the catalog's pre-filled cache


def run_cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def data_lines(path: Path) -> list[str]:
    """A prediction table without its provenance header (which names the command)."""
    return [line for line in path.read_text().splitlines() if not line.startswith("#")]


def comparable_metrics(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "metrics.tsv", sep="\t").drop(columns=["seconds"])


def test_every_model_end_to_end(store, tmp_path):
    out = tmp_path / "run"
    result = run_cli("bench", "--store", store, "--models", "all", "--folds", "chr1", "--out", str(out), *FAST)
    assert result.exit_code == 0, result.output
    models = sorted(get_models())
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert sorted(metrics["model"]) == models
    assert metrics["auroc"].between(0, 1).all() and (metrics["n_pos"] > 0).all()
    for name in ("config.json", "environment.json", "leakage.json", "skipped.tsv", "report.md", "report.tsv"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["models"] == list(get_models()) and config["command"].startswith("epizoo bench")
    environment = json.loads((out / "environment.json").read_text())
    assert {"python", "torch", "epizoo", "device", "threads", "cpu"} <= set(environment)
    for model in models:
        predictions = out / "predictions" / model / "SYN-A" / "chr1.tsv"
        header = predictions.read_text().splitlines()[:3]
        assert header[0].startswith("# epizoo") and header[1].startswith("# command: epizoo bench")
        table = pd.read_csv(predictions, sep="\t", comment="#")
        assert list(table.columns)[:3] == ["pair", "label", "score"]
        assert {"contig", "cell_line", "enhancer_name", "promoter_name", "distance"} <= set(table.columns)
        assert (table["contig"] == "chr1").all()
        checkpoint = out / "checkpoints" / model / "SYN-A" / "chr1"
        assert (checkpoint / "checkpoint.json").is_file()
        assert (checkpoint / "weights.safetensors").is_file() or (checkpoint / "estimator.joblib").is_file()
        assert (out / "tasks" / model / "SYN-A" / "chr1" / "done").is_file()
    described = json.loads((out / "checkpoints" / "epivan" / "SYN-A" / "chr1" / "checkpoint.json").read_text())
    assert described["embedding_source"] == "dna2vec" and described["store"]["dataset"] == "synthetic"
    assert described["recipe"]["epochs"] == 1 and described["card"]["title"]
    assert "AUROC" in result.output


def test_resume_after_a_kill_loses_and_duplicates_nothing(store, tmp_path):
    out = tmp_path / "run"
    args = ["bench", "--store", store, "--models", "speid", "--out", str(out), *FAST]
    command = [sys.executable, "-c", "from epizoo.cli import main; main()", *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.monotonic() + 300
    while not list(out.glob("tasks/*/*/*/done")) and time.monotonic() < deadline:
        assert process.poll() is None, "bench ended before it could be killed"
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = list(out.glob("tasks/*/*/*/done"))
    assert 1 <= len(finished) < 3
    first = finished[0].parent / "result.json"
    before = first.read_text()

    result = run_cli(*args)
    assert "already holds a run" in result.output and result.exit_code == 1
    result = run_cli(*args, "--resume")
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t", dtype={"fold": str})
    assert sorted(metrics["fold"]) == ["chr1", "chr2", "chrX"]
    assert first.read_text() == before  # the finished fold was kept, not redone
    assert len(list(out.glob("predictions/speid/SYN-A/*.tsv"))) == 3
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]

    changed = run_cli(*args[:-1], "--seed", "1", "--no-progress", "--resume")
    assert changed.exit_code == 1 and "different configuration" in changed.output and "seed" in changed.output


def test_same_seed_same_outputs_sequential_and_on_a_dask_cluster(store, tmp_path):
    common = ["bench", "--store", store, "--models", "distance,speid", "--folds", "chr1,chr2", "--threads", "1", *FAST]
    runs = {}
    for name, extra in (("first", []), ("again", []), ("dask", ["--workers", "2"])):
        runs[name] = tmp_path / name
        result = run_cli(*common, "--out", str(runs[name]), *extra)
        assert result.exit_code == 0, result.output
    reference = comparable_metrics(runs["first"])
    assert len(reference) == 4
    for name in ("again", "dask"):
        pd.testing.assert_frame_equal(comparable_metrics(runs[name]), reference)
        for predictions in (runs["first"] / "predictions").rglob("*.tsv"):
            twin = runs[name] / predictions.relative_to(runs["first"])
            assert data_lines(twin) == data_lines(predictions)


def _leaky_split(ds, **options):
    n = ds.sizes["pairs"]
    everything = np.ones(n, dtype=bool)
    return [Fold("leaky", everything, np.zeros(n, dtype=bool), everything.copy(), {})]


def test_a_leaking_fold_is_refused(store, tmp_path, monkeypatch):
    monkeypatch.setattr("epizoo.plugins.get_split", lambda name: Registered(name, _leaky_split))
    config = BenchConfig(store=store, out=str(tmp_path / "run"), models=["distance"], progress=False)
    with pytest.raises(LeakageError, match="leaks"):
        bench(config)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_leakage_check_runs_on_every_fold_and_one_class_folds_are_skipped(store, tmp_path, monkeypatch):
    import epizoo.splits

    checked = []
    original = epizoo.splits.check_leakage
    monkeypatch.setattr(epizoo.splits, "check_leakage", lambda ds, fold, strict=True: checked.append((fold.name, strict)) or original(ds, fold, strict=strict))
    labels = epizoo.open_store(store)["pair_label"].values.astype(bool)
    loco = epizoo.plugins.get_split("loco").function

    def with_negative_only_fold(ds, **options):
        folds = loco(ds, **options)
        negatives = folds[0].test & ~labels
        return [*folds, Fold("negatives-only", folds[0].train, folds[0].valid, negatives, {})]

    monkeypatch.setattr("epizoo.plugins.get_split", lambda name: Registered(name, with_negative_only_fold))
    config = BenchConfig(store=store, out=str(tmp_path / "run"), models=["distance"], progress=False)
    table = bench(config)
    assert checked == [("chr1", True), ("chr2", True), ("chrX", True), ("negatives-only", True)]
    assert sorted(table["fold"]) == ["chr1", "chr2", "chrX"]
    skipped = pd.read_csv(tmp_path / "run" / "skipped.tsv", sep="\t")
    assert skipped["fold"].tolist() == ["negatives-only"] and "no positives" in skipped["reason"][0]


def test_random_split_records_its_leakage_and_warns(store, tmp_path):
    out = tmp_path / "run"
    result = run_cli("bench", "--store", store, "--models", "distance", "--split", "random", "--out", str(out))
    assert result.exit_code == 0, result.output
    reports = json.loads((out / "leakage.json").read_text())
    assert reports[0]["leaks"] is True
    assert "warning: fold random leaks" in result.stderr


def test_user_mistakes_are_one_line(store, tmp_path):
    missing = run_cli("bench", "--store", str(tmp_path / "none.zarr"), "--out", str(tmp_path / "r"), "--no-progress")
    assert missing.exit_code == 1 and "does not exist" in missing.output and "Traceback" not in missing.output
    unknown = run_cli("bench", "--store", store, "--models", "epivam", "--out", str(tmp_path / "r"))
    assert unknown.exit_code == 1 and "epivan" in unknown.output
    option = run_cli("bench", "--store", store, "--split-option", "oops", "--out", str(tmp_path / "r"))
    assert option.exit_code == 1 and "KEY=VALUE" in option.output
