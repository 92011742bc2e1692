"""``epizoo plugins`` and ``epizoo models``: what is installed, and what each model is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from epizoo import console, docs_gen
from epizoo.errors import EmptyResultError

if TYPE_CHECKING:  # for annotations only
    from epizoo.zoo import ModelSpec


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins: name, version, hooks, and plugins that failed to load."""
    from epizoo.registry_cache import listing

    found = listing()
    loaded, failed = found["plugins"], found["failed"]
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
    from epizoo.registry_cache import find_record, listing, matching_records, spec_of

    if name is not None and pattern:
        raise click.UsageError("give a model NAME or --filter PATTERN, not both")
    records = listing(parameters=params)["models"]  # the specs' records, cached: no torch import
    if not params:
        records = [{key: value for key, value in record.items() if key != "parameters"} for record in records]
    if name is not None:
        record = find_record(records, name)  # aliases resolve; an unknown name suggests the closest
        if as_json:
            console.print_json(record)
        else:
            _print_card(spec_of(record), record.get("parameters"), params)
        return
    chosen = matching_records(records, pattern) if pattern else records
    if pattern and not chosen:
        known = ", ".join(sorted(record["name"] for record in records)) or "none"
        raise EmptyResultError(f"no model name or alias matches {pattern!r} (known: {known})")
    chosen = sorted(chosen, key=lambda record: record["name"])
    if as_json:
        console.print_json(chosen)
        return
    _print_models_table([spec_of(record) for record in chosen], {r["name"]: r.get("parameters") for r in chosen}, params)


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


def _print_card(spec: ModelSpec, count: int | None, params: bool) -> None:
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
