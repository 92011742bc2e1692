"""Options shared by the commands, so that every command spells the same thing the same way.

* The store a command reads is its first argument (``epizoo bench STORE``, ``epizoo inspect
  STORE``); ``--store PATH`` is still accepted, with a deprecation note on stderr.
* ``-o``/``--out`` names what a command writes.
* Several values are one comma-separated option (``--cell-lines A,B``, ``--models A,B``); the option
  may also be repeated. The old repeatable ``--cell-line X`` of ``build-store`` still works, with a note.
* ``--threads`` counts threads, ``--workers`` processes; ``embed --workers`` (threads) still works,
  with a note.

Only click is imported here: ``epizoo --help`` must stay fast.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable

import click

INTERRUPTED = 130  # the shell's status for a process stopped by SIGINT


# Integer options are bounded on both sides, so that a value such as 2**70 or -1 is a usage error
# (one line, status 2), never an OverflowError or ValueError from torch or numpy.
INT_LIMIT = 2**31 - 1  # the largest C int: counts and sizes reach torch and numpy as one
PARALLEL_LIMIT = 1024  # threads or processes: torch allocates per thread, so 2**31 threads is an out-of-memory abort
SEED = click.IntRange(0, 2**32 - 1)  # numpy's legacy seeding (np.random.seed) takes 32 bits


def count(min: int = 1, max: int = INT_LIMIT) -> click.IntRange:
    """An integer option's type: ``min`` to ``max`` (by default :data:`INT_LIMIT`; lengths in bp may go to ``epizoo.coords.MAX_COORDINATE``)."""
    return click.IntRange(min=min, max=max)


THREADS = count(1, PARALLEL_LIMIT)
PROCESSES = count(1, PARALLEL_LIMIT)


def deprecated(old: str, new: str) -> None:
    """One note on stderr: ``old`` still works, ``new`` is the spelling to use."""
    click.echo(f"note: {old} is deprecated; use {new}", err=True)


def renamed(old: str, new: str, name: str, as_new: Callable[[Any], Any] = lambda value: value, **option: Any) -> Callable:
    """A hidden ``old`` spelling of the option ``new`` (parameter ``name``): it still works, with a note.

    ``as_new`` turns an old value into the new parameter's (``--train X`` into ``("train=X",)``);
    repeatable new options (tuples) gather old and new values.
    """

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            value = kwargs.pop(f"old_{name}_{old.strip('-').replace('-', '_')}")
            if value not in (None, ()):
                deprecated(old, new)
                given, converted = kwargs.get(name), as_new(value)
                if isinstance(given, tuple):
                    kwargs[name] = given + tuple(converted)
                elif given is not None:
                    raise click.UsageError(f"{old} and {new} name the same option; give {new} only")
                else:
                    kwargs[name] = converted
                ctx = click.get_current_context()  # the recorded command line spells it the new way
                ctx.params[name] = kwargs[name]
                ctx.set_parameter_source(name, click.core.ParameterSource.COMMANDLINE)
            return function(*args, **kwargs)

        return click.option(old, f"old_{name}_{old.strip('-').replace('-', '_')}", hidden=True, default=None, **option)(run)

    return decorate


def names(values: str | Iterable[str] | None, flag: str) -> list[str] | None:
    """``A,B`` (or several of them, from a repeated option) to ``['A', 'B']``; not given: None.

    A value that names nothing (``--models ,``) is refused: it would otherwise mean "all".
    """
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    values = list(values)
    if not values:
        return None
    from epizoo.options import comma_list  # stdlib only: epizoo --help stays fast

    result = comma_list(values)
    if not result:
        from epizoo.errors import EpizooError

        shown = " ".join(f"{flag} {value!r}" for value in values)
        raise EpizooError(f"{shown} names nothing; give names separated by commas, e.g. {flag} A,B, or leave the option out")
    return result


def out_option(help: str, **kwargs: Any) -> Callable:
    """``-o``/``--out`` (required unless told otherwise)."""
    kwargs.setdefault("required", True)
    return click.option("-o", "--out", help=help, **kwargs)


def store_argument(required: bool = True) -> Callable:
    """``STORE`` as the first argument, with the deprecated ``--store`` accepted in its place.

    The decorated function receives ``store`` (None only when ``required`` is False and neither
    was given).
    """

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def run(*args: Any, store: str | None = None, store_option: str | None = None, **kwargs: Any) -> Any:
            if store_option is not None:
                if store is not None and store != store_option:
                    raise click.UsageError(f"two stores given ({store} and --store {store_option}); give one, as the first argument")
                deprecated("--store PATH", "the store as the first argument, e.g. epizoo "
                           f"{click.get_current_context().info_name} PATH")
                store = store_option
            if store is None and required:
                raise click.UsageError("Missing argument 'STORE' (the store built by `epizoo build-store`).")
            return function(*args, store=store, **kwargs)

        run = click.option("--store", "store_option", type=click.Path(), default=None, hidden=True,
                           help="Deprecated: give the store as the first argument.")(run)
        return click.argument("store", type=click.Path(), required=False)(run)

    return decorate


def command_line(ctx: click.Context, extra: Iterable[str] = ()) -> str:
    """The command as the user gave it, in the current spelling (options left at their defaults
    are left out; the store comes first; deprecated spellings are written the new way)."""
    import shlex

    words = ["epizoo", ctx.info_name or "?"]
    store = ctx.params.get("store") or ctx.params.get("store_option")
    if store:
        words.append(str(store))
    for param in ctx.command.params:
        if param.name in ("store", "store_option") or param.hidden or not isinstance(param, click.Option):
            continue
        if ctx.get_parameter_source(param.name) != click.core.ParameterSource.COMMANDLINE:
            continue
        value, flag = ctx.params[param.name], max(param.opts, key=len)
        if param.is_flag:
            if value:
                words.append(flag)
        elif param.multiple:
            words += [part for item in value for part in (flag, str(item))]
        else:
            words += [flag, str(value)]
    words += [word for word in extra if word not in words]
    return shlex.join(words)
