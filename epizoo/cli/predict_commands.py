"""``epizoo predict``: score a store's pairs with a trained model's checkpoint.

Only click is imported at module level; torch and the store load inside the command, so that
``epizoo --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

import click

from epizoo.cli.options import command_line, out_option, store_argument
from epizoo.errors import EpizooError


@click.command("predict")
@store_argument()
@click.option("--checkpoint", type=click.Path(), default=None, metavar="CKPT", help="A checkpoint folder (RUN/checkpoints/MODEL/CELL/FOLD).")
@click.option("--run", "run_dir", type=click.Path(), default=None, metavar="RUN", help="A bench run directory: use the checkpoint of --model, --cell-line and --fold.")
@click.option("--model", default=None, help="With --run: the model (name or alias).")
@click.option("--cell-line", default=None, help="With --run: the cell line (TRAIN-to-TEST for cross-cell-line runs); may be left out when the run has one.")
@click.option("--fold", default=None, help="With --run: the fold (a chromosome for loco); may be left out when the run has one.")
@click.option("--pairs", type=click.Choice(("all", "test")), default="all", show_default=True, help="Every pair of STORE, or (with --run) the test side of the fold.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Pairs per batch (eval mode: scores do not depend on it).")
@click.option("--precision", type=click.Choice(("auto", "fp32", "bf16")), default="auto", show_default=True, help="fp32, or bf16 autocast; auto: fp32 on CPU, bf16 on CUDA.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch.set_num_threads.")
@out_option(type=click.Path(), help="The TSV to write (the columns of the bench's prediction tables).")
def predict_command(**kw: Any) -> None:
    """Score STORE's pairs with a trained model: --checkpoint CKPT, or --run RUN --model M --fold F."""
    if kw["checkpoint"] and kw["run_dir"]:
        raise EpizooError("give --checkpoint CKPT or --run RUN (with --model and --fold), not both")
    if not kw["checkpoint"] and not kw["run_dir"]:
        raise EpizooError("say which model to use: --checkpoint CKPT, or --run RUN --model M --fold F")
    if kw["checkpoint"] and any(kw[name] for name in ("model", "cell_line", "fold")):
        raise EpizooError("--model, --cell-line and --fold choose a checkpoint of --run; with --checkpoint leave them out")
    if kw["run_dir"] and not kw["model"]:
        raise EpizooError("--run needs --model M (and --fold F when the run has several folds)")
    from epizoo import console
    from epizoo.inference import run_checkpoint, write_predictions

    if kw["threads"]:
        import torch

        torch.set_num_threads(kw["threads"])
    checkpoint = kw["checkpoint"] or run_checkpoint(kw["run_dir"], kw["model"], kw["cell_line"], kw["fold"])
    done = write_predictions(
        checkpoint, kw["store"], kw["out"], run=kw["run_dir"], pairs=kw["pairs"], device=kw["device"],
        batch_size=kw["batch_size"], precision=kw["precision"], command=command_line(click.get_current_context()),
    )
    console.stderr.print(f"scored {done['pairs']} pairs with {done['model']}: {done['out']}", markup=False, highlight=False)


def add_commands(cli: click.Group) -> None:
    cli.add_command(predict_command)
