"""The pytest plugin for epizoo plugin authors (loaded through the ``pytest11`` entry point).

Fixtures:

* ``epizoo_tiny_store``: path of a tiny synthetic store, built once per test session.
* ``epizoo_model_smoke``: ``smoke(spec)`` builds a model at its tiny settings and checks one
  forward and backward pass (torch) or one fit/predict (scikit-learn).
* ``epizoo_registered_plugin``: ``register(plugin)`` adds a module or object as a plugin for the
  duration of one test; the registries are reset afterwards.

Heavy modules (torch, numpy, the store) are imported inside the fixtures, so this plugin costs
nothing for test suites that do not use it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

if TYPE_CHECKING:  # for annotations only
    from epizoo.zoo import ModelSpec

TINY_STORE_OPTIONS = {"n_pairs": 48, "n_contigs": 2, "cell_lines": 1, "seed": 0}


@contextmanager
def registered_plugin(plugin: Any, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` (a module, class or object with hook implementations) for a while."""
    from epizoo import plugins

    plugin_name = plugins.register_plugin(plugin, name=name)
    try:
        yield plugin_name
    finally:
        plugins.reset()


@pytest.fixture
def epizoo_registered_plugin() -> Iterator[Callable[..., str]]:
    """A function ``register(plugin, name=None) -> name``; registries are reset after the test."""
    from epizoo import plugins

    yield plugins.register_plugin
    plugins.reset()


@pytest.fixture(scope="session")
def epizoo_tiny_store(tmp_path_factory: pytest.TempPathFactory):
    """Path of a small synthetic store (a few dozen pairs), built once; open it with ``epizoo.open_store``."""
    from epizoo import simulate_store

    path = tmp_path_factory.mktemp("epizoo") / "tiny.zarr"
    simulate_store(path, **TINY_STORE_OPTIONS)
    return path


def random_codes(batch: int, length: int, seed: int = 0):
    """Random int8 sequence codes (A,C,G,T = 0..3, with about 1% N = 4)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(batch, length), dtype=np.int8)
    codes[rng.random((batch, length)) < 0.01] = 4
    return codes


def pair_codes(hparams: dict[str, Any], batch: int, seed: int = 0, store: Any = None):
    """Enhancer and promoter codes of ``batch`` pairs at the model's lengths: random, or the
    first pairs of ``store`` (a path or an opened Dataset)."""
    lengths = hparams["enhancer_length"], hparams["promoter_length"]
    if store is None:
        return random_codes(batch, lengths[0], seed), random_codes(batch, lengths[1], seed + 1)
    from epizoo import open_store

    ds = store if hasattr(store, "epizoo") else open_store(store)
    pairs = slice(0, min(batch, ds.sizes["pairs"]))
    enhancers = ds["pair_enhancer"].values[pairs]
    promoters = ds["pair_promoter"].values[pairs]
    return ds.epizoo.codes("enhancer", enhancers, lengths[0]), ds.epizoo.codes("promoter", promoters, lengths[1])


def random_signals(hparams: dict[str, Any], batch: int, seed: int = 0):
    """Random raw signals ``(batch, marks, regions)`` (float32, ~1e-3 per bp) and distances (the
    first pair trans) for a model of signals, shaped by its ``signal_marks``/``signal_regions``."""
    import numpy as np

    from epizoo.coords import TRANS_DISTANCE

    rng = np.random.default_rng(seed)
    shape = (batch, len(hparams["signal_marks"]), len(hparams["signal_regions"]))
    distance = rng.integers(10_000, 1_000_000, size=batch)
    distance[:1] = TRANS_DISTANCE
    return rng.gamma(1.0, 1e-3, size=shape).astype(np.float32), distance.astype(np.int64)


def smoke_torch(spec: ModelSpec, batch: int = 4, seed: int = 0, store: Any = None, **overrides: Any):
    """One forward and backward pass of a torch model at its tiny settings; returns the logits.
    A model of signals gets random signals (a store's are not read), and its own
    ``training_loss`` when it has one."""
    import torch

    from epizoo.model_inputs import forward, model_loss
    from epizoo.plugins import get_encoder

    hparams = spec.hparams(tiny=True, **overrides)
    torch.manual_seed(seed)
    model = spec.factory(**hparams)
    encode = get_encoder(spec.input_encoding).function
    inputs: dict[str, Any] = {}
    if spec.reads("sequence"):
        enhancer_codes, promoter_codes = pair_codes(hparams, batch, seed, store)
        batch = len(enhancer_codes)
        inputs.update(enhancer=torch.from_numpy(enhancer_codes), promoter=torch.from_numpy(promoter_codes))
    if spec.reads("signals"):
        signals, distance = random_signals(hparams, batch, seed)
        inputs.update(signals=torch.from_numpy(signals), distance=torch.from_numpy(distance))
    model.train()
    logits = forward(model, spec, inputs, encode)
    assert tuple(logits.shape) == (batch,), f"{spec.name}: logits shape {tuple(logits.shape)}, expected ({batch},)"
    assert torch.isfinite(logits).all(), f"{spec.name}: non-finite logits"
    labels = torch.tensor([index % 2 for index in range(batch)], dtype=logits.dtype)
    if hasattr(model, "training_loss"):
        model_loss(model, spec, {**inputs, "label": labels, "cell_line": torch.zeros(batch, dtype=torch.long)}, encode).backward()
    else:
        torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads, f"{spec.name}: no parameter received a gradient"
    assert all(torch.isfinite(g).all() for g in grads), f"{spec.name}: non-finite gradients"
    return logits.detach()


def smoke_sklearn(spec: ModelSpec, batch: int = 16, seed: int = 0, store: Any = None, **overrides: Any):
    """Fit and predict a scikit-learn model on random (or stored) pairs; returns the probabilities."""
    import numpy as np

    from epizoo.coords import TRANS_DISTANCE
    from epizoo.model_inputs import sklearn_features, sklearn_probabilities

    assert spec.features is not None, f"{spec.name}: a scikit-learn model needs a features function"
    hparams = spec.hparams(tiny=True, **overrides)
    if spec.reads("signals"):
        signals, distance = random_signals(hparams, batch, seed)
        distance[::4] = TRANS_DISTANCE
        features = sklearn_features(spec, {"signals": signals, "distance": distance})
    else:
        enhancer, promoter = pair_codes(hparams, batch, seed, store)
        batch = len(enhancer)
        distance = np.random.default_rng(seed).integers(1_000, 1_000_000, size=batch)
        distance[::4] = TRANS_DISTANCE  # pairs across contigs have no distance: features must handle them
        features = sklearn_features(spec, {"enhancer": enhancer, "promoter": promoter, "distance": distance})
    labels = np.arange(batch) % 2
    assert len(features) == batch, f"{spec.name}: features gave {len(features)} rows for {batch} pairs"
    model = spec.factory(**hparams)
    model.fit(features, labels)
    positive = sklearn_probabilities(model, features)  # as the bench and predict read the estimator
    assert positive.shape == (batch,), f"{spec.name}: predict_proba gave {positive.shape} positive-class probabilities"
    assert np.isfinite(positive).all(), f"{spec.name}: non-finite probabilities"
    return np.stack([1 - positive, positive], axis=1)  # predict_proba's two columns


def contact_map_inputs(spec: ModelSpec, hparams: dict[str, Any], batch: int, seed: int = 0):
    """Seeded input of a contact-map model, (batch, 5 + tracks, window_length) float32: the one-hot of
    random codes, then each track as random exponential values through ``transform_track``."""
    import numpy as np

    from epizoo.contact.windows import one_hot, transform_track

    length = int(hparams["window_length"])
    rng = np.random.default_rng(seed)
    codes = random_codes(batch, length, seed)
    tracks = transform_track(rng.exponential(1.0, size=(batch, len(spec.tracks), length)))
    return np.stack([np.concatenate([one_hot(row), track]) for row, track in zip(codes, tracks)]).astype(np.float32)


def smoke_contact_map(spec: ModelSpec, batch: int = 2, seed: int = 0, store: Any = None, **overrides: Any):
    """One forward and backward pass of a contact-map model at its tiny settings; returns the maps.

    ``store`` is accepted for symmetry with the pair smoke check and not read (the input is random)."""
    from epizoo.model_inputs import contact_maps

    import torch

    hparams = spec.hparams(tiny=True, **overrides)
    torch.manual_seed(seed)
    model = spec.factory(**hparams)
    model.train()
    maps, logits = contact_maps(model, torch.from_numpy(contact_map_inputs(spec, hparams, batch, seed)))
    n = maps.shape[-1]
    assert tuple(maps.shape) == (batch, n, n), f"{spec.name}: map shape {tuple(maps.shape)}, expected ({batch}, N, N)"
    assert logits is None or (logits.ndim == 2 and logits.shape[0] == batch), f"{spec.name}: aux logits shape {tuple(logits.shape)}"
    assert torch.isfinite(maps).all(), f"{spec.name}: non-finite maps"
    loss = maps.square().mean() + (logits.logsumexp(1).mean() if logits is not None else 0)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads), f"{spec.name}: missing or non-finite gradients"
    return maps.detach()


def model_smoke(spec: ModelSpec, **options: Any):
    """Run the smoke check that fits the kind (and task) of ``spec``."""
    if spec.is_contact_map:
        return smoke_contact_map(spec, **options)
    if spec.kind == "sklearn":
        return smoke_sklearn(spec, **options)
    return smoke_torch(spec, **options)


@pytest.fixture
def epizoo_model_smoke() -> Callable[..., Any]:
    """``smoke(spec, batch=4, seed=0, store=None, **hparams)``: a tiny forward/backward check.

    Inputs are random codes, or the first pairs of ``store`` (e.g. ``epizoo_tiny_store``)."""
    return model_smoke


# ---------------------------------------------------------------- expected outputs (kipoi-style)
#
# A model's math pinned by a small JSON fixture: the seed its weights come from, its
# hyperparameters, a fixed input and the output it gave. A refactor that changes the math
# changes the output and fails the check. Plugin authors keep such fixtures for their own models:
# ``write_expected_output(path, expected_output_case(spec))`` once, then
# ``assert_expected_output(spec, read_expected_output(path))`` in a test.

EXPECTED_OUTPUT_FORMAT = 1
EXPECTED_RTOL = 1e-4  # float32 through a few dozen layers, on another CPU or BLAS build
EXPECTED_ATOL = 1e-5
EXPECTED_TORCH_BATCH = 3
EXPECTED_CONTACT_BATCH = 2  # contact-map models: the input is regenerated from the seed, pinned by its sha256
EXPECTED_SKLEARN_PAIRS = 64  # enough for a gradient-boosting tree to split (min_samples_leaf 20)
EXPECTED_SKLEARN_LENGTHS = {"enhancer_length": 120, "promoter_length": 80}  # the features take any length


def _versions() -> dict[str, str]:
    import numpy as np

    versions = {"numpy": np.__version__}
    try:
        from importlib.metadata import version

        versions["epizoo"] = version("epizoo")
    except Exception:  # pragma: no cover - an uninstalled checkout
        pass
    return versions


def _sklearn_inputs(hparams: dict[str, Any], pairs: int, seed: int):
    """Seeded synthetic pairs with a signal both baselines can learn: positives (odd rows) have
    GC-rich enhancers and shorter distances; every fourth pair is trans."""
    import numpy as np

    from epizoo.coords import TRANS_DISTANCE

    rng = np.random.default_rng(seed)
    labels = np.arange(pairs) % 2
    gc_rich, plain = [0.2, 0.3, 0.3, 0.2], [0.3, 0.2, 0.2, 0.3]
    enhancer = np.stack([rng.choice(4, size=hparams["enhancer_length"], p=gc_rich if y else plain) for y in labels]).astype(np.int8)
    promoter = rng.integers(0, 4, size=(pairs, hparams["promoter_length"]), dtype=np.int8)
    enhancer[rng.random(enhancer.shape) < 0.01] = 4
    distance = np.where(labels == 1, rng.integers(1_000, 200_000, size=pairs), rng.integers(50_000, 1_000_000, size=pairs))
    distance[::4] = TRANS_DISTANCE
    return enhancer, promoter, distance.astype(np.int64), labels.astype(np.int64)


def expected_output_case(spec: ModelSpec, seed: int = 0, kmer_conv_path: str = "plain") -> dict[str, Any]:
    """A fixture dict pinning ``spec``'s math: seed, tiny hparams, a fixed input, the output.

    torch: weights from ``torch.manual_seed(seed)`` before the build, eval mode, a batch of
    ``EXPECTED_TORCH_BATCH`` seeded random pairs; the output is the logits, computed with k-mer
    convolutions on ``kmer_conv_path`` ('plain': embedding + Conv1d, the reference).
    scikit-learn: ``EXPECTED_SKLEARN_PAIRS`` seeded synthetic pairs (short windows), fitted with
    labels that follow a planted signal; the output is ``predict_proba`` on the same pairs.
    """
    from epizoo.sequence import decode

    case: dict[str, Any] = {"format": EXPECTED_OUTPUT_FORMAT, "model": spec.name, "kind": spec.kind, "seed": seed}
    if spec.is_contact_map:
        import hashlib

        import torch

        hparams = spec.hparams(tiny=True)
        inputs = contact_map_inputs(spec, hparams, EXPECTED_CONTACT_BATCH, seed)
        case.update(task=spec.task, hparams=hparams, versions={**_versions(), "torch": torch.__version__})
        case["input"] = {"batch": EXPECTED_CONTACT_BATCH, "sha256": hashlib.sha256(inputs.tobytes()).hexdigest()}
    elif spec.kind == "sklearn":
        import sklearn

        hparams = spec.hparams(tiny=True, **EXPECTED_SKLEARN_LENGTHS)
        enhancer, promoter, distance, labels = _sklearn_inputs(hparams, EXPECTED_SKLEARN_PAIRS, seed)
        case.update(hparams=hparams, versions={**_versions(), "scikit-learn": sklearn.__version__})
        case["input"] = {"enhancer": decode(enhancer), "promoter": decode(promoter), "distance": distance.tolist(), "labels": labels.tolist()}
    else:
        import torch

        hparams = spec.hparams(tiny=True)
        enhancer, promoter = pair_codes(hparams, EXPECTED_TORCH_BATCH, seed)
        case.update(hparams=hparams, input_encoding=spec.input_encoding, versions={**_versions(), "torch": torch.__version__})
        case["input"] = {"enhancer": decode(enhancer), "promoter": decode(promoter)}
    case.update(rtol=EXPECTED_RTOL, atol=EXPECTED_ATOL)
    case["expected"] = compute_expected_output(spec, case, kmer_conv_path=kmer_conv_path).tolist()
    return case


def compute_expected_output(spec: ModelSpec, case: dict[str, Any], kmer_conv_path: str | None = None):
    """Rerun ``case`` (from :func:`expected_output_case`) on ``spec`` as it is now: a numpy array.

    ``kmer_conv_path`` ('plain', 'lookup', 'auto'; None: the model's own) is set on every k-mer
    convolution of a torch model (``epizoo.nn.set_kmer_conv_path``)."""
    from epizoo.model_inputs import forward, sklearn_features, sklearn_probabilities

    import numpy as np

    from epizoo.sequence import encode

    if case.get("task") == "contact-map":
        return _contact_map_output(spec, case)
    data = case["input"]
    enhancer = np.stack([encode(row) for row in data["enhancer"]])
    promoter = np.stack([encode(row) for row in data["promoter"]])
    if case["kind"] == "sklearn":
        distance = np.asarray(data["distance"], dtype=np.int64)
        features = sklearn_features(spec, {"enhancer": enhancer, "promoter": promoter, "distance": distance})
        model = spec.factory(**case["hparams"])
        model.fit(features, np.asarray(data["labels"]))
        positive = sklearn_probabilities(model, features).astype(np.float64)
        return np.stack([1 - positive, positive], axis=1)  # predict_proba's two columns, as the fixtures hold them
    import torch

    from epizoo.nn import set_kmer_conv_path
    from epizoo.plugins import get_encoder

    encode_input = get_encoder(case.get("input_encoding") or spec.input_encoding).function
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(case["seed"])
        model = spec.factory(**case["hparams"])
    if kmer_conv_path is not None:
        set_kmer_conv_path(model, kmer_conv_path)
    model.eval()
    with torch.no_grad():
        logits = forward(model, spec, {"enhancer": torch.from_numpy(enhancer), "promoter": torch.from_numpy(promoter)}, encode_input)
    return logits.detach().double().cpu().numpy()


def _contact_map_output(spec: ModelSpec, case: dict[str, Any]):
    """A contact-map model's eval-mode maps and aux logits on the case's seeded input, concatenated per window."""
    from epizoo.model_inputs import contact_maps

    import hashlib

    import numpy as np
    import torch

    inputs = contact_map_inputs(spec, case["hparams"], case["input"]["batch"], case["seed"])
    assert hashlib.sha256(inputs.tobytes()).hexdigest() == case["input"]["sha256"], (
        f"{spec.name}: the seeded input differs from the fixture's (numpy's random streams changed?)"
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(case["seed"])
        model = spec.factory(**case["hparams"])
    model.eval()
    with torch.no_grad():
        maps, logits = contact_maps(model, torch.from_numpy(inputs))
    parts = [maps.flatten(1)] + ([logits] if logits is not None else [])
    return torch.cat(parts, dim=1).double().numpy().astype(np.float64)


def kmer_conv_paths(spec: ModelSpec, case: dict[str, Any]) -> list[str | None]:
    """The k-mer convolution paths a torch model has: ['plain', 'lookup'] when it has an
    ``EmbeddedConv1d``, else [None] (the model as it is)."""
    if spec.kind != "torch":
        return [None]
    import torch

    from epizoo.nn import EmbeddedConv1d

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(case["seed"])
        model = spec.factory(**case["hparams"])
    return ["plain", "lookup"] if any(isinstance(m, EmbeddedConv1d) for m in model.modules()) else [None]


def assert_expected_output(spec: ModelSpec, case: dict[str, Any], kmer_conv_path: str | None = None) -> None:
    """AssertionError, naming the model, the worst difference and the versions, when ``spec``'s
    output on ``case``'s input no longer matches ``case['expected']``."""
    import numpy as np

    assert case.get("format") == EXPECTED_OUTPUT_FORMAT, f"{spec.name}: expected-output format {case.get('format')!r}, not {EXPECTED_OUTPUT_FORMAT}"
    expected = np.asarray(case["expected"], dtype=np.float64)
    actual = compute_expected_output(spec, case, kmer_conv_path=kmer_conv_path)
    where = f"{spec.name}" + (f" (k-mer conv path {kmer_conv_path})" if kmer_conv_path else "")
    assert actual.shape == expected.shape, f"{where}: output shape {actual.shape}, expected {expected.shape}"
    rtol, atol = case.get("rtol", EXPECTED_RTOL), case.get("atol", EXPECTED_ATOL)
    if not np.allclose(actual, expected, rtol=rtol, atol=atol):
        import importlib

        worst = int(np.argmax(np.abs(actual - expected) - rtol * np.abs(expected)))
        now = {name: getattr(importlib.import_module(name.replace("scikit-learn", "sklearn")), "__version__", "?")
               for name in case.get("versions", {}) if name in ("torch", "numpy", "scikit-learn")}
        raise AssertionError(
            f"{where}: output changed: {float(actual.flat[worst])!r} at output {tuple(int(i) for i in np.unravel_index(worst, expected.shape))} "
            f"where the fixture expects {float(expected.flat[worst])!r} "
            f"(rtol {rtol}, atol {atol}); fixture made with {case.get('versions')}, now {now}. If the change "
            "is intended, regenerate the fixture and say why in the commit."
        )


def write_expected_output(path: Any, case: dict[str, Any]) -> None:
    """Write ``case`` as JSON (one sequence per line, so diffs stay readable)."""
    import json
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(case, indent=1) + "\n")


def read_expected_output(path: Any) -> dict[str, Any]:
    import json
    from pathlib import Path

    return json.loads(Path(path).read_text())
