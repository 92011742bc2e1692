"""Planning a benchmark: every (model, cell line, fold) task, the skipped folds, the leakage reports."""

from __future__ import annotations

import json
import warnings
from typing import Any, Callable, Iterable

import numpy as np

from epizoo import contigs
from epizoo.bench.config import CONTROLS, CROSS_SPLITS, LEAKY_SPLITS, MULTI_CELL_SPLITS, BenchConfig, Task
from epizoo.bench.kinds import PAIRS, kind_of
from epizoo.bench.regimes import regime_tasks
from epizoo.errors import EmptyResultError, EpizooError
from epizoo.plugins import get_model, get_split
from epizoo.splits import check_leakage


def _cell_line_names(ds) -> list[str]:
    return [str(name) for name in ds["cell_line_id"].values]


def _selected_cell_lines(ds, config: BenchConfig) -> list[str]:
    present = _cell_line_names(ds)
    if not config.cell_lines:
        return present
    lookup = {name.lower(): name for name in present}
    unknown = [name for name in config.cell_lines if name.lower() not in lookup]
    if unknown:
        raise EmptyResultError(f"--cell-lines: {', '.join(unknown)} not in the store; it has {', '.join(present)}")
    return [lookup[name.lower()] for name in config.cell_lines]


def _split_calls(ds, config: BenchConfig) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """(train cell line, test cell line, split options) for each call of the split function."""
    # The cell lines come from --cell-lines; the cross-cell-line splits' train/test too. Other splits
    # may have options of those names (the chromosome split's test=chr8).
    reserved = {"cell_lines", *(("train", "test") if config.split in CROSS_SPLITS else ())} & set(config.split_options)
    if reserved:
        raise EpizooError(f"--split-option {', '.join(sorted(reserved))}: choose cell lines with --cell-lines instead")
    lines = _selected_cell_lines(ds, config)
    if config.split in MULTI_CELL_SPLITS:
        yield from _multi_cell_calls(ds, config)
        return
    if config.split in CROSS_SPLITS:
        if len(lines) < 2:
            raise EmptyResultError(f"{config.split} needs at least 2 cell lines; the selection has {', '.join(lines)}")
        for train in lines:
            for test in lines:
                if train != test:
                    yield train, test, {**config.split_options, "train": [train], "test": [test]}
        return
    for line in lines:
        options = dict(config.split_options, cell_lines=[line])
        if config.split == "loco" and config.folds:
            options["folds"] = list(config.folds)
        yield line, line, options


def _multi_cell_calls(ds, config: BenchConfig) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """One call per test cell line of a split that names its own (``transepi``): its folds train on
    the ``train=`` cell lines together, so the report column is ``A+B -> TEST``."""
    probe = get_split(config.split).function(ds, **config.split_options)
    train_lines = probe[0].info["train_cell_lines"]
    for test in dict.fromkeys(line for fold in probe for line in fold.info["test_cell_lines"]):
        yield "+".join(train_lines), test, {**config.split_options, "test": [test]}


def _train_once_per_fold(tasks: list[Task]) -> list[Task]:
    """A split that names its own cell lines (``transepi``) gives every test cell line of a fold the
    same training side: one task per model and fold trains once and scores each test cell line
    (``Task.tests``; a metrics row and a prediction table per cell line, as the gen regime's)."""
    grouped: dict[tuple[str, str], list[Task]] = {}
    for task in tasks:
        grouped.setdefault((task.model, task.fold), []).append(task)
    merged = []
    for group in grouped.values():
        first = group[0]
        if len(group) == 1 or not all(np.array_equal(t.train, first.train) and np.array_equal(t.valid, first.valid) for t in group):
            merged += group
            continue
        tests = {task.cell_line: task.test for task in group}
        union = np.unique(np.concatenate(list(tests.values())))
        merged.append(Task(first.model, "+".join(tests), first.train_cell_line, first.fold, first.train, first.valid, union, first.info, tests=tests))
    return merged


def _contact_tasks_that_run(ds, tasks: list[Task], skipped: list[dict]) -> tuple[list[Task], list[dict]]:
    """Contact-map models train on whole contigs of the genome layer: a fold that leaves none free of
    test pairs, or a cell line without maps or tracks, is skipped with the reason."""
    kept = []
    for task in tasks:
        reason = kind_of(task.model).skip_reason(ds, task)
        if reason is None:
            kept.append(task)
        else:
            skipped.append({"cell_line": task.cell_line, "train_cell_line": task.train_cell_line, "fold": task.fold,
                            "reason": f"{task.model}: {reason}"})
    return kept, skipped


def same_test_pairs(ds, config: BenchConfig, tasks: list[Task], skipped: list[dict]) -> tuple[list[Task], list[dict]]:
    """Every model of a report column is scored on the same test pairs.

    A model of signals cannot score pairs without signal values (``model_inputs.measured_pairs``);
    beside models that can, one column would compare different test sets. That is refused, unless
    ``--signal-pairs-only`` restricts every model's sides to the pairs with signals.
    """
    if "pair_signal" not in ds:
        return tasks, skipped
    pair_models = [m for m in config.models if kind_of(m) is PAIRS]  # a contact-map model scores by its maps
    readers = [m for m in pair_models if get_model(m).reads("signals")]
    others = [m for m in pair_models if m not in readers]
    if not readers:
        return tasks, skipped
    measured = np.isfinite(np.asarray(ds["pair_signal"].values)).all(axis=(1, 2))
    if config.signal_pairs_only:
        return _only_measured(tasks, skipped, measured, np.asarray(ds["pair_label"].values).astype(bool))
    for task in tasks:
        unmeasured = int((~measured[task.test]).sum())
        if others and unmeasured:
            raise EpizooError(
                f"{task.cell_line} fold {task.fold}: {unmeasured:,} of {task.test.size:,} test pairs have no signal values, "
                f"so {', '.join(readers)} cannot score them but {', '.join(others)} would: one report column would compare "
                "different test pairs. Pass --signal-pairs-only to train and score every model on the pairs with signals, "
                "or bench models of signals in a run of their own")
    return tasks, skipped


def _only_measured(tasks: list[Task], skipped: list[dict], measured: np.ndarray, labels: np.ndarray) -> tuple[list[Task], list[dict]]:
    """Every task's sides cut to the pairs with signal values; a fold left without both classes is skipped."""
    kept = []
    for task in tasks:
        task.train, task.valid, task.test = (side[measured[side]] for side in (task.train, task.valid, task.test))
        task.tests = {line: pairs[measured[pairs]] for line, pairs in task.tests.items()}
        mask = np.zeros(labels.size, dtype=bool)
        mask[task.test] = True
        reason = _skip_reason(labels, mask)
        if reason is None:
            kept.append(task)
            continue
        entry = {"cell_line": task.cell_line, "train_cell_line": task.train_cell_line, "fold": task.fold,
                 "reason": f"{reason} among the pairs with signals (--signal-pairs-only)"}
        if entry not in skipped:
            skipped.append(entry)
    return kept, skipped


def _check_fold(ds, fold, split: str, report_leak: Callable[[str], None]) -> dict[str, Any]:
    if split in LEAKY_SPLITS:
        report = check_leakage(ds, fold, strict=False)
        if report.leaks:
            report_leak(f"warning: {report.summary()}")
        return report.as_dict()
    return check_leakage(ds, fold, strict=True).as_dict()


def _skip_reason(labels: np.ndarray, test: np.ndarray) -> str | None:
    if test.sum() == 0:
        return "the test side is empty"
    positives = int(labels[test].sum())
    if positives == 0:
        return "the test side has no positives"
    if positives == int(test.sum()):
        return "the test side has no negatives"
    return None


def check_controls(config: BenchConfig) -> None:
    """A positive control runs beside another split, on the per-cell-line folds of the specific regime."""
    if not config.controls:
        return
    unknown = [name for name in config.controls if name not in CONTROLS]
    if unknown:
        raise EpizooError(f"--control {', '.join(unknown)}: choose one of {', '.join(CONTROLS)}")
    if config.split in config.controls:
        raise EpizooError(f"--control {config.split} repeats --split {config.split}; choose another split, or leave --control out")
    if config.split in CROSS_SPLITS + MULTI_CELL_SPLITS:
        raise EpizooError(f"--control compares with per-cell-line folds; the {config.split} split trains and tests on different cell lines")


def control_tasks(ds, config: BenchConfig, warn: Callable[[str], None]) -> tuple[list[Task], list[dict]]:
    """Each model on one fold per cell line of each control split (``random``: pairs drawn at random,
    so test elements are seen in training). It rewards memorisation: a model that can fit the data
    shows it here, whatever it does under the chosen split."""
    labels = np.asarray(ds["pair_label"].values).astype(bool)
    tasks, leakage = [], []
    for control in config.controls:
        regime = CONTROLS[control]
        for line in _selected_cell_lines(ds, config):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # this split leaks by design: that is the control
                folds = get_split(control).function(ds, cell_lines=[line], seed=config.seed)
            for fold in folds:
                report = _check_fold(ds, fold, control, lambda message: None)
                leakage.append({"cell_line": line, "train_cell_line": line, "regime": regime, **report})
                reason = _skip_reason(labels, fold.test)
                if reason is not None:
                    warn(f"control {control} on {line}: {reason}; no control column")
                    continue
                sides = [np.flatnonzero(mask) for mask in (fold.train, fold.valid, fold.test)]
                info = json.loads(json.dumps(fold.info, default=str))
                tasks += [Task(model, line, line, fold.name, *sides, info, regime=regime) for model in config.models]
    return tasks, leakage


def plan(ds, config: BenchConfig, warn: Callable[[str], None] = print) -> tuple[list[Task], list[dict], list[dict]]:
    """Every (model, cell line, fold) task, the folds skipped with their reason, and the leakage reports.

    The leakage check runs on every fold before anything trains: strict (raising
    :class:`~epizoo.errors.LeakageError`) except for the splits that leak by design. The gen and
    best regimes add their tasks and their gen folds' checks (:mod:`epizoo.bench.regimes`).
    """
    split = get_split(config.split)
    labels = np.asarray(ds["pair_label"].values).astype(bool)
    tasks, skipped, leakage = [], [], []
    per_line: dict[str, list] = {}  # each cell line's folds, and whether their test side is scored
    regimes = config.regime or ["specific"]
    for train_line, test_line, options in _split_calls(ds, config):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the leaky split warns once, below, per fold
            folds = split.function(ds, **options)
        for fold in folds:
            if config.folds and not any(contigs.same(fold.name, wanted) for wanted in config.folds):
                continue  # --folds 1, chr1 and CHR1 name the fold chr1, as the splits read them (epizoo.contigs)
            leakage.append({"cell_line": test_line, "train_cell_line": train_line, **_check_fold(ds, fold, config.split, warn)})
            reason = _skip_reason(labels, fold.test)
            if reason == "the test side is empty":  # the split's note says why, e.g. strict dropped every test pair
                reason = next((f"the {note}" for note in fold.info.get("notes", []) if note.startswith("test side is empty: ")), reason)
            if set(regimes) - {"specific"}:
                per_line.setdefault(test_line, []).append((fold, reason is None))
            if reason is not None:
                skipped.append({"cell_line": test_line, "train_cell_line": train_line, "fold": fold.name, "reason": reason})
                continue
            if "specific" not in regimes:
                continue
            sides = [np.flatnonzero(mask) for mask in (fold.train, fold.valid, fold.test)]
            info = json.loads(json.dumps(fold.info, default=str))
            tasks += [Task(model, test_line, train_line, fold.name, *sides, info) for model in config.models]
    if set(regimes) - {"specific"}:
        more, reports = regime_tasks(ds, config, per_line, warn)
        tasks, leakage = tasks + more, leakage + reports
    if config.controls:
        more, reports = control_tasks(ds, config, warn)
        tasks, leakage = tasks + more, leakage + reports
    if config.split in MULTI_CELL_SPLITS:
        tasks = _train_once_per_fold(tasks)
    tasks, skipped = _contact_tasks_that_run(ds, tasks, skipped)
    tasks, skipped = same_test_pairs(ds, config, tasks, skipped)
    if config.folds and not tasks and not skipped:
        raise EmptyResultError(f"--folds {', '.join(config.folds)} matched no fold of the {config.split} split")
    if not tasks:
        raise EmptyResultError("no fold has both positives and negatives on its test side; see skipped folds or choose another split")
    return tasks, skipped, leakage
