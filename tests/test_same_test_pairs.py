"""Every model of a report column is scored on the same test pairs (models of signals beside others)."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from epizoo.bench.results import fold_predictions
from epizoo.cli import cli
from epizoo.datasets.base import DatasetRequest
from epizoo.datasets.synthetic import simulate
from epizoo.store.build import build_store
from test_signal_models import _feature_table


@pytest.fixture(scope="module")
def partly_measured(tmp_path_factory):
    """A synthetic store where a third of the pairs have no row in the feature table (NaN signals)."""
    root = tmp_path_factory.mktemp("partly")
    loaded = simulate(DatasetRequest(seed=3, options={"n_pairs": 240, "n_contigs": 3, "cell_lines": 1}))
    table = pd.read_csv(_feature_table(root / "f.csv", loaded.pairs))
    table[table.index % 3 != 0].to_csv(root / "f.csv", index=False)
    build_store(loaded, root / "s.zarr", signals=str(root / "f.csv"), progress=False, dataset="synthetic")
    return root / "s.zarr"


def bench(store, out, *extra):
    return CliRunner().invoke(cli, ["bench", str(store), "--models", "targetfinder-xgb,distance", "--tiny", "--split", "loco",
                                    "--folds", "chr1", "--out", str(out), "--no-progress", *extra])


def test_mixing_models_of_signals_with_others_on_unmeasured_pairs_is_refused(partly_measured, tmp_path):
    result = bench(partly_measured, tmp_path / "run")
    assert result.exit_code != 0
    message = result.output.strip().splitlines()[-1]
    assert "have no signal values" in message and "--signal-pairs-only" in message
    assert not (tmp_path / "run").exists()


def test_signal_pairs_only_scores_every_model_on_the_same_pairs(partly_measured, tmp_path):
    result = bench(partly_measured, tmp_path / "run", "--signal-pairs-only")
    assert result.exit_code == 0, result.output
    scored = {model: fold_predictions(tmp_path / "run", model, "SYN-A") for model in ("targetfinder-xgb", "distance")}
    (_, xgb), = scored["targetfinder-xgb"]
    (_, distance), = scored["distance"]
    assert sorted(xgb["pair"]) == sorted(distance["pair"]) and len(xgb) > 0


def test_a_run_of_signal_models_says_which_test_pairs_it_left_unscored(partly_measured, tmp_path):
    result = CliRunner().invoke(cli, ["bench", str(partly_measured), "--models", "targetfinder-xgb", "--tiny", "--split", "loco",
                                      "--folds", "chr1", "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "run" / "report.md").read_text()
    assert "test pairs without signal values unscored" in report
