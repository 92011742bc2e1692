"""Progress of a benchmark on stderr: a rich display on a terminal, plain lines in a log, or quiet."""

from __future__ import annotations

import sys
from typing import Any

from epizoo import console
from epizoo.bench.config import Task
from epizoo.plugins import get_model
from epizoo.training.trainer import TrainOptions, resolve_recipe


def _epoch_text(record: dict[str, Any]) -> str:
    parts = [f"epoch {record['epoch']}"]
    if record.get("loss") == record.get("loss"):  # not NaN
        parts.append(f"loss {record['loss']:.4f}")
    if record.get("valid_auroc") == record.get("valid_auroc") and record.get("valid_auroc") is not None:
        parts.append(f"valid AUROC {record['valid_auroc']:.3f}")
    return ", ".join(parts)


def _batch_text(record: dict[str, Any]) -> str:
    return (
        f"epoch {record['epoch']}: {record['items']:,}/{record['total']:,} items, "
        f"{record['items_per_second']:,.0f} items/s, loss {record['loss']:.4f}"
    )


def _task_label(task: Task) -> str:
    return f"{task.model} {task.group} {task.fold}"


class PlainProgress:
    """One line per event on stderr: readable in a CI log (non-TTY)."""

    def __init__(self):
        self.total, self.finished = 0, 0

    def session(self, tasks: list[Task]):
        from contextlib import nullcontext

        self.total = len(tasks)
        return nullcontext()

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def start(self, task: Task, skipped: bool = False, remote: bool = False) -> None:
        if skipped:
            self.log(f"[{task.key}] already done, skipped")
        elif not remote:
            self.log(f"[{task.key}] training")

    def epoch(self, task: Task, record: dict[str, Any]) -> None:
        self.log(f"[{task.key}] {_epoch_text(record)}")

    def batch(self, task: Task, record: dict[str, Any]) -> None:
        pass  # a line per batch would drown a CI log; the epochs say enough

    def finish(self, task: Task) -> None:
        self.finished += 1
        self.log(f"[{task.key}] finished ({self.finished}/{self.total})")


class QuietProgress(PlainProgress):
    """``--no-progress``: warnings only."""

    def start(self, *args: Any, **kwargs: Any) -> None:
        pass

    def epoch(self, *args: Any, **kwargs: Any) -> None:
        pass

    def finish(self, task: Task) -> None:
        pass


class RichProgress(PlainProgress):
    """A live display on a terminal: all tasks, and the epochs of the running one."""

    def __init__(self, options: TrainOptions):
        super().__init__()
        self.options = options

    def session(self, tasks: list[Task]):
        from contextlib import contextmanager

        @contextmanager
        def live():
            with console.progress(True) as bar:
                self.bar = bar
                self.overall = bar.add_task("models x folds", total=len(tasks), status="", resumed=0)
                self.current, self.epochs, self.finished, self.resumed, self.skipping = None, 1, 0, 0, set()
                yield

        return live()

    def log(self, message: str) -> None:
        console.stderr.print(message, markup=False, highlight=False)

    def start(self, task: Task, skipped: bool = False, remote: bool = False) -> None:
        if skipped:
            self.skipping.add(task.key)  # done before: not counted in the rate of the time-left estimate
        if skipped or remote:
            return

        spec = get_model(task.model)
        epochs = 1 if spec.kind == "sklearn" else resolve_recipe(spec, self.options).epochs
        if self.current is not None:
            self.bar.remove_task(self.current)
        self.current, self.epochs = self.bar.add_task(_task_label(task), total=epochs, status=""), epochs

    def _within_task(self, epochs_done: float) -> None:
        """The running task's share of its epochs, and of the whole run, so both ETAs move within an epoch."""
        self.bar.update(self.current, completed=epochs_done)
        self.bar.update(self.overall, completed=self.finished + min(epochs_done / self.epochs, 1.0))

    def epoch(self, task: Task, record: dict[str, Any]) -> None:
        if self.current is not None:
            self._within_task(float(record["epoch"]))
            self.bar.update(self.current, status=_epoch_text(record))

    def batch(self, task: Task, record: dict[str, Any]) -> None:
        if self.current is not None:
            self._within_task(record["epoch"] - 1 + record["items"] / max(record["total"], 1))
            self.bar.update(self.current, status=_batch_text(record))

    def finish(self, task: Task) -> None:
        self.finished += 1
        if task.key in self.skipping:
            self.resumed += 1
        self.bar.update(self.overall, completed=self.finished, resumed=self.resumed)


def make_progress(enabled: bool, options: TrainOptions):
    """Rich on a terminal, plain lines otherwise, nearly silent with ``--no-progress``."""
    if not enabled:
        return QuietProgress()
    return RichProgress(options) if console.stderr.is_terminal else PlainProgress()
