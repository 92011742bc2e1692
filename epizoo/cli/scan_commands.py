"""``epizoo scan``: score every enhancer-promoter pair of a genome within a distance range.

Only click is imported at module level; torch, the genome and dask load inside the command.
"""

from __future__ import annotations

from typing import Any

import click

from epizoo.cli.options import PROCESSES, THREADS, command_line, count, out_option
from epizoo.coords import MAX_COORDINATE

DEFAULT_MIN_DISTANCE = 10_000  # the same as epizoo.inference_scan's, which imports numpy
DEFAULT_MAX_DISTANCE = 2_000_000


@click.command("scan")
@click.option("--checkpoint", type=click.Path(), default=None, metavar="CKPT", help="A checkpoint folder (RUN/checkpoints/MODEL/CELL/FOLD).")
@click.option("--run", "run_dir", type=click.Path(), default=None, metavar="RUN", help="A bench run directory: use the checkpoint of --model, --cell-line and --fold.")
@click.option("--model", default=None, help="With --run: the model (name or alias).")
@click.option("--cell-line", default=None, help="With --run: the cell line; may be left out when the run has one.")
@click.option("--fold", default=None, help="With --run: the fold; may be left out when the run has one.")
@click.option("--genome", type=click.Path(dir_okay=False), required=True, help="Whole-genome FASTA (plain or bgzip).")
@click.option("--enhancers", type=click.Path(dir_okay=False), required=True, metavar="BED", help="Enhancers: BED (chrom, start, end, optional name); windows centre on each interval's centre.")
@click.option("--promoters", type=click.Path(dir_okay=False), required=True, metavar="BED|GTF", help="Promoters: a BED (windows centre on each interval's centre) or a GTF (.gtf/.gff, gzip or not; windows centre on TSSs).")
@click.option("--tss", type=click.Choice(("transcript", "gene")), default="transcript", show_default=True, help="With a GTF: one promoter per distinct transcript TSS, or one per gene (its outermost TSS).")
@click.option("--min-distance", type=click.IntRange(min=0, max=MAX_COORDINATE), default=DEFAULT_MIN_DISTANCE, show_default=True, help="Smallest enhancer-centre to promoter distance scored, in bp (included).")
@click.option("--max-distance", type=click.IntRange(min=1, max=MAX_COORDINATE), default=DEFAULT_MAX_DISTANCE, show_default=True, help="Distance bound in bp (excluded: pairs are scored when min <= distance < max).")
@click.option("--batch-size", type=count(1), default=256, show_default=True, help="Pairs per batch (eval mode: it changes scores only at float rounding).")
@click.option("--memory-budget", type=click.FloatRange(min=0), default=None, metavar="MB", help="MB of one contig's element windows held in memory (default: a quarter of the available memory); beyond it windows are read per batch.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--precision", type=click.Choice(("auto", "fp32", "bf16")), default="auto", show_default=True, help="fp32, or bf16 autocast; auto: fp32 on CPU, bf16 on CUDA.")
@click.option("--threads", type=THREADS, default=None, help="torch.set_num_threads (per worker with --workers).")
@click.option("--workers", type=PROCESSES, default=None, help="Scan contigs on a local dask cluster of N processes.")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Scan contigs on an existing dask scheduler (workers must see the files).")
@click.option("--no-progress", is_flag=True, help="No progress display.")
@out_option(type=click.Path(), help="The BEDPE to write; a name ending in .gz is bgzip-compressed and tabix-indexed.")
def scan_command(**kw: Any) -> None:
    """Score every enhancer-promoter pair on one contig within a distance range with a trained model: --checkpoint CKPT, or --run RUN --model M --fold F."""
    from epizoo import console
    from epizoo.cli.predict_commands import chosen_checkpoint
    from epizoo.inference_scan import scan

    checkpoint = chosen_checkpoint(kw)
    budget = None if kw["memory_budget"] is None else kw["memory_budget"] * 2**20
    done = scan(
        checkpoint, kw["genome"], kw["enhancers"], kw["promoters"], kw["out"], min_distance=kw["min_distance"],
        max_distance=kw["max_distance"], tss=kw["tss"], batch_size=kw["batch_size"], device=kw["device"],
        precision=kw["precision"], memory_budget=budget, workers=kw["workers"], scheduler=kw["scheduler"],
        threads=kw["threads"], progress=not kw["no_progress"], command=command_line(click.get_current_context()),
    )
    console.stderr.print(
        f"scored {done['pairs']:,} pairs ({done['enhancers']:,} enhancers, {done['promoters']:,} promoters, {done['contigs']} contigs) "
        f"with {done['model']} in {done['seconds']:.1f} s ({done['pairs_per_second']:,.0f} pairs/s while scoring): {done['out']}",
        markup=False, highlight=False,
    )


def add_commands(cli: click.Group) -> None:
    cli.add_command(scan_command)
