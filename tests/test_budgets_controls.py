"""What each model was given (the report's budgets) and the positive control beside the chosen split."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

import epizoo
from epizoo.bench.results import budget_notes, budget_summary
from epizoo.cli import cli


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("budgets") / "one-line.zarr"
    epizoo.simulate_store(path, n_pairs=240, n_contigs=3, cell_lines=1, ratio=2, seed=5)
    return str(path)


def run_cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def control_run(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "control"
    result = run_cli("bench", store, "--models", "distance,epizoo-cnn", "--tiny", "--max-pairs", "60", "--epochs", "2",
                     "--control", "random", "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    return out


def test_the_control_is_a_column_of_its_own_on_a_random_fold(control_run):
    metrics = pd.read_csv(control_run / "metrics.tsv", sep="\t")
    control = metrics[metrics["regime"] == "random-split"]
    assert set(control["model"]) == {"distance", "epizoo-cnn"} and set(control["fold"]) == {"random"}
    assert set(metrics[metrics["regime"] == "specific"]["fold"]) == {"chr1", "chr2", "chrX"}
    markdown = (control_run / "report.md").read_text()
    assert "SYN-A (random split: leaks)" in markdown and "## Positive control" in markdown
    assert "*gen* one model per fold" not in markdown  # no regime text where only the control runs
    leakage = json.loads((control_run / "leakage.json").read_text())
    # the control's fold leaks by design and its report says so; the loco folds do not leak
    assert any(entry.get("regime") == "random-split" and entry["leaks"] for entry in leakage)
    assert not any(entry["leaks"] for entry in leakage if entry.get("regime") != "random-split")


def test_the_report_states_each_models_budget(control_run):
    metrics = pd.read_csv(control_run / "metrics.tsv", sep="\t")
    cnn = metrics[metrics["model"] == "epizoo-cnn"]
    assert (cnn["max_epochs"] == 2).all() and (cnn["n_train_pairs"] == 60).all()
    # items seen = every epoch's training items (no shifts in --tiny's epizoo-cnn recipe)
    assert (cnn["items_seen"] == cnn["n_train_items"] * cnn["epochs_run"]).all()
    payload = json.loads(run_cli("report", str(control_run), "--json").output)
    rows = {(row["model"], row["column"]): row for row in payload["budgets"]}
    assert rows[("epizoo-cnn", "SYN-A (specific)")]["train_pairs"] == "60"
    assert rows[("distance", "SYN-A (specific)")]["stopped_by"] == "fitted ×3"
    assert len(payload["budget_notes"]) == 2
    assert all("equal budgets" in note and "unequal" not in note for note in payload["budget_notes"])
    assert "## Budgets" in (control_run / "report.md").read_text()


def _rows(**overrides):
    base = {"model": "a", "cell_line": "X", "train_cell_line": "X", "fold": "chr1", "n_train_pairs": 100, "max_epochs": 4,
            "epochs_run": 4, "items_seen": 400, "seconds": 1.0, "stopped_by": "epochs"}
    return [base, {**base, "model": "b", **overrides}]


def test_unequal_budgets_are_named():
    epochs = budget_notes(pd.DataFrame(_rows(max_epochs=2)))
    assert "unequal budgets" in epochs[0] and "a 4, b 2" in epochs[0]
    pairs = budget_notes(pd.DataFrame(_rows(n_train_pairs=50)))
    assert "training pairs differ" in pairs[0] and "chr1" in pairs[0]
    # a model fitted once has no epochs to compare
    fitted = budget_notes(pd.DataFrame(_rows(max_epochs=1, stopped_by="fitted")))
    assert "equal budgets" in fitted[0] and "unequal" not in fitted[0]


def test_old_runs_without_budget_columns_say_so():
    old = pd.DataFrame(_rows()).drop(columns=["max_epochs", "items_seen"])
    assert "predates budget records" in budget_notes(old)[0]
    assert budget_summary(old)["items_seen"].tolist() == ["n/a", "n/a"]


@pytest.mark.parametrize("args, message", [
    (["--control", "loco"], "choose one of random"),
    (["--split", "random", "--control", "random"], "repeats --split random"),
])
def test_bad_controls_are_one_line(store, tmp_path, args, message):
    result = run_cli("bench", store, "--models", "distance", "--out", str(tmp_path / "run"), "--no-progress", *args)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_bench_help_states_the_demo_budget():
    from epizoo.training.trainer import DEMO_RECIPE

    text = " ".join(run_cli("bench", "--help").output.split())
    assert f"the same {DEMO_RECIPE['max_train_pairs']:,} training pairs for {DEMO_RECIPE['epochs']} epochs" in text
