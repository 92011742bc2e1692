"""Contact-map models in ``epizoo bench``: the maps benchmark (chromosome and cross-cell-line splits)
and ChromNet ranked beside pair models on a store's pairs (epizoo.bench.contact_tasks)."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from epizoo.cli import cli

FAST = ["--tiny", "--epochs", "1", "--max-pairs", "4", "--batch-size", "2", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def store(tmp_path_factory, build_genome_store) -> str:
    """Pairs and a genome layer: 4 contigs (chr1-2, chr3, chrX), 2 cell lines with CTCF/ATAC and maps at 2 kb."""
    return build_genome_store(tmp_path_factory.mktemp("contact-bench") / "synthetic.zarr", 40_000, n_pairs=60)


def bench(*args: str):
    return CliRunner().invoke(cli, ["bench", *args])


def test_maps_benchmark_on_held_out_chromosomes(store, tmp_path):
    run = tmp_path / "maps"
    began = time.monotonic()
    result = bench(store, "--models", "chromnet", "--split", "chromosome", "--out", str(run), *FAST, "--epochs", "2")
    wall = time.monotonic() - began
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(run / "metrics.tsv", sep="\t")
    assert list(metrics["model"]) == ["chromnet", "distance-decay (chromnet)"]
    assert set(metrics["fold"]) == {"chrX"} and set(metrics["cell_line"]) == {"SYN-A+SYN-B"}
    model, baseline = metrics.iloc[0], metrics.iloc[1]
    assert model["n_windows"] == baseline["n_windows"] == 4  # --max-pairs caps the windows per side
    assert math.isfinite(model["map_pearson"]) and math.isfinite(model["diagonal_pearson"]) and math.isfinite(model["insulation_pearson"])
    assert baseline["map_pearson"] > 0.5 and math.isnan(baseline["diagonal_pearson"])  # a constant has no per-diagonal r
    record = json.loads((run / "tasks" / "chromnet" / "SYN-A+SYN-B" / "chrX" / "result.json").read_text())
    assert record["training"]["contact_training"]["split"] == {"train": ["chr1", "chr2"], "valid": ["chr3"], "test": ["chrX"]}
    assert record["metrics"]["map_pearson"] == pytest.approx(model["map_pearson"], rel=1e-5)
    assert 0 < record["seconds"] <= wall  # the training time, not a sum of running totals
    curves = pd.read_csv(run / "diagonal.tsv", sep="\t")
    assert set(curves["diagonal"]) == set(range(16)) and len(curves) == 2 * 16
    report = (run / "report.md").read_text()
    assert "## map_pearson" in report and "## insulation_pearson" in report and (run / "plots" / "diagonal-pearson.png").is_file()
    # resume: the finished task is kept, not retrained
    again = bench(store, "--models", "chromnet", "--split", "chromosome", "--out", str(run), "--resume", *FAST, "--epochs", "2")
    assert again.exit_code == 0, again.output
    assert pd.read_csv(run / "metrics.tsv", sep="\t").equals(metrics)


def test_maps_split_options_name_the_contigs(store, tmp_path):
    run = tmp_path / "named"
    result = bench(store, "--models", "chromnet", "--split", "chromosome", "--split-option", "test=chr3", "--split-option", "valid=chrX",
                   "--out", str(run), *FAST)
    assert result.exit_code == 0, result.output
    record = json.loads(next(run.glob("tasks/chromnet/*/chr3/result.json")).read_text())
    assert record["training"]["contact_training"]["split"] == {"train": ["chr1", "chr2"], "valid": ["chrX"], "test": ["chr3"]}


def test_cross_cell_line_maps_test_a_cell_line_the_model_never_trained_on(store, tmp_path):
    run = tmp_path / "cross"
    result = bench(store, "--models", "chromnet", "--split", "cross-cell-line", "--out", str(run), *FAST)
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(run / "metrics.tsv", sep="\t")
    pairs = set(zip(metrics["train_cell_line"], metrics["cell_line"]))
    assert pairs == {("SYN-B", "SYN-A"), ("SYN-A", "SYN-B")}
    record = json.loads((run / "tasks" / "chromnet" / "SYN-B-to-SYN-A" / "chrX" / "result.json").read_text())
    training = record["training"]["contact_training"]
    assert training["cell_types"] == ["SYN-B"] and training["test_cell_lines"] == ["SYN-A"]
    assert training["noise_copies"] == ["SYN-B_noise"]


def test_chromnet_ranked_beside_pair_models_on_the_same_pairs(store, tmp_path):
    from epizoo.inference import load_model

    run = tmp_path / "pairs"
    result = bench(store, "--models", "chromnet,distance", "--split", "chromosome", "--split-option", "test=chrX",
                   "--split-option", "valid=chr3", "--cell-lines", "SYN-A", "--out", str(run), *FAST)
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(run / "metrics.tsv", sep="\t")
    assert set(metrics["model"]) == {"chromnet", "distance"} and metrics["auroc"].notna().all()
    ours = pd.read_csv(run / "predictions" / "chromnet" / "SYN-A" / "chrX.tsv", sep="\t", comment="#")
    theirs = pd.read_csv(run / "predictions" / "distance" / "SYN-A" / "chrX.tsv", sep="\t", comment="#")
    assert list(ours["pair"]) == list(theirs["pair"]) and np.isfinite(ours["score"]).all()  # the same pairs, every one ranked
    record = json.loads((run / "tasks" / "chromnet" / "SYN-A" / "chrX" / "result.json").read_text())
    unscored = record["training"]["unscored_pairs"]
    assert unscored["count"] == int((ours["distance"] >= 32_768).sum()) > 0  # the tiny window is 32 kb
    unseen = ours["score"] == ours["score"].min()  # ranked below every pair the model can see
    assert list(ours.loc[unseen, "distance"] >= 32_768) == [True] * unscored["count"]
    training = record["training"]["contact_training"]
    assert training["split"]["test"] == ["chrX"] and "chrX" not in training["split"]["train"]  # never trained on test contigs
    model, spec = load_model(run / "checkpoints" / "chromnet" / "SYN-A" / "chrX")
    assert spec.name == "chromnet" and model.n_bins == 16


def test_a_contact_model_trains_only_on_contigs_free_of_the_folds_test_pairs(store):
    """A fold whose test pairs lie on every contig (as a random split's can) leaves nothing to train on."""
    import epizoo
    from epizoo.bench.config import Task
    from epizoo.bench.contact_tasks import pair_fold_contigs, pair_skip_reason
    from epizoo.plugins import get_model

    ds = epizoo.open_store(store)
    contigs = [str(c) for c in ds.epizoo.genome_contigs()]
    names = np.array([str(c) for c in ds["contig_id"].values])[ds["pair_contig"].values]
    on = {name: np.flatnonzero(names == name) for name in ("chr1", "chr2", "chr3", "chrX")}
    chromosome = Task("chromnet", "SYN-A", "SYN-A", "chrX", np.r_[on["chr1"], on["chr2"]], on["chr3"], on["chrX"])
    assert pair_fold_contigs(ds, contigs, chromosome) == {"train": ["chr1", "chr2"], "valid": ["chr3"], "test": ["chrX"]}
    # validation pairs among the training pairs' contigs (as loco's): no validation contig
    mixed = Task("chromnet", "SYN-A", "SYN-A", "1", np.r_[on["chr1"][2:], on["chr2"]], on["chr1"][1:2], np.r_[on["chr1"][:1], on["chrX"]])
    assert pair_fold_contigs(ds, contigs, mixed) == {"train": ["chr2", "chr3"], "valid": [], "test": ["chr1", "chrX"]}
    everywhere = Task("chromnet", "SYN-A", "SYN-A", "1", on["chr1"][1:], on["chr2"][:0], np.r_[[v[0] for v in on.values()]])
    reason = pair_skip_reason(ds, ds.epizoo, get_model("chromnet"), everywhere)
    assert reason.startswith("the fold's test pairs lie on every contig")


@pytest.mark.parametrize("args, message", [
    (["--models", "chromnet", "--split", "loco"], "contact-map models are benchmarked on maps with --split chromosome or --split cross-cell-line"),
    (["--models", "chromnet", "--split", "chromosome", "--split-option", "test=chr9"], "split names contigs the genome lacks: chr9"),
    (["--models", "chromnet", "--split", "chromosome", "--regime", "gen"], "specific regime only"),
    (["--models", "chromnet,distance", "--split", "chromosome", "--split-option", "test=chrX", "--regime", "gen"], "specific regime only"),
    (["--models", "chromnet", "--split", "chromosome", "--split-option", "cell_lines=SYN-A"], "a maps benchmark takes train=, valid= and test="),
    (["--models", "chromnet", "--split", "chromosome", "--folds", "chrX"], "a maps benchmark has one fold"),
    (["--models", "chromnet", "--split", "cross-cell-line", "--cell-lines", "SYN-Z"], "--cell-lines: SYN-Z has no tracks"),
    (["--models", "chromnet", "--split", "chromosome", "--balance", "none"], "--balance applies to pair models only; chromnet is a contact-map model"),
    (["--models", "chromnet,distance", "--split", "loco", "--balance", "weights"], "--balance applies to pair models only"),
])
def test_bad_contact_bench_input_is_one_line(store, tmp_path, args, message):
    run = tmp_path / "bad"
    result = bench(store, *args, "--out", str(run), *FAST)
    assert result.exit_code != 0 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not run.exists()


def test_a_store_without_a_genome_layer_is_one_line_for_a_named_contact_model(tmp_path):
    import epizoo

    pairs = tmp_path / "pairs.zarr"
    epizoo.simulate_store(pairs, n_pairs=40, n_contigs=3, cell_lines=1, seed=0)
    result = bench(str(pairs), "--models", "chromnet,distance", "--split", "chromosome", "--split-option", "test=chr3",
                   "--out", str(tmp_path / "run"), *FAST)
    assert result.exit_code == 1 and "chromnet reads genome" in result.output and "--genome" in result.output
    maps = bench(str(pairs), "--models", "chromnet", "--split", "chromosome", "--out", str(tmp_path / "run"), *FAST)
    assert maps.exit_code == 1 and "has no genome layer" in maps.output and len(maps.output.strip().splitlines()) == 1


def test_demo_leaves_contact_models_out_of_all_and_refuses_them_named():
    from epizoo.bench.runner import BenchConfig, _models_for_options
    from epizoo.errors import EpizooError

    said = []
    config = BenchConfig(store="s", out="o", models=["chromnet", "distance", "epizoo-cnn"], demo=True)
    kept, left_out = _models_for_options(config, True, said.append)
    assert kept == ["distance", "epizoo-cnn"] and list(left_out) == ["chromnet"]
    assert said == ["skipped chromnet: --demo applies to pair models only, and it is a contact-map model"]
    with pytest.raises(EpizooError, match="--demo applies to pair models only; chromnet is a contact-map model"):
        _models_for_options(config, False, said.append)


def test_pairs_are_scored_with_the_fields_a_checkpoint_records(monkeypatch):
    """A bench pair task scores ChromNet with the description train-contacts would write to
    checkpoint.json (epizoo.checkpoint.checkpoint_model_fields), not a hand-made stand-in."""
    from types import SimpleNamespace

    from epizoo.bench import contact_tasks
    from epizoo.checkpoint import CHECKPOINT_FORMAT
    from epizoo.plugins import get_model

    spec = get_model("chromnet")
    hparams = spec.hparams()
    model = spec.factory(**hparams)
    result = SimpleNamespace(summary={"hparams": hparams, "step": 123}, state_dict=model.state_dict())
    seen = {}

    def scored(model, spec, description, ds, pairs):
        seen["description"], seen["pairs"] = description, pairs
        return SimpleNamespace(scores=np.array([0.25, np.nan]), note=lambda: "unseen", windows=2)

    monkeypatch.setattr(contact_tasks, "contact_pair_result", scored)
    ds = {"pair_label": SimpleNamespace(values=np.array([1, 0, 1]))}
    pairs, labels, scores, unseen = contact_tasks._score_pairs(spec, ds, SimpleNamespace(test=[2, 0]), result)
    description = seen["description"]
    assert description["format"] == CHECKPOINT_FORMAT and description["model"] == "chromnet" and description["kind"] == spec.kind
    assert description["plugin"] and description["hparams"]["n_bins"] == hparams["n_bins"]
    assert description["contact_training"]["step"] == 123
    assert list(pairs) == list(seen["pairs"]) == [0, 2] and list(labels) == [1.0, 1.0]
    assert unseen["count"] == 1 and scores[1] < scores[0]  # the pair the model cannot see ranks last
