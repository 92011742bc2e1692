"""``epizoo plugins`` and ``epizoo models``: what is installed, and what each model is."""

from __future__ import annotations

from typing import Any

import click

from epizoo import console, docs_gen, plugins
from epizoo.errors import EmptyResultError


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins: name, version, hooks, and plugins that failed to load."""
    plugins.load_all()
    loaded, failed = plugins.list_plugins(), plugins.failed_plugins()
    if as_json:
        console.print_json({"plugins": loaded, "failed": failed})
        return
    _print_plugins_table(loaded, failed)


def _print_plugins_table(loaded: list[dict[str, Any]], failed: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table("name", "version", "hooks (register_*)", "module")
    for row in loaded:
        hooks = ", ".join(hook.removeprefix("register_") for hook in row["hooks"]) or "—"
        name = row["name"] + (" (default)" if row["default"] else "")
        table.add_row(name, row["version"] or "—", hooks, row["module"])
    console.stdout.print(table)
    problems = [(row["name"], row["error"]) for row in loaded if row["error"]]
    problems += [(row["name"], row["error"]) for row in failed]
    for name, error in problems:
        console.stdout.print(f"failed: {name}: {error}", markup=False, highlight=False, soft_wrap=True)


@click.command("models")
@click.option("--filter", "pattern", default=None, metavar="PATTERN", help="Shell pattern on names and aliases, e.g. 'epi*'.")
@click.option("--params/--no-params", default=True, show_default=True, help="Count trainable parameters by building each model.")
@click.option("--json", "as_json", is_flag=True, help="Print the full specs (cards, recipes, hparams) as JSON.")
def models_command(pattern: str | None, params: bool, as_json: bool) -> None:
    """List registered models: aliases, input, lengths, parameters, recipe and card."""
    specs = plugins.find_models(pattern) if pattern else list(plugins.get_models().values())
    if pattern and not specs:
        known = ", ".join(sorted(plugins.get_models())) or "none"
        raise EmptyResultError(f"no model name or alias matches {pattern!r} (known: {known})")
    specs.sort(key=lambda spec: spec.name)
    counts = {spec.name: _parameters_or_none(spec) for spec in specs} if params else {}
    if as_json:
        console.print_json([docs_gen.model_record(spec, counts.get(spec.name)) for spec in specs])
        return
    _print_models_table(specs, counts, params)


def _parameters_or_none(spec: Any) -> int | None:
    """Count parameters; a model that cannot be built is reported and shown without a count."""
    try:
        return docs_gen.count_parameters(spec)
    except Exception as exc:
        message = f"warning: model {spec.name!r} could not be built: {type(exc).__name__}: {exc}"
        console.stderr.print(" ".join(message.split()), markup=False, highlight=False, soft_wrap=True)
        return None


def _print_models_table(specs: list[Any], counts: dict[str, int | None], params: bool) -> None:
    from rich.table import Table

    table = Table("name", "aliases", "kind", "input", "lengths", *(["parameters"] if params else []), "recipe", "card")
    for spec in specs:
        count = counts.get(spec.name)
        cells = [
            spec.name,
            ", ".join(spec.aliases) or "—",
            spec.kind,
            spec.input_encoding or "features",
            f"{spec.enhancer_length}/{spec.promoter_length}",
            *([f"{count:,}" if count is not None else "—"] if params else []),
            docs_gen.recipe_summary(spec.recipe, spec.kind),
            docs_gen.card_summary(spec.card),
        ]
        table.add_row(*cells)
    console.stdout.print(table)


def add_commands(cli: click.Group) -> None:
    cli.add_command(plugins_command)
    cli.add_command(models_command)
