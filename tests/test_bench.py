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
    return pd.read_csv(run / "metrics.tsv", sep="\t").drop(columns=["seconds", "cpu_seconds"])  # timings vary


def test_every_model_end_to_end(store, tmp_path):
    out = tmp_path / "run"
    result = run_cli("bench", "--store", store, "--models", "all", "--folds", "chr1", "--out", str(out), *FAST)
    assert result.exit_code == 0, result.output
    # contact-map models, and models of signals (this store holds sequence only), are skipped
    runnable = [name for name, spec in get_models().items() if spec.task == "pair" and set(spec.inputs) <= {"sequence"}]
    models = sorted(runnable)
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert sorted(metrics["model"]) == models
    assert metrics["auroc"].between(0, 1).all() and (metrics["n_pos"] > 0).all()
    for name in ("config.json", "environment.json", "leakage.json", "skipped.tsv", "report.md", "report.tsv"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["models"] == runnable and config["command"].startswith("epizoo bench")
    assert "skipped targetfinder: it reads signals" in " ".join(result.output.split())
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


def test_same_seed_same_outputs_sequential_and_on_a_dask_cluster(store, tmp_path, capfd):
    common = ["bench", store, "--models", "distance,speid", "--folds", "chr1,chr2", "--threads", "1", *FAST]
    runs = {}
    for name, extra in (("first", []), ("again", []), ("dask", ["--workers", "2"])):
        runs[name] = tmp_path / name
        capfd.readouterr()
        result = run_cli(*common, "--out", str(runs[name]), *extra)
        assert result.exit_code == 0, result.output
    # --no-progress: the dashboard address and nothing from dask's own logs or warnings
    raw = capfd.readouterr().err
    assert "distributed" not in raw and "Warning" not in raw and "WARNING" not in raw, raw
    assert "dask: local cluster of 2 processes; dashboard at http" in result.stderr
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
    monkeypatch.setattr("epizoo.bench.plan.get_split", lambda name: Registered(name, _leaky_split))
    config = BenchConfig(store=store, out=str(tmp_path / "run"), models=["distance"], progress=False)
    with pytest.raises(LeakageError, match="leaks"):
        bench(config)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_leakage_check_runs_on_every_fold_and_one_class_folds_are_skipped(store, tmp_path, monkeypatch):
    import epizoo.splits

    checked = []
    original = epizoo.splits.check_leakage
    monkeypatch.setattr("epizoo.bench.plan.check_leakage", lambda ds, fold, strict=True: checked.append((fold.name, strict)) or original(ds, fold, strict=strict))
    labels = epizoo.open_store(store)["pair_label"].values.astype(bool)
    loco = epizoo.plugins.get_split("loco").function

    def with_negative_only_fold(ds, **options):
        folds = loco(ds, **options)
        negatives = folds[0].test & ~labels
        return [*folds, Fold("negatives-only", folds[0].train, folds[0].valid, negatives, {})]

    monkeypatch.setattr("epizoo.bench.plan.get_split", lambda name: Registered(name, with_negative_only_fold))
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


# ---- one command line, one-line mistakes, run directory guarantees ---------------------------------


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code != 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith("note:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_store_is_the_first_argument_and_out_has_a_short_form(store, tmp_path):
    result = run_cli("bench", store, "--models", "distance", "--folds", "chr1", "-o", str(tmp_path / "run"), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "deprecated" not in result.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["command"].startswith(f"epizoo bench {store} ")  # the store first, in the current spelling
    old = run_cli("bench", "--store", store, "--models", "distance", "--folds", "chr1", "--out", str(tmp_path / "old"), "--no-progress")
    assert old.exit_code == 0 and "note: --store PATH is deprecated" in old.stderr


def test_bench_mistakes_are_one_line_and_write_nothing(store, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    one_line_error(run_cli("bench", store, "--models", "distance", "-o", str(a_file)), "is a file")
    assert a_file.read_text() == "x"
    out = tmp_path / "run"
    one_line_error(run_cli("bench", store, "--models", ",", "-o", str(out)), "--models", "names nothing")
    one_line_error(run_cli("bench", store, "--models", "distance", "--folds", ",", "-o", str(out)), "--folds", "names nothing")
    one_line_error(run_cli("bench", store, "--models", "distance", "--cell-lines", " , ", "-o", str(out)), "--cell-lines")
    for cap in ("1", "2", "3"):
        one_line_error(run_cli("bench", store, "--models", "distance", "--max-pairs", cap, "-o", str(out)), f"--max-pairs {cap}", "at least 4")
    assert not out.exists()


def test_max_pairs_is_exact_and_keeps_two_of_each_class(store, tmp_path):
    from epizoo.training.trainer import _stratified_sample

    rng = np.random.default_rng(0)
    pairs, labels = np.arange(60), (np.arange(60) % 6 == 0).astype(int)  # 10 positives, 50 negatives
    for size in (1, 2, 3, 4, 5, 8, 9, 30, 60, 100):
        chosen = _stratified_sample(pairs, labels, size, rng)
        assert chosen.size == min(size, 60) and np.unique(chosen).size == chosen.size
        if size >= 4:
            assert labels[chosen].sum() >= 2 and (1 - labels[chosen]).sum() >= 2
    result = run_cli("bench", store, "--models", "distance", "--folds", "chr1", "--max-pairs", "8", "-o", str(tmp_path / "run"), "--no-progress")
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "run" / "metrics.tsv", sep="\t")["n_train_pairs"].tolist() == [8]


def test_an_absent_scheduler_times_out_in_one_line_and_leaves_no_run(store, tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr("epizoo.bench.runner.SCHEDULER_TIMEOUT", 1)
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "run"
    result = run_cli("bench", store, "--models", "distance", "--scheduler", f"tcp://127.0.0.1:{port}", "-o", str(out), "--no-progress")
    one_line_error(result, "no dask scheduler", "did not answer within 1 s")
    assert not out.exists()


def test_chromosome_split_runs_from_bench_with_its_test_option(store, tmp_path):
    out = tmp_path / "run"
    result = run_cli("bench", store, "--models", "distance", "--split", "chromosome", "--split-option", "test=chr2",
                     "--split-option", "valid=chr1", "-o", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out / "metrics.tsv", sep="\t", dtype={"fold": str})["fold"].tolist() == ["chr2"]
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["split_options"] == {"test": "chr2", "valid": "chr1"}


def test_split_options_are_parsed_one_way_by_every_command(store, tmp_path, monkeypatch):
    from epizoo.errors import EpizooError
    from epizoo.splits import parse_options

    assert parse_options(["strict=true", "n=2", "f=0.5", "folds=chr1,chr2", "name=chr8", "none=None", "list=[\"a\"]"]) == {
        "strict": True, "n": 2, "f": 0.5, "folds": ["chr1", "chr2"], "name": "chr8", "none": None, "list": ["a"],
    }
    seen = []

    def spy(items, flag="--option", example="", error=EpizooError):
        seen.append((tuple(items), flag))
        raise error("parsed by the one helper")

    monkeypatch.setattr("epizoo.options.parse_options", spy)  # split options reach it through epizoo.splits.parse_options
    commands = [
        ["bench", store, "--split-option", "strict=true", "-o", str(tmp_path / "r")],
        ["splits", store, "--split", "loco", "--split-option", "strict=true"],
        ["build-store", "--dataset", "synthetic", "--option", "strict=true", "-o", str(tmp_path / "s.zarr")],
    ]
    for command in commands:
        one_line_error(run_cli(*command), "parsed by the one helper")
    assert [items for items, _ in seen] == [("strict=true",)] * 3


def test_ctrl_c_names_the_resume_command(store, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("epizoo.bench.runner._run_local", interrupted)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["bench", store, "--models", "distance", "-o", str(out), "--no-progress"])
    assert result.exit_code == 130
    assert f"continue with: epizoo bench {store} --models distance --out {out} --no-progress --resume" in result.stderr
    assert "Traceback" not in result.output


def test_resume_redoes_a_task_whose_result_is_missing_or_corrupt(store, tmp_path):
    out = tmp_path / "run"
    args = ["bench", store, "--models", "distance", "-o", str(out), "--no-progress"]
    assert run_cli(*args).exit_code == 0
    results = sorted(out.glob("tasks/distance/*/*/result.json"))
    assert len(results) == 3
    kept = results[2].read_text()
    results[0].unlink()
    results[1].write_text('{"metrics": ')
    result = run_cli(*args, "--resume")
    assert result.exit_code == 0, result.output
    for path in results[:2]:
        assert "metrics" in json.loads(path.read_text())
    assert results[2].read_text() == kept
    assert len(pd.read_csv(out / "metrics.tsv", sep="\t")) == 3


def test_a_second_run_on_a_locked_run_directory_stops_in_one_line(store, tmp_path):
    import fcntl

    out = tmp_path / "run"
    args = ["bench", store, "--models", "distance", "-o", str(out), "--no-progress"]
    assert run_cli(*args).exit_code == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("result.json")}
    with open(out / ".lock", "a+") as held:  # what a running bench holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        one_line_error(run_cli(*args, "--resume"), "in use by another epizoo bench")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("result.json")} == before
    assert run_cli(*args, "--resume").exit_code == 0  # the lock went with its holder


def test_two_concurrent_resumes_do_not_redo_the_same_tasks(store, tmp_path):
    out = tmp_path / "run"
    args = ["bench", store, "--models", "distance", "-o", str(out), "--resume"]
    command = [sys.executable, "-c", "from epizoo.cli import main; main()", *args]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=300)[1] for process in processes]
    codes = sorted(process.returncode for process in processes)
    assert codes[0] == 0 and codes[1] in (0, 1), outputs
    if codes[1] == 1:  # the second one started while the first held the lock
        assert any("in use by another epizoo bench" in err for err in outputs), outputs
    trained = [line for err in outputs for line in err.splitlines() if line.endswith("] training")]
    assert len(trained) == 3, outputs  # each of the three folds trained once, by one of them
    assert len(pd.read_csv(out / "metrics.tsv", sep="\t")) == 3


def test_a_moved_run_directory_can_be_resumed(store, tmp_path):
    import shutil

    first = tmp_path / "first"
    args = ["bench", store, "--models", "distance", "--no-progress"]
    assert run_cli(*args, "--folds", "chr1,chr2", "-o", str(first)).exit_code == 0
    copied_store = tmp_path / "elsewhere" / "tiny.zarr"
    shutil.copytree(store, copied_store)
    moved = tmp_path / "moved"
    shutil.move(first, moved)
    kept = {p.relative_to(moved): p.read_text() for p in moved.rglob("result.json")}
    result = run_cli("bench", str(copied_store), "--models", "distance", "--folds", "chr1,chr2", "-o", str(moved), "--no-progress", "--resume")
    assert result.exit_code == 0, result.output
    assert {p.relative_to(moved): p.read_text() for p in moved.rglob("result.json")} == kept  # nothing redone


def test_report_refuses_a_corrupt_config_in_one_line(store, tmp_path):
    out = tmp_path / "run"
    assert run_cli("bench", store, "--models", "distance", "--folds", "chr1", "-o", str(out), "--no-progress").exit_code == 0
    (out / "config.json").write_text('{"command": "epizoo bench')
    one_line_error(run_cli("report", str(out)), "config.json is corrupt")
    (out / "config.json").write_text("[1, 2]")
    one_line_error(run_cli("report", str(out)), "not an epizoo run configuration")
