"""Where output goes: data (tables, JSON) on stdout, logs and progress bars on stderr."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

stdout = Console()
stderr = Console(stderr=True)


def print_json(obj: Any) -> None:
    """Machine-readable output for ``--json``: plain JSON on stdout, no colour, no wrapping."""
    from epizoo.jsontext import dumps  # numpy loads only with a --json output

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
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=stderr,
        transient=False,
    )
    with bar:
        yield bar
