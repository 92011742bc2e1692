"""Where output goes: data (tables, JSON) on stdout, logs and progress bars on stderr."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

stdout = Console()
stderr = Console(stderr=True)


def print_json(obj: Any) -> None:
    """Machine-readable output for ``--json``: plain JSON on stdout, no colour, no wrapping."""
    from epizoo.jsontext import dumps  # lazy: imports numpy, which only a --json output needs (every command imports console)

    print(dumps(obj, indent=2))


class _NoProgress:
    """Stands in for a rich Progress when ``--no-progress`` is given."""

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass

    def advance(self, *args: Any, **kwargs: Any) -> None:
        pass

    def remove_task(self, *args: Any, **kwargs: Any) -> None:
        pass


class RemainingColumn(ProgressColumn):
    """Time left, from the task's whole elapsed time and the share done: rich's own column uses the
    speed of the last 30 s, so it shows -:--:-- whenever a step (an epoch, a model) takes longer.
    Steps done before the clock meant anything (``resumed``, a field: tasks a resumed run skips)
    are left out of the rate."""

    def render(self, task) -> Text:
        resumed = task.fields.get("resumed", 0)
        done = task.completed - resumed
        if task.finished:
            return Text("0:00:00", style="progress.remaining")
        if task.total is None or task.elapsed is None or done <= 0 or task.elapsed <= 0:
            return Text("-:--:--", style="progress.remaining")
        seconds = int(task.elapsed * (task.total - task.completed) / done)
        hours, rest = divmod(seconds, 3600)
        return Text(f"{hours}:{rest // 60:02d}:{rest % 60:02d}", style="progress.remaining")


@contextmanager
def progress(enabled: bool = True) -> Iterator[Progress | _NoProgress]:
    """A rich progress display on stderr, or a silent stand-in."""
    if not enabled:
        yield _NoProgress()
        return
    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        RemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=stderr,
        transient=not stderr.is_terminal,  # a log file or a pipe gets no final bar among its lines
    )
    with bar:
        yield bar
