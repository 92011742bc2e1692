"""The report's statistics and provenance: bootstrap intervals, the paired test, precision at 70 %
recall, validation-chosen thresholds, and what produced the run."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import average_precision_score, roc_auc_score

import epizoo
from epizoo import metrics
from epizoo.bench import stats
from epizoo.bench.report import as_json, build_report, markdown
from epizoo.cli import cli
from epizoo.jsontext import dumps


# ---- bootstrap --------------------------------------------------------------------------------
def test_each_resample_scores_exactly_as_scikit_learn_on_the_drawn_pairs():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 400)
    scores = np.round(rng.random(400) + 0.3 * labels, 1)  # many ties
    group, ordered = stats._tied_groups(labels, scores)
    drawn = rng.integers(0, 400, size=(5, 400))
    auroc, aupr = stats._resampled_curves(group, ordered, drawn)
    order = np.argsort(-scores, kind="stable")
    for row in range(5):
        y, s = labels[order][drawn[row]], scores[order][drawn[row]]
        assert auroc[row] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert aupr[row] == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_bootstrap_interval_holds_the_estimate_and_narrows_with_more_pairs():
    rng = np.random.default_rng(2)

    def sample(n):
        labels = rng.integers(0, 2, n)
        return labels, rng.random(n) + 0.5 * labels

    small, large = stats.bootstrap_ci(*sample(200)), stats.bootstrap_ci(*sample(5000))
    for result in (small, large):
        for name in ("auroc", "aupr"):
            assert result[f"{name}_low"] < result[name] < result[f"{name}_high"]
    assert large["auroc_high"] - large["auroc_low"] < (small["auroc_high"] - small["auroc_low"]) / 2
    assert stats.bootstrap_ci(*sample(300)) != stats.bootstrap_ci(*sample(300))  # different data
    labels, scores = sample(300)
    assert stats.bootstrap_ci(labels, scores) == stats.bootstrap_ci(labels, scores)  # seeded


def test_bootstrap_of_one_class_is_nan():
    result = stats.bootstrap_ci(np.zeros(10), np.linspace(0, 1, 10))
    assert all(math.isnan(value) for value in result.values())


# ---- paired test ------------------------------------------------------------------------------
def _fold_metrics(n_folds: int, gap: float) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for fold in range(n_folds):
        base = 0.6 + 0.05 * rng.standard_normal()
        rows += [{"model": "strong", "fold": f"chr{fold + 1}", "auroc": base + gap},
                 {"model": "weak", "fold": f"chr{fold + 1}", "auroc": base}]
    return pd.DataFrame(rows)


def test_paired_test_against_the_best_model_across_folds():
    table = _fold_metrics(8, 0.1)
    result = stats.paired_comparisons(table, ["A"] * len(table))
    row = result.iloc[0]
    assert (row["model"], row["best"], row["n_folds"], row["wins"]) == ("weak", "strong", 8, 8)
    assert row["mean_difference"] == pytest.approx(0.1)
    assert row["p_value"] < 0.05 and row["note"] == ""


def test_too_few_folds_say_so():
    table = _fold_metrics(4, 0.1)
    row = stats.paired_comparisons(table, ["A"] * len(table)).iloc[0]
    assert row["p_value"] == pytest.approx(0.125)  # the smallest p four folds allow: 2 / 2**4
    assert "too few" in row["note"] and "0.125" in row["note"]


def test_identical_models_give_p_one():
    table = _fold_metrics(6, 0.0)
    assert stats.paired_comparisons(table, ["A"] * len(table)).iloc[0]["p_value"] == 1.0


# ---- thresholds and precision at recall -------------------------------------------------------
def test_precision_at_70_recall():
    labels = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    assert metrics.precision_at_70_recall(labels, scores) == pytest.approx(3 / 4)  # 3 of 4 positives in the top 4
    tied = metrics.precision_at_70_recall(np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.4, 0.1]))
    assert tied == pytest.approx(2 / 3)  # a tied group is kept whole
    assert math.isnan(metrics.precision_at_70_recall(np.zeros(4), np.arange(4)))


def test_threshold_is_chosen_for_f1_and_applied_elsewhere():
    valid_labels, valid_scores = np.array([0, 0, 1, 1]), np.array([0.01, 0.02, 0.03, 0.04])
    threshold = metrics.best_f1_threshold(valid_labels, valid_scores)
    assert threshold == pytest.approx(0.03)  # uncalibrated scores: 0.5 would call every pair negative
    chosen = metrics.at_threshold(np.array([0, 1, 1]), np.array([0.0, 0.035, 0.05]), threshold)
    assert chosen["f1"] == 1.0 and chosen["mcc"] == 1.0
    assert math.isnan(metrics.at_threshold([0, 1], [0.1, 0.9], math.nan)["f1"])


# ---- a real run -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("statistics")
    store = root / "s.zarr"
    epizoo.simulate_store(store, n_pairs=160, n_contigs=3, cell_lines=1, ratio=2, seed=3)
    out = root / "run"
    result = CliRunner().invoke(cli, ["bench", "--store", str(store), "--models", "distance,kmer", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    return out


def test_run_records_validation_thresholds_and_provenance(run):
    table = pd.read_csv(run / "metrics.tsv", sep="\t")
    assert {"valid_threshold", "f1_at_valid_threshold", "mcc_at_valid_threshold", "precision_at_70_recall"} <= set(table)
    assert table["valid_threshold"].notna().all()
    recorded = json.loads((run / "provenance.json").read_text())
    assert len(recorded["store"]["manifest_sha256"]) == 64 and "bench" in recorded["command"]
    assert recorded["plugins"]["baselines"] == epizoo.__version__ and recorded["skipped_models"] == []


def test_report_shows_intervals_paired_test_thresholds_and_provenance(run):
    report = build_report(run)
    text = markdown(report)
    for heading in ("## Pooled over folds, with confidence intervals", "## Paired comparison with the best model",
                    "## Thresholded metrics", "## Provenance"):
        assert heading in text
    pooled = report.pooled.iloc[0]
    assert pooled["auroc_low"] <= pooled["auroc"] <= pooled["auroc_high"]
    assert f"[{pooled['auroc_low']:.3f}, {pooled['auroc_high']:.3f}]" in text
    assert "too few for the test" in text  # three folds
    assert json.loads((run / "provenance.json").read_text())["store"]["manifest_sha256"] in text
    payload = json.loads(dumps(as_json(report)), parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert payload["paired"] and payload["provenance"]["store"]["manifest_sha256"]


def test_report_lists_the_models_left_out(run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    recorded = json.loads((copy / "provenance.json").read_text())
    recorded["skipped_models"] = [{"model": "targetfinder", "reason": "reads signals, which this store does not hold"}]
    (copy / "provenance.json").write_text(json.dumps(recorded))
    assert "| targetfinder | reads signals, which this store does not hold |" in markdown(build_report(copy))


def test_models_all_records_the_models_it_skipped(run):
    from epizoo import open_store
    from epizoo.bench.runner import _models_for_store

    config = json.loads((run / "config.json").read_text())["config"]
    kept, unreadable = _models_for_store(open_store(config["store"]), config["store"], ["distance", "targetfinder"], True, ["specific"])
    assert kept == ["distance"] and "signals" in unreadable["targetfinder"]
