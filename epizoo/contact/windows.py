"""Contact-map windows: what a contact-map model (``task="contact-map"``, e.g. ChromNet) reads and
is trained to predict, from a store's genome layer.

A *window* is ``window_length`` bp of one contig for one cell type, every ``step`` bp. Its input is
``(5 + tracks, L)``: the one-hot sequence (A,C,G,T,N) and each of the model's tracks through
:func:`transform_track`; its target is the window's contact map resized to ``n_bins`` square
(:func:`map_target`). The genome comes from ``ds.epizoo`` of a store with a genome layer (or any
object with the same methods: ``sequence``, ``track``, ``contacts``, ``genome_contigs``,
``track_names``, ``contact_cell_lines``, ``contact_bin_size``).

Splits are by chromosome: upstream's chr1-16 / chr17-19 / chr20-22 on a human-like genome; on a
small genome (:func:`chromosome_split`) the last contig in natural order is the test side, the one
before it validation, the rest training. A *noise copy* ``<cell>_noise`` re-uses ``<cell>``'s
windows at a random shift (:func:`noisy_copy`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from epizoo.contact.metrics import pearson
from epizoo.errors import EmptyResultError, EpizooError, LeakageError, UnknownNameError
from epizoo.options import comma_list
from epizoo.store.io import open_store

UPSTREAM_WINDOW = 2_097_152
UPSTREAM_STEP = 500_000  # 50 bins of 10 kb
UPSTREAM_SPLIT = {
    "train": [f"chr{i}" for i in range(1, 17)],
    "valid": [f"chr{i}" for i in range(17, 20)],
    "test": [f"chr{i}" for i in range(20, 23)],
}
NOISE_SUFFIX = "_noise"
NOISE_SIGMA = 0.1
SIDES = ("train", "valid", "test")


# ---- inputs and targets -------------------------------------------------------------------------
def transform_track(values) -> np.ndarray:
    """A track as ChromNet (and C.Origami) reads it: NaN -> 0, values <= 0 -> 1e-10, then log(x + 1)."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0)
    values[values <= 0] = 1e-10
    return np.log1p(values)


def one_hot(codes) -> np.ndarray:
    """int8 codes A,C,G,T,N = 0..4 as (5, L) float32, N its own channel (any other code counts as N)."""
    codes = np.asarray(codes).astype(np.int64)
    codes = np.where((codes >= 0) & (codes <= 4), codes, 4)
    out = np.zeros((5, codes.size), dtype=np.float32)
    out[codes, np.arange(codes.size)] = 1.0
    return out


def resize_map(matrix, n_bins: int) -> np.ndarray:
    """A square map resized to ``n_bins`` square with antialiased bilinear interpolation (NaN -> 0).

    Upstream uses skimage ``resize(..., anti_aliasing=True, preserve_range=True)``: a Gaussian
    pre-filter then bilinear. torch's antialiased bilinear widens its triangle kernel instead when
    shrinking, and is plain bilinear when enlarging (210 -> 256 bins at the default size), where
    skimage applies no filter either; so the two agree closely, not exactly."""
    tensor = torch.from_numpy(np.nan_to_num(np.asarray(matrix, dtype=np.float32)))[None, None]
    if tensor.shape[-1] == n_bins:
        return tensor[0, 0].numpy().copy()
    resized = F.interpolate(tensor, size=(n_bins, n_bins), mode="bilinear", align_corners=False, antialias=True)
    return resized[0, 0].numpy()


def map_target(contacts, n_bins: int) -> np.ndarray:
    """The training target: the window's contacts resized to ``n_bins`` square, then log(x + 1)."""
    return np.log1p(np.clip(resize_map(contacts, n_bins), 0, None)).astype(np.float32)


def noisy_copy(tracks: np.ndarray, target: np.ndarray, rng: np.random.Generator, sigma: float = NOISE_SIGMA):
    """Gaussian noise on each transformed track; the target scaled by corr(clean, noisy tracks)."""
    noisy = (tracks + rng.standard_normal(tracks.shape) * sigma).astype(np.float32)
    correlation = pearson(tracks, noisy)
    return noisy, (target * (correlation if math.isfinite(correlation) else 0.0)).astype(np.float32)


# ---- windows and splits -------------------------------------------------------------------------
def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def chromosome_split(contigs: Sequence[str], split: dict[str, Sequence[str]] | None = None) -> dict[str, list[str]]:
    """Contigs per side. Given ``split`` (side -> contigs, a list or ``"chr1,chr2"``; the split options
    ``train=``, ``valid=``, ``test=``, train defaulting to every other contig) is checked against the
    genome; else upstream's, when the genome has chr1-chr22; else (a small genome) last contig test,
    the one before validation, the rest train."""
    present = list(contigs)
    if split:
        sides = {side: comma_list(split.get(side)) for side in SIDES}
        if not sides["train"]:  # train= left out: every contig not on another side
            sides["train"] = [c for c in present if c not in sides["valid"] + sides["test"]]
        missing = sorted({c for names in sides.values() for c in names} - set(present))
        if missing:
            raise UnknownNameError(f"split names contigs the genome lacks: {', '.join(missing)} (it has {', '.join(present)})")
    elif all(c in present for names in UPSTREAM_SPLIT.values() for c in names):
        sides = {side: list(names) for side, names in UPSTREAM_SPLIT.items()}
    else:
        ordered = sorted(present, key=_natural_key)
        if len(ordered) < 3:
            raise EmptyResultError(f"a chromosome split needs 3 contigs (train, validation, test); the genome has {len(ordered)}")
        sides = {"train": ordered[:-2], "valid": [ordered[-2]], "test": [ordered[-1]]}
    for side in ("train", "test"):
        if not sides[side]:
            raise EmptyResultError(f"the chromosome split has no {side} contig; name at least one")
    check_disjoint(sides)
    return sides


def check_disjoint(sides: dict[str, list[str]]) -> None:
    """A contig on two sides would score the model on what it trained (or early-stopped) on: refuse it."""
    for i, first in enumerate(SIDES):
        for second in SIDES[i + 1:]:
            shared = sorted(set(sides[first]) & set(sides[second]), key=_natural_key)
            if shared:
                raise LeakageError(
                    f"split leaks: {', '.join(shared)} is on both the {first} and the {second} side; "
                    f"give each contig to one side (--split-option train=, valid=, test=)"
                )


@dataclass(frozen=True)
class Window:
    cell: str  # the cell type: a cell line, or '<cell line>_noise' for its noise copy
    contig: str
    start: int

    @property
    def source(self) -> str:
        """The cell line whose data the window reads."""
        return self.cell[: -len(NOISE_SUFFIX)] if self.is_noise else self.cell

    @property
    def is_noise(self) -> bool:
        return self.cell.endswith(NOISE_SUFFIX)


def window_starts(length: int, window_length: int, step: int) -> range:
    return range(0, max(0, length - window_length) + 1, step) if length >= window_length else range(0)


def make_windows(cells: Sequence[str], contigs: Sequence[str], lengths: dict[str, int], window_length: int, step: int) -> list[Window]:
    return [Window(cell, contig, start) for cell in cells for contig in contigs for start in window_starts(lengths[contig], window_length, step)]


# ---- the genome ---------------------------------------------------------------------------------
def as_genome(store: Any) -> Any:
    """The genome behind ``store``: a path (opened as a store), an opened store (its ``.epizoo``), or
    an object with the genome methods itself."""
    if isinstance(store, (str, Path)):
        store = open_store(store)
    genome = getattr(store, "epizoo", store)
    if not callable(getattr(genome, "contacts", None)) or not callable(getattr(genome, "genome_contigs", None)):
        raise EpizooError("this store has no genome layer (sequence, tracks, contact maps); build one with build-store --genome")
    return genome


def track_marks(genome: Any, tracks: Sequence[str], cells: Sequence[str]) -> dict[str, list[str]]:
    """For each cell line, its stored mark names for the model's ``tracks`` (matched case-insensitively)."""
    stored: dict[str, dict[str, str]] = {}
    for cell, mark in genome.track_names():
        stored.setdefault(str(cell), {})[str(mark).lower()] = str(mark)
    marks = {}
    for cell in cells:
        have = stored.get(cell, {})
        missing = [t for t in tracks if t.lower() not in have]
        if missing:
            raise EpizooError(
                f"cell line {cell} has no {', '.join(missing)} track, which the model reads; "
                f"it has {', '.join(sorted(have.values())) or 'none'}"
            )
        marks[cell] = [have[t.lower()] for t in tracks]
    return marks


class ContactWindows(torch.utils.data.Dataset):
    """Windows as (input (C, L), target (N, N), label, has_map, classify) tensors."""

    def __init__(self, genome: Any, windows: list[Window], marks: dict[str, list[str]], window_length: int, n_bins: int,
                 labels: dict[str, int], map_cells: set[str], contacts_from: str | None = None, step: int = 0, seed: int = 0):
        self.genome, self.windows, self.marks = genome, windows, marks
        self.window_length, self.n_bins, self.labels, self.map_cells = window_length, n_bins, labels, map_cells
        self.contacts_from, self.step = contacts_from, step
        self.lengths = {name: int(length) for name, length in genome.genome_contigs().items()}
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.windows)

    def _start(self, window: Window) -> int:
        if not window.is_noise or self.step <= 1:
            return window.start
        room = self.lengths[window.contig] - self.window_length - window.start
        return window.start + int(self.rng.integers(0, max(1, min(self.step, room + 1))))

    def target(self, window: Window, start: int) -> np.ndarray:
        cell = self.contacts_from or window.source
        if cell not in self.map_cells:
            return np.zeros((self.n_bins, self.n_bins), dtype=np.float32)
        return map_target(self.genome.contacts(cell, window.contig, start, start + self.window_length), self.n_bins)

    def __getitem__(self, index: int):
        window = self.windows[index]
        start = self._start(window)
        end = start + self.window_length
        sequence = one_hot(self.genome.sequence(window.contig, start, end))
        tracks = np.zeros((len(self.marks[window.source]), self.window_length), dtype=np.float32)
        for row, mark in enumerate(self.marks[window.source]):
            tracks[row] = transform_track(self.genome.track(window.source, mark, window.contig, start, end))
        target = self.target(window, start)
        if window.is_noise:
            tracks, target = noisy_copy(tracks, target, self.rng)
        has_map = window.source in self.map_cells
        if self.contacts_from:  # upstream's hard-coded mask: only that cell line and its noise copy
            has_map = window.source == self.contacts_from
        x = torch.from_numpy(np.concatenate([sequence, tracks]))
        label = self.labels.get(window.cell, -100)
        return x, torch.from_numpy(target), torch.tensor(label), torch.tensor(has_map), torch.tensor(not window.is_noise)


# ---- the recipe ---------------------------------------------------------------------------------
