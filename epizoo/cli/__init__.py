"""The ``epizoo`` command line.

Each area owns a module that adds its commands (:func:`add_commands`); plugins add theirs
through the ``register_commands`` hook, loaded only when a command name is not a built-in one or
``--help`` lists them (and then only when a plugin's module names that hook), so built-in commands
and ``epizoo --help`` start without importing the models (and torch). A
user mistake raised as :class:`EpizooError` becomes one line on stderr and exit status 1, never a
traceback; Ctrl-C becomes one line and status 130.
"""

from __future__ import annotations

import sys

import click

from epizoo import __version__
from epizoo.cli.options import INTERRUPTED
from epizoo.errors import EpizooError


def _interrupted() -> click.exceptions.Exit:
    click.echo("interrupted", err=True)
    return click.exceptions.Exit(INTERRUPTED)


class EpizooGroup(click.Group):
    """A group whose plugin commands load lazily, the first time a name is not a built-in one."""

    plugins_added = False

    def add_plugin_commands(self) -> None:
        if self.plugins_added:
            return
        self.plugins_added = True
        from epizoo.plugins import add_plugin_commands  # the register_commands hook; never raises

        try:
            add_plugin_commands(self)
        except KeyboardInterrupt:
            raise _interrupted() from None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and not self.plugins_added:
            self.add_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        if _plugins_may_add_commands():  # else `epizoo --help` would import every model (and torch)
            self.add_plugin_commands()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EpizooError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            raise _interrupted() from None
        except OSError as exc:
            from epizoo import scratch

            # a full disk under TMPDIR (a scratch folder, a library's temporary file): name TMPDIR, not --out
            if exc.errno in scratch.FULL and scratch.in_temporary_directory(exc.filename):
                raise click.ClickException(scratch.full_line(exc.filename, exc)) from None
            raise


def _plugins_may_add_commands() -> bool:
    """Whether an installed plugin may add commands, decided without importing any plugin.

    A plugin adds commands through a ``register_commands`` hook in its entry-point module, so a
    module whose source never names it adds none. A module whose source cannot be read counts as one
    that may (it is then loaded, as before).
    """
    import importlib.util
    from importlib.metadata import entry_points

    from epizoo.plugins import GROUP, _allowed_entry_points

    allowed = _allowed_entry_points()
    for ep in entry_points(group=GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        try:
            spec = importlib.util.find_spec(ep.module)
            source = spec.loader.get_source(ep.module) if spec is not None and spec.loader is not None else None
        except Exception:  # a broken plugin is reported when it loads
            return True
        if source is None or "register_commands" in source:
            return True
    return False


@click.group(cls=EpizooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="epizoo")
def cli() -> None:
    """epizoo: enhancer-promoter interaction models on one data engine, under leak-free splits."""
    from epizoo.plugins import warn_plugin_problems  # light: pluggy only

    # plugins load when a command first needs them; report any that failed once it is done
    click.get_current_context().call_on_close(warn_plugin_problems)


def _add_builtin_commands() -> None:
    from epizoo.cli import bench_commands, embed_commands, explain_commands, predict_commands, scan_commands, store_commands, zoo_commands
    from epizoo.cli import contact_commands

    for module in (store_commands, embed_commands, zoo_commands, bench_commands, predict_commands, scan_commands, explain_commands, contact_commands):
        module.add_commands(cli)


_add_builtin_commands()


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:  # outside click's own handling (e.g. while starting up)
        click.echo("interrupted", err=True)
        sys.exit(INTERRUPTED)
