"""``epizoo predict``: score a store's pairs, or a user's BEDPE, with a trained model's checkpoint.

Only click is imported at module level; torch and the store load inside the command, so that
``epizoo --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

import click

from epizoo.cli.options import THREADS, command_line, count, out_option, store_argument
from epizoo.errors import EpizooError


@click.command("predict")
@store_argument(required=False)
@click.option("--bedpe", type=click.Path(dir_okay=False), default=None, metavar="PAIRS.bedpe", help="Instead of STORE: score the pairs of this BEDPE (read as build-store --dataset bedpe reads it), with --genome or --regions.")
@click.option("--genome", type=click.Path(dir_okay=False), default=None, help="With --bedpe: whole-genome FASTA (plain or bgzip).")
@click.option("--regions", type=click.Path(dir_okay=False), multiple=True, help="With --bedpe: pre-extracted sequences, as build-store takes them (repeatable).")
@click.option("--checkpoint", type=click.Path(), default=None, metavar="CKPT", help="A checkpoint folder (RUN/checkpoints/MODEL/CELL/FOLD).")
@click.option("--run", "run_dir", type=click.Path(), default=None, metavar="RUN", help="A bench run directory: use the checkpoint of --model, --cell-line and --fold.")
@click.option("--model", default=None, help="With --run: the model (name or alias).")
@click.option("--cell-line", default=None, help="With --run: the cell line (TRAIN-to-TEST for cross-cell-line runs); may be left out when the run has one.")
@click.option("--fold", default=None, help="With --run: the fold (a chromosome for loco); may be left out when the run has one.")
@click.option("--pairs", type=click.Choice(("all", "test")), default="all", show_default=True, help="Every pair of STORE, or the test side of the checkpoint's fold (as the bench recorded it).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--batch-size", type=count(1), default=256, show_default=True, help="Pairs per batch (eval mode: scores do not depend on it).")
@click.option("--precision", type=click.Choice(("auto", "fp32", "bf16")), default="auto", show_default=True, help="fp32, or bf16 autocast; auto: fp32 on CPU, bf16 on CUDA.")
@click.option("--threads", type=THREADS, default=None, help="torch.set_num_threads.")
@click.option("--tracks-of", default=None, metavar="CELL", help="A contact-map checkpoint: read this cell line's tracks for pairs whose own cell line has none in the genome layer.")
@out_option(type=click.Path(), help="The file to write: the bench's prediction table (TSV), or BEDPE when the name ends in .bedpe, or UCSC interact (see --format).")
@click.option("--format", "output_format", type=click.Choice(("tsv", "bedpe", "interact")), default=None, help="What -o holds: tsv (the prediction table), bedpe, or interact (UCSC bed5+13, for bedToBigBed); default from -o's suffix: .bedpe is bedpe, .interact is interact, any other tsv.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def predict_command(**kw: Any) -> None:
    """Score STORE's pairs (or --bedpe PAIRS with --genome FA) with a trained model: --checkpoint CKPT, or --run RUN --model M --fold F."""
    if kw["store"] and kw["bedpe"]:
        raise EpizooError("give STORE or --bedpe PAIRS.bedpe (with --genome or --regions), not both")
    if not kw["store"] and not kw["bedpe"]:
        raise EpizooError("say which pairs to score: a STORE, or --bedpe PAIRS.bedpe with --genome FASTA (or --regions)")
    if not kw["bedpe"] and (kw["genome"] or kw["regions"]):
        raise EpizooError("--genome and --regions give the sequence of --bedpe pairs; with a STORE leave them out")
    if kw["bedpe"] and kw["genome"] and kw["regions"]:
        raise EpizooError("give either --genome (a whole-genome FASTA) or --regions (pre-extracted), not both")
    if kw["bedpe"] and kw["tracks_of"]:
        raise EpizooError("--tracks-of reads a STORE's genome layer for a contact-map model; with --bedpe leave it out")
    if kw["bedpe"] and kw["pairs"] != "all":
        raise EpizooError("--pairs test picks a fold's pairs of the run's store; with --bedpe every pair is scored")
    checkpoint = chosen_checkpoint(kw)
    from epizoo import console
    from epizoo.inference import write_bedpe_predictions, write_predictions

    if kw["threads"]:
        import torch

        torch.set_num_threads(kw["threads"])
    command = command_line(click.get_current_context())
    if kw["bedpe"]:
        done = write_bedpe_predictions(
            checkpoint, kw["bedpe"], kw["out"], genome=kw["genome"], regions=list(kw["regions"]), device=kw["device"],
            batch_size=kw["batch_size"], precision=kw["precision"], command=command, progress=not kw["no_progress"],
            output_format=kw["output_format"],
        )
    else:
        done = write_predictions(
            checkpoint, kw["store"], kw["out"], pairs=kw["pairs"], device=kw["device"],
            batch_size=kw["batch_size"], precision=kw["precision"], command=command, tracks_of=kw["tracks_of"],
            progress=not kw["no_progress"], output_format=kw["output_format"],
        )
    if done.get("note"):
        console.stderr.print(done["note"], markup=False, highlight=False)
    console.stderr.print(f"scored {done['pairs']} pairs with {done['model']}: {done['out']}", markup=False, highlight=False)


def chosen_checkpoint(kw: dict[str, Any]) -> Any:
    """The checkpoint folder the command's options name (:func:`epizoo.inference.choose_checkpoint`)."""
    from epizoo.inference import choose_checkpoint

    return choose_checkpoint(kw["checkpoint"], kw["run_dir"], kw["model"], kw["cell_line"], kw["fold"])


def add_commands(cli: click.Group) -> None:
    cli.add_command(predict_command)
