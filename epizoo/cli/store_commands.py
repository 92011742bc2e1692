"""Store commands: ``build-store``, ``inspect`` and ``datasets``.

Heavy imports (xarray, zarr, pandas) happen inside the commands so ``epizoo --help`` stays fast.
"""

from __future__ import annotations

import shlex
from pathlib import Path
import sys

import click

from epizoo import console
from epizoo.cli.options import PROCESSES, SEED, count, deprecated, names, out_option, store_argument
from epizoo.coords import MAX_COORDINATE  # lengths in bp: huge ones get the build's own line (longer than any contig)


def _parse_options(pairs: tuple[str, ...]) -> dict:
    from epizoo.options import parse_options  # one reading of KEY=VALUE for every command

    return parse_options(pairs, "--option", example="n_pairs=1000")


def _resolve_variant(spec, variant: str | None) -> str | None:
    from epizoo.errors import UnknownNameError

    if variant is None:
        return spec.default_variant
    if spec.variants and variant not in spec.variants:
        raise UnknownNameError(f"unknown variant {variant!r} of dataset {spec.name}; choose one of {', '.join(spec.variants)}")
    if not spec.variants:
        raise UnknownNameError(f"dataset {spec.name} has no variants; drop --variant")
    return variant


def _report_table(report):
    from rich.table import Table

    table = Table(title=f"built {report.out}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("pairs read", f"{report.pairs_read:,}"),
        ("pairs kept", f"{report.pairs_kept:,}"),
        *[(f"dropped: {reason}", f"{n:,}") for reason, n in report.dropped.items()],
        *_rate_rows(report.to_dict()),
        *[(f"reader: {reason}", f"{n:,}" if isinstance(n, int | float) else str(n)) for reason, n in report.reader.items()],  # counts, or a dataset's settings
        *_signal_rows(report.signals),
        ("enhancers stored", f"{report.enhancers:,}"),
        ("promoters stored", f"{report.promoters:,}"),
        ("size on disk", f"{report.bytes_on_disk / 1e6:,.1f} MB" + (f" ({report.bytes_per_base:.3f} bytes/base)" if report.stored_bases else "")),
        ("time", f"{report.seconds:.1f} s ({report.pairs_per_second:,.0f} pairs/s)"),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def _rate_rows(report: dict) -> list[tuple[str, str]]:
    """Positive rate of the observed pairs read and kept, and the build's warnings."""
    rows = []
    if report.get("positive_rate_read") is not None and report.get("positive_rate_kept") is not None:
        rows.append(("positive rate (observed pairs)",
                     f"{100 * report['positive_rate_read']:.1f} % read, {100 * report['positive_rate_kept']:.1f} % kept"))
    rows += [("WARNING", text) for text in report.get("warnings") or []]
    return rows


def _build_rows(report: dict) -> list[tuple[str, str]]:
    """``inspect``'s view of the build report: pairs read and kept, dropped by reason, rate, warnings."""
    if not report or "pairs_read" not in report:
        return []
    rows = [("pairs read", f"{report['pairs_read']:,}"), ("pairs kept", f"{report['pairs_kept']:,}")]
    rows += [(f"dropped: {reason}", f"{n:,}") for reason, n in (report.get("dropped") or {}).items()]
    return rows + _rate_rows(report)


def _signal_rows(signals: dict) -> list[tuple[str, str]]:
    """The build report's signal lines: source, marks, pairs with values and without (per reason)."""
    if not signals:
        return []
    rows = [("signals from", signals["source"]), ("signal marks", ", ".join(signals["marks"])),
            ("pairs with signals", f"{signals['pairs_with_signals']:,}")]
    rows += [(f"without signals: {reason}", f"{n:,}") for reason, n in signals["pairs without signals"].items()]
    rows += [(key, f"{n:,}") for key, n in signals.items() if key.startswith(("kept without", "left out"))]
    return rows


def genome_layer_options(command):
    """The genome layer's options of build-store (epizoo.store.genome_layer; docs/store.md, "Genome layer")."""
    from epizoo.store.genome_layer import DEFAULT_BIN_SIZE, DEFAULT_MAX_DISTANCE, DEFAULT_TRACK_RESOLUTION

    options = [
        click.option("--tracks", type=click.Path(dir_okay=False), default=None, help="tracks.yaml: cell line -> mark -> bigWig."),
        click.option("--contacts", type=click.Path(dir_okay=False), default=None, help="contacts.yaml: cell line -> .cool/.mcool URI."),
        click.option("--bin-size", type=count(1, MAX_COORDINATE), default=DEFAULT_BIN_SIZE, show_default=True, help="Contact map bin (bp)."),
        click.option("--max-distance", type=count(1, MAX_COORDINATE), default=DEFAULT_MAX_DISTANCE, show_default=True,
                     help="Contacts stored up to this distance (bp)."),
        click.option("--track-resolution", type=count(1, MAX_COORDINATE), default=DEFAULT_TRACK_RESOLUTION, show_default=True,
                     help="Track bin (bp)."),
        click.option("--balance/--no-balance", default=True, show_default=True, help="Balanced or raw contact counts."),
        click.option("--genome-contigs", "contigs", multiple=True, metavar="A,B", help="Genome layer contigs (default: all)."),
        click.option("--workers", type=PROCESSES, default=1, show_default=True,
                     help="Processes writing the genome layer (dask; one task per array and contig)."),
        click.option("--allow-assembly-mismatch", is_flag=True,
                     help="Read --tracks, --contacts and --signals bigWigs whose contig lengths differ from the genome's "
                          "(another assembly; warns). Default: refuse them."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("build-store")
@click.option("--dataset", "dataset_name", default=None,
              help="Registered dataset (see `epizoo datasets`); without it, --genome builds a genome-layer store.")
@click.option("--variant", default=None, help="Dataset variant; default: the dataset's default.")
@click.option("--cell-lines", "cell_lines", multiple=True, metavar="A,B", help="Keep only these cell lines, comma-separated.")
@click.option("--cell-line", "old_cell_line", multiple=True, hidden=True, help="Deprecated: --cell-lines A,B.")
@click.option("--bedpe", type=click.Path(dir_okay=False), default=None, help="Pair file for the `bedpe` dataset.")
@click.option("--genome", type=click.Path(dir_okay=False), default=None, help="Whole-genome FASTA (plain or bgzip).")
@click.option("--regions", type=click.Path(dir_okay=False), multiple=True,
              help="Pre-extracted sequences: `bedtools getfasta` FASTA or pair-sequence CSV (repeatable).")
@click.option("--signals", default=None, metavar="NAME|FILE",
              help="Epigenomic signals per pair: targetfinder-features (catalog), a tracks.yaml (bigWigs) or a feature table.")
@click.option("--no-sequence", is_flag=True, help="Store no sequence (a store of signals only; needs --signals).")
@click.option("--negatives", type=count(0), default=0, help="Generate K distance-matched negatives per positive.")
@click.option("--enhancer-window", type=count(1, MAX_COORDINATE), default=3000, show_default=True)
@click.option("--promoter-window", type=count(1, MAX_COORDINATE), default=2000, show_default=True)
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Dataset-specific option (repeatable).")
@out_option(type=click.Path(file_okay=False), help="Store to write (a .zarr folder).")
@click.option("--force", is_flag=True, help="Replace an existing store.")
@click.option("--allow-drops", is_flag=True,
              help="Build even if over half the pairs are dropped or the positive rate moves by over 10 points or 2-fold (warns).")
@click.option("--warnings-as-errors", is_flag=True,
              help="Refuse the build at its first warning (a negatives shortfall, a cell line the tracks do not name), writing nothing.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the build report as JSON.")
@genome_layer_options
def build_store_command(dataset_name, variant, cell_lines, old_cell_line, bedpe, genome, regions, signals, no_sequence, negatives, enhancer_window,
                        promoter_window, seed, options, out, force, allow_drops, warnings_as_errors, no_progress, as_json, **layer):
    """Build a store from a dataset and a sequence source, with the genome layer when asked."""
    from epizoo.store import genome_layer
    from epizoo.textfile import refuse_special_files

    refuse_special_files({"--bedpe": bedpe, "--genome": genome, "--regions": regions, "--signals": signals,
                          "--tracks": layer.get("tracks"), "--contacts": layer.get("contacts")})  # a pipe: one line, first
    layer = genome_layer.LayerRequest.from_options(genome, **layer)
    if dataset_name is None:
        return genome_layer.build_command(layer, out, force, shlex.join(["epizoo", *sys.argv[1:]]), not no_progress, as_json)
    if old_cell_line:
        deprecated("--cell-line X (repeated)", "--cell-lines " + ",".join(old_cell_line))
    cell_lines = names([*cell_lines, *old_cell_line], "--cell-lines")
    from epizoo.datasets.base import DatasetRequest
    from epizoo.sources.genome import open_sequence_source
    from epizoo.plugins import get_dataset
    from epizoo.store.build import BuildWarnings, build_store, prepare_pairs, track_cell_line_mismatch
    from epizoo.store.writing import check_output

    spec = get_dataset(dataset_name)
    request = DatasetRequest(
        variant=_resolve_variant(spec, variant), cell_lines=tuple(cell_lines or ()) or None, path=bedpe,
        seed=seed, options=_parse_options(options),
    )
    check_output(Path(out), force)  # fail before the (slow) load
    if no_sequence and (signals is None or genome or regions):
        from epizoo.errors import InputFileError

        raise InputFileError("--no-sequence builds a store of signals only: give --signals, and no --genome or --regions")
    source = open_sequence_source(genome=genome, regions=list(regions) or None)
    loaded, source = prepare_pairs(spec, request, source, negatives=negatives, seed=seed)  # refuses a store of one class
    warnings = BuildWarnings(as_errors=warnings_as_errors)
    track_cell_line_mismatch(loaded.pairs["cell_line"], layer.tracks, warnings)
    report = build_store(
        loaded, out, sequence=source, enhancer_window=enhancer_window, promoter_window=promoter_window,
        force=force, command=shlex.join(["epizoo", *sys.argv[1:]]), dataset=spec.name, progress=not no_progress,
        add_layers=layer.writer_for(loaded, source, progress=not no_progress),
        signals=signals, with_sequence=not no_sequence, allow_drops=allow_drops, warnings=warnings,
        allow_assembly_mismatch=layer.allow_assembly_mismatch,
    )
    if as_json:
        console.print_json(report.to_dict())
    else:
        console.stdout.print(_report_table(report))


def _inspection(path) -> dict:
    import json

    import numpy as np

    from epizoo.store.io import open_store, store_size

    from epizoo.schema import store_layers
    from epizoo.store import genome_layer

    from epizoo.store.integrity import verify_small_arrays

    ds = open_store(path)
    verify_small_arrays(path)  # the counts below come from these arrays: a same-size corrupted chunk must not pass
    genome = {"genome": genome_layer.inspection(ds, path)} if "genome" in store_layers(ds) else {}
    if "pairs" not in store_layers(ds):
        return {"store": str(path), "bytes_on_disk": store_size(path), **genome,
                "provenance": {k: v for k, v in ds.attrs.items() if k != "build_report"}}
    summary = ds.epizoo.summary()
    labels = ds["pair_label"].values
    size = store_size(path)
    stored_bases = ds["enhancer_sequence"].size + ds["promoter_sequence"].size if "sequence" in store_layers(ds) else 0
    provenance = {k: v for k, v in ds.attrs.items() if k != "build_report"}
    if "signals" in store_layers(ds):
        measured = np.isfinite(ds["pair_signal"].values).all(axis=(1, 2))
        signals = {"signals": {"marks": [str(m) for m in ds["signal_mark_id"].values], "regions": [str(r) for r in ds["signal_region_id"].values],
                               "pairs_with_signals": int(measured.sum()), "pairs_without_signals": int((~measured).sum())}}
    else:
        signals = {}
    return {
        "store": str(path),
        "pairs": int(labels.size),
        "positives": int(labels.sum()),
        "negatives": int(labels.size - labels.sum()),
        "generated_negatives": int(ds["pair_label_generated"].values.sum()),
        "enhancers": int(ds.sizes["enhancers"]),
        "promoters": int(ds.sizes["promoters"]),
        "bytes_on_disk": size,
        "bytes_per_base": round(size / max(stored_bases, 1), 4),
        "counts": summary.reset_index().to_dict(orient="records"),
        "provenance": provenance,
        "build_report": json.loads(ds.attrs.get("build_report") or "{}"),
        "layers": list(store_layers(ds)),
        **signals,
        **genome,
    }


def _inspection_tables(info: dict):
    from rich.table import Table

    counts = Table(title=f"{info['store']}: pairs per cell line x contig")
    for column in ("cell line", "contig", "pairs", "positives", "negatives"):
        counts.add_column(column, justify="left" if column in ("cell line", "contig") else "right")
    for row in info["counts"]:
        counts.add_row(row["cell_line"], row["contig"], *(f"{row[c]:,}" for c in ("pairs", "positives", "negatives")))
    totals = Table(show_header=False, title="totals")
    for key in ("pairs", "positives", "negatives", "generated_negatives", "enhancers", "promoters"):
        totals.add_row(key.replace("_", " "), f"{info[key]:,}")
    per_base = f" ({info['bytes_per_base']:.3f} bytes/base)" if "sequence" in info["layers"] else ""
    totals.add_row("size on disk", f"{info['bytes_on_disk'] / 1e6:,.1f} MB{per_base}")
    totals.add_row("layers", ", ".join(info["layers"]))
    if "signals" in info:
        totals.add_row("signal marks", ", ".join(info["signals"]["marks"]))
        totals.add_row("signal regions", ", ".join(info["signals"]["regions"]))
        totals.add_row("pairs with all signals", f"{info['signals']['pairs_with_signals']:,}")
        totals.add_row("pairs without (NaN)", f"{info['signals']['pairs_without_signals']:,}")
    build = Table(show_header=False, title="build")
    for row in _build_rows(info.get("build_report") or {}):
        build.add_row(*row)
    provenance = Table(show_header=False, title="provenance")
    for key, value in info["provenance"].items():
        provenance.add_row(key, str(value))
    return (counts, totals, build, provenance) if build.row_count else (counts, totals, provenance)


@click.command("inspect")
@store_argument()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--verify", is_flag=True, help="Also check every file's size and sha256 against the build's manifest.")
def inspect_command(store, as_json, verify):
    """Counts, label balance, size and provenance of a store."""
    verified = None
    if verify:
        from epizoo.store.integrity import verify_store
        from epizoo.store.io import open_store

        open_store(store, check=False)  # a missing or unfinished store says so first
        verified = verify_store(store)
    info = _inspection(store)
    if verified is not None:
        info["verified"] = verified
    if as_json:
        console.print_json(info)
        return
    for table in _inspection_tables(info) if "pairs" in info else ():
        console.stdout.print(table)
    if "genome" in info:
        from epizoo.store.genome_layer import inspection_table

        console.stdout.print(inspection_table(info["genome"]))
    if verified is not None:
        console.stdout.print(f"verified: {verified['files']:,} files, {verified['bytes'] / 1e6:,.1f} MB, every checksum matches")


@click.command("datasets")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def datasets_command(as_json):
    """Registered datasets with their variants and genome build."""
    from rich.table import Table

    from epizoo.registry_cache import listing

    rows = listing()["datasets"]  # cached: listing them imports no model (and no torch)
    if as_json:
        console.print_json(rows)
        return
    table = Table(title="datasets")
    for column in ("name", "genome build", "variants", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["genome_build"], ", ".join(row["variants"]) or "-", row["description"])
    console.stdout.print(table)


@click.command("normalise-signals")
@store_argument()
@click.option("--method", type=click.Choice(("log1p", "rank")), required=True,
              help="Within each cell line: log1p of the signal over its cell line's mean, or its rank (0-1) among the cell line's pairs.")
@out_option(type=click.Path(file_okay=False), help="The normalised store to write (a new .zarr folder).")
def normalise_signals_command(store, method, out):
    """Copy STORE with its signals normalised within each cell line (label-free), the method recorded in the store."""
    from epizoo.signal_norm import normalise_store_signals

    written = normalise_store_signals(store, out, method)
    console.stderr.print(f"wrote {written}: signals {method}-normalised within each cell line", markup=False, highlight=False)


def add_commands(cli):
    for command in (build_store_command, inspect_command, datasets_command, normalise_signals_command):
        cli.add_command(command)
