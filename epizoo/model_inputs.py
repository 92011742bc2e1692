"""How a batch of pairs becomes a model's input, and the one place that calls a model: the trainer,
``predict``, ``scan``, ``explain``, contact maps and the plugin test helpers all go through
:func:`forward`, :func:`torch_logits`, :func:`sequence_logits`, :func:`contact_maps`,
:func:`sklearn_features` and :func:`sklearn_probabilities`.

A model's ``spec.inputs`` names what it reads (see :mod:`epizoo.zoo`):

* ``("sequence",)``: torch ``model(enhancer, promoter)`` on encoded windows; scikit-learn
  ``features(enhancer_codes, promoter_codes, distance)``;
* ``("signals",)``: torch ``model(signals=..., distance=...)``; scikit-learn
  ``features(signals, distance)``, signals ``(B, marks, regions)`` float32; a ``features`` that
  names a ``cell_line`` parameter also gets each pair's cell-line id (int64, the store's order);
* ``("sequence", "signals")``: torch ``model(enhancer, promoter, signals=..., distance=...)``;
* ``()``: the pair fields only (the distance baseline); scikit-learn ``features`` gets zero-width
  code arrays.

Store-derived hyperparameters (``signal_marks``, ``signal_regions``, ``n_cell_lines``) are filled
from the store when the model's hyperparameters name them, so a checkpoint records them.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from epizoo.errors import EpizooError
from epizoo.zoo import ModelSpec

SEQUENCE, SIGNALS = "sequence", "signals"


def torch_arguments(spec: ModelSpec, batch: dict, encode) -> tuple[list, dict]:
    """(positional, keyword) arguments of a torch model's forward for one batch."""
    args = [encode(batch["enhancer"]), encode(batch["promoter"])] if spec.reads(SEQUENCE) else []
    kwargs = {"signals": batch["signals"], "distance": batch["distance"]} if spec.reads(SIGNALS) else {}
    return args, kwargs


def forward(model: Any, spec: ModelSpec, batch: dict, encode) -> Any:
    """A torch pair model's raw output on one batch (the one call of its ``forward``): its logits,
    shaped as the model gives them (:func:`torch_logits` flattens them)."""
    args, kwargs = torch_arguments(spec, batch, encode)
    return model(*args, **kwargs)


def torch_logits(model: Any, spec: ModelSpec, batch: dict, encode) -> Any:
    """One float32 logit per pair of the batch."""
    return forward(model, spec, batch, encode).float().reshape(-1)


def model_loss(model: Any, spec: ModelSpec, batch: dict, encode) -> Any:
    """A model's own ``training_loss`` on one batch (multi-task losses, noise copies): it gets the
    forward's inputs by name, the labels and each pair's cell-line id."""
    args, kwargs = torch_arguments(spec, batch, encode)
    named = {**dict(zip(("enhancer", "promoter"), args)), **kwargs}
    return model.training_loss(named, batch["label"], batch["cell_line"])


def sequence_logits(model: Any, enhancer: Any, promoter: Any) -> Any:
    """One float32 logit per pair of a sequence model, on windows already encoded as it reads them
    (interpretation perturbs the encoded inputs, so it has no batch of codes to give)."""
    return model(enhancer, promoter).float().reshape(-1)


def contact_maps(model: Any, windows: Any) -> tuple[Any, Any]:
    """A contact-map model's predicted maps and its auxiliary logits (or None) for a batch of windows."""
    return model(windows)


def sklearn_probabilities(estimator: Any, features: np.ndarray) -> np.ndarray:
    """The positive-class probability of a fitted scikit-learn estimator for each row of ``features``."""
    return np.asarray(estimator.predict_proba(features)[:, 1])


def wants_cell_line(spec: ModelSpec) -> bool:
    """Whether a scikit-learn signals model's ``features`` takes each pair's ``cell_line`` (models that
    normalise within each cell line group by it; it is never meant as a feature)."""
    try:
        return "cell_line" in inspect.signature(spec.features).parameters
    except (TypeError, ValueError):  # a callable without a signature takes none
        return False


def sklearn_features(spec: ModelSpec, batch: dict) -> np.ndarray:
    """The feature matrix of a scikit-learn model for one batch of numpy arrays."""
    if spec.reads(SIGNALS):
        if wants_cell_line(spec) and "cell_line" in batch:
            return np.asarray(spec.features(batch["signals"], batch["distance"], cell_line=batch["cell_line"]))
        return np.asarray(spec.features(batch["signals"], batch["distance"]))
    if not spec.reads(SEQUENCE):  # pair fields only: zero-width windows keep one signature
        none = np.zeros((len(batch["distance"]), 0), dtype=np.int8)
        return np.asarray(spec.features(none, none, batch["distance"]))
    return np.asarray(spec.features(batch["enhancer"], batch["promoter"], batch["distance"]))


def fill_store_hparams(hparams: dict, group: Any) -> dict:
    """Set the store-derived hyperparameters the model names (``group``: the store's Zarr group)."""
    hparams = dict(hparams)
    if "signal_marks" in hparams and "signal_mark_id" in group:
        hparams["signal_marks"] = tuple(str(m) for m in group["signal_mark_id"][:])
    if "signal_regions" in hparams and "signal_region_id" in group:
        hparams["signal_regions"] = tuple(str(r) for r in group["signal_region_id"][:])
    if "n_cell_lines" in hparams:
        hparams["n_cell_lines"] = max(int(group["cell_line_id"].shape[0]), 1)
    return hparams


def measured_pairs(group: Any, pairs: np.ndarray) -> np.ndarray:
    """The pairs among ``pairs`` with every signal value (a signals model cannot score the others:
    pairs without signals, and pairs across contigs, which have no window between their elements)."""
    pairs = np.asarray(pairs, dtype=np.int64)
    if pairs.size == 0:
        return pairs
    values = np.asarray(group["pair_signal"].get_orthogonal_selection((pairs, slice(None), slice(None))))
    return pairs[np.isfinite(values).all(axis=(1, 2))]


def require_layers(spec: ModelSpec, ds_or_attrs: Any, store: Any) -> None:
    """Refuse, in one line, a store that lacks a layer the model reads (before anything runs)."""
    from epizoo.schema import store_layers  # lazy: imports xarray

    layers = set(store_layers(ds_or_attrs))
    for needed, how in ((SEQUENCE, "--genome or --regions"), (SIGNALS, "--signals")):
        if spec.reads(needed) and needed not in layers:
            raise EpizooError(f"{spec.name} reads {needed}, which store {store} does not hold "
                              f"(it holds {', '.join(sorted(layers))}); rebuild it with {how} or choose another model")
