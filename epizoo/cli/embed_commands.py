"""Commands of the encoders and splits area.

``epizoo embed`` trains k-mer vectors (gensim Word2Vec, as dna2vec) on a store's sequences;
``epizoo splits`` lists the registered splits, or shows the folds of one on a store with their
leakage check.

Heavy imports (gensim, torch, xarray) happen inside the command so ``epizoo --help`` stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from epizoo import console
from epizoo.cli.options import PROCESSES, SEED, THREADS, count, deprecated, out_option, renamed, store_argument


def _default_format(out: str, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    return "npy" if Path(out).suffix == ".npy" else "w2v"


@click.command("embed")
@store_argument()
@click.option("--k", "k", type=click.IntRange(1, 10), default=6, show_default=True, help="k-mer length.")
@click.option("--dim", type=count(1), default=100, show_default=True, help="Vector dimension.")
@click.option("--window", type=count(1), default=10, show_default=True, help="Context k-mers on each side (dna2vec: 10).")
@click.option("--epochs", type=count(1), default=5, show_default=True, help="Passes over the sequences.")
@click.option("--max-sequences", type=count(1), default=None, help="Train on a seeded sample of this many elements; default: all.")
@click.option("--min-count", type=count(1), default=1, show_default=True, help="Ignore k-mers seen fewer times.")
@click.option("--threads", type=THREADS, default=None, help="Training threads; default 1 (reproducible).")
@click.option("--workers", "old_workers", type=PROCESSES, default=None, hidden=True, help="Deprecated: --threads.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@out_option(type=click.Path(dir_okay=False), help="Vector file to write.")
@click.option("--format", "fmt", type=click.Choice(["w2v", "npy"]), default=None,
              help="word2vec text, or the npy matrix in k-mer id order; default: from the --out suffix.")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def embed_command(store, k, dim, window, epochs, max_sequences, min_count, threads, old_workers, seed, out, fmt, force, no_progress, as_json):
    """Train k-mer vectors on the enhancer and promoter sequences of STORE."""
    import os

    from epizoo.encoders import kmer_matrix, save_kmer_vectors, store_sequences, train_kmer_vectors
    from epizoo.errors import EpizooError, InputFileError
    from epizoo.store.integrity import verify_before_reading_all
    from epizoo.store.io import open_store

    if old_workers is not None:
        if threads is not None and threads != old_workers:
            raise click.UsageError("give --threads only (--workers is its old name)")
        deprecated("embed --workers N (threads)", "--threads N; --workers counts processes elsewhere")
        threads = old_workers
    threads = threads or 1
    folder = Path(out).parent
    if Path(out).is_dir():
        raise InputFileError(f"--out {out} is a folder; name the vector file to write, e.g. {Path(out) / 'kmer.w2v'}")
    if Path(out).exists() and not force:
        raise InputFileError(f"{out} already exists; pass --force to replace it")
    if not folder.is_dir():  # fail before the (slow) training, not after
        raise InputFileError(f"output folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputFileError(f"output folder {folder} is not writable; choose another --out")
    ds = open_store(store)
    verify_before_reading_all(store)  # embedding reads every window: a corrupted chunk is one line here
    started = time.perf_counter()
    with console.progress(not no_progress) as bar:
        n_elements = min(max_sequences or ds.sizes["enhancers"] + ds.sizes["promoters"], ds.sizes["enhancers"] + ds.sizes["promoters"])
        reading = bar.add_task("reading sequences", total=n_elements, status="")
        sequences = store_sequences(ds, max_sequences, seed, on_read=lambda n: bar.advance(reading, n))
        training = bar.add_task("training", total=epochs, status="")
        try:
            vectors = train_kmer_vectors(
                sequences, k=k, dim=dim, window=window, epochs=epochs, seed=seed, workers=threads,
                min_count=min_count, on_epoch_end=lambda epoch: bar.update(training, completed=epoch),
            )
        except RuntimeError as exc:
            if "vocabulary" not in str(exc):
                raise
            raise EpizooError(
                f"--min-count {min_count}: no {k}-mer occurs that often in the {len(sequences):,} sequences; give a lower --min-count"
            ) from None
    fmt = _default_format(out, fmt)
    try:
        save_kmer_vectors(vectors, out, fmt=fmt, k=k)
    except OSError as exc:
        raise InputFileError(f"cannot write {out} ({exc.strerror or exc}); choose another --out") from None
    missing = kmer_matrix(vectors, k)[1]
    summary = {
        "out": str(out), "format": fmt, "k": k, "dim": dim, "window": window, "epochs": epochs, "seed": seed,
        "sequences": len(sequences), "kmers_with_vectors": 4**k - missing, "kmers_missing": missing,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        console.print_json(summary)
    else:
        console.stdout.print(
            f"wrote {summary['kmers_with_vectors']:,} {k}-mer vectors ({dim}-d, {fmt}) to {out} "
            f"from {len(sequences):,} sequences in {summary['seconds']} s"
            + (f"; {missing:,} {k}-mers never seen have no vector" if missing else "")
        )



def _fold_rows(ds, folds) -> list[dict]:
    from epizoo.splits import check_folds

    rows = []
    for fold, report in zip(folds, check_folds(ds, folds, strict=False)):
        held_out = fold.info.get("test_contigs") or fold.info.get("test_cell_lines") or fold.info.get("test_groups") or []
        rows.append({
            "fold": fold.name, "held_out": held_out, "valid_contigs": fold.info.get("valid_contigs", []),
            **{side: fold.info["counts"][side] for side in ("train", "valid", "test")},
            # pairs left out of every side: trans pairs across sides (loco, chromosome), test pairs
            # that overlapped training (strict cross-cell-line); 0 where the split drops none
            "dropped_trans_pairs": int(fold.info.get("dropped_trans_pairs", 0)),
            "dropped_test_pairs": int(fold.info.get("dropped_test_pairs", 0)),
            "notes": fold.info.get("notes", []), "leakage": report.as_dict(),
        })
    return rows


def _fold_table(split: str, rows: list[dict]):
    from rich.table import Table

    table = Table(title=f"{split}: {len(rows)} folds (pairs, positives+)")
    for column in ("fold", "valid contigs", "train", "valid", "test", "leakage", "notes"):
        table.add_column(column, justify="right" if column in ("train", "valid", "test") else "left")
    for row in rows:
        counts = [f"{row[s]['pairs']:,} ({row[s]['positives']:,}+)" for s in ("train", "valid", "test")]
        leak = row["leakage"]
        shared = leak["shared_enhancers"] + leak["shared_promoters"]
        overlapping = leak["overlapping_enhancers"] + leak["overlapping_promoters"]
        verdict = f"LEAKS: {shared:,} shared, {overlapping:,} overlapping" if leak["leaks"] else "clean"
        table.add_row(row["fold"], ", ".join(row["valid_contigs"]) or "-", *counts, verdict, "; ".join(row["notes"]))
    return table


@click.command("splits")
@store_argument(required=False)
@click.option("--split", "split_name", default=None, help="Show the folds of this split on STORE.")
@click.option("--split-option", "options", multiple=True, metavar="KEY=VALUE",
              help="An option of the split (repeatable), as bench takes it, e.g. valid_contigs=2, folds=chr1,chr2, strict=true.")
@renamed("--option", "--split-option", "options", multiple=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def splits_command(store, split_name, options, as_json):
    """List the registered splits; with STORE and --split, its folds, counts and leakage check."""
    import warnings

    from epizoo.plugins import get_splits

    if store is None or split_name is None:
        if store is not None or split_name is not None:
            raise click.UsageError("give both STORE and --split to see folds, or neither to list the splits")
        rows = [{"name": r.name, "description": r.description, "plugin": r.plugin} for r in get_splits().values()]
        if as_json:
            console.print_json(rows)
            return
        from rich.table import Table

        table = Table(title="splits")
        for column in ("name", "plugin", "description"):
            table.add_column(column)
        for row in rows:
            table.add_row(row["name"], row["plugin"], row["description"])
        console.stdout.print(table)
        return
    from epizoo.splits import LeakageWarning, get_folds, parse_options
    from epizoo.store.integrity import verify_small_arrays
    from epizoo.store.io import open_store

    parsed = parse_options(options, "--split-option")  # a malformed option fails before the store is read
    ds = open_store(store)
    verify_small_arrays(store)  # folds and counts come from labels, contigs and cell lines: check their checksums
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LeakageWarning)
        folds = get_folds(ds, split_name, **parsed)
    for warning in caught:
        console.stderr.print(f"warning: {warning.message}", markup=False, highlight=False, soft_wrap=True)
    rows = _fold_rows(ds, folds)
    for row in rows:  # an empty test side can't be scored: say so, and why, beside the table
        for note in row["notes"]:
            if note.startswith("test side is empty"):
                console.stderr.print(f"warning: fold {row['fold']}: {note}", markup=False, highlight=False, soft_wrap=True)
    if as_json:
        console.print_json(rows)
    else:
        console.stdout.print(_fold_table(split_name, rows))


def add_commands(cli):
    cli.add_command(embed_command)
    cli.add_command(splits_command)
