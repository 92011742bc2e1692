"""Learning through the whole pipeline: store, splits, loader, trainer, bench, report.

A benchmark whose models never learn looks exactly like a broken one, so this test runs
``epizoo bench`` end to end on a small learnable synthetic store and asks the reference model,
epizoo-cnn, for a held-out-chromosome AUROC of at least 0.9 (its oracle is about 0.985).
"""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

import epizoo
from epizoo.cli import cli


def test_epizoo_cnn_learns_the_synthetic_grammar_under_loco(tmp_path):
    store = tmp_path / "learnable.zarr"
    epizoo.simulate_store(store, n_pairs=6000, n_contigs=3, cell_lines=1, seed=0)
    build = json.loads(epizoo.open_store(store).attrs["build_report"])
    assert build["reader"]["oracle_auroc"] > 0.95
    out = tmp_path / "run"
    args = ["bench", "--store", str(store), "--models", "epizoo-cnn,distance", "--folds", "chrX", "--demo",
            "--epochs", "5", "--threads", "1", "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t").set_index("model")
    assert metrics.loc["epizoo-cnn", "auroc"] >= 0.9, metrics
    assert metrics.loc["distance", "auroc"] < 0.7  # distance alone carries only a weak signal
    history = json.loads((out / "tasks" / "epizoo-cnn" / "SYN-A" / "chrX" / "result.json").read_text())["history"]
    assert history[-1]["loss"] < history[0]["loss"]  # the training loss fell ...
    assert max(h["valid_auroc"] for h in history) > history[0]["valid_auroc"] + 0.1  # ... and it generalised
