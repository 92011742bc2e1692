"""The signal models: targetfinder, targetfinder-xgb, chromnet-pair and epizoo-hybrid.

Each learns a planted rule (H3K27ac at the enhancer AND H3K4me3 at the promoter) from seeded
signals through direct fit/forward calls; the rest checks what sets the models apart.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from epizoo.coords import TRANS_DISTANCE
from epizoo.errors import EpizooError
from epizoo_zoo import baselines, chromnet_pair, hybrid, signals, targetfinder
from epizoo_zoo.epizoocnn import SPEC as CNN_SPEC

MARKS = signals.DEFAULT_SIGNAL_MARKS
ACETYL, PROMOTER_MARK = MARKS.index("H3K27ac"), MARKS.index("H3K4me3")
ENHANCER, PROMOTER, WINDOW = 0, 1, 2


def planted(pairs: int, seed: int = 0, rule: str = "marks"):
    """Raw signals (gamma, ~1e-3 per bp like peak signal), distances (every 10th trans), cell
    lines, and labels from a planted rule: 'marks' (enhancer H3K27ac high AND promoter H3K4me3
    high) or 'distance' (closer than 500 kb)."""
    rng = np.random.default_rng(seed)
    data = rng.gamma(1.0, 1e-3, size=(pairs, len(MARKS), 3)).astype(np.float32)
    distance = rng.integers(10_000, 2_000_000, size=pairs)
    distance[::10] = TRANS_DISTANCE
    cell_line = rng.integers(0, 2, size=pairs)
    if rule == "marks":
        acetyl, mark = data[:, ACETYL, ENHANCER], data[:, PROMOTER_MARK, PROMOTER]
        labels = (acetyl > np.median(acetyl)) & (mark > np.median(mark))
    else:
        labels = (distance != TRANS_DISTANCE) & (distance < 500_000)
    return data, distance.astype(np.int64), cell_line.astype(np.int64), labels.astype(np.int64)


def fit_sklearn(spec, train, test, **overrides):
    model = spec.build(tiny=True, **overrides)
    model.fit(spec.features(train[0], train[1]), train[3])
    scores = model.predict_proba(spec.features(test[0], test[1]))[:, 1]
    return model, roc_auc_score(test[3], scores)


def tensors(data, distance, cell_line, labels):
    return torch.from_numpy(data), torch.from_numpy(distance), torch.from_numpy(cell_line), torch.from_numpy(labels).float()


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks run fastest on one thread; two contend on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- shared pieces


def test_distance_columns_follow_the_distance_baseline():
    distance = np.array([0, 9_999, 1_500_000, TRANS_DISTANCE])
    expected = baselines.distance_features(np.zeros((4, 0)), np.zeros((4, 0)), distance)
    assert np.allclose(signals.distance_tensor(torch.from_numpy(distance)).numpy(), expected, atol=1e-6)
    assert np.array_equal(signals.log_distance(distance), expected[:, 0])


def test_feature_names_are_the_transepi_columns_in_flattening_order():
    names = signals.signal_feature_names()
    assert names[:4] == ["CTCF (enhancer)", "CTCF (promoter)", "CTCF (window)", "DNase (enhancer)"]
    data = np.arange(2 * 8 * 3, dtype=np.float32).reshape(2, 8, 3)
    flat = targetfinder.targetfinder_features(data, [10_000, 20_000])
    assert flat[1, names.index("H3K27ac (promoter)")] == data[1, ACETYL, PROMOTER]


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.full((2, 8, 3), np.nan), "missing or infinite"),
        (-np.ones((2, 8, 3)), "negative"),
        (np.ones((2, 24)), "pairs, marks, regions"),
        (np.ones((3, 8, 3)), "3 pairs and 2 distances"),
    ],
)
def test_bad_signals_give_one_clear_error(bad, message):
    for features in (targetfinder.targetfinder_features, targetfinder.targetfinder_xgb_features):
        with pytest.raises(EpizooError, match=message):
            features(bad, [10_000, 20_000])


def test_scaler_refuses_signals_of_another_layout():
    with pytest.raises(EpizooError, match="8 marks x 3 regions"):
        signals.SignalScaler(8, 3)(torch.ones(2, 7, 3))


# ---------------------------------------------------------------- targetfinder and targetfinder-xgb


@pytest.mark.parametrize("spec", [targetfinder.TARGETFINDER_SPEC, targetfinder.TARGETFINDER_XGB_SPEC], ids=lambda s: s.name)
def test_targetfinder_models_learn_the_planted_marks(spec):
    _, auroc = fit_sklearn(spec, planted(800, seed=0), planted(400, seed=1))
    assert auroc > 0.85, f"{spec.name}: AUROC {auroc:.3f}"


def test_targetfinder_is_faithful_and_drops_distance():
    model = targetfinder.TARGETFINDER_SPEC.build()
    params = model.get_params()
    assert (params["n_estimators"], params["learning_rate"], params["max_depth"], params["max_features"]) == (4000, 0.1, 5, "log2")
    data, distance, _, _ = planted(20)
    farther = np.where(distance == TRANS_DISTANCE, 50_000, TRANS_DISTANCE)
    assert np.array_equal(targetfinder.targetfinder_features(data, distance), targetfinder.targetfinder_features(data, farther))
    assert targetfinder.targetfinder_features(data, distance).shape == (20, 24)


def test_targetfinder_xgb_has_transepi_parameters_and_uses_distance():
    params = targetfinder.TARGETFINDER_XGB_SPEC.build().get_params()
    assert {key: params[key] for key in ("n_estimators", "max_depth", "learning_rate", "subsample", "min_child_weight")} == {
        "n_estimators": 150, "max_depth": 5, "learning_rate": 0.1, "subsample": 0.9, "min_child_weight": 10
    }
    assert (params["tree_method"], params["eval_metric"], params["device"]) == ("hist", "logloss", "cpu")
    data, distance, _, _ = planted(4)
    features = targetfinder.targetfinder_xgb_features(data, distance)
    assert features.shape == (4, 25) and features[0, -1] == baselines.TRANS_LOG_DISTANCE  # pair 0 is trans
    train, test = planted(800, seed=0, rule="distance"), planted(400, seed=1, rule="distance")
    assert fit_sklearn(targetfinder.TARGETFINDER_XGB_SPEC, train, test, n_jobs=1)[1] > 0.95
    assert fit_sklearn(targetfinder.TARGETFINDER_SPEC, train, test)[1] < 0.65  # no distance column


def test_targetfinder_xgb_refuses_cuda_on_a_cpu_only_build():
    import xgboost

    if xgboost.build_info().get("USE_CUDA"):
        pytest.skip("this XGBoost has CUDA")
    with pytest.raises(EpizooError, match="pip install xgboost"):
        targetfinder.TARGETFINDER_XGB_SPEC.build(device="cuda")
    with pytest.raises(EpizooError, match="'cpu' or 'cuda'"):
        targetfinder.TARGETFINDER_XGB_SPEC.build(device="tpu")


def test_the_two_targetfinders_are_distinct_models():
    first, second = targetfinder.TARGETFINDER_SPEC, targetfinder.TARGETFINDER_XGB_SPEC
    assert first.name != second.name and not set(first.aliases) & set(second.aliases)
    assert "NOT a feature" in first.card.port_deviations and "XGBClassifier" in second.card.port_deviations
    assert "device='cuda'" in second.card.notes and first.inputs == second.inputs == ("signals",)


# ---------------------------------------------------------------- chromnet-pair


def train_torch(model, data, epochs: int, batch: int = 128, lr: float = 3e-3, seed: int = 0):
    """A minimal loop over the model's own training_loss (or BCE), as the trainer runs it."""
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    signal, distance, cell_line, labels = tensors(*data[:4])
    sequence = data[4:] if len(data) > 4 else ()
    for _ in range(epochs):
        model.train()
        for start in range(0, len(labels), batch):
            rows = slice(start, start + batch)
            inputs = {"signals": signal[rows], "distance": distance[rows]}
            if hasattr(model, "training_loss"):
                loss = model.training_loss(inputs, labels[rows], cell_line[rows])
            else:
                logits = model(*(part[rows] for part in sequence), **inputs)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model


def chromnet(**overrides):
    torch.manual_seed(0)
    return chromnet_pair.SPEC.build(tiny=True, **overrides)


def test_chromnet_pair_learns_the_planted_marks():
    model = train_torch(chromnet(), planted(1500, seed=0), epochs=10)
    test, distance, _, labels = tensors(*planted(500, seed=1))
    model.eval()
    with torch.no_grad():
        auroc = roc_auc_score(labels.numpy(), model(signals=test, distance=distance).numpy())
    assert auroc > 0.9, f"AUROC {auroc:.3f}"


def test_chromnet_pair_loss_has_the_noise_copy_and_the_cell_line_term():
    model = chromnet(n_cell_lines=3, dropout=0.0)
    assert model.cell_line[-1].out_features == 3  # clean cell lines only: the noise copy is not a class
    seen = {}

    def rows_seen_by(name):
        def hook(module, inputs, output):
            seen[name] = inputs[0].shape[0]
        return hook

    model.interaction.register_forward_hook(rows_seen_by("interaction"))
    model.cell_line.register_forward_hook(rows_seen_by("cell_line"))
    data, distance, cell_line, labels = tensors(*planted(10))
    cell_line = cell_line.clamp(max=2)
    cell_line[0] = 2
    loss = model.training_loss({"signals": data, "distance": distance}, labels, cell_line)
    assert seen == {"interaction": 20, "cell_line": 10}  # the batch and its noise copy; only clean pairs classified
    loss.backward()
    assert model.interaction.weight.grad.abs().sum() > 0 and model.cell_line[0].weight.grad.abs().sum() > 0
    assert model.element[0].weight.grad.abs().sum() > 0  # both heads train the shared encoder


def test_chromnet_pair_loss_is_bce_plus_lambda_ce_without_noise():
    """With sigma 0 the copy equals the batch (correlation 1): the loss is BCE + lambda * CE exactly."""
    model = chromnet(noise_sigma=0.0, dropout=0.0, cell_line_weight=0.5)
    data, distance, cell_line, labels = tensors(*planted(16))
    loss = model.training_loss({"signals": data, "distance": distance}, labels, cell_line)
    shared = model.representation(model.scaler(data), distance)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(model.interaction(shared).squeeze(1), labels)
    ce = torch.nn.functional.cross_entropy(model.cell_line(shared), cell_line)
    assert torch.allclose(loss, bce + 0.5 * ce, atol=1e-6)
    lambda_zero = chromnet(cell_line_weight=0.0)
    lambda_zero.training_loss({"signals": data, "distance": distance}, labels, cell_line).backward()
    assert lambda_zero.cell_line[0].weight.grad is None or not lambda_zero.cell_line[0].weight.grad.any()


def test_noise_copy_is_weighted_by_its_correlation_with_the_clean_signals():
    clean = torch.randn(4, 24)
    assert torch.allclose(chromnet_pair.row_correlation(clean, clean), torch.ones(4))
    noisy = clean + torch.randn(4, 24)
    expected = [np.corrcoef(a, b)[0, 1] for a, b in zip(clean.numpy(), noisy.numpy())]
    assert np.allclose(chromnet_pair.row_correlation(clean, noisy).numpy(), expected, atol=1e-5)


def test_chromnet_pair_scores_a_pair_the_same_alone_or_in_a_batch():
    model = train_torch(chromnet(), planted(256), epochs=1).eval()
    data, distance, _, _ = tensors(*planted(8, seed=3))
    with torch.no_grad():
        batch = model(signals=data, distance=distance)
        alone = model(signals=data[:1], distance=distance[:1])
    assert torch.allclose(batch[:1], alone, atol=1e-6)


def test_chromnet_pair_refuses_unknown_cell_lines_and_regions():
    data, distance, cell_line, labels = tensors(*planted(4))
    with pytest.raises(EpizooError, match="n_cell_lines"):
        chromnet(n_cell_lines=1).training_loss({"signals": data, "distance": distance}, labels, cell_line + 1)
    with pytest.raises(EpizooError, match="lacks window"):
        chromnet_pair.SPEC.build(signal_regions=("enhancer", "promoter"))


# ---------------------------------------------------------------- epizoo-hybrid

LENGTHS = {"enhancer_length": 40, "promoter_length": 40}


def onehot(pairs: int, length: int, seed: int, pool: int | None = None) -> torch.Tensor:
    """One-hot windows; with ``pool``, each pair takes one of ``pool`` elements, as elements recur
    across pairs in real data (so a model cannot tell pairs apart by their sequence alone)."""
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 4, (pool or pairs, length), generator=generator)
    if pool:
        codes = codes[torch.randint(0, pool, (pairs,), generator=generator)]
    return torch.nn.functional.one_hot(codes, 4).transpose(1, 2).float()


def test_hybrid_forward_takes_sequence_and_signals():
    torch.manual_seed(0)
    model = hybrid.SPEC.build(tiny=True)
    hparams = hybrid.SPEC.hparams(tiny=True)
    data, distance, _, labels = tensors(*planted(6))
    enhancer, promoter = onehot(6, hparams["enhancer_length"], 0), onehot(6, hparams["promoter_length"], 1)
    logits = model(enhancer, promoter, signals=data, distance=distance)
    assert logits.shape == (6,) and torch.isfinite(logits).all()
    torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).backward()
    assert model.enhancer.conv.weight.grad.abs().sum() > 0 and model.head[0].weight.grad.abs().sum() > 0
    assert hybrid.SPEC.inputs == ("sequence", "signals") and hybrid.SPEC.input_encoding == CNN_SPEC.input_encoding


def test_hybrid_reuses_epizoo_cnn_modules_and_loads_its_sequence_weights():
    torch.manual_seed(0)
    model, cnn = hybrid.SPEC.build(tiny=True), CNN_SPEC.build(tiny=True)
    assert isinstance(model, type(cnn)) and type(model.enhancer) is type(cnn.enhancer)
    sequence_weights = {key: value for key, value in cnn.state_dict().items() if not key.startswith("head.")}
    result = model.load_state_dict(sequence_weights, strict=False)
    assert not result.unexpected_keys and all(key.startswith(("head.", "scaler.")) for key in result.missing_keys)


def test_hybrid_learns_the_planted_marks():
    train, test = planted(1500, seed=0), planted(300, seed=1)
    torch.manual_seed(0)
    model = hybrid.SPEC.build(tiny=True, **LENGTHS)
    train_torch(model, (*train, onehot(1500, 40, 0, pool=5), onehot(1500, 40, 1, pool=5)), epochs=12)
    data, distance, _, labels = tensors(*test)
    model.eval()
    with torch.no_grad():
        scores = model(onehot(300, 40, 0, pool=5), onehot(300, 40, 1, pool=5), signals=data, distance=distance)
    auroc = roc_auc_score(labels.numpy(), scores.numpy())
    assert auroc > 0.85, f"AUROC {auroc:.3f}"


# ---------------------------------------------------------------- through epizoo bench


def _feature_table(path, pairs) -> str:
    """A TransEPI-style feature table of ``pairs`` (0-based names): H3K27ac at the enhancer tracks the label."""
    import pandas as pd

    rng = np.random.default_rng(0)
    name = lambda contig, start, end, cell: f"{contig}:{start}-{end}|{cell}|_"  # noqa: E731
    table = pd.DataFrame({
        "label": pairs["label"].to_numpy(),
        "enh_name": list(map(name, pairs.enhancer_contig, pairs.enhancer_start, pairs.enhancer_end, pairs.cell_line)),
        "prom_name": list(map(name, pairs.promoter_contig, pairs.promoter_start, pairs.promoter_end, pairs.cell_line)),
        "celltype": pairs["cell_line"].to_numpy(),
    })
    for mark in ("CTCF", "H3K27ac", "H3K4me3"):
        for region in signals.SIGNAL_REGIONS:
            planted_mark = 0.05 * pairs["label"].to_numpy() if (mark, region) == ("H3K27ac", "enhancer") else 0.0
            table[f"{mark} ({region})"] = rng.gamma(1.0, 0.01, len(pairs)) + planted_mark
    table.to_csv(path, index=False)
    return str(path)


@pytest.mark.slow
def test_signal_models_run_through_bench(tmp_path):
    """A store of sequence and signals (3 marks, 2 cell lines); the store's marks and cell lines reach the models."""
    import pandas as pd
    from click.testing import CliRunner

    from epizoo.cli import cli
    from epizoo.datasets.base import DatasetRequest
    from epizoo.datasets.synthetic import simulate
    from epizoo.store.build import build_store

    loaded = simulate(DatasetRequest(seed=3, options={"n_pairs": 240, "n_contigs": 3, "cell_lines": 2}))
    build_store(loaded, tmp_path / "s.zarr", signals=_feature_table(tmp_path / "f.csv", loaded.pairs), progress=False, dataset="synthetic")
    models = "targetfinder-xgb,chromnet-pair,epizoo-hybrid"
    result = CliRunner().invoke(cli, ["bench", str(tmp_path / "s.zarr"), "--models", models, "--tiny", "--split", "loco",
                                      "--folds", "chr1", "--epochs", "2", "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(tmp_path / "run" / "metrics.tsv", sep="\t")
    assert set(metrics["model"]) == set(models.split(",")) and metrics["auroc"].between(0, 1).all()
    assert metrics.groupby("model")["auroc"].mean()["targetfinder-xgb"] > 0.75  # the planted mark, 3 marks from the store
