"""``epizoo bench`` (train and score models over folds) and ``epizoo report`` (tables and plots)."""

from __future__ import annotations

import shlex
from typing import Any

import click
import yaml

from epizoo.errors import EpizooError

BALANCE = ("augment", "weights", "sampler", "none")


def _names(text: str | None) -> list[str] | None:
    """``A,B`` to ``['A', 'B']``; None or empty stays None."""
    if not text:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


def _command_line(ctx: click.Context) -> str:
    """The command as the user gave it (options not given on the command line are left out)."""
    words = ["epizoo", ctx.info_name or "bench"]
    for param in ctx.command.params:
        if ctx.get_parameter_source(param.name) != click.core.ParameterSource.COMMANDLINE:
            continue
        value, flag = ctx.params[param.name], param.opts[0]
        if getattr(param, "is_flag", False):
            words.append(flag)
        elif getattr(param, "multiple", False):
            words += [part for item in value for part in (flag, str(item))]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def _split_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are read as YAML scalars (numbers, true/false, strings)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise EpizooError(f"--split-option {pair!r} must be KEY=VALUE, e.g. valid_contigs=2")
        parsed = yaml.safe_load(value) if value.strip() else ""
        options[key.strip()] = _names(parsed) if isinstance(parsed, str) and "," in parsed else parsed
    return options


@click.command("bench")
@click.option("--store", required=True, type=click.Path(), help="Store built by `epizoo build-store`.")
@click.option("--models", default="all", show_default=True, help="'all' or model names/aliases, comma-separated.")
@click.option("--split", default="loco", show_default=True, help="loco, cross-cell-line, cross-cell-line-strict, source-groups, chromosome, random, or a plugin's split.")
@click.option("--split-option", "split_option", multiple=True, metavar="KEY=VALUE", help="An option of the split (repeatable), e.g. valid_contigs=2.")
@click.option("--cell-lines", default=None, metavar="A,B", help="Only these cell lines (default: all in the store).")
@click.option("--folds", default=None, metavar="F1,F2", help="Only these folds, by name (chromosomes for loco).")
@click.option("--tiny", is_flag=True, help="Tiny hyperparameters and a 2-epoch recipe: a CPU smoke run.")
@click.option("--demo", is_flag=True, help="The models' demo size: published layers, narrower, on windows that cover the synthetic grammar.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override each recipe's epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Override each recipe's batch size.")
@click.option("--max-pairs", type=click.IntRange(min=2), default=None, help="Cap training pairs per fold (stratified, seeded).")
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), default=None, metavar="MINUTES", help="Stop training a task after this many wall-clock minutes (recorded).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Override each recipe's learning rate.")
@click.option("--precision", type=click.Choice(("auto", "fp32", "bf16")), default="auto", show_default=True, help="fp32, or bf16 autocast; auto: fp32 on CPU, bf16 on CUDA.")
@click.option("--balance", type=click.Choice(BALANCE), default="augment", show_default=True, help="Class balance: published shift augmentation of training positives, pos_weight, balanced sampling, or none.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch.set_num_threads for training.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--num-workers", type=click.IntRange(min=0), default=0, show_default=True, help="DataLoader worker processes per task.")
@click.option("--out", required=True, type=click.Path(), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue a run in --out: finished tasks are kept, others redone.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Run tasks on a local dask cluster of N processes.")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Run tasks on an existing dask scheduler.")
@click.option("--no-progress", is_flag=True, help="No progress display (warnings only).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def bench_command(**kw: Any) -> None:
    """Train every chosen model on every fold and score the test sides into a run directory."""
    from epizoo.bench.report import as_json, print_report, write_report
    from epizoo.bench.runner import BenchConfig, bench

    if kw["workers"] and kw["scheduler"]:
        raise EpizooError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if kw["tiny"] and kw["demo"]:
        raise EpizooError("--tiny and --demo are two sizes; give one of them")
    config = BenchConfig(
        store=kw["store"], out=kw["out"], models=_names(kw["models"]) or ["all"], split=kw["split"],
        split_options=_split_options(kw["split_option"]), cell_lines=_names(kw["cell_lines"]), folds=_names(kw["folds"]),
        tiny=kw["tiny"], demo=kw["demo"], epochs=kw["epochs"], batch_size=kw["batch_size"], max_pairs=kw["max_pairs"],
        budget=kw["budget"], lr=kw["lr"], precision=kw["precision"],
        balance=kw["balance"], device=kw["device"], threads=kw["threads"], seed=kw["seed"], num_workers=kw["num_workers"],
        workers=kw["workers"], scheduler=kw["scheduler"], progress=not kw["no_progress"],
        command=_command_line(click.get_current_context()),
    )
    bench(config, resume=kw["resume"])
    report = write_report(config.out)
    _show(report, kw["as_json"], as_json, print_report)


@click.command("report")
@click.argument("run", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def report_command(run: str, as_json: bool) -> None:
    """Tables (mean ± SD over folds) and plots of a finished or partial run."""
    from epizoo.bench.report import as_json as report_json, print_report, write_report

    _show(write_report(run), as_json, report_json, print_report)


def _show(report, json_wanted: bool, to_json, printer) -> None:
    from epizoo import console

    if json_wanted:
        console.print_json(to_json(report))
    else:
        printer(report)


def add_commands(cli: click.Group) -> None:
    cli.add_command(bench_command)
    cli.add_command(report_command)
