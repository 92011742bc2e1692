"""Expected outputs, kipoi-style: every registered model's math is pinned by a committed fixture.

``tests/fixtures/expected_outputs/<model>.json`` holds the seed the weights come from
(``torch.manual_seed`` before the build), the tiny hyperparameters, a fixed input and the output
it gave (torch: eval-mode logits of 3 pairs; scikit-learn: ``predict_proba`` after a fit on 64
seeded synthetic pairs), with the library versions it was made with. A refactor that changes a
model's math fails here. Models with a k-mer convolution are checked on both of its paths
(``epizoo.nn``: plain embedding + Conv1d, and the table lookup) against the same output.

A model without a fixture fails. To create one, or to accept an intended change of the math::

    EPIZOO_REGENERATE_EXPECTED=1 python -m pytest tests/test_expected_outputs.py -k MODEL

then commit the JSON file with a word on why the output changed. The functions behind this live
in ``epizoo.testing`` (``expected_output_case``, ``assert_expected_output``), for plugin authors.

Models that read signals (``"signals" in spec.inputs``) are pinned the same way, on seeded raw
signals ``(pairs, marks, regions)`` and distances (and, for a hybrid, sequences too): see
``signal_case`` below.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from epizoo import plugins
from epizoo.testing import (
    assert_expected_output,
    expected_output_case,
    kmer_conv_paths,
    read_expected_output,
    write_expected_output,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "expected_outputs"
REGENERATE = "EPIZOO_REGENERATE_EXPECTED"
MODELS = sorted(plugins.get_models())


def fixture_path(name: str, directory: Path = FIXTURES) -> Path:
    return directory / f"{name}.json"


def load_case(name: str, directory: Path = FIXTURES) -> dict:
    """The model's fixture; a missing one fails with how to create it (or writes it, when asked)."""
    path = fixture_path(name, directory)
    if os.environ.get(REGENERATE) == "1":
        spec = plugins.get_model(name)
        write_expected_output(path, signal_case(spec) if reads_signals(spec) else expected_output_case(spec))
    if not path.exists():
        pytest.fail(
            f"model {name!r} has no expected-output fixture ({path.relative_to(path.parents[3]) if directory == FIXTURES else path}); "
            f"every registered model needs one. Create it with "
            f"`{REGENERATE}=1 python -m pytest tests/test_expected_outputs.py -k {name}` and commit it.",
            pytrace=False,
        )
    return read_expected_output(path)


# ---------------------------------------------------------------- models of signals


def reads_signals(spec) -> bool:
    return "signals" in getattr(spec, "inputs", ("sequence",))


# Enough pairs for XGBoost's min_child_weight 10 to split (a pair's hessian is at most 0.25).
SIGNAL_SKLEARN_PAIRS = 160
SIGNAL_UNIT = 1e-3  # signals are stored as whole numbers of this unit, so the fixture stays small


def _signal_inputs(hparams: dict, pairs: int, seed: int):
    """Seeded raw signals in whole ``SIGNAL_UNIT``s (peak signal per bp is ~1e-3), distances (every
    fourth pair trans) and labels planted on two overlapping columns."""
    import numpy as np

    from epizoo.coords import TRANS_DISTANCE

    rng = np.random.default_rng(seed)
    labels = np.arange(pairs) % 2
    shape = (pairs, len(hparams["signal_marks"]), len(hparams["signal_regions"]))
    counts = rng.integers(0, 20, size=shape)
    counts[labels == 1, 0, 0] += 10
    counts[labels == 1, -1, -1] += 8
    distance = rng.integers(10_000, 1_000_000, size=pairs)
    distance[::4] = TRANS_DISTANCE
    return counts, distance.astype(np.int64), labels


def signal_case(spec, seed: int = 0) -> dict:
    """Like ``expected_output_case`` for a model of signals: the signals are one line of
    space-separated counts of ``signal_unit`` per pair (mark-major), with their shape; a
    scikit-learn model's output is the positive-class probability of each pair."""
    import torch

    from epizoo.testing import EXPECTED_ATOL, EXPECTED_OUTPUT_FORMAT, EXPECTED_RTOL, EXPECTED_TORCH_BATCH, _versions, pair_codes
    from epizoo.sequence import decode

    hparams = spec.hparams(tiny=True)
    pairs = SIGNAL_SKLEARN_PAIRS if spec.kind == "sklearn" else EXPECTED_TORCH_BATCH
    counts, distance, labels = _signal_inputs(hparams, pairs, seed)
    data = {"signal_shape": list(counts.shape[1:]), "signal_unit": SIGNAL_UNIT,
            "signals": [" ".join(map(str, row.ravel())) for row in counts], "distance": distance.tolist()}
    if spec.kind == "sklearn":
        data["labels"] = labels.tolist()
    if "sequence" in spec.inputs:
        enhancer, promoter = pair_codes(hparams, pairs, seed)
        data.update(enhancer=decode(enhancer), promoter=decode(promoter))
    case = {"format": EXPECTED_OUTPUT_FORMAT, "model": spec.name, "kind": spec.kind, "seed": seed,
            "hparams": hparams, "input_encoding": spec.input_encoding, "inputs": list(spec.inputs),
            "versions": {**_versions(), "torch": torch.__version__, **_fitting_versions(spec)}, "input": data, "rtol": EXPECTED_RTOL, "atol": EXPECTED_ATOL}
    case["expected"] = compute_signal_output(spec, case).tolist()
    return case


def _fitting_versions(spec) -> dict:
    if spec.kind != "sklearn":
        return {}
    import sklearn
    import xgboost

    return {"scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__}


def compute_signal_output(spec, case: dict):
    """Rerun a ``signal_case`` on ``spec`` as it is now: predict_proba after a fit, or eval logits."""
    import numpy as np
    import torch

    from epizoo.plugins import get_encoder
    from epizoo.sequence import encode

    data = case["input"]
    counts = np.stack([np.array(row.split(), dtype=np.float64) for row in data["signals"]])
    signals = (counts * data["signal_unit"]).astype(np.float32).reshape(-1, *data["signal_shape"])
    distance = np.asarray(data["distance"], dtype=np.int64)
    if case["kind"] == "sklearn":
        model = spec.factory(**case["hparams"])
        model.fit(spec.features(signals, distance), np.asarray(data["labels"]))
        return np.asarray(model.predict_proba(spec.features(signals, distance))[:, 1], dtype=np.float64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(case["seed"])
        model = spec.factory(**case["hparams"]).eval()
    args = []
    if "sequence" in case["inputs"]:
        encode_input = get_encoder(case["input_encoding"]).function
        args = [encode_input(torch.from_numpy(np.stack([encode(row) for row in data[key]]))) for key in ("enhancer", "promoter")]
    with torch.no_grad():
        logits = model(*args, signals=torch.from_numpy(signals), distance=torch.from_numpy(distance))
    return logits.double().numpy()


def assert_signal_output(spec, case: dict) -> None:
    import numpy as np

    expected, actual = np.asarray(case["expected"], dtype=np.float64), compute_signal_output(spec, case)
    assert actual.shape == expected.shape, f"{spec.name}: output shape {actual.shape}, expected {expected.shape}"
    assert np.allclose(actual, expected, rtol=case["rtol"], atol=case["atol"]), (
        f"{spec.name}: output changed, worst by {float(np.abs(actual - expected).max())!r}; fixture made with "
        f"{case['versions']}. If the change is intended, regenerate the fixture and say why in the commit."
    )


@pytest.mark.parametrize("name", MODELS)
def test_model_gives_its_expected_output(name):
    spec = plugins.get_model(name)
    case = load_case(name)
    assert case["model"] == name and case["kind"] == spec.kind
    if reads_signals(spec):
        assert_signal_output(spec, case)
        return
    failures = []
    for path in kmer_conv_paths(spec, case):  # both k-mer conv paths against the same output
        try:
            assert_expected_output(spec, case, kmer_conv_path=path)
        except AssertionError as error:
            failures.append(str(error))
    assert not failures, "\n".join(failures)


def test_every_fixture_belongs_to_a_registered_model():
    stale = sorted(path.stem for path in FIXTURES.glob("*.json") if path.stem not in MODELS)
    assert not stale, f"expected-output fixtures of models that are not registered: {stale}; remove them"


def test_kmer_models_are_checked_on_both_paths():
    for name in MODELS:
        spec = plugins.get_model(name)
        if spec.input_encoding == "kmer6":
            assert kmer_conv_paths(spec, load_case(name)) == ["plain", "lookup"], name


# ---------------------------------------------------------------- the check itself is checked


def test_a_model_without_fixture_fails_saying_how_to_create_it(tmp_path, monkeypatch):
    monkeypatch.delenv(REGENERATE, raising=False)
    with pytest.raises(pytest.fail.Exception, match=f"{REGENERATE}=1 python -m pytest tests/test_expected_outputs.py -k epivan"):
        load_case("epivan", directory=tmp_path)


def test_a_perturbed_layer_fails_the_check(monkeypatch):
    """A change of math as small as scaling one linear layer's output by 1.001 is caught."""
    import torch

    spec = plugins.get_model("epizoo-cnn")
    case = load_case("epizoo-cnn")
    assert_expected_output(spec, case)
    linear_forward = torch.nn.Linear.forward
    monkeypatch.setattr(torch.nn.Linear, "forward", lambda self, x: linear_forward(self, x) * 1.001)
    with pytest.raises(AssertionError, match="epizoo-cnn: output changed"):
        assert_expected_output(spec, case)


def test_a_perturbed_lookup_path_fails_only_on_that_path(monkeypatch):
    """Both k-mer conv paths are really run: perturbing the lookup leaves the plain path passing."""
    from epizoo import nn as epizoo_nn

    spec = plugins.get_model("epivan")
    case = load_case("epivan")
    lookup = epizoo_nn.lookup_embedded_conv1d
    monkeypatch.setattr(epizoo_nn, "lookup_embedded_conv1d", lambda *args, **kwargs: lookup(*args, **kwargs) * 1.01)
    assert_expected_output(spec, case, kmer_conv_path="plain")
    with pytest.raises(AssertionError, match=r"epivan \(k-mer conv path lookup\): output changed"):
        assert_expected_output(spec, case, kmer_conv_path="lookup")


def test_perturbed_sklearn_features_fail_the_check():
    """The distance baseline without its is_trans column is another model, and is caught."""
    spec = plugins.get_model("distance")
    case = load_case("distance")
    assert_expected_output(spec, case)

    def without_is_trans(enhancer, promoter, distance):
        features = spec.features(enhancer, promoter, distance)
        features[:, 1] = 0.0
        return features

    with pytest.raises(AssertionError, match="distance: output changed"):
        assert_expected_output(replace(spec, features=without_is_trans), case)


def test_fixtures_are_small():
    for path in FIXTURES.glob("*.json"):
        assert path.stat().st_size < 32_000, f"{path.name} is {path.stat().st_size} bytes; keep fixtures small"
