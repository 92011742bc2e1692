"""``epizoo.load_model`` → ``epizoo.predict_pairs`` gives the bench's scores for every registered pair
model that runs on the synthetic store, on the windows the checkpoint was trained on; and the
Python recipe of docs/predict.md runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import epizoo
from epizoo.cli import cli
from epizoo.errors import EpizooError
from epizoo.plugins import get_models

DOCS = Path(__file__).resolve().parents[1] / "docs" / "predict.md"
FOLD = "chr1"  # the fold docs/predict.md names


def _skip_reason(spec) -> str | None:
    """Why a registered model cannot run on this store (None: it can), and where it is tested instead."""
    if spec.task != "pair":
        return "needs-genome-layer: contact-map models are scored on pairs in tests/test_contact_pairs.py"
    if "signals" in spec.inputs:
        return "needs-signals: see test_models_of_signals_predict_like_the_bench below"
    return None


MODELS = [
    pytest.param(name, id=name) if _skip_reason(spec) is None
    else pytest.param(name, id=f"{name}-skipped-{_skip_reason(spec).split(':')[0]}", marks=pytest.mark.skip(reason=_skip_reason(spec)))
    for name, spec in sorted(get_models().items())
]
RUNNABLE = [p.values[0] for p in MODELS if not p.marks]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("load-model") / "synthetic.zarr"
    epizoo.simulate_store(path, n_pairs=120, n_contigs=3, cell_lines=1, ratio=2, seed=2)
    return str(path)


@pytest.fixture(scope="module")
def run(store, tmp_path_factory, shared_data) -> Path:
    """One tiny bench of every runnable model: tiny windows differ from the specs' defaults."""
    out = tmp_path_factory.mktemp("load-model-run") / "run"
    args = ["bench", store, "--models", ",".join(RUNNABLE), "--tiny", "--folds", FOLD, "--max-pairs", "40", "--threads", "1",
            "--no-progress", "-o", str(out)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EPIZOO_DATA_DIR", str(shared_data))  # dna2vec vectors: no gensim training per fold
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def bench_table(run: Path, model: str) -> pd.DataFrame:
    return pd.read_csv(run / "predictions" / model / "SYN-A" / f"{FOLD}.tsv", sep="\t", comment="#")


@pytest.mark.parametrize("model", MODELS)
def test_load_model_scores_like_the_bench(run, store, model):
    loaded = epizoo.load_model(run / "checkpoints" / model / "SYN-A" / FOLD)
    spec = loaded.spec
    if "sequence" in spec.inputs:  # the checkpoint's windows (tiny), not the spec's defaults
        tiny = spec.hparams(tiny=True)
        assert loaded.windows == {"enhancer": tiny["enhancer_length"], "promoter": tiny["promoter_length"]}
    else:
        assert loaded.windows == {}
    assert (loaded.encoder is None) == (spec.kind == "sklearn")
    expected = bench_table(run, model)
    pairs, labels, scores = epizoo.predict_pairs(loaded, store, expected["pair"].to_numpy())
    np.testing.assert_array_equal(pairs, expected["pair"])
    np.testing.assert_array_equal(labels.astype(int), expected["label"])
    np.testing.assert_allclose(scores, expected["score"], atol=1e-5)
    # windows cut by hand to loaded.windows score alike
    ds = epizoo.open_store(store)
    codes = {
        kind: ds.epizoo.codes(kind, ds[f"pair_{kind}"].values[pairs], length=loaded.windows[kind]) if loaded.windows
        else np.zeros((pairs.size, 0), np.int8)
        for kind in ("enhancer", "promoter")
    }
    by_hand = loaded.score(codes["enhancer"], codes["promoter"], ds["pair_distance"].values[pairs])
    np.testing.assert_allclose(by_hand, expected["score"], atol=1e-5)


def test_loaded_model_unpacks_as_before_and_refuses_other_windows(run, store):
    loaded = epizoo.load_model(run / "checkpoints" / "epivan" / "SYN-A" / FOLD)
    model, spec = loaded  # the (model, spec) pair load_model returned before
    assert model is loaded.model and spec.name == "epivan" and not model.training
    assert loaded.windows != {"enhancer": spec.enhancer_length, "promoter": spec.promoter_length}
    ds = epizoo.open_store(store)
    default = {kind: ds.epizoo.codes(kind, [0], length=getattr(spec, f"{kind}_length")) for kind in ("enhancer", "promoter")}
    with pytest.raises(EpizooError, match=r"trained on 600-bp enhancer windows, not 3000"):
        loaded.score(default["enhancer"], default["promoter"], [1000])
    pairs = np.arange(ds.sizes["pairs"])
    everything = epizoo.predict_pairs(loaded, store)  # no pairs: every pair of the store
    np.testing.assert_array_equal(everything[0], pairs)


def _python_blocks(text: str, heading: str) -> list[str]:
    section = text[text.index(heading):]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_docs_recipe_runs_as_written(run, store, tmp_path):
    """The Python blocks of docs/predict.md's load_model section, on a demo/ folder laid out as `make demo` makes it."""
    (tmp_path / "demo").mkdir()
    os.symlink(run, tmp_path / "demo" / "run")
    os.symlink(store, tmp_path / "demo" / "synthetic.zarr")
    blocks = _python_blocks(DOCS.read_text(), "## `epizoo.load_model`")
    assert len(blocks) == 2
    namespace: dict = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        for block in blocks:
            exec(compile(block, str(DOCS), "exec"), namespace)  # noqa: S102: the documentation's own code
    scores, loaded = namespace["scores"], namespace["loaded"]
    expected = bench_table(run, "epivan").set_index("pair")["score"]
    np.testing.assert_allclose(scores[expected.index.to_numpy()], expected.to_numpy(), atol=1e-5)
    np.testing.assert_allclose(loaded.score(namespace["enhancer"], namespace["promoter"], [0, 0, 0]), scores[:3], atol=1e-5)
    with torch.no_grad():
        by_hand = torch.sigmoid(loaded.model(loaded.encoder(torch.from_numpy(namespace["enhancer"])),
                                             loaded.encoder(torch.from_numpy(namespace["promoter"]))))
    np.testing.assert_allclose(by_hand.numpy(), scores[:3], atol=1e-5)


def test_predict_docs_do_not_call_an_existing_command_missing():
    text = " ".join(DOCS.read_text().split())
    for name in cli.list_commands(None):
        assert not re.search(rf"(not yet|does not exist|no )[^.]*`epizoo {name}`", text, flags=re.I), name
    assert not re.search(r"not yet[^.]*regimes", text, flags=re.I)  # bench --regime gen/best exists


@pytest.mark.parametrize("model", MODELS)
def test_predict_test_pairs_of_a_run_gives_the_bench_scores(run, store, model, tmp_path):
    """`epizoo predict --run --pairs test` on every registered pair model: the bench's own table."""
    out = tmp_path / "p.tsv"
    result = CliRunner().invoke(cli, ["predict", store, "--run", str(run), "--model", model, "--fold", FOLD, "--pairs", "test",
                                      "--device", "cpu", "-o", str(out)])
    assert result.exit_code == 0, result.output
    ours, expected = pd.read_csv(out, sep="\t", comment="#"), bench_table(run, model)
    np.testing.assert_array_equal(ours["pair"], expected["pair"])
    np.testing.assert_allclose(ours["score"], expected["score"], atol=1e-5)


# ---- models of signals: a store with sequence and signals ---------------------------------------
SIGNAL_MODELS = [name for name, spec in sorted(get_models().items()) if spec.task == "pair" and "signals" in spec.inputs]


@pytest.fixture(scope="module")
def signals_run(tmp_path_factory) -> tuple[str, Path]:
    """A tiny bench of every pair model that reads signals, on a synthetic store with a feature table
    in which a third of the pairs have no row (NaN signals)."""
    from epizoo.datasets.base import DatasetRequest
    from epizoo.datasets.synthetic import simulate
    from epizoo.store.build import build_store
    from test_signal_models import _feature_table

    root = tmp_path_factory.mktemp("signals-run")
    loaded = simulate(DatasetRequest(seed=3, options={"n_pairs": 200, "n_contigs": 3, "cell_lines": 1}))
    table = pd.read_csv(_feature_table(root / "f.csv", loaded.pairs))
    table[table.index % 3 != 0].to_csv(root / "f.csv", index=False)
    store = str(root / "s.zarr")
    build_store(loaded, store, signals=str(root / "f.csv"), progress=False, dataset="synthetic")
    out = root / "run"
    result = CliRunner().invoke(cli, ["bench", store, "--models", ",".join(SIGNAL_MODELS), "--tiny", "--folds", FOLD,
                                      "--threads", "1", "--no-progress", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return store, out


@pytest.mark.parametrize("model", SIGNAL_MODELS)
def test_models_of_signals_predict_like_the_bench(signals_run, model, tmp_path):
    store, run = signals_run
    expected = bench_table(run, model)
    loaded = epizoo.load_model(run / "checkpoints" / model / "SYN-A" / FOLD)
    pairs, _, scores = epizoo.predict_pairs(loaded, store, expected["pair"].to_numpy())
    np.testing.assert_array_equal(pairs, expected["pair"])
    np.testing.assert_allclose(scores, expected["score"], atol=1e-5)
    out = tmp_path / "p.tsv"
    result = CliRunner().invoke(cli, ["predict", store, "--run", str(run), "--model", model, "--fold", FOLD, "--pairs", "test",
                                      "--device", "cpu", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "have no signal values" in result.output  # the unscored pairs are said, not hidden
    ours = pd.read_csv(out, sep="\t", comment="#")
    np.testing.assert_array_equal(ours["pair"], expected["pair"])
    np.testing.assert_allclose(ours["score"], expected["score"], atol=1e-5)


def test_a_model_of_signals_on_a_store_without_signals_is_one_line(signals_run, store, tmp_path):
    _, run = signals_run
    result = CliRunner().invoke(cli, ["predict", store, "--run", str(run), "--model", SIGNAL_MODELS[0], "--fold", FOLD,
                                      "-o", str(tmp_path / "p.tsv")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "does not hold" in result.output and "--signals" in result.output
    assert not (tmp_path / "p.tsv").exists()


def test_predict_reads_the_recorded_fold_instead_of_planning_it_again(run, store, tmp_path):
    """The bench records each fold's sides beside its checkpoint: predict --pairs test reads them, so a
    run whose configuration would now plan another fold still scores the bench's test pairs."""
    import json
    import shutil

    from epizoo.checkpoint import load_sides

    folder = run / "checkpoints" / RUNNABLE[0] / "SYN-A" / FOLD
    sides = load_sides(folder)
    expected = bench_table(run, RUNNABLE[0])
    np.testing.assert_array_equal(sides["test"], expected["pair"])
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    config = json.loads((copy / "config.json").read_text())
    config["config"]["split"] = "random"  # planned again, the run would have no fold chr1 at all
    (copy / "config.json").write_text(json.dumps(config))
    out = tmp_path / "p.tsv"
    result = CliRunner().invoke(cli, ["predict", store, "--run", str(copy), "--model", RUNNABLE[0], "--fold", FOLD,
                                      "--pairs", "test", "--device", "cpu", "-o", str(out)])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(pd.read_csv(out, sep="\t", comment="#")["pair"], expected["pair"])
    copied = copy / "checkpoints" / RUNNABLE[0] / "SYN-A" / FOLD / "sides.npz"
    copied.write_bytes(copied.read_bytes()[:-8] + b"\0" * 8)  # a damaged record is refused, not read
    damaged = CliRunner().invoke(cli, ["predict", store, "--run", str(copy), "--model", RUNNABLE[0], "--fold", FOLD,
                                       "--pairs", "test", "-o", str(tmp_path / "q.tsv")])
    assert damaged.exit_code != 0 and "sides.npz does not match its checksum" in damaged.output
