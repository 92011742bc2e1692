"""How well predicted contact maps match observed ones, and the distance-decay baseline.

Maps are square windows, ``(N, N)`` or a stack ``(W, N, N)``, in the model's space (ChromNet's is
log(1 + contact)). Every correlation is Pearson's; one that is undefined (a constant vector, fewer
than 3 values) is NaN, and means over windows skip NaNs.

* :func:`map_pearson`: per window, over all N x N entries.
* :func:`diagonal_pearson`: per diagonal distance d, the mean over windows of the correlation along
  diagonal d (the N - d contacts at that distance). It asks whether a model places contacts at a
  given distance, with the distance decay itself taken out.
* :func:`insulation` / :func:`insulation_pearson`: the insulation score of Crane et al. (2015): at
  each bin i, the mean contact in the ``w x w`` square just off the diagonal (rows i-w+1..i, columns
  i+1..i+w), as log2 of its ratio to the window's mean; bins closer than ``w`` to an edge have none.
  Computed on contacts (``expm1`` of a log map, negatives clipped to 0). ``w`` defaults to
  :func:`insulation_window`: 10 bins at 256 bins per 2 Mb (80 kb), scaled with the bins, at least 2.
* :class:`DistanceDecay`: the mean training contact at each diagonal distance, predicted for every
  window. It scores well on :func:`map_pearson` (the decay dominates a map) and has nothing to say
  per diagonal or on insulation (its scores there are NaN: a constant has no correlation).
"""

from __future__ import annotations

import math

import numpy as np

INSULATION_BINS_AT_256 = 10
MIN_VALUES = 3  # fewer values make a correlation meaningless


def pearson(a, b) -> float:
    """Pearson's r of two equal-length vectors, NaN entries dropped; NaN when undefined."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size < MIN_VALUES or _constant(a) or _constant(b):
        return math.nan
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else math.nan


def _constant(values: np.ndarray) -> bool:
    """Constant up to float rounding (a mean over windows is not bit-identical along a diagonal)."""
    return float(np.ptp(values)) <= 1e-9 * max(1.0, float(np.abs(values).max()))


def _stack(maps) -> np.ndarray:
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2]:
        raise ValueError(f"contact maps must be (N, N) or (windows, N, N), not {maps.shape}")
    return maps


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan


def map_pearson(predicted, observed) -> np.ndarray:
    """Per window, the correlation over all N x N entries: shape (windows,)."""
    predicted, observed = _stack(predicted), _stack(observed)
    return np.array([pearson(p, o) for p, o in zip(predicted, observed)])


def diagonal_pearson(predicted, observed) -> np.ndarray:
    """Per diagonal distance d = 0..N-1, the mean over windows of the correlation along diagonal d."""
    predicted, observed = _stack(predicted), _stack(observed)
    n = predicted.shape[1]
    curve = np.full(n, math.nan)
    for d in range(n):
        curve[d] = _nanmean([pearson(np.diagonal(p, d), np.diagonal(o, d)) for p, o in zip(predicted, observed)])
    return curve


def insulation_window(n_bins: int) -> int:
    return max(2, round(INSULATION_BINS_AT_256 * n_bins / 256))


def insulation(contact_map, window: int | None = None, log_space: bool = True) -> np.ndarray:
    """Insulation score per bin (NaN within ``window`` of an edge); see the module text."""
    contacts = _stack(contact_map)[0]
    if log_space:
        contacts = np.expm1(contacts)
    contacts = np.clip(np.nan_to_num(contacts), 0, None)
    n = contacts.shape[0]
    w = window or insulation_window(n)
    scores = np.full(n, math.nan)
    for i in range(w - 1, n - w):
        scores[i] = contacts[i - w + 1 : i + 1, i + 1 : i + 1 + w].mean()
    mean = np.nanmean(scores) if np.isfinite(scores).any() else math.nan
    if not mean > 0:
        return np.full(n, math.nan)
    tiny = mean * 1e-6  # an empty square is very insulating, not minus infinity
    return np.log2((scores + tiny) / mean)


def insulation_pearson(predicted, observed, window: int | None = None, log_space: bool = True) -> np.ndarray:
    """Per window, the correlation of predicted and observed insulation scores: shape (windows,)."""
    predicted, observed = _stack(predicted), _stack(observed)
    return np.array(
        [pearson(insulation(p, window, log_space), insulation(o, window, log_space)) for p, o in zip(predicted, observed)]
    )


def score_maps(predicted, observed, window: int | None = None) -> dict[str, float]:
    """The summary a run reports: mean map, per-diagonal (d >= 1) and insulation correlations, and MSE."""
    predicted, observed = _stack(predicted), _stack(observed)
    curve = diagonal_pearson(predicted, observed)
    return {
        "map_pearson": _nanmean(map_pearson(predicted, observed)),
        "diagonal_pearson": _nanmean(curve[1:]),
        "insulation_pearson": _nanmean(insulation_pearson(predicted, observed, window)),
        "mse": float(np.mean((predicted - observed) ** 2)),
        "n_windows": int(len(predicted)),
    }


class DistanceDecay:
    """The distance-decay-only baseline: the mean observed contact at each diagonal distance."""

    def __init__(self) -> None:
        self.profile: np.ndarray | None = None

    def fit(self, maps) -> "DistanceDecay":
        maps = _stack(maps)
        n = maps.shape[1]
        distance = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
        sums = np.bincount(distance.ravel(), weights=np.nan_to_num(maps).sum(axis=0).ravel(), minlength=n)
        counts = np.bincount(distance.ravel(), minlength=n) * len(maps)
        self.profile = sums / counts
        return self

    def predict(self, n_windows: int = 1) -> np.ndarray:
        if self.profile is None:
            raise ValueError("fit the distance-decay baseline on training maps first")
        n = len(self.profile)
        one = self.profile[np.abs(np.subtract.outer(np.arange(n), np.arange(n)))]
        return np.repeat(one[None], n_windows, axis=0)
