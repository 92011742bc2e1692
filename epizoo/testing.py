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
from typing import Any, Callable, Iterator

import pytest

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


def smoke_torch(spec: Any, batch: int = 4, seed: int = 0, store: Any = None, **overrides: Any):
    """One forward and backward pass of a torch model at its tiny settings; returns the logits."""
    import torch

    from epizoo.plugins import get_encoder

    hparams = spec.hparams(tiny=True, **overrides)
    torch.manual_seed(seed)
    model = spec.factory(**hparams)
    encode = get_encoder(spec.input_encoding).function
    enhancer_codes, promoter_codes = pair_codes(hparams, batch, seed, store)
    batch = len(enhancer_codes)
    enhancer = encode(torch.from_numpy(enhancer_codes))
    promoter = encode(torch.from_numpy(promoter_codes))
    model.train()
    logits = model(enhancer, promoter)
    assert tuple(logits.shape) == (batch,), f"{spec.name}: logits shape {tuple(logits.shape)}, expected ({batch},)"
    assert torch.isfinite(logits).all(), f"{spec.name}: non-finite logits"
    labels = torch.tensor([index % 2 for index in range(batch)], dtype=logits.dtype)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads, f"{spec.name}: no parameter received a gradient"
    assert all(torch.isfinite(g).all() for g in grads), f"{spec.name}: non-finite gradients"
    return logits.detach()


def smoke_sklearn(spec: Any, batch: int = 16, seed: int = 0, store: Any = None, **overrides: Any):
    """Fit and predict a scikit-learn model on random (or stored) pairs; returns the probabilities."""
    import numpy as np

    from epizoo.coords import TRANS_DISTANCE

    assert spec.features is not None, f"{spec.name}: a scikit-learn model needs a features function"
    hparams = spec.hparams(tiny=True, **overrides)
    enhancer, promoter = pair_codes(hparams, batch, seed, store)
    batch = len(enhancer)
    distance = np.random.default_rng(seed).integers(1_000, 1_000_000, size=batch)
    distance[::4] = TRANS_DISTANCE  # pairs across contigs have no distance: features must handle them
    labels = np.arange(batch) % 2
    features = spec.features(enhancer, promoter, distance)
    assert len(features) == batch, f"{spec.name}: features gave {len(features)} rows for {batch} pairs"
    model = spec.factory(**hparams)
    model.fit(features, labels)
    probabilities = model.predict_proba(features)
    assert probabilities.shape == (batch, 2), f"{spec.name}: predict_proba shape {probabilities.shape}"
    assert np.isfinite(probabilities).all(), f"{spec.name}: non-finite probabilities"
    return probabilities


def model_smoke(spec: Any, **options: Any):
    """Run the smoke check that fits the kind of ``spec``."""
    if spec.kind == "sklearn":
        return smoke_sklearn(spec, **options)
    return smoke_torch(spec, **options)


@pytest.fixture
def epizoo_model_smoke() -> Callable[..., Any]:
    """``smoke(spec, batch=4, seed=0, store=None, **hparams)``: a tiny forward/backward check.

    Inputs are random codes, or the first pairs of ``store`` (e.g. ``epizoo_tiny_store``)."""
    return model_smoke
