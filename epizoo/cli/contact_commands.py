"""``epizoo train-contacts``: train a contact-map model (ChromNet) on a store's genome layer.

Only click is imported at module level; torch and the store load inside the command, so that
``epizoo --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

import click

from epizoo.cli.options import SEED, THREADS, command_line, count, names, out_option, renamed, store_argument
from epizoo.errors import EpizooError


@click.command("train-contacts")
@store_argument()
@click.option("--model", default="chromnet", show_default=True, help="A contact-map model (name or alias).")
@click.option("--tiny", is_flag=True, help="The model's tiny size (a short window, few bins), for a CPU.")
@click.option("--epochs", type=count(1), default=None, help="Epochs (default: the recipe's, 80 for ChromNet).")
@click.option("--warmup-epochs", type=count(0), default=None, help="Linear warm-up epochs (default: 10 at 80 epochs, else one eighth).")
@click.option("--batch-size", type=count(1), default=None, help="Windows per batch (default: the recipe's, 8).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Adam's learning rate (default: the recipe's, 2e-4).")
@click.option("--step", type=count(1), default=None, help="bp between windows (default: 500 kb at 2 Mb windows, else a quarter window).")
@click.option("--split-option", "split_option", multiple=True, metavar="KEY=VALUE", help="The chromosome split's contigs, as bench --split chromosome takes them (repeatable): train=CHR,.. (default: every contig not on another side), valid=CHR,.., test=CHR,... Without any: chr1-16 / chr17-19 / chr20-22 on a human genome; else the last contig test, the one before it validation.")
@click.option("--cell-lines", default=None, metavar="A,B", help="Cell types to train on (default: every cell line with the model's tracks).")
@click.option("--noise-copies", default=None, metavar="A,B", help="Cell lines given a noise copy (default: the first with contact maps; 'none' for none).")
@click.option("--contacts-from", default=None, metavar="CELL", help="Upstream's IMR90 quirk: every target from this cell line, MSE only on it.")
@click.option("--max-pairs", type=count(1), default=None, help="At most this many training windows per side (a seeded draw), as bench --max-pairs caps a contact-map model.")
@click.option("--seed", type=SEED, default=2077, show_default=True, help="Random seed (upstream's).")
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), default=None, metavar="MINUTES", help="Stop training after the epoch that passes this many wall-clock minutes (recorded).")
@click.option("--precision", type=click.Choice(("auto", "fp32", "bf16")), default="auto", show_default=True, help="fp32, or bf16 autocast; auto: fp32 (as bench runs contact-map models).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@renamed("--learning-rate", "--lr", "lr", type=float)
@renamed("--max-windows", "--max-pairs", "max_pairs", type=count(1))
@renamed("--train", "--split-option train=CHR,..", "split_option", as_new=lambda v: (f"train={v}",))
@renamed("--valid", "--split-option valid=CHR,..", "split_option", as_new=lambda v: (f"valid={v}",))
@renamed("--test", "--split-option test=CHR,..", "split_option", as_new=lambda v: (f"test={v}",))
@click.option("--threads", type=THREADS, default=None, help="torch.set_num_threads.")
@out_option(type=click.Path(), help="A new folder for metrics.json and the checkpoint.")
def train_contacts_command(**kw: Any) -> None:
    """Train a contact-map model on STORE's genome layer; score held-out chromosomes beside the distance-decay baseline."""
    from epizoo import console
    from epizoo.plugins import get_model
    from epizoo.contact.train import ContactOptions, train_contact_model, write_contact_run

    from epizoo.output_folder import check_replaceable
    from epizoo.contact.windows import check_disjoint
    from epizoo.contact.train import CONTACT_RUN

    check_replaceable(kw["out"], False, CONTACT_RUN, inputs=[kw["store"]])  # before hours of training, not after
    spec = get_model(kw["model"])
    split = contig_sides(kw["split_option"])
    check_disjoint({side: split.get(side) or [] for side in ("train", "valid", "test")})  # before the store loads
    noise = names(kw["noise_copies"], "--noise-copies")
    options = ContactOptions(
        tiny=kw["tiny"], epochs=kw["epochs"], warmup_epochs=kw["warmup_epochs"], batch_size=kw["batch_size"],
        learning_rate=kw["lr"], step=kw["step"], split=split or None,
        cell_lines=names(kw["cell_lines"], "--cell-lines"), noise_copies=[] if noise == ["none"] else noise,
        contacts_from=kw["contacts_from"], max_windows=kw["max_pairs"], seed=kw["seed"], device=kw["device"], threads=kw["threads"],
        precision=kw["precision"], budget_seconds=kw["budget"] * 60 if kw["budget"] else None,
    )

    def report(record: dict) -> None:
        console.stderr.print(
            f"epoch {record['epoch']}: train loss {record['train_loss']:.4f} (MSE {record['train_mse']:.4f}), "
            f"valid MSE {record['valid_mse']:.4f}, {record['seconds']:.0f} s", markup=False, highlight=False,
        )

    result = train_contact_model(spec, kw["store"], options, on_epoch=report)
    out = write_contact_run(result, spec, kw["out"], command=command_line(click.get_current_context()))
    model, baseline = result.metrics, result.baseline
    console.stderr.print(
        f"test map correlation {model['map_pearson']:.3f} (distance decay {baseline['map_pearson']:.3f}), per diagonal "
        f"{model['diagonal_pearson']:.3f}, insulation {model['insulation_pearson']:.3f}; {out}", markup=False, highlight=False,
    )


def contig_sides(options: tuple[str, ...]) -> dict[str, list[str]]:
    """``--split-option train=chr1,chr2 ...`` as side -> contigs (one line for any other key)."""
    from epizoo.options import comma_list, parse_options

    parsed = parse_options(options, "--split-option", example="test=chr20,chr21")
    unknown = sorted(set(parsed) - {"train", "valid", "test"})
    if unknown:
        raise EpizooError(f"--split-option {', '.join(unknown)}: train-contacts takes train=, valid= and test= (contigs)")
    return {side: comma_list(value) for side, value in parsed.items()}


def add_commands(cli: click.Group) -> None:
    cli.add_command(train_contacts_command)
