"""Stand-alone checkpoints, ``epizoo.load_model`` and ``epizoo predict``: the round trip to the bench's
scores, and one clear line for each bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import epizoo
from epizoo.cli import cli
from epizoo.errors import EpizooError, UnknownNameError
from epizoo.inference import load_checkpoint_model, predict_pairs
from epizoo.training.checkpoint import CHECKPOINT_FORMAT

FAST = ["--tiny", "--epochs", "1", "--batch-size", "16", "--max-pairs", "16", "--no-progress", "--threads", "1"]
# one k-mer model with dna2vec vectors, one one-hot model, and a scikit-learn one
MODELS = ("epivan", "simcnn", "distance")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("predict") / "tiny.zarr"
    epizoo.simulate_store(path, n_pairs=90, n_contigs=3, cell_lines=1, ratio=2, seed=2)
    return str(path)


@pytest.fixture(scope="module")
def run(store, tmp_path_factory, shared_data) -> Path:
    out = tmp_path_factory.mktemp("predict-run") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EPIZOO_DATA_DIR", str(shared_data))  # the catalog's pre-filled cache of dna2vec vectors
        result = invoke("bench", store, "--models", ",".join(MODELS), "--folds", "chr1,chr2", "-o", str(out), *FAST)
    assert result.exit_code == 0, result.output
    return out


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def checkpoint(run: Path, model: str, fold: str = "chr1") -> Path:
    return run / "checkpoints" / model / "SYN-A" / fold


def bench_table(run: Path, model: str, fold: str = "chr1") -> pd.DataFrame:
    return pd.read_csv(run / "predictions" / model / "SYN-A" / f"{fold}.tsv", sep="\t", comment="#")


def test_checkpoint_records_what_rebuilds_its_model(run):
    described = json.loads((checkpoint(run, "epivan") / "checkpoint.json").read_text())
    assert described["format"] == CHECKPOINT_FORMAT and described["epizoo_version"] == epizoo.__version__
    assert described["model"] == "epivan" and described["kind"] == "torch" and described["input_encoding"] == "kmer6"
    assert described["plugin"]["distribution"] == "epizoo-zoo" and described["plugin"]["version"]
    # the factory's own defaults are recorded, not only the spec's overrides (EPIVAN's default_hparams is {})
    hparams = described["hparams"]
    assert {"filters", "kernel", "pool", "gru_units", "attention_dim", "dropout"} <= set(hparams)
    assert (described["enhancer_length"], described["promoter_length"]) == (hparams["enhancer_length"], hparams["promoter_length"]) == (600, 400)
    assert described["hparams_not_recorded"] == ["pretrained_embedding"] and described["embedding_source"] == "dna2vec"
    assert described["split"]["name"] == "loco" and described["fold"]["name"] == "chr1"
    assert described["store"]["dataset"] == "synthetic"
    sklearn = json.loads((checkpoint(run, "distance") / "checkpoint.json").read_text())
    assert sklearn["kind"] == "sklearn" and sklearn["hparams"]["C"] == 1.0


@pytest.mark.parametrize("model", MODELS)
def test_load_model_gives_the_bench_scores(run, store, model):
    loaded, spec = epizoo.load_model(checkpoint(run, model))
    assert spec.name == model
    if spec.kind == "torch":
        assert isinstance(loaded, torch.nn.Module) and not loaded.training
    else:
        assert hasattr(loaded, "predict_proba")
    expected = bench_table(run, model)
    _, described = loaded, json.loads((checkpoint(run, model) / "checkpoint.json").read_text())
    pairs, labels, scores = predict_pairs(loaded, spec, described, store, expected["pair"].to_numpy(), device="cpu")
    np.testing.assert_array_equal(pairs, expected["pair"])
    np.testing.assert_array_equal(labels.astype(int), expected["label"])
    np.testing.assert_allclose(scores, expected["score"], atol=2e-6)


def test_load_model_keeps_the_trained_embedding_source(run):
    module, _spec = epizoo.load_model(checkpoint(run, "epivan") / "checkpoint.json")  # the JSON file names its folder too
    assert module.embedding_source == "dna2vec"


@pytest.mark.parametrize("model", MODELS)
def test_predict_round_trip_from_run_and_fold(run, store, tmp_path, model):
    out = tmp_path / "scores.tsv"
    result = invoke("predict", store, "--run", str(run), "--model", model, "--fold", "2", "--pairs", "test", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("# epizoo") and "# command: epizoo predict" in out.read_text()
    ours, expected = pd.read_csv(out, sep="\t", comment="#"), bench_table(run, model, "chr2")
    assert list(ours.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(ours.drop(columns="score"), expected.drop(columns="score"))
    np.testing.assert_allclose(ours["score"], expected["score"], atol=2e-6)


def test_predict_every_pair_with_a_checkpoint(run, store, tmp_path):
    out = tmp_path / "deep" / "all.tsv"
    result = invoke("predict", store, "--checkpoint", str(checkpoint(run, "simcnn")), "-o", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, sep="\t", comment="#")
    assert len(table) == epizoo.open_store(store).sizes["pairs"] and table["score"].between(0, 1).all()
    on_chr1 = table.set_index("pair").loc[bench_table(run, "simcnn")["pair"], "score"].to_numpy()
    np.testing.assert_allclose(on_chr1, bench_table(run, "simcnn")["score"], atol=2e-6)


def copy_checkpoint(run: Path, source: str, tmp_path: Path, **changes) -> Path:
    folder = tmp_path / f"ckpt-{source}"
    shutil.copytree(checkpoint(run, source), folder)
    described = json.loads((folder / "checkpoint.json").read_text())
    described.update(changes)
    (folder / "checkpoint.json").write_text(json.dumps(described))
    return folder


def one_line_failure(result, *words: str) -> None:
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for word in words:
        assert word in lines[0], lines[0]


def test_newer_format_and_missing_model_are_one_line(run, tmp_path):
    newer = copy_checkpoint(run, "epivan", tmp_path, format=CHECKPOINT_FORMAT + 1, epizoo_version="9.0")
    with pytest.raises(EpizooError, match="newer than this epizoo.*upgrade epizoo"):
        epizoo.load_model(newer)
    absent = copy_checkpoint(run, "simcnn", tmp_path, model="no-such-model", plugin={"distribution": "epizoo-extra", "version": "2.1"})
    with pytest.raises(UnknownNameError, match="'no-such-model', which is not installed; install epizoo-extra 2.1"):
        epizoo.load_model(absent)


def test_weights_that_do_not_fit_are_one_line(run, tmp_path):
    folder = copy_checkpoint(run, "epivan", tmp_path)
    described = json.loads((folder / "checkpoint.json").read_text())
    described["hparams"]["filters"] = 7
    (folder / "checkpoint.json").write_text(json.dumps(described))
    with pytest.raises(EpizooError, match="does not fit the installed epivan"):
        load_checkpoint_model(folder)
    (folder / "weights.safetensors").write_bytes(b"garbage")
    with pytest.raises(EpizooError, match="unreadable weights"):
        load_checkpoint_model(folder)


def test_a_checkpoint_without_the_format_key_still_loads(run, store, tmp_path):
    """Format 1 (before this version) recorded only the spec's hparams; the factory's defaults fill the rest."""
    folder = copy_checkpoint(run, "epivan", tmp_path)
    described = json.loads((folder / "checkpoint.json").read_text())
    del described["format"]
    described["hparams"] = {k: described["hparams"][k] for k in ("enhancer_length", "promoter_length", "filters", "gru_units", "attention_dim")}
    (folder / "checkpoint.json").write_text(json.dumps(described))
    module, _spec = epizoo.load_model(folder)
    assert isinstance(module, torch.nn.Module)


def test_bad_inputs_are_one_line_and_write_nothing(run, store, tmp_path):
    out = tmp_path / "out.tsv"
    ckpt = str(checkpoint(run, "epivan"))
    newer = copy_checkpoint(run, "epivan", tmp_path, format=CHECKPOINT_FORMAT + 1)
    cases = [
        (["--checkpoint", str(tmp_path / "nowhere")], ["does not exist"]),
        (["--checkpoint", str(tmp_path)], ["checkpoint.json is missing"]),
        (["--checkpoint", str(newer)], ["newer than this epizoo"]),
        (["--checkpoint", ckpt, "--pairs", "test"], ["--pairs test needs the run"]),
        (["--checkpoint", ckpt, "--run", str(run)], ["not both"]),
        ([], ["--checkpoint CKPT, or --run RUN"]),
        (["--run", str(run), "--model", "epivan"], ["several folds", "chr1, chr2"]),
        (["--run", str(run), "--model", "epivan", "--fold", "chr9"], ["--fold chr9", "chr1, chr2"]),
        (["--run", str(run), "--model", "kmer", "--fold", "chr1"], ["--model kmer", "distance, epivan, simcnn"]),
        (["--run", str(tmp_path), "--model", "epivan"], ["not an epizoo run directory"]),
    ]
    for options, words in cases:
        one_line_failure(invoke("predict", store, *options, "-o", str(out)), *words)
    one_line_failure(invoke("predict", str(tmp_path / "missing.zarr"), "--checkpoint", ckpt, "-o", str(out)))
    one_line_failure(invoke("predict", store, "--checkpoint", ckpt, "-o", str(tmp_path)), "is a folder")
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_predict_test_pairs_on_another_store_is_refused(run, tmp_path):
    other = tmp_path / "other.zarr"
    epizoo.simulate_store(other, n_pairs=90, n_contigs=3, cell_lines=1, ratio=2, seed=3)
    out = tmp_path / "out.tsv"
    result = invoke("predict", str(other), "--run", str(run), "--model", "distance", "--fold", "chr1", "--pairs", "test", "-o", str(out))
    one_line_failure(result, "is not the store run")
    assert not out.exists()


def test_every_model_rebuilds_from_what_its_checkpoint_records():
    """The recorded hparams (signature defaults included) rebuild each registered torch model so that
    its weights load strictly; scikit-learn models record theirs too."""
    from epizoo.inference import _factory_arguments, checkpoint_model_fields
    from epizoo.plugins import get_models

    for name, spec in get_models().items():
        fields = checkpoint_model_fields(spec, spec.hparams(tiny=True))
        json.dumps(fields)  # all of it is JSON
        assert fields["model"] == name and fields["plugin"]["distribution"] == "epizoo-zoo"
        if spec.kind != "torch":
            continue
        trained = spec.factory(**spec.hparams(tiny=True))
        rebuilt = spec.factory(**_factory_arguments(spec, fields))
        rebuilt.load_state_dict(trained.state_dict())  # strict: every shape matches


def test_predict_refuses_a_corrupted_store_in_one_line(run, store, tmp_path):
    """A chunk overwritten with same-size garbage passes open's size check; predict verifies checksums."""
    import os

    damaged = tmp_path / "damaged.zarr"
    shutil.copytree(store, damaged)
    chunk = next(path for path in sorted((damaged / "promoter_sequence").rglob("*")) if path.is_file() and "/c/" in str(path))
    chunk.write_bytes(os.urandom(chunk.stat().st_size))
    out = tmp_path / "scores.tsv"
    result = CliRunner().invoke(cli, ["predict", str(damaged), "--checkpoint", str(checkpoint(run, "simcnn")), "-o", str(out)])
    one_line_failure(result, "damaged in promoter_sequence")
    assert not out.exists()
