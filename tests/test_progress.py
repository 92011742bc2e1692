"""Progress displays: a time-left estimate that holds through long steps, and a bench whose
estimate moves within an epoch."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from epizoo import console
from epizoo.bench.config import Task
from epizoo.bench.progress import RichProgress
from epizoo.training.trainer import TrainOptions


def remaining(completed: float, total: float, elapsed: float, resumed: int = 0) -> str:
    task = SimpleNamespace(completed=completed, total=total, elapsed=elapsed, finished=completed >= total, fields={"resumed": resumed})
    return console.RemainingColumn().render(task).plain


def test_time_left_comes_from_the_whole_elapsed_time():
    assert remaining(0, 10, 5.0) == "-:--:--"  # nothing done: no estimate
    assert remaining(2, 10, 600.0) == "0:40:00"  # two of ten steps in ten minutes, however long ago the last one ended
    assert remaining(2.5, 10, 3000.0) == "2:30:00"
    assert remaining(10, 10, 60.0) == "0:00:00"


def test_steps_a_resumed_run_skipped_do_not_count_in_the_rate():
    assert remaining(6, 10, 600.0, resumed=5) == "0:40:00"  # one real step in ten minutes, four left
    assert remaining(5, 10, 1.0, resumed=5) == "-:--:--"


def test_bench_progress_moves_within_an_epoch(monkeypatch):
    monkeypatch.setattr(console, "stderr", Console(file=io.StringIO(), force_terminal=True, width=100))
    progress = RichProgress(TrainOptions(tiny=True))
    tasks = [Task(model="epizoo-cnn", cell_line="A", train_cell_line="A", fold=f"chr{i}", train=None, valid=None, test=None)
             for i in (1, 2)]
    with progress.session(tasks):
        progress.start(tasks[0], skipped=True)
        progress.finish(tasks[0])
        progress.start(tasks[1])
        progress.batch(tasks[1], {"epoch": 1, "items": 50, "total": 100, "items_per_second": 10.0, "loss": 0.5})
        overall = progress.bar.tasks[progress.overall]
        assert overall.completed == 1 + 0.5 / progress.epochs and overall.fields["resumed"] == 1
        progress.epoch(tasks[1], {"epoch": 1, "loss": 0.4})
        assert progress.bar.tasks[progress.current].completed == 1.0
        progress.finish(tasks[1])
        assert progress.bar.tasks[progress.overall].completed == 2
