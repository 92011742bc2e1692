"""Training regimes of a benchmark: ``specific``, ``gen`` and ``best``.

The EPI-DynFusion, EPIVAN, EPI-Mind and EPI-Trans papers report three regimes:

* ``specific``: one model per cell line and fold (the bench's plain tasks).
* ``gen``: one model per fold, trained on the union of every selected cell line's training side
  (validated on the union of their validation sides), then scoring each cell line's test side.
  Folds of different cell lines are "the same fold" when they have the same name (under ``loco``
  the held-out chromosome), so splits whose folds pair cell lines with each other
  (cross-cell-line, transepi) are refused.
* ``best``: the ``gen`` weights of the same fold, fine-tuned on each cell line's own training side
  with the model's recipe. scikit-learn models cannot be fine-tuned: their ``best`` task refits on
  the cell line's training side, i.e. equals ``specific`` (the report says so).

A gen fold is a :class:`~epizoo.splits.Fold` of union masks; before anything trains, its training
side (train + valid) is checked against every cell line's test side of that fold
(:func:`epizoo.splits.check_folds`), strictly unless the split leaks by design.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np

from epizoo.bench.config import CROSS_SPLITS, LEAKY_SPLITS, MULTI_CELL_SPLITS, REGIMES, BenchConfig, Task
from epizoo.errors import EpizooError
from epizoo.options import comma_list
from epizoo.splits import Fold, check_folds


def parse_regimes(value: Any) -> list[str]:
    """``specific,gen`` or a list of names -> the regimes in canonical order; ``best`` brings ``gen``
    (it starts from gen's weights)."""
    wanted = [name.lower() for name in comma_list(value)]
    unknown = [name for name in wanted if name not in REGIMES]
    if unknown or not wanted:
        raise EpizooError(f"--regime {','.join(unknown) or '(empty)'}: choose one or more of {', '.join(REGIMES)}, comma-separated")
    if "best" in wanted:
        wanted.append("gen")
    return [name for name in REGIMES if name in wanted]


def check_split(config: BenchConfig) -> None:
    """gen and best need folds that line up across cell lines."""
    others = [name for name in config.regime if name != "specific"]
    if others and config.split in CROSS_SPLITS + MULTI_CELL_SPLITS:
        raise EpizooError(
            f"--regime {','.join(others)} needs folds shared by the cell lines (e.g. --split loco); "
            f"the {config.split} split already trains and tests on different cell lines"
        )


def gen_fold(name: str, folds: dict[str, Any]) -> Any:
    """The fold the gen model trains on: the union of the cell lines' sides of fold ``name``."""
    sides = [np.logical_or.reduce([getattr(fold, side) for fold in folds.values()]) for side in ("train", "valid", "test")]
    info = {"cell_lines": list(folds), "folds": {line: fold.info for line, fold in folds.items()}}
    return Fold(name, *sides, info=info)


def check_gen_fold(ds, gen, folds: dict[str, Any], split: str, warn: Callable[[str], None]) -> list[dict[str, Any]]:
    """Leakage reports of the gen training side against each cell line's test side; a leak raises
    :class:`~epizoo.errors.LeakageError` unless the split leaks by design (then it warns)."""
    union = "+".join(folds)
    per_line = [Fold(f"{gen.name} (gen on {union}, test {line})", gen.train, gen.valid, fold.test) for line, fold in folds.items()]
    leaky = split in LEAKY_SPLITS
    reports = check_folds(ds, per_line, strict=not leaky)
    for report in reports:
        if leaky and report.leaks:
            warn(f"warning: {report.summary()}")
    return [
        {"regime": "gen", "cell_line": line, "train_cell_line": union, **report.as_dict(), "fold": gen.name}
        for line, report in zip(folds, reports)
    ]


def regime_tasks(
    ds, config: BenchConfig, per_line: dict[str, list[tuple[Any, bool]]], warn: Callable[[str], None]
) -> tuple[list[Task], list[dict[str, Any]]]:
    """The gen tasks (one per model and fold) and best tasks (one per model, cell line and fold),
    gen first, and the gen folds' leakage reports.

    ``per_line`` holds each cell line's folds with whether their test side can be scored.
    """
    by_name: dict[str, dict[str, tuple[Any, bool]]] = {}
    for line, folds in per_line.items():
        for fold, usable in folds:
            by_name.setdefault(fold.name, {})[line] = (fold, usable)
    gen_tasks, best_tasks, leakage = [], [], []
    for name, members in by_name.items():
        folds = {line: fold for line, (fold, _) in members.items()}
        scored = [line for line, (_, usable) in members.items() if usable]
        gen = gen_fold(name, folds)
        leakage += check_gen_fold(ds, gen, folds, config.split, warn)
        if not scored:
            continue  # every cell line's test side of this fold is skipped (listed in skipped.tsv)
        union = "+".join(folds)
        tests = {line: np.flatnonzero(folds[line].test) for line in scored}
        train, valid = np.flatnonzero(gen.train), np.flatnonzero(gen.valid)
        test = np.sort(np.concatenate(list(tests.values())))
        info = _json(gen.info)
        for model in config.models:
            task = Task(model, union, union, name, train, valid, test, info, regime="gen", tests=tests)
            gen_tasks.append(task)
            if "best" in config.regime:
                best_tasks += [_best_task(model, line, folds[line], task.key) for line in scored]
    return gen_tasks + best_tasks, leakage


def _best_task(model: str, line: str, fold, gen_key: str) -> Task:
    sides = [np.flatnonzero(mask) for mask in (fold.train, fold.valid, fold.test)]
    return Task(model, line, line, fold.name, *sides, {**_json(fold.info), "starts_from": gen_key}, regime="best", after=gen_key)


def _json(info: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(info, default=str))
