"""``epizoo bench`` (train and score models over folds) and ``epizoo report`` (tables and plots)."""

from __future__ import annotations

import errno
from typing import Any

import click

from epizoo.cli.options import INTERRUPTED, PARALLEL_LIMIT, PROCESSES, SEED, THREADS, command_line, count, names, out_option, store_argument
from epizoo.errors import EpizooError

BALANCE = ("augment", "weights", "sampler", "none")


@click.command("bench")
@store_argument()
@click.option("--models", multiple=True, metavar="A,B", help="'all' (the default) or model names/aliases, comma-separated.")
@click.option("--split", default="loco", show_default=True, help="loco, cross-cell-line, cross-cell-line-strict, source-groups, chromosome, random, or a plugin's split "
              "(contact-map models alone: chromosome or cross-cell-line, on held-out maps).")
@click.option("--split-option", "split_option", multiple=True, metavar="KEY=VALUE", help="An option of the split (repeatable), e.g. valid_contigs=2.")
@click.option("--cell-lines", multiple=True, metavar="A,B", help="Only these cell lines, comma-separated (default: all in the store).")
@click.option("--folds", multiple=True, metavar="F1,F2", help="Only these folds, by name (chromosomes for loco), comma-separated.")
@click.option("--regime", default="specific", show_default=True, metavar="R1,R2", help="Training regimes, comma-separated: specific (one model per cell line and fold), gen (one per fold on all cell lines), best (gen fine-tuned per cell line; runs gen too).")
@click.option("--control", "controls", multiple=True, metavar="SPLIT", help="A positive control beside --split (repeatable): random, one pair-level random fold per cell line, which rewards memorisation; its own report column.")
@click.option("--signal-pairs-only", is_flag=True, help="Train and score every model on the pairs with signal values only, so that models of signals and of sequence share each column's test pairs.")
@click.option("--tiny", is_flag=True, help="Tiny hyperparameters and a 2-epoch recipe: a CPU smoke run.")
@click.option("--demo", is_flag=True, help="The models' demo size (published layers, narrower, on windows that cover the synthetic grammar) and one budget for all: the same 2,500 training pairs for 3 epochs.")
@click.option("--epochs", type=count(1), default=None, help="Override each recipe's epochs.")
@click.option("--batch-size", type=count(1), default=None, help="Override each recipe's batch size.")
@click.option("--max-pairs", type=count(1), default=None, help="Cap training pairs per fold (stratified, seeded; at least 4: two of each class); windows per side for a contact-map model.")
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), default=None, metavar="MINUTES", help="Stop training a task after this many wall-clock minutes (recorded).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Override each recipe's learning rate.")
@click.option("--precision", type=click.Choice(("auto", "fp32", "bf16")), default="auto", show_default=True, help="fp32, or bf16 autocast; auto: fp32 on CPU, on CUDA the faster for the model (a timed probe); contact-map models fp32.")
@click.option("--balance", type=click.Choice(BALANCE), default="augment", show_default=True, help="Class balance: published shift augmentation of training positives, pos_weight, balanced sampling, or none.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--threads", type=THREADS, default=None, help="torch.set_num_threads for training.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--num-workers", type=count(0, PARALLEL_LIMIT), default=0, show_default=True, help="DataLoader worker processes per task.")
@out_option(type=click.Path(), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue a run in --out: finished tasks are kept, others redone.")
@click.option("--workers", type=PROCESSES, default=None, help="Run tasks on a local dask cluster of N processes.")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Run tasks on an existing dask scheduler.")
@click.option("--no-progress", is_flag=True, help="No progress display (warnings only).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def bench_command(**kw: Any) -> None:
    """Train every chosen model on every fold of STORE and score the test sides into a run directory."""
    from epizoo.bench.report import as_json, print_report, write_report
    from epizoo.bench.runner import BenchConfig, bench

    if kw["workers"] and kw["scheduler"]:
        raise EpizooError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if kw["tiny"] and kw["demo"]:
        raise EpizooError("--tiny and --demo are two sizes; give one of them")
    from epizoo.bench.regimes import parse_regimes
    from epizoo.splits import parse_options

    config = BenchConfig(
        store=kw["store"], out=kw["out"], models=names(kw["models"], "--models") or ["all"], split=kw["split"],
        split_options=parse_options(kw["split_option"], "--split-option"),
        cell_lines=names(kw["cell_lines"], "--cell-lines"), folds=names(kw["folds"], "--folds"), regime=parse_regimes(kw["regime"]),
        controls=names(kw["controls"], "--control") or [], signal_pairs_only=kw["signal_pairs_only"],
        tiny=kw["tiny"], demo=kw["demo"], epochs=kw["epochs"], batch_size=kw["batch_size"], max_pairs=kw["max_pairs"],
        budget=kw["budget"], lr=kw["lr"], precision=kw["precision"],
        balance=kw["balance"], device=kw["device"], threads=kw["threads"], seed=kw["seed"], num_workers=kw["num_workers"],
        workers=kw["workers"], scheduler=kw["scheduler"], progress=not kw["no_progress"],
        command=command_line(click.get_current_context()),
    )
    try:
        bench(config, resume=kw["resume"])
        report = write_report(config.out)
    except KeyboardInterrupt:
        raise _interrupted(config) from None
    except OSError as exc:
        if exc.errno not in WRITE_ERRORS:
            raise
        raise EpizooError(_write_failed(config, exc)) from None
    _show(report, kw["as_json"], as_json, print_report)


WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


def _write_failed(config, exc: OSError) -> str:
    """A full disk or a folder made read-only mid-run (a checkpoint, a table, a plot): one line. Each
    task's files are renamed into place before its done marker, so finished tasks are kept."""
    from pathlib import Path

    where = f" ({exc.filename})" if exc.filename else ""
    what = "no space left on the device" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else f"cannot write: {exc.strerror or exc}"
    fix = "free some space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "make --out writable"
    if not (Path(config.out) / "config.json").is_file():
        return f"{what}{where}; the run had not started. {fix.capitalize()} or choose another --out"
    resume = config.command if " --resume" in config.command else f"{config.command} --resume"
    return f"{what}{where}; finished tasks are kept. {fix.capitalize()}, then continue with: {resume}"


def _interrupted(config) -> click.exceptions.Exit:
    """Ctrl-C: one line saying how to continue, and the shell's status for SIGINT."""
    from pathlib import Path

    if (Path(config.out) / "config.json").is_file():
        resume = config.command if " --resume" in config.command else f"{config.command} --resume"
        click.echo(f"interrupted; finished tasks are kept, continue with: {resume}", err=True)
    else:
        click.echo("interrupted before the run started; nothing was written", err=True)
    return click.exceptions.Exit(INTERRUPTED)


@click.command("report")
@click.argument("run", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def report_command(run: str, as_json: bool) -> None:
    """Tables (mean ± SD over folds) and plots of a finished or partial run."""
    from epizoo.bench.report import as_json as report_json, print_report, write_report

    _check_run_config(run)
    _show(write_report(run), as_json, report_json, print_report)


def _check_run_config(run: str) -> None:
    """A run's config.json, when present, must be the JSON object bench wrote: else one line."""
    import json
    from pathlib import Path

    from epizoo.errors import InputFileError

    path = Path(run) / "config.json"
    if not path.is_file():
        return
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise InputFileError(f"{path} is corrupt ({reason}); restore it from a copy or rerun the benchmark") from None
    if not isinstance(config, dict) or not isinstance(config.get("config", {}), dict):
        raise InputFileError(f"{path} is not an epizoo run configuration; restore it from a copy or rerun the benchmark")


def _show(report, json_wanted: bool, to_json, printer) -> None:
    from epizoo import console

    if json_wanted:
        console.print_json(to_json(report))
    else:
        printer(report)


def add_commands(cli: click.Group) -> None:
    cli.add_command(bench_command)
    cli.add_command(report_command)
