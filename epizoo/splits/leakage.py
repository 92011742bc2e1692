"""The leakage check: no element shared between a fold's training and test sides, and no stored
window (model window plus flank, which the shift augmentation reaches) of a training-side element
overlapping one of a test-side element, found in O(n log n) with sorted starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import xarray as xr

from epizoo.errors import LeakageError
from epizoo.splits.pairs import SplitOptionError, _load_pairs, _Pairs, _used

if TYPE_CHECKING:
    from epizoo.splits.folds import Fold

# ---- the leakage check ----------------------------------------------------------------------

_CONTIG_STRIDE = 2**40  # puts every contig on its own stretch of one number line


@dataclass
class _Intervals:
    """Half-open intervals on the contig-offset number line, sorted by start, with running max end."""

    starts: np.ndarray
    max_end: np.ndarray  # max end among intervals[: i + 1]
    max_end_at: np.ndarray  # position of an interval reaching that max end
    labels: np.ndarray  # (kind, element index) for examples


class _ElementWindows:
    """Stored windows (model window + flank each side) of enhancers and promoters."""

    def __init__(self, pairs: _Pairs):
        self.length = pairs.bases
        self.start = {
            kind: element["contig"] * _CONTIG_STRIDE + element["window_start"] for kind, element in pairs.elements.items()
        }

    def intervals(self, enhancers: np.ndarray, promoters: np.ndarray) -> _Intervals:
        starts = np.concatenate([self.start["enhancer"][enhancers], self.start["promoter"][promoters]])
        ends = starts + np.repeat([self.length["enhancer"], self.length["promoter"]], [len(enhancers), len(promoters)])
        labels = np.concatenate([np.stack([np.zeros_like(enhancers), enhancers], 1), np.stack([np.ones_like(promoters), promoters], 1)])
        order = np.argsort(starts, kind="stable")
        starts, ends, labels = starts[order], ends[order], labels[order]
        max_end = np.maximum.accumulate(ends) if len(ends) else ends
        # the latest interval whose end equals the running max is one that reaches it
        reaches = np.where(ends == max_end, np.arange(len(ends)), 0)
        max_end_at = np.maximum.accumulate(reaches) if len(ends) else reaches
        return _Intervals(starts, max_end, max_end_at, labels)

    def overlap_partner(self, kind: str, elements: np.ndarray, intervals: _Intervals) -> np.ndarray:
        """For each element, the position in ``intervals`` of one overlapping window, or -1."""
        if len(intervals.starts) == 0:
            return np.full(len(elements), -1)
        start = self.start[kind][elements]
        before = np.searchsorted(intervals.starts, start + self.length[kind], side="left")  # start before our end
        last = np.maximum(before - 1, 0)
        hit = (before > 0) & (intervals.max_end[last] > start)
        return np.where(hit, intervals.max_end_at[last], -1)

    def overlaps(self, kind: str, elements: np.ndarray, intervals: _Intervals) -> np.ndarray:
        return self.overlap_partner(kind, elements, intervals) >= 0


@dataclass
class LeakageReport:
    """What a fold's training side (train + valid) shares with its test side."""

    fold: str
    shared_enhancers: int = 0
    shared_promoters: int = 0
    overlapping_enhancers: int = 0  # test enhancers (not shared) whose window overlaps a training-side one
    overlapping_promoters: int = 0
    mask_overlaps: dict[str, int] = field(default_factory=dict)  # pairs in two of train/valid/test
    examples: list[str] = field(default_factory=list)

    @property
    def leaks(self) -> bool:
        counts = (self.shared_enhancers, self.shared_promoters, self.overlapping_enhancers, self.overlapping_promoters)
        return any(counts) or any(self.mask_overlaps.values())

    def summary(self) -> str:
        if not self.leaks:
            return f"fold {self.fold}: no shared elements, no overlapping windows"
        overlaps = ", ".join(f"{n} pairs in {sides}" for sides, n in self.mask_overlaps.items() if n)
        text = (
            f"fold {self.fold} leaks: {self.shared_enhancers} enhancers and {self.shared_promoters} promoters "
            f"shared between training and test, {self.overlapping_enhancers} test enhancers and "
            f"{self.overlapping_promoters} test promoters overlapping a training-side window"
        )
        text += f", {overlaps}" if overlaps else ""
        return text + (f" (e.g. {self.examples[0]})" if self.examples else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "fold": self.fold, "leaks": self.leaks, "shared_enhancers": self.shared_enhancers,
            "shared_promoters": self.shared_promoters, "overlapping_enhancers": self.overlapping_enhancers,
            "overlapping_promoters": self.overlapping_promoters, "mask_overlaps": self.mask_overlaps,
            "examples": self.examples,
        }


def _mask_overlaps(fold: Fold) -> dict[str, int]:
    sides = {"train": fold.train, "valid": fold.valid, "test": fold.test}
    names = list(sides)
    return {f"{a}&{b}": int((sides[a] & sides[b]).sum()) for i, a in enumerate(names) for b in names[i + 1 :]}


def check_leakage(ds: xr.Dataset, fold: Fold, *, strict: bool = True) -> LeakageReport:
    """Prove that ``fold`` does not leak; raise :class:`LeakageError` if it does and ``strict``.

    Checked: the three masks are disjoint; no enhancer or promoter (element index, i.e. the same
    interval) is on both the training side (train + valid) and the test side; no stored window of
    a test-side element overlaps that of a different training-side element. Stored windows
    include the flank, because the shift augmentation can move a model window into it.
    Overlaps are found with sorted interval starts and ``searchsorted``, in O(n log n).
    """
    return check_folds(ds, [fold], strict=strict)[0]


def check_folds(ds: xr.Dataset, folds: Sequence[Fold], *, strict: bool = True) -> list[LeakageReport]:
    """:func:`check_leakage` of several folds, reading the store once."""
    pairs = _load_pairs(ds, elements=True)
    reports = [_check_fold(pairs, fold) for fold in folds]
    for fold, report in zip(folds, reports):
        if strict and report.leaks:
            cross = "test_cell_lines" in fold.info
            hint = "use the 'cross-cell-line-strict' split" if cross else "use a chromosome-grouped split such as 'loco'"
            raise LeakageError(f"{report.summary()}; {hint}")
    return reports


def _check_fold(pairs: _Pairs, fold: Fold) -> LeakageReport:
    for side in ("train", "valid", "test"):
        if getattr(fold, side).shape != (pairs.size,):
            raise SplitOptionError(f"fold {fold.name}: the {side} mask has shape {getattr(fold, side).shape}, expected ({pairs.size},)")
    train_side = fold.train | fold.valid
    report = LeakageReport(fold.name, mask_overlaps=_mask_overlaps(fold))
    windows = _ElementWindows(pairs)
    n = {kind: len(pairs.elements[kind]["start"]) for kind in ("enhancer", "promoter")}
    in_train = {kind: _used(getattr(pairs, kind), train_side, n[kind]) for kind in n}
    intervals = windows.intervals(np.flatnonzero(in_train["enhancer"]), np.flatnonzero(in_train["promoter"]))
    for kind in ("enhancer", "promoter"):
        in_test = _used(getattr(pairs, kind), fold.test, n[kind])
        shared = np.flatnonzero(in_test & in_train[kind])
        alone = np.flatnonzero(in_test & ~in_train[kind])
        partner = windows.overlap_partner(kind, alone, intervals)
        setattr(report, f"shared_{kind}s", len(shared))
        setattr(report, f"overlapping_{kind}s", int((partner >= 0).sum()))
        if len(shared):
            report.examples.append(f"{pairs.describe(kind, shared[0])} is in both training and test")
        if (partner >= 0).any():
            first = int(np.flatnonzero(partner >= 0)[0])
            other_kind, other = intervals.labels[partner[first]]
            other_name = pairs.describe(("enhancer", "promoter")[other_kind], other)
            report.examples.append(f"test {pairs.describe(kind, alone[first])} overlaps training {other_name}")
    return report
