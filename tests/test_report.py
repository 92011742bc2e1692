"""``epizoo report``: tables, report.md/tsv, plots, JSON, and runs that are not runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

import epizoo
from epizoo.bench.report import build_report, summarise
from epizoo.cli import cli

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("report") / "two-lines.zarr"
    epizoo.simulate_store(path, n_pairs=160, n_contigs=3, cell_lines=2, ratio=2, seed=3)
    return str(path)


def run_cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def loco_run(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "loco"
    result = run_cli("bench", "--store", store, "--models", "distance,kmer", "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    return out


def test_report_of_a_loco_run(loco_run):
    result = run_cli("report", str(loco_run))
    assert result.exit_code == 0, result.output
    assert "AUROC" in result.output and "SYN-A" in result.output and "pos. rate" in result.output
    markdown = (loco_run / "report.md").read_text()
    assert "| model | SYN-A | SYN-B |" in markdown and "±" in markdown
    table = pd.read_csv(loco_run / "report.tsv", sep="\t")
    assert set(table["model"]) == {"distance", "kmer"} and set(table["column"]) == {"SYN-A", "SYN-B"}
    metrics = pd.read_csv(loco_run / "metrics.tsv", sep="\t")
    mean = metrics[(metrics["model"] == "kmer") & (metrics["cell_line"] == "SYN-A")]["auroc"].mean()
    row = table[(table["model"] == "kmer") & (table["column"] == "SYN-A")].iloc[0]
    assert row["auroc_mean"] == pytest.approx(mean, abs=1e-5) and row["n_folds"] == 3
    plots = sorted(p.name for p in (loco_run / "plots").glob("*.png"))
    assert plots == ["auroc_by_fold_SYN-A.png", "auroc_by_fold_SYN-B.png", "curves_SYN-A.png", "curves_SYN-B.png"]
    assert all((loco_run / "plots" / name).read_bytes().startswith(PNG) for name in plots)


def test_report_json(loco_run):
    result = run_cli("report", str(loco_run), "--json")
    payload = json.loads(result.output)
    assert payload["split"] == "loco" and len(payload["summary"]) == 4
    assert {"auroc_mean", "auroc_std", "aupr_mean", "positive_rate_mean", "n_folds"} <= set(payload["summary"][0])


def test_cross_cell_line_run_has_a_train_by_test_matrix(store, tmp_path):
    out = tmp_path / "cross"
    result = run_cli("bench", "--store", store, "--models", "distance", "--split", "cross-cell-line", "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "warning: fold SYN-B leaks" in result.stderr  # shared elements across cell lines: recorded, not refused
    report = build_report(out)
    assert set(report.columns) == {"SYN-A -> SYN-B", "SYN-B -> SYN-A"}
    assert (out / "plots" / "cross_cell_line_distance.png").read_bytes().startswith(PNG)
    assert (out / "predictions" / "distance" / "SYN-A-to-SYN-B").is_dir()


def test_standard_deviation_is_over_folds():
    metrics = pd.DataFrame({
        "model": ["m"] * 3, "cell_line": ["A"] * 3, "train_cell_line": ["A"] * 3, "fold": ["1", "2", "3"],
        "auroc": [0.5, 0.6, 0.7], "aupr": [0.1, 0.2, 0.3], "positive_rate": [0.1] * 3, "aupr_ratio": [1, 2, 3],
        "f1": [0.0] * 3, "mcc": [0.0] * 3,
    })
    row = summarise(metrics).iloc[0]
    assert row["auroc_mean"] == pytest.approx(0.6) and row["auroc_std"] == pytest.approx(0.1)


def test_not_a_run_is_one_line(tmp_path):
    missing = run_cli("report", str(tmp_path / "absent"))
    assert missing.exit_code == 1 and "does not exist" in missing.output and "Traceback" not in missing.output
    (tmp_path / "empty").mkdir()
    empty = run_cli("report", str(tmp_path / "empty"))
    assert empty.exit_code == 1 and "no results yet" in empty.output
