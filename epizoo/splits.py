"""Splits of a store's pairs into folds, and the leakage check that proves a fold is clean.

A split is ``function(ds, **options) -> list[Fold]``: boolean masks over ``pairs`` computed from
the small per-pair variables only (never the sequences), so all folds of a large store take
milliseconds. This module is a default plugin: it registers ``loco``, ``cross-cell-line``,
``cross-cell-line-strict``, ``source-groups``, ``chromosome`` and ``random``.

:func:`check_leakage` proves a fold clean: no element shared between the training side (train +
valid) and the test side, and no stored window (model window plus flank, which the shift
augmentation can reach) of a training-side element overlapping one of a test-side element.
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import xarray as xr

from epizoo.errors import EmptyResultError, EpizooError, LeakageError, UnknownNameError
from epizoo.hookspecs import hookimpl


class SplitOptionError(EpizooError):
    """A split was given an unknown option or an impossible value."""


class LeakageWarning(UserWarning):
    """A split that leaks by design (kept only to reproduce published numbers)."""


@dataclass
class Fold:
    name: str  # e.g. 'chr5'
    train: np.ndarray  # bool over pairs
    valid: np.ndarray  # bool over pairs (carved from the training side)
    test: np.ndarray  # bool over pairs
    info: dict = field(default_factory=dict)  # e.g. {'test_contigs': [...], 'valid_contigs': [...]}


# ---- the per-pair table ----------------------------------------------------------------------

_PAIR_VARIABLES = ("pair_contig", "pair_cell_line", "pair_enhancer", "pair_promoter", "pair_cv_group", "pair_label", "pair_source")
_LOOKUPS = ("contig_id", "cell_line_id", "cv_group_id", "source_id")


@dataclass
class _Pairs:
    """The small per-pair arrays a split needs, loaded once."""

    contig: np.ndarray
    cell_line: np.ndarray
    enhancer: np.ndarray
    promoter: np.ndarray
    cv_group: np.ndarray
    label: np.ndarray
    source: np.ndarray
    promoter_contig: np.ndarray  # contig of each pair's promoter (trans pairs differ from `contig`)
    contig_names: list[str]
    cell_line_names: list[str]
    cv_group_names: list[str]
    source_names: list[str]
    elements: dict[str, dict[str, np.ndarray]] | None = None  # kind -> contig/start/end/window_start
    bases: dict[str, int] | None = None  # stored window length per kind

    @property
    def size(self) -> int:
        return len(self.contig)

    def describe(self, kind: str, index: int) -> str:
        """``enhancer chr1:100-200``: an element in words, for error messages."""
        element = self.elements[kind]
        contig = self.contig_names[int(element["contig"][index])]
        return f"{kind} {contig}:{int(element['start'][index])}-{int(element['end'][index])}"


_ELEMENT_FIELDS = ("contig", "start", "end", "window_start")


def _load_pairs(ds: xr.Dataset, elements: bool = False) -> _Pairs:
    """The per-pair arrays (and, for the leakage check, element coordinates) in one dask pass."""
    names = [*_PAIR_VARIABLES, *_LOOKUPS, "promoter_contig"]
    if elements:
        names += [f"{kind}_{f}" for kind in ("enhancer", "promoter") for f in _ELEMENT_FIELDS if f != "contig" or kind == "enhancer"]
    missing = [v for v in names if v not in ds.variables]
    if missing:
        raise SplitOptionError(f"the dataset lacks {', '.join(missing)}; open a store with epizoo.open_store")
    arrays = {name: variable.values for name, variable in ds[names].compute().variables.items()}  # never sequences
    promoter = arrays["pair_promoter"].astype(np.int64)
    pairs = _Pairs(
        contig=arrays["pair_contig"].astype(np.int64),
        cell_line=arrays["pair_cell_line"].astype(np.int64),
        enhancer=arrays["pair_enhancer"].astype(np.int64),
        promoter=promoter,
        cv_group=arrays["pair_cv_group"].astype(np.int64),
        label=arrays["pair_label"].astype(np.int8),
        source=arrays["pair_source"].astype(np.int64),
        promoter_contig=arrays["promoter_contig"].astype(np.int64)[promoter],
        contig_names=[str(n) for n in arrays["contig_id"]],
        cell_line_names=[str(n) for n in arrays["cell_line_id"]],
        cv_group_names=[str(n) for n in arrays["cv_group_id"]],
        source_names=[str(n) for n in arrays["source_id"]],
    )
    if elements:
        pairs.elements = {
            kind: {f: arrays[f"{kind}_{f}"].astype(np.int64) for f in _ELEMENT_FIELDS} for kind in ("enhancer", "promoter")
        }
        pairs.bases = {kind: int(ds.sizes[f"{kind}_bases"]) for kind in ("enhancer", "promoter")}
    return pairs


def _used(indices: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Boolean over ``n`` elements: those referenced by the pairs in ``mask`` (O(n), no sort)."""
    used = np.zeros(n, dtype=bool)
    used[indices[mask]] = True
    return used


# ---- contig and name helpers -----------------------------------------------------------------

_MAIN_CHROMOSOMES = [str(i) for i in range(1, 23)] + ["X"]


def _chromosome_key(name: str) -> str:
    """'chr5', 'Chr5' and '5' are one chromosome."""
    return re.sub(r"^chr", "", str(name), flags=re.IGNORECASE).upper()


def _natural_order(names: Sequence[str]) -> list[str]:
    def key(name: str):
        core = _chromosome_key(name)
        return (0, int(core), "") if core.isdigit() else (1, 0, core)

    return sorted(names, key=key)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, (str, int)) else list(value)


def _resolve_contigs(pairs: _Pairs, names: Any, option: str) -> list[int]:
    """User contig names (either naming style) to codes into ``contig_id``."""
    by_key = {_chromosome_key(name): code for code, name in enumerate(pairs.contig_names)}
    codes = []
    for name in _as_list(names):
        code = by_key.get(_chromosome_key(name))
        if code is None:
            known = ", ".join(_natural_order(pairs.contig_names)) or "none"
            raise UnknownNameError(f"{option}: unknown contig {name!r}; the store has {known}")
        codes.append(code)
    return codes


def _resolve_cell_lines(pairs: _Pairs, names: Any, option: str) -> list[int]:
    lookup = {name.lower(): code for code, name in enumerate(pairs.cell_line_names)}
    codes = []
    for name in _as_list(names):
        code = lookup.get(str(name).lower())
        if code is None:
            known = ", ".join(pairs.cell_line_names) or "none"
            raise UnknownNameError(f"{option}: unknown cell line {name!r}; the store has {known}")
        codes.append(code)
    return codes


def _cell_line_mask(pairs: _Pairs, cell_lines: Any) -> np.ndarray:
    if cell_lines is None:
        return np.ones(pairs.size, dtype=bool)
    return np.isin(pairs.cell_line, _resolve_cell_lines(pairs, cell_lines, "cell_lines"))


def _main_contigs_present(pairs: _Pairs, pool: np.ndarray) -> list[int]:
    """Codes of chr1..22 and chrX that have pairs in ``pool``, in natural order."""
    present = set(np.unique(pairs.contig[pool]).tolist())
    eligible = [c for c in present if _chromosome_key(pairs.contig_names[c]) in _MAIN_CHROMOSOMES]
    order = {name: i for i, name in enumerate(_natural_order(pairs.contig_names))}
    return sorted(eligible, key=lambda c: order[pairs.contig_names[c]])


def _valid_count(requested: int | None, available: int) -> int:
    """Validation contigs to take from ``available`` training-side ones, leaving at least one to train on.

    The default (None) is one, or none when only one contig is left for training.
    """
    if requested is None:
        return 1 if available >= 2 else 0
    return _check_count(requested, "valid_contigs", 0, max(available - 1, 0))


def _check_count(value: Any, option: str, low: int, high: int) -> int:
    if not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise SplitOptionError(f"{option} must be a whole number from {low} to {high}, got {value!r}")
    return int(value)


# ---- building folds --------------------------------------------------------------------------


def _side_summary(pairs: _Pairs, mask: np.ndarray) -> dict[str, int]:
    return {"pairs": int(mask.sum()), "positives": int(pairs.label[mask].sum())}


def _make_fold(
    pairs: _Pairs, name: str, train: np.ndarray, valid: np.ndarray, test: np.ndarray, *, why_test_empty: str | None = None, **info: Any
) -> Fold:
    """A fold with counts per side and notes on sides the bench must treat specially.

    ``why_test_empty`` completes the note when the test side is empty (e.g. strict dropped every pair).
    """
    sides = {side: _side_summary(pairs, mask) for side, mask in (("train", train), ("valid", valid), ("test", test))}
    notes = []
    if sides["train"]["pairs"] == 0:
        raise EmptyResultError(f"fold {name}: the training side is empty; choose other options")
    for side in ("test", "valid"):
        if sides[side]["pairs"] == 0:
            reason = why_test_empty if side == "test" else None
            notes.append(f"{side} side is empty" + (f": {reason}" if reason else ""))
        elif sides[side]["positives"] == 0:
            notes.append(f"{side} side has no positives")
        elif sides[side]["positives"] == sides[side]["pairs"]:
            notes.append(f"{side} side has no negatives")
    info.setdefault("leaks_by_design", False)
    info.update(
        counts=sides,
        test_has_positives=sides["test"]["positives"] > 0,
        notes=notes,
    )
    return Fold(name, train, valid, test, info)


def _by_contig(pairs: _Pairs, pool: np.ndarray, test_contigs: list[int], valid_contigs: list[int]):
    """Train/valid/test masks of ``pool`` by the pair's contig, and how many trans pairs were dropped.

    A pair sits on the side of its enhancer's contig. A pair whose promoter lies on a contig of
    another side (a trans pair) is dropped, so no sequence crosses sides.
    """
    side_of = {"test": test_contigs, "valid": valid_contigs}
    masks, dropped = {}, 0
    for side, contigs in side_of.items():
        on_side = pool & np.isin(pairs.contig, contigs)
        masks[side] = on_side & np.isin(pairs.promoter_contig, contigs)
        dropped += int((on_side & ~masks[side]).sum())
    held_out = test_contigs + valid_contigs
    on_train = pool & ~np.isin(pairs.contig, held_out)
    masks["train"] = on_train & ~np.isin(pairs.promoter_contig, held_out)
    dropped += int((on_train & ~masks["train"]).sum())
    return masks["train"], masks["valid"], masks["test"], dropped


def _pick_valid(candidates: list[int], count: int, seed: int | None, salt: int) -> list[int]:
    """``count`` contigs from ``candidates``: the first ones (already in a meaningful order) or a seeded choice."""
    if seed is None:
        return candidates[:count]
    rng = np.random.default_rng([seed, salt])
    return sorted(rng.choice(candidates, size=count, replace=False).tolist(), key=candidates.index)


def _names(pairs: _Pairs, codes: list[int]) -> list[str]:
    return [pairs.contig_names[c] for c in codes]


# ---- the splits ------------------------------------------------------------------------------


def loco(ds: xr.Dataset, *, folds: Any = None, cell_lines: Any = None, valid_contigs: int | None = None, seed: int | None = None) -> list[Fold]:
    """Leave one chromosome out: one fold per autosome or chrX present.

    The test side is one chromosome; the validation side is ``valid_contigs`` chromosomes taken
    from the training side (the next ones in natural order, wrapping round; a seeded choice when
    ``seed`` is given); training is the rest. ``folds`` restricts which chromosomes are held out,
    ``cell_lines`` which pairs take part.
    """
    pairs = _load_pairs(ds)
    pool = _cell_line_mask(pairs, cell_lines)
    contigs = _main_contigs_present(pairs, pool)
    if len(contigs) < 2:
        raise EmptyResultError(
            f"loco needs pairs on at least 2 of chr1..22/chrX, found {len(contigs)}; use the 'chromosome' or 'random' split"
        )
    valid_contigs = _valid_count(valid_contigs, len(contigs) - 1)
    chosen = _resolve_contigs(pairs, folds, "folds") if folds is not None else contigs
    result = []
    for test_contig in chosen:
        if test_contig not in contigs:
            raise EmptyResultError(f"folds: {pairs.contig_names[test_contig]} has no pairs among the selected cell lines")
        position = contigs.index(test_contig)
        following = contigs[position + 1 :] + contigs[:position]
        valid = _pick_valid(following, valid_contigs, seed, position)
        train_mask, valid_mask, test_mask, dropped = _by_contig(pairs, pool, [test_contig], valid)
        result.append(
            _make_fold(
                pairs, pairs.contig_names[test_contig], train_mask, valid_mask, test_mask,
                test_contigs=[pairs.contig_names[test_contig]], valid_contigs=_names(pairs, valid),
                dropped_trans_pairs=dropped,
            )
        )
    return result


def chromosome(ds: xr.Dataset, *, test: Any, valid: Any = None, cell_lines: Any = None) -> list[Fold]:
    """One fold: the named test chromosomes, the named validation chromosomes, training the rest."""
    pairs = _load_pairs(ds)
    test_codes = _resolve_contigs(pairs, test, "test")
    valid_codes = _resolve_contigs(pairs, valid, "valid")
    if not test_codes:
        raise SplitOptionError("chromosome: give at least one test chromosome, e.g. test=['chr8']")
    both = set(test_codes) & set(valid_codes)
    if both:
        raise SplitOptionError(f"chromosome: {', '.join(_names(pairs, sorted(both)))} is both test and valid; name it once")
    pool = _cell_line_mask(pairs, cell_lines)
    train_mask, valid_mask, test_mask, dropped = _by_contig(pairs, pool, test_codes, valid_codes)
    return [
        _make_fold(
            pairs, "+".join(_names(pairs, test_codes)), train_mask, valid_mask, test_mask,
            test_contigs=_names(pairs, test_codes), valid_contigs=_names(pairs, valid_codes),
            dropped_trans_pairs=dropped,
        )
    ]


def source_groups(ds: xr.Dataset, *, sources: Any = None, cell_lines: Any = None) -> list[Fold]:
    """The source tables' own cross-validation groups (BENGI cv-k), each table by itself.

    A table numbers its groups on its own (a chromosome can be cv-5 in one BENGI table and cv-1 in
    another), so groups are never pooled across tables: for each table with at least 3 groups,
    one fold per group, named ``<source>/<group>``, whose test side is the table's pairs of that
    group, validation the table's next group and training the rest of the table. Pairs of other
    tables are on no side. ``sources`` restricts the tables (names or shell patterns such as
    ``'bengi/GM12878*'``), ``cell_lines`` the pairs.
    """
    pairs = _load_pairs(ds)
    selected = _cell_line_mask(pairs, cell_lines)
    grouped = selected & (pairs.cv_group >= 0)
    if not grouped.any():
        raise EmptyResultError("the store has no upstream cv groups (pair_cv_group is -1); use the 'loco' split instead")
    named = _resolve_sources(pairs, sources) if sources is not None else None
    result, too_few = [], []
    for source in named or np.unique(pairs.source[grouped]).tolist():
        in_source = pairs.source == source
        folds = _source_folds(pairs, source, grouped & in_source, selected & in_source)
        if not folds:
            too_few.append(pairs.source_names[source])
        result += folds
    if named is not None and too_few:
        raise EmptyResultError(f"source-groups needs at least 3 cv groups (test, valid, train) in each table; {', '.join(too_few)} has fewer")
    if not result:
        raise EmptyResultError("source-groups needs a source table with at least 3 cv groups (test, valid, train); use 'loco'")
    return result


def _resolve_sources(pairs: _Pairs, names: Any) -> list[int]:
    """Source names or shell patterns (case-insensitive) to codes into ``source_id``."""
    codes: list[int] = []
    for name in _as_list(names):
        matched = [c for c, known in enumerate(pairs.source_names) if fnmatch.fnmatchcase(known.lower(), str(name).lower())]
        if not matched:
            known = ", ".join(pairs.source_names) or "none"
            raise UnknownNameError(f"sources: no source table matches {name!r}; the store has {known}")
        codes += [c for c in matched if c not in codes]
    return codes


def _source_folds(pairs: _Pairs, source: int, pool: np.ndarray, selected: np.ndarray) -> list[Fold]:
    """One fold per cv group of one source table (none when it has fewer than 3 groups)."""
    groups = sorted(np.unique(pairs.cv_group[pool]).tolist(), key=lambda g: _natural_group_key(pairs.cv_group_names[g]))
    if len(groups) < 3:
        return []
    source_name = pairs.source_names[source]
    result = []
    for position, group in enumerate(groups):
        valid_group = groups[(position + 1) % len(groups)]
        test = pool & (pairs.cv_group == group)
        valid = pool & (pairs.cv_group == valid_group)
        train = pool & ~test & ~valid
        name = pairs.cv_group_names[group]
        result.append(
            _make_fold(
                pairs, f"{source_name}/{name}", train, valid, test,
                source=source_name, test_groups=[name], valid_groups=[pairs.cv_group_names[valid_group]],
                test_contigs=_names(pairs, np.unique(pairs.contig[test]).tolist()),
                ungrouped_pairs=int((selected & (pairs.cv_group < 0)).sum()),
            )
        )
    return result


def _natural_group_key(name: str):
    digits = re.findall(r"\d+", name)
    return (int(digits[-1]) if digits else -1, name)


def _drop_shared_test_pairs(pairs: _Pairs, train_side: np.ndarray, test: np.ndarray, level: Any) -> tuple[np.ndarray, int]:
    """Strict cross-cell-line: drop test pairs whose element is in training (and, for level True
    or 'overlap', whose stored window overlaps a training-side element's)."""
    in_train = {kind: _used(getattr(pairs, kind), train_side, len(pairs.elements[kind]["start"])) for kind in ("enhancer", "promoter")}
    leaking = in_train["enhancer"][pairs.enhancer] | in_train["promoter"][pairs.promoter]
    if level in (True, "overlap"):
        windows = _ElementWindows(pairs)
        train_intervals = windows.intervals(np.flatnonzero(in_train["enhancer"]), np.flatnonzero(in_train["promoter"]))
        leaking |= windows.overlaps("enhancer", pairs.enhancer, train_intervals)
        leaking |= windows.overlaps("promoter", pairs.promoter, train_intervals)
    dropped = test & leaking
    return test & ~leaking, int(dropped.sum())


def cross_cell_line(
    ds: xr.Dataset,
    *,
    test: Any = None,
    train: Any = None,
    strict: bool | str = False,
    valid_contigs: int | None = None,
    seed: int = 0,
) -> list[Fold]:
    """Train on some cell lines, test on another: one fold per test cell line.

    ``test`` names the test cell line(s) (default: each in turn), ``train`` the training ones
    (default: all others). Validation is ``valid_contigs`` chromosomes of the training side, a
    seeded choice. ``strict`` drops test pairs that share an element with training (``'interval'``:
    the same interval only; ``True`` or ``'overlap'``: also a stored window overlapping one, so
    the fold passes :func:`check_leakage`).
    """
    pairs = _load_pairs(ds, elements=bool(strict))
    if strict not in (False, True, "interval", "overlap"):
        raise SplitOptionError(f"strict must be False, True, 'interval' or 'overlap', got {strict!r}")
    present = np.unique(pairs.cell_line).tolist()
    test_lines = _resolve_cell_lines(pairs, test, "test") if test is not None else present
    train_lines = _resolve_cell_lines(pairs, train, "train") if train is not None else None
    if len(present) < 2:
        raise EmptyResultError("cross-cell-line needs pairs from at least 2 cell lines; use 'loco' instead")
    result = []
    for salt, test_line in enumerate(test_lines):
        trained_on = [c for c in (train_lines or present) if c != test_line]
        if train_lines and test_line in train_lines:
            raise SplitOptionError(f"{pairs.cell_line_names[test_line]} is both a train and the test cell line; name it once")
        training_pool = np.isin(pairs.cell_line, trained_on)
        candidates = _main_contigs_present(pairs, training_pool) or np.unique(pairs.contig[training_pool]).tolist()
        count = _valid_count(valid_contigs, len(candidates))
        valid_codes = _pick_valid(candidates, count, seed, salt)
        train_mask = training_pool & ~np.isin(pairs.contig, valid_codes)
        valid_mask = training_pool & np.isin(pairs.contig, valid_codes)
        test_mask = pairs.cell_line == test_line
        dropped, why_empty = 0, None
        if strict:
            before = int(test_mask.sum())
            test_mask, dropped = _drop_shared_test_pairs(pairs, train_mask | valid_mask, test_mask, strict)
            if before and dropped == before:
                overlap = " or overlaps a training-side window" if strict in (True, "overlap") else ""
                why_empty = (
                    f"every one of its {before:,} test pairs overlapped training (shares an element with it{overlap}), "
                    f"so strict={strict!r} dropped them all; choose other cell lines"
                )
        name = pairs.cell_line_names[test_line]
        result.append(
            _make_fold(
                pairs, name, train_mask, valid_mask, test_mask,
                test_cell_lines=[name], train_cell_lines=[pairs.cell_line_names[c] for c in trained_on],
                valid_contigs=_names(pairs, valid_codes), strict=strict, dropped_test_pairs=dropped,
                why_test_empty=why_empty,
                leaks_by_design=not strict,  # cell lines share elements; only the strict variant removes them
            )
        )
    return result


def cross_cell_line_strict(
    ds: xr.Dataset, *, test: Any = None, train: Any = None, strict: bool | str = True, valid_contigs: int | None = None, seed: int = 0
) -> list[Fold]:
    """``cross-cell-line`` with ``strict=True``: no test element shared with or overlapping training."""
    if not strict:
        raise SplitOptionError("cross-cell-line-strict cannot run with strict=False; use the 'cross-cell-line' split")
    return cross_cell_line(ds, test=test, train=train, strict=strict, valid_contigs=valid_contigs, seed=seed)


def random(
    ds: xr.Dataset,
    *,
    test_fraction: float = 0.1,
    valid_fraction: float = 0.05,
    seed: int = 0,
    cell_lines: Any = None,
) -> list[Fold]:
    """Pair-level stratified random split, kept only to reproduce published numbers. It leaks."""
    from sklearn.model_selection import train_test_split

    for option, value in (("test_fraction", test_fraction), ("valid_fraction", valid_fraction)):
        if not 0 < value < 1:
            raise SplitOptionError(f"{option} must be between 0 and 1 (exclusive), got {value!r}")
    warnings.warn(
        "the 'random' split leaks: the same enhancer or promoter (and overlapping windows) sit on "
        "both sides, so its scores overstate generalisation; use 'loco' for real estimates",
        LeakageWarning,
        stacklevel=3,  # past the option-checking wrapper, to the caller
    )
    pairs = _load_pairs(ds)
    index = np.flatnonzero(_cell_line_mask(pairs, cell_lines))
    try:
        rest, test_index = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=pairs.label[index])
        train_index, valid_index = train_test_split(rest, test_size=valid_fraction, random_state=seed, stratify=pairs.label[rest])
    except ValueError as exc:
        raise EmptyResultError(f"random split impossible on {len(index)} pairs: {exc}") from None
    masks = [np.zeros(pairs.size, dtype=bool) for _ in range(3)]
    for mask, chosen in zip(masks, (train_index, valid_index, test_index)):
        mask[chosen] = True
    return [_make_fold(pairs, "random", *masks, leaks_by_design=True, seed=seed)]


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


# ---- option checking and registration --------------------------------------------------------


def parse_option_value(text: str) -> Any:
    """One ``KEY=VALUE`` value, read the same way by every command (``bench --split-option``,
    ``splits --option``, ``build-store --option``): JSON when it parses (``2``, ``0.1``, ``true``,
    ``null``, ``["chr1", "chr2"]``, ``"quoted"``), ``True``/``False``/``None`` in any case, a list of
    names when comma-separated (``chr1,chr2``), else the text itself."""
    import json

    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    word = {"true": True, "false": False, "none": None, "null": None}.get(text.lower(), text)
    if word is not text:
        return word
    if "," in text:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def parse_options(items: Sequence[str], flag: str = "--option", example: str = "valid_contigs=2") -> dict[str, Any]:
    """``KEY=VALUE`` items to a dict of values parsed by :func:`parse_option_value`."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise SplitOptionError(f"{flag} {item!r} is not KEY=VALUE; write it as e.g. {flag} {example}")
        options[key.strip()] = parse_option_value(value)
    return options



def _checked(function: Callable[..., list[Fold]], name: str) -> Callable[..., list[Fold]]:
    """Turn unknown or missing options into one clear line instead of a TypeError."""
    signature = inspect.signature(function)
    accepted = [n for n, p in signature.parameters.items() if p.kind == p.KEYWORD_ONLY]

    @functools.wraps(function)
    def run(ds: xr.Dataset, **options: Any) -> list[Fold]:
        try:
            signature.bind(ds, **options)
        except TypeError as exc:
            listed = ", ".join(accepted) or "none"
            raise SplitOptionError(f"split {name!r}: {exc}; its options are {listed}") from None
        return function(ds, **options)

    return run


SPLITS: dict[str, tuple[Callable[..., list[Fold]], str]] = {
    "loco": (loco, "leave one chromosome out: one fold per autosome/chrX; validation the next chromosome"),
    "cross-cell-line": (cross_cell_line, "train on other cell lines, test on one; validation by chromosome"),
    "cross-cell-line-strict": (cross_cell_line_strict, "cross-cell-line without test elements shared with or overlapping training"),
    "source-groups": (source_groups, "each source table's own cv groups (BENGI cv-k): one fold per table and group"),
    "chromosome": (chromosome, "named test and validation chromosomes, one fold"),
    "random": (random, "pair-level stratified random split; LEAKS, only to reproduce published numbers"),
}


@hookimpl
def register_splits(register):
    for name, (function, description) in SPLITS.items():
        register(name, _checked(function, name), description)


def get_split(name: str) -> Callable[..., list[Fold]]:
    """The function of the registered split ``name`` (built-in or from a plugin).

    A built-in name is answered here, without loading the plugins (the models import torch);
    plugins cannot take a built-in name, so the answer is the same.
    """
    builtin = {key.lower(): key for key in SPLITS}.get(str(name).lower())
    if builtin is not None:
        return _checked(SPLITS[builtin][0], builtin)
    from epizoo import plugins

    return plugins.get_split(name).function


def get_folds(ds: xr.Dataset, name: str, **options: Any) -> list[Fold]:
    """The folds of the registered split ``name``: ``get_split(name)(ds, **options)``."""
    return get_split(name)(ds, **options)
