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
@click.argument("name", required=False)
@click.option("--filter", "pattern", default=None, metavar="PATTERN", help="Shell pattern on names and aliases, e.g. 'epi*'.")
@click.option("--params/--no-params", default=True, show_default=True, help="Count trainable parameters by building each model.")
@click.option("--json", "as_json", is_flag=True, help="Print the full specs (cards, recipes, hparams) as JSON.")
def models_command(name: str | None, pattern: str | None, params: bool, as_json: bool) -> None:
    """List registered models (name, kind, input, windows, parameters); with NAME, its full card."""
    if name is not None:
        if pattern:
            raise click.UsageError("give a model NAME or --filter PATTERN, not both")
        spec = plugins.get_model(name)  # aliases resolve; an unknown name suggests the closest
        count = _parameters_or_none(spec) if params else None
        if as_json:
            console.print_json(docs_gen.model_record(spec, count))
        else:
            _print_card(spec, count, params)
        return
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
    """A table that fits 80 columns: the card, recipe and aliases are in ``epizoo models NAME``."""
    from rich.table import Table

    table = Table()
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("input")  # what a model reads can be long: it wraps, the numbers never do
    table.add_column("windows", justify="right", no_wrap=True)
    if params:
        table.add_column("parameters", justify="right", no_wrap=True)
    for spec in specs:
        count = counts.get(spec.name)
        table.add_row(
            spec.name, spec.kind, docs_gen.reads_text(spec), docs_gen.windows_text(spec, "{}/{}"),
            *([f"{count:,}" if count is not None else "—"] if params else []),
        )
    console.stdout.print(table)
    console.stdout.print("windows: enhancer/promoter bp, for models of sequence. Card: epizoo models NAME", markup=False, highlight=False)


def _print_card(spec: Any, count: int | None, params: bool) -> None:
    """One model: card, input, windows, parameters and recipe, as a two-column table that wraps."""
    from rich.table import Table
    from rich.text import Text

    card = spec.card
    upstream = card.upstream_repository + (f"@{card.upstream_commit[:12]}" if card.upstream_commit else "")
    rows = [
        ("title", card.title),
        ("aliases", ", ".join(spec.aliases)),
        ("authors", card.authors),
        ("citation", card.citation),
        ("licence", card.licence),
        ("upstream", upstream),
        ("kind", spec.kind),
        ("input", docs_gen.reads_text(spec)),
        ("windows", docs_gen.card_windows(spec)),
        ("parameters", (f"{count:,}" if count is not None else "—") if params else ""),
        ("published parameters", f"{spec.published_parameters:,}" if spec.published_parameters else ""),
        ("recipe", docs_gen.recipe_summary(spec.recipe, spec.kind)),
        ("recipe notes", spec.recipe.notes),
        ("paper vs code", card.paper_deviations),
        ("port deviations", card.port_deviations),
        ("notes", card.notes),
    ]
    table = Table(title=spec.name, show_header=False)
    table.add_column("field", no_wrap=True, style="bold")
    table.add_column("value", overflow="fold")
    for key, value in rows:
        if value:
            table.add_row(key, Text(" ".join(str(value).split())))  # Text: "[e, p]" is card text, not rich markup
    console.stdout.print(table)


def add_commands(cli: click.Group) -> None:
    cli.add_command(plugins_command)
    cli.add_command(models_command)
