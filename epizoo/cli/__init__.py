"""The ``epizoo`` command line.

Each area owns a module that adds its commands (:func:`add_commands`); plugins add theirs
through the ``register_commands`` hook. A user mistake raised as :class:`EpizooError` becomes one
line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import click

from epizoo import __version__
from epizoo.errors import EpizooError


class EpizooGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EpizooError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=EpizooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="epizoo")
def cli() -> None:
    """epizoo: enhancer-promoter interaction models on one data engine, under leak-free splits."""


def _add_all_commands() -> None:
    from epizoo.cli import bench_commands, embed_commands, store_commands, zoo_commands

    for module in (store_commands, embed_commands, zoo_commands, bench_commands):
        module.add_commands(cli)

    from epizoo.plugins import add_plugin_commands  # the register_commands hook; never raises

    add_plugin_commands(cli)


_add_all_commands()


def main() -> None:
    cli()
