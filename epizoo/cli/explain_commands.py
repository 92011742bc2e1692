"""``epizoo explain``: which bases a trained model relies on, and which motifs they make.

Only click is imported at module level; torch, the store and the motif libraries load inside the
command, so that ``epizoo --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

import click

from epizoo.cli.options import THREADS, command_line, count, out_option, store_argument


@click.command("explain")
@store_argument()
@click.option("--checkpoint", type=click.Path(), default=None, metavar="CKPT", help="A checkpoint folder (RUN/checkpoints/MODEL/CELL/FOLD).")
@click.option("--run", "run_dir", type=click.Path(), default=None, metavar="RUN", help="A bench run directory: use the checkpoint of --model, --cell-line and --fold.")
@click.option("--model", default=None, help="With --run: the model (name or alias).")
@click.option("--cell-line", default=None, help="With --run: the cell line; may be left out when the run has one.")
@click.option("--fold", default=None, help="With --run: the fold; may be left out when the run has one.")
@click.option("--side", type=click.Choice(("all", "test", "train", "valid")), default=None, help="Which pairs: all of STORE (default with --checkpoint) or a side of the fold (default with --run: test).")
@click.option("--method", type=click.Choice(("ism", "gradient", "deeplift")), default="ism", show_default=True, help="ism: sliding N mask, drop in probability; gradient: gradient x input; deeplift: DeepLIFT/SHAP contributions, motifs by TF-MoDISco.")
@click.option("--min-probability", type=float, default=0.95, show_default=True, help="Explain pairs predicted positive above this probability.")
@click.option("--max-pairs", type=count(1), default=200, show_default=True, help="At most this many pairs, evenly spaced in store order.")
@click.option("--mask-width", type=count(1), default=6, show_default=True, help="ISM: bases set to N per variant.")
@click.option("--mask-step", type=count(1), default=3, show_default=True, help="ISM: bases between masked windows.")
@click.option("--segment-width", type=count(1), default=20, show_default=True, help="Width of a high-importance segment, centred on a peak.")
@click.option("--segments-per-element", type=count(1), default=3, show_default=True, help="At most this many segments per element of a pair.")
@click.option("--min-importance", type=float, default=0.2, show_default=True, help="A peak must reach this fraction of its pair's largest importance.")
@click.option("--clusters", type=count(1), default=8, show_default=True, help="Ward clusters per element kind (3-mer frequencies).")
@click.option("--top-motifs", type=count(0), default=4, show_default=True, help="Logos for this many largest clusters per element kind.")
@click.option("--motif-width", type=count(1), default=10, show_default=True, help="Width of the PWM aligned in each cluster.")
@click.option("--jaspar-release", default="JASPAR2024", show_default=True, help="The JASPAR release (pyjaspar ships them offline).")
@click.option("--jaspar-tax-group", default="vertebrates", show_default=True, help="JASPAR taxonomic group ('' for all).")
@click.option("--max-q", type=click.FloatRange(min=0, min_open=True, max=1), default=0.05, show_default=True, help="A cluster's nearest motif is a match only at or below this TOMTOM q-value; else 'no match'.")
@click.option("--motifs", "motif_file", type=click.Path(dir_okay=False), default=None, metavar="FILE.meme", help="Extra target motifs (MEME format) matched beside JASPAR.")
@click.option("--shuffles", type=count(1), default=20, show_default=True, help="deeplift: dinucleotide-shuffled references per element.")
@click.option("--seqlet-window", type=count(1), default=21, show_default=True, help="deeplift: TF-MoDISco's sliding window for seqlets.")
@click.option("--min-seqlets", type=count(1), default=20, show_default=True, help="deeplift: seqlets a TF-MoDISco pattern needs at least.")
@click.option("--device", default="cpu", show_default=True, help="cpu, auto, cuda or cuda:N.")
@click.option("--batch-size", type=count(1), default=256, show_default=True, help="Masked variants (and pairs) per forward pass.")
@click.option("--threads", type=THREADS, default=None, help="torch.set_num_threads.")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--no-progress", is_flag=True, help="No progress display.")
@out_option(type=click.Path(), help="The folder to write (tracks, clusters.tsv, logos, pair.png, summary.json).")
def explain_command(**kw: Any) -> None:
    """Explain STORE's confident positive pairs: ISM (or gradient) importance, segments, motifs and their JASPAR matches."""
    from epizoo import console
    from epizoo.explain import ExplainSettings, explain

    if kw["threads"]:
        import torch

        torch.set_num_threads(kw["threads"])
    settings = ExplainSettings(
        method=kw["method"], min_probability=kw["min_probability"], max_pairs=kw["max_pairs"], mask_width=kw["mask_width"],
        mask_step=kw["mask_step"], segment_width=kw["segment_width"], segments_per_element=kw["segments_per_element"],
        min_importance=kw["min_importance"], clusters=kw["clusters"], top_motifs=kw["top_motifs"],
        motif_width=kw["motif_width"], jaspar_release=kw["jaspar_release"], jaspar_tax_group=kw["jaspar_tax_group"],
        motifs=kw["motif_file"], batch_size=kw["batch_size"], max_q=kw["max_q"],
        shuffles=kw["shuffles"], seqlet_window=kw["seqlet_window"], min_seqlets=kw["min_seqlets"],
    )
    summary = explain(
        kw["store"], kw["out"], checkpoint=kw["checkpoint"], run=kw["run_dir"], model=kw["model"], cell_line=kw["cell_line"],
        fold=kw["fold"], side=kw["side"], settings=settings, device=kw["device"], force=kw["force"],
        progress=not kw["no_progress"], command=command_line(click.get_current_context()),
    )
    console.stderr.print(
        f"explained {summary['pairs_used']} of {summary['pairs_above_threshold']} confident pairs with {summary['model']} "
        f"({summary['seconds_per_pair']:.2f} s per pair): {summary['motifs']} motifs in {kw['out']}",
        markup=False, highlight=False,
    )
    for note in summary.get("track_notes", ()):
        console.stderr.print(f"note: {note}", markup=False, highlight=False)


def add_commands(cli: click.Group) -> None:
    cli.add_command(explain_command)
