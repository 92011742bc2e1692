"""Folds and the built-in splits: ``function(ds, **options) -> list[Fold]``, masks over ``pairs``."""

from __future__ import annotations

import fnmatch
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from epizoo import contigs
from epizoo.errors import EmptyResultError, UnknownNameError
from epizoo.options import groups_list
from epizoo.splits.leakage import _ElementWindows
from epizoo.splits.pairs import (
    SplitOptionError,
    _as_list,
    _cell_line_mask,
    _load_pairs,
    _main_contigs_present,
    _Pairs,
    _resolve_cell_lines,
    _resolve_contigs,
    _used,
    _valid_count,
)


class LeakageWarning(UserWarning):
    """A split that leaks by design (kept only to reproduce published numbers)."""


@dataclass
class Fold:
    name: str  # e.g. 'chr5'
    train: np.ndarray  # bool over pairs
    valid: np.ndarray  # bool over pairs (carved from the training side)
    test: np.ndarray  # bool over pairs
    info: dict = field(default_factory=dict)  # e.g. {'test_contigs': [...], 'valid_contigs': [...]}



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
    for side, side_contigs in side_of.items():  # not `contigs`: that names the module
        on_side = pool & np.isin(pairs.contig, side_contigs)
        masks[side] = on_side & np.isin(pairs.promoter_contig, side_contigs)
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


# TransEPI's five training folds (Chen et al. 2022, models/readme.md): the held-out chromosome groups.
TRANSEPI_GROUPS = (
    ("chr1", "chr10", "chr15", "chr21"),
    ("chr19", "chr3", "chr4", "chr7", "chrX"),
    ("chr13", "chr17", "chr2", "chr22", "chr9"),
    ("chr12", "chr14", "chr16", "chr18", "chr20"),
    ("chr11", "chr5", "chr6", "chr8"),
)


def _chromosome_groups(pairs: _Pairs, groups: Any) -> list[list[int]]:
    """Groups of contig names (a list of lists, or ``'chr1,chr2;chr3'``) to codes; absent contigs are skipped."""
    resolved, seen = [], {}
    for number, names in enumerate(groups_list(groups), start=1):
        codes = [c for name in names if (c := contigs.find(name, pairs.contig_names)) is not None]
        for code in codes:
            if code in seen:
                raise SplitOptionError(f"groups: {pairs.contig_names[code]} is in groups {seen[code]} and {number}; name it once")
            seen[code] = number
        resolved.append(codes)
    if not resolved:
        raise SplitOptionError("groups: give at least one chromosome group, e.g. groups='chr1,chr10;chr2,chr3'")
    return resolved


def transepi(ds: xr.Dataset, *, train: Any = None, test: Any = None, groups: Any = TRANSEPI_GROUPS) -> list[Fold]:
    """TransEPI's cross-cell protocol: new cell lines and unseen chromosomes at once.

    One fold per chromosome group (TransEPI's five by default) and test cell line: training is the
    ``train`` cell lines' pairs with neither element on the group's chromosomes; the test side is
    the ``test`` cell line's pairs with both elements on them. ``train`` defaults to GM12878 and
    HeLa(-S3), ``test`` to every other cell line. No validation side: the trainer carves one from
    training (the recipe's ``validation_fraction``).
    """
    pairs = _load_pairs(ds)
    defaults = [c for c, name in enumerate(pairs.cell_line_names) if name.lower() in ("gm12878", "hela", "hela-s3")]
    train_lines = _resolve_cell_lines(pairs, train, "train") if train is not None else defaults
    if not train_lines:
        raise SplitOptionError("transepi: name the training cell lines, e.g. --split-option train=GM12878,HeLa")
    test_lines = _resolve_cell_lines(pairs, test, "test") if test is not None else [
        c for c in range(len(pairs.cell_line_names)) if c not in train_lines and (pairs.cell_line == c).any()
    ]
    both = set(train_lines) & set(test_lines)
    if both:
        raise SplitOptionError(f"transepi: {', '.join(pairs.cell_line_names[c] for c in both)} is both a train and a test cell line")
    if not test_lines:
        raise SplitOptionError("transepi: no test cell line; name one, e.g. --split-option test=NHEK")
    training_pool = np.isin(pairs.cell_line, train_lines)
    train_names = [pairs.cell_line_names[c] for c in train_lines]
    result = []
    for number, group in enumerate(_chromosome_groups(pairs, groups), start=1):
        held_out = np.isin(pairs.contig, group) | np.isin(pairs.promoter_contig, group)
        on_group = np.isin(pairs.contig, group) & np.isin(pairs.promoter_contig, group)
        train_mask = training_pool & ~held_out
        for test_line in test_lines:
            test_mask = (pairs.cell_line == test_line) & on_group
            result.append(
                _make_fold(
                    pairs, f"fold{number}", train_mask, np.zeros(pairs.size, dtype=bool), test_mask,
                    test_contigs=_names(pairs, group), test_cell_lines=[pairs.cell_line_names[test_line]],
                    train_cell_lines=train_names,
                    why_test_empty=f"{pairs.cell_line_names[test_line]} has no pair on {', '.join(_names(pairs, group)) or 'these chromosomes'}",
                )
            )
    return result
