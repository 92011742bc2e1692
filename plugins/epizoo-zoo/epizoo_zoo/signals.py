"""What the signal models of the zoo share: the store's signal layout, input checks, and the
scaling of signals and distances (numpy for the scikit-learn models, torch for the networks).

A store's ``pair_signal`` is float32 ``(pairs, marks, regions)``: the mean signal per bp of each
mark over the enhancer, the promoter and the window between them, raw (not log-scaled, >= 0).
Models receive it as ``signals`` in the store's mark and region order, with ``distance`` in bp
(or :data:`epizoo.coords.TRANS_DISTANCE` for a pair across contigs). The defaults below are the
marks of the TransEPI feature tables, so that a model builds without a store; the trainer fills
``signal_marks``, ``signal_regions`` and ``n_cell_lines`` from the store it trains on.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from epizoo.coords import TRANS_DISTANCE
from epizoo.errors import EpizooError
from epizoo_zoo.baselines import TRANS_LOG_DISTANCE, distance_features

DEFAULT_SIGNAL_MARKS = ("CTCF", "DNase", "H3K27ac", "H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3")
SIGNAL_REGIONS = ("enhancer", "promoter", "window")
DEFAULT_N_CELL_LINES = 2
# Standardised log signals are clipped to this many standard deviations: a mark that never varied
# in training has a running variance near 0, and a value of it at test must not swamp the rest.
STANDARD_CLIP = 8.0
UNIT_FLOOR = 1e-12  # a column that was 0 in every training pair keeps a finite unit


def signal_feature_names(marks=DEFAULT_SIGNAL_MARKS, regions=SIGNAL_REGIONS) -> list[str]:
    """Column names of the flattened signals, mark-major as in the TransEPI tables: 'CTCF (enhancer)'."""
    return [f"{mark} ({region})" for mark in marks for region in regions]


def check_signal_hparams(signal_marks, signal_regions) -> tuple[tuple[str, ...], tuple[str, ...]]:
    marks, regions = tuple(signal_marks), tuple(signal_regions)
    if not marks or not regions:
        raise EpizooError("a signal model needs at least one mark and one region; build the store with signal tracks")
    return marks, regions


def check_signals(signals, distance) -> tuple[np.ndarray, np.ndarray]:
    """``signals`` as float64 ``(B, M, R)`` and ``distance`` as float64 ``(B,)``, or one clear error."""
    signals = np.asarray(signals, dtype=np.float64)
    distance = np.asarray(distance, dtype=np.float64).reshape(-1)
    if signals.ndim != 3:
        raise EpizooError(f"signals must be (pairs, marks, regions); got shape {signals.shape}")
    if len(signals) != len(distance):
        raise EpizooError(f"got signals of {len(signals)} pairs and {len(distance)} distances; pass one of each per pair")
    if not np.isfinite(signals).all():
        raise EpizooError("signals have missing or infinite values; signal models take only pairs with signals")
    if (signals < 0).any():
        raise EpizooError("signals have negative values; give the raw mean signal per bp (>= 0), not log-scaled values")
    return signals, distance


def log_distance(distance) -> np.ndarray:
    """log10(distance + 1), with the distance baseline's rule for a trans pair (9: farther than
    any pair on one contig). The baseline's own function checks the distances."""
    distance = np.asarray(distance, dtype=np.float64).reshape(-1)
    no_sequence = np.zeros((len(distance), 0), dtype=np.int8)  # the baseline's check wants code arrays
    return distance_features(no_sequence, no_sequence, distance)[:, 0]


def distance_tensor(distance: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Torch form of the distance baseline's two columns: log10(distance + 1) (trans: 9), is_trans."""
    trans = distance == TRANS_DISTANCE
    safe = torch.where(trans, torch.zeros_like(distance), distance).to(dtype)
    log = torch.where(trans, torch.full_like(safe, TRANS_LOG_DISTANCE), torch.log10(safe + 1.0))
    return torch.stack([log, trans.to(dtype)], dim=1)


class SignalScaler(nn.Module):
    """Raw signals ``(B, M, R)`` -> standardised log signals ``(B, M * R)``, mark-major.

    Each (mark, region) column is first put in units of its mean over the training pairs, then
    log1p-scaled, then standardised; both statistics are cumulative averages over the training
    batches (kept as buffers, so they travel with the checkpoint), used as they are in eval mode:
    a pair's score never depends on the other pairs of its batch.

    Why the unit: raw signals differ by orders of magnitude between sources (peak signal per bp
    ~1e-3, bigWig fold change ~1-50) and regions (a window's mean is far below an element's), and
    log1p only compresses a heavy tail when 1 is a typical value. ChromNet's log(x + 1) is on fold
    change, whose background is 1; the column mean plays that part here. Why standardise: the
    network then sees every column on one scale, and noise of sigma 0.1 means the same for each.
    """

    def __init__(self, n_marks: int, n_regions: int):
        super().__init__()
        self.n_marks, self.n_regions = n_marks, n_regions
        self.register_buffer("unit", torch.ones(n_marks * n_regions))
        self.register_buffer("unit_batches", torch.zeros((), dtype=torch.long))
        # momentum=None: a cumulative average of the batch statistics, not one biased to its init.
        self.norm = nn.BatchNorm1d(n_marks * n_regions, affine=False, momentum=None)

    def forward(self, signals: torch.Tensor) -> torch.Tensor:
        if signals.dim() != 3 or tuple(signals.shape[1:]) != (self.n_marks, self.n_regions):
            raise EpizooError(
                f"signals of shape {tuple(signals.shape)} do not fit a model built for {self.n_marks} marks x "
                f"{self.n_regions} regions; build it with the store's signal_marks and signal_regions"
            )
        flat = signals.float().flatten(1)
        if not torch.isfinite(flat).all():
            raise EpizooError("signals have missing or infinite values; signal models take only pairs with every signal measured")
        flat = flat.clamp(min=0.0)
        if self.training and len(flat):
            with torch.no_grad():
                self.unit_batches += 1
                self.unit += (flat.mean(0) - self.unit) / self.unit_batches.to(flat.dtype)
        logged = torch.log1p(flat / self.unit.clamp(min=UNIT_FLOOR))
        return self.norm(logged).clamp(-STANDARD_CLIP, STANDARD_CLIP)
