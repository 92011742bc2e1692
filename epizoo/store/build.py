"""Build a store: pair table + sequence source -> one Zarr (format 3) store, staged and validated.

The build writes into ``<out>.wip-<pid>`` beside the output and moves it into place only once it
is complete and validated, so a failed or killed build never looks like a good store. Sequences
are written in chunk-sized blocks, so memory stays bounded however many elements there are.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from epizoo import __version__, console, coords, schema
from epizoo.contigs import natural_key as natural_contig_key
from epizoo.contigs import natural_text_key
from epizoo.datasets.base import LoadedDataset, normalise_pair_table
from epizoo.datasets.negatives import add_negatives
from epizoo.errors import EmptyResultError, InputFileError
from epizoo.sources.signal_values import REGIONS
from epizoo.sources.signals import resolve as resolve_signals  # (build_store's `signals` is an argument)
# staging and publishing (the work-in-progress folder, the move into place) are epizoo.store.writing's
from epizoo.store.writing import SEQUENCE_CODEC, _finalise, _move_into_place, _text, check_output, staged

ELEMENT_CHUNK = 1024  # elements per sequence chunk (a 4 kb window: 4 MiB raw per chunk)
PAIR_CHUNK = 65536
KINDS = ("enhancer", "promoter")

# A build that distorts its input is refused unless --allow-drops (docs/datasets.md, "Drops"):
MAX_DROPPED_SHARE = 0.5  # more than half of the observed pairs dropped
MAX_RATE_CHANGE_POINTS = 0.10  # the observed positive rate moved by more than 10 percentage points
MAX_RATE_FACTOR = 2.0  # ... or grew or shrank more than 2-fold


@dataclass
class BuildReport:
    """What a build read, kept and left out, and what it wrote."""

    out: str
    pairs_read: int
    pairs_kept: int
    dropped: dict[str, int]
    enhancers: int
    promoters: int
    stored_bases: int
    bytes_on_disk: int
    seconds: float
    reader: dict[str, int] = field(default_factory=dict)
    signals: dict = field(default_factory=dict)  # source, marks, pairs with and without values (per reason)
    positive_rate_read: float | None = None  # among the observed (not generated) pairs read
    positive_rate_kept: float | None = None  # among the observed pairs kept
    warnings: list[str] = field(default_factory=list)  # what build-store printed as a warning

    @property
    def bytes_per_base(self) -> float:
        return self.bytes_on_disk / max(self.stored_bases, 1)

    @property
    def pairs_per_second(self) -> float:
        return self.pairs_read / max(self.seconds, 1e-9)

    def to_dict(self) -> dict:
        return {**asdict(self), "bytes_per_base": round(self.bytes_per_base, 4)}


# ---- ordering ----------------------------------------------------------------------------------

# epizoo.contigs holds the one order (and the names natural_contig_key, natural_text_key stay here):
# chr1, chr2, ..., chr10, ..., chrX, chrY, chrM, then other names; 'cv-2' before 'cv-10'.


# ---- tables ------------------------------------------------------------------------------------


def _element_table(pairs: pd.DataFrame, kind: str, contig_rank: dict[str, int]) -> tuple[pd.DataFrame, np.ndarray]:
    """Distinct elements of ``kind`` sorted by contig and position, and each pair's index into them."""
    keys = [f"{kind}_contig", f"{kind}_start", f"{kind}_end"]
    ranked = pairs.assign(_rank=pairs[keys[0]].map(contig_rank))
    index = ranked.groupby(["_rank", keys[1], keys[2]], sort=True).ngroup().to_numpy()
    extra = [f"{kind}_name"] + (["promoter_strand"] if kind == "promoter" else [])
    elements = ranked.assign(_index=index).drop_duplicates("_index").sort_values("_index")
    return elements[keys + extra].reset_index(drop=True), index


def _availability(source, elements: pd.DataFrame, kind: str) -> np.ndarray:
    """True where the source knows the element's sequence (strict sources raise instead of False)."""
    columns = [f"{kind}_contig", f"{kind}_start", f"{kind}_end"]
    rows = elements[columns].itertuples(index=False, name=None)
    return np.fromiter((source.has(c, int(s), int(e)) for c, s, e in rows), dtype=bool, count=len(elements))


def _drop_unavailable(pairs: pd.DataFrame, source) -> tuple[pd.DataFrame, dict[str, int]]:
    """Remove pairs whose enhancer or promoter sequence is unknown, counting them per reason."""
    known = {}
    for kind in KINDS:
        keys = [f"{kind}_contig", f"{kind}_start", f"{kind}_end"]
        distinct = pairs[keys].drop_duplicates()
        ok = pd.Series(_availability(source, distinct, kind), index=pd.MultiIndex.from_frame(distinct))
        known[kind] = ok.reindex(pd.MultiIndex.from_frame(pairs[keys])).to_numpy()
    enhancer_ok, promoter_ok = known["enhancer"], known["promoter"]
    dropped = {
        "enhancer sequence unavailable": int((~enhancer_ok & promoter_ok).sum()),
        "promoter sequence unavailable": int((enhancer_ok & ~promoter_ok).sum()),
        "both sequences unavailable": int((~enhancer_ok & ~promoter_ok).sum()),
    }
    return pairs[enhancer_ok & promoter_ok].reset_index(drop=True), {k: v for k, v in dropped.items() if v}


def _observed(pairs: pd.DataFrame) -> tuple[int, int]:
    """(pairs, positives) among the observed pairs (generated negatives left out)."""
    observed = pairs.loc[~pairs["label_generated"].astype(bool), "label"]
    return len(observed), int((observed == 1).sum())


def _rate(n: int, positives: int) -> float | None:
    return positives / n if n else None


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f} %"


def distortion(read: tuple[int, int], kept: tuple[int, int], dropped: dict[str, int]) -> str | None:
    """What is wrong with keeping ``kept`` of ``read`` (observed pairs, positives), or None when it is fine.

    Too many pairs dropped (over ``MAX_DROPPED_SHARE``) or a positive rate moved by over
    ``MAX_RATE_CHANGE_POINTS`` or by over a factor ``MAX_RATE_FACTOR`` (docs/datasets.md, "Drops").
    """
    (n_read, pos_read), (n_kept, pos_kept) = read, kept
    if not n_read:
        return None
    problems = []
    lost = n_read - n_kept
    if lost / n_read > MAX_DROPPED_SHARE:
        problems.append(f"drops {lost:,} of {n_read:,} pairs ({100 * lost / n_read:.0f} %, over {100 * MAX_DROPPED_SHARE:.0f} %)")
    before, after = _rate(n_read, pos_read), _rate(n_kept, pos_kept)
    if before is not None and after is not None:
        low, high = sorted((before, after))
        factor = high / low if low > 0 else (float("inf") if high > 0 else 1.0)
        if abs(after - before) > MAX_RATE_CHANGE_POINTS or factor > MAX_RATE_FACTOR:
            problems.append(f"changes the positive rate from {_percent(before)} to {_percent(after)}")
    if not problems:
        return None
    reasons = ", ".join(f"{n:,} {reason}" for reason, n in dropped.items())
    return "this build " + " and ".join(problems) + (f" (dropped: {reasons})" if reasons else "")


def _check_distortion(problem: str | None, allow_drops: bool, warnings: list[str]) -> None:
    """Refuse a distorting build in one line, or with ``allow_drops`` warn loudly and go on."""
    if problem is None:
        return
    if not allow_drops:
        raise EmptyResultError(
            f"{problem}; nothing was written. Give a sequence source that covers the pairs (e.g. --genome FASTA), "
            "or pass --allow-drops to build it anyway"
        )
    warn(f"{problem}; built anyway (--allow-drops): scores on this store do not describe the dataset", warnings)


class BuildWarnings(list):
    """The build's warnings; with ``as_errors`` (``--warnings-as-errors``) the first one refuses the build."""

    def __init__(self, items=(), as_errors: bool = False):
        super().__init__(items)
        self.as_errors = as_errors


def warn(message: str, warnings: list[str] | None = None) -> None:
    """A loud build warning on stderr, also kept in the build report; an error under ``--warnings-as-errors``."""
    if getattr(warnings, "as_errors", False):
        raise InputFileError(f"{message} (refused: --warnings-as-errors)")

    console.stderr.print(f"WARNING: {message}", markup=False, highlight=False, soft_wrap=True, style="bold red")
    if warnings is not None:
        warnings.append(message)


def _lookup(values: pd.Series, order: list[str]) -> np.ndarray:
    """Integer codes of ``values`` into ``order`` (-1 for the empty string)."""
    codes = {name: i for i, name in enumerate(order)}
    return values.map(lambda v: codes.get(v, -1)).to_numpy(np.int32)


def _variables(pairs: pd.DataFrame, settings: dict, source) -> tuple[dict, dict[str, pd.DataFrame]]:
    """Every variable except the sequences, as ``{name: (dims, array)}``, plus the element tables."""
    contig_names = sorted(set(pairs["enhancer_contig"]) | set(pairs["promoter_contig"]), key=natural_contig_key)
    contig_rank = {name: i for i, name in enumerate(contig_names)}
    cell_lines = sorted(set(pairs["cell_line"]), key=natural_text_key)
    sources = sorted(set(pairs["source"]), key=natural_text_key)
    cv_groups = sorted(set(pairs["cv_group"]) - {""}, key=natural_text_key)
    lengths = [source.contig_length(name) if source is not None else None for name in contig_names]
    data = {
        "contig_id": (["contigs"], _text(contig_names)),
        "contig_length": (["contigs"], np.array([-1 if n is None else n for n in lengths], dtype=np.int64)),
        "cell_line_id": (["cell_lines"], _text(cell_lines)),
        "source_id": (["sources"], _text(sources)),
        "cv_group_id": (["cv_groups"], _text(cv_groups)),
    }
    elements, pair_index, centres = {}, {}, {}
    for kind in KINDS:
        table, pair_index[kind] = _element_table(pairs, kind, contig_rank)
        elements[kind] = table
        start, end = table[f"{kind}_start"].to_numpy(np.int64), table[f"{kind}_end"].to_numpy(np.int64)
        dim = f"{kind}s"
        data[f"{kind}_contig"] = ([dim], table[f"{kind}_contig"].map(contig_rank).to_numpy(np.int32))
        data[f"{kind}_start"] = ([dim], start)
        data[f"{kind}_end"] = ([dim], end)
        data[f"{kind}_name"] = ([dim], _text(table[f"{kind}_name"]))
        window = settings[f"{kind}_window"]
        data[f"{kind}_window_start"] = ([dim], coords.stored_window_start(start, end, window, settings["flank"]))
        centres[kind] = coords.centre(pairs[f"{kind}_start"].to_numpy(np.int64), pairs[f"{kind}_end"].to_numpy(np.int64))
    data["promoter_strand"] = (["promoters"], _text(elements["promoter"]["promoter_strand"]))
    same_contig = (pairs["enhancer_contig"] == pairs["promoter_contig"]).to_numpy()
    distance = np.where(same_contig, np.abs(centres["enhancer"] - centres["promoter"]), -1)
    data.update(
        {
            "pair_enhancer": (["pairs"], pair_index["enhancer"].astype(np.int32)),
            "pair_promoter": (["pairs"], pair_index["promoter"].astype(np.int32)),
            "pair_contig": (["pairs"], pairs["enhancer_contig"].map(contig_rank).to_numpy(np.int32)),
            "pair_cell_line": (["pairs"], _lookup(pairs["cell_line"], cell_lines)),
            "pair_label": (["pairs"], pairs["label"].to_numpy(np.int8)),
            "pair_distance": (["pairs"], distance.astype(np.int64)),
            "pair_source": (["pairs"], _lookup(pairs["source"], sources)),
            "pair_cv_group": (["pairs"], _lookup(pairs["cv_group"], cv_groups)),
            "pair_label_generated": (["pairs"], pairs["label_generated"].to_numpy(bool)),
            "pair_name": (["pairs"], _text(pairs["pair_name"])),
        }
    )
    return data, elements


def _with_signals(pairs: pd.DataFrame, spec: str | None, dataset: str, keep_unmeasured: bool, genome=None,
                  allow_assembly_mismatch: bool = False):
    """(pairs, Signals or None, report). Pairs without signals are kept (NaN) beside sequence, else left out."""
    if spec is None:
        return pairs, None, {}
    measured = resolve_signals(spec, pairs, dataset, genome=genome, allow_assembly_mismatch=allow_assembly_mismatch)
    has = measured.has
    if not has.any():
        raise EmptyResultError(f"no pair has signals from {measured.source}; check the cell line names and the pairs' coordinates")
    report = {
        "source": measured.source, "marks": list(measured.marks), "pairs_with_signals": int(has.sum()),
        "pairs without signals": dict(measured.missing),
        "kept without signals (NaN)" if keep_unmeasured else "left out (no signals)": int((~has).sum()),
    }
    if not keep_unmeasured:
        pairs = pairs[has].reset_index(drop=True)
        measured.values = measured.values[has]
    return pairs, measured, report


def _signal_variables(measured) -> dict:
    return {
        "signal_mark_id": (["signal_marks"], _text(measured.marks)),
        "signal_region_id": (["signal_regions"], _text(REGIONS)),
        "pair_signal": (["pairs", "signal_marks", "signal_regions"], measured.values.astype(np.float32)),
    }


# ---- writing -----------------------------------------------------------------------------------


def _chunks_for(dims) -> dict:
    size = {"pairs": PAIR_CHUNK, "enhancers": ELEMENT_CHUNK, "promoters": ELEMENT_CHUNK, "signal_marks": 64, "signal_regions": 8}
    return {"chunks": tuple(size.get(d, 1 << 20) for d in dims)}


def _write_tables(wip: Path, data: dict, attrs: dict) -> None:
    import xarray as xr

    ds = xr.Dataset({name: (dims, values) for name, (dims, values) in data.items()}, attrs=attrs)
    encoding = {name: _chunks_for(dims) for name, (dims, values) in data.items() if values.dtype.kind != "T"}
    ds.to_zarr(wip, mode="w", zarr_format=3, consolidated=False, encoding=encoding)


def _write_sequences(wip: Path, source, kind: str, table: pd.DataFrame, window_start: np.ndarray, length: int, bar, task) -> None:
    """Fetch every stored window of ``kind`` block by block and append it to the store."""
    import zarr
    from zarr.codecs import BloscCodec

    group = zarr.open_group(wip, mode="r+", zarr_format=3)
    array = group.create_array(
        f"{kind}_sequence",
        shape=(len(table), length),
        chunks=(ELEMENT_CHUNK, length),
        dtype="int8",
        compressors=[BloscCodec(**SEQUENCE_CODEC)],
        dimension_names=[f"{kind}s", f"{kind}_bases"],
        fill_value=4,
    )
    contigs = table[f"{kind}_contig"].to_numpy()
    for lo in range(0, len(table), ELEMENT_CHUNK):
        hi = min(lo + ELEMENT_CHUNK, len(table))
        block = np.empty((hi - lo, length), dtype=np.int8)
        block_contigs = contigs[lo:hi]
        # elements are sorted by contig, so each contig is one run within the block
        for contig in pd.unique(block_contigs):
            rows = np.flatnonzero(block_contigs == contig)
            block[rows] = source.fetch_many(contig, window_start[lo:hi][rows], length)
        array[lo:hi] = block
        bar.advance(task, hi - lo)


def _api_command(dataset: str, settings: dict) -> str:
    """Provenance for a build called from Python rather than the command line."""
    arguments = ", ".join(
        [f"dataset={dataset!r}"] + [f"{k}={settings[k]}" for k in ("enhancer_window", "promoter_window", "n_shifts", "shift_step")]
    )
    return f"python: epizoo.store.build.build_store({arguments})"


def _attributes(loaded: LoadedDataset, source, settings: dict, command: str, dataset: str) -> dict:
    return {
        "epizoo_format_version": schema.FORMAT_VERSION,
        "epizoo_version": __version__,
        "dataset": dataset,
        "variant": loaded.variant or "",
        "genome_build": loaded.genome_build or "",
        "sequence_source": source.name if source is not None else "",
        "sequence_sha256": source.sha256() if source is not None else "",
        **settings,
        "command": command,
    }


def _with_negatives(loaded: LoadedDataset, ratio: int, seed: int, source) -> LoadedDataset:
    """Add ``ratio`` distance-matched generated negatives per positive to the loaded pairs."""
    available = (lambda kind, contig, start, end: source.available(contig, start, end)) if source is not None else None
    pairs = normalise_pair_table(loaded.pairs, what="pair table")  # complete columns before sampling
    loaded.pairs, negatives_report = add_negatives(pairs, ratio, seed, available=available)
    loaded.report.update({f"negatives_{key}": value for key, value in negatives_report.items()})
    return loaded


def _require_negatives(loaded: LoadedDataset, dataset: str, generated: bool = False) -> None:
    """Refuse a store of one class (positives only, negatives only): every model trained on it would learn nothing."""
    loaded.pairs = normalise_pair_table(loaded.pairs, what=f"{dataset} pair table")  # checks labels first
    if not (loaded.pairs["label"] == 1).any():
        raise InputFileError(
            f"the {dataset} pairs have no positives (every label is 0), so there is nothing to learn; check the "
            "label column (in a BEDPE file without a header, column 11)"
        )
    if not generated and not (loaded.pairs["label"] == 0).any():
        raise InputFileError(
            f"the {dataset} pairs have no negatives (every label is 1); add --negatives K to generate "
            "K distance-matched negatives per positive"
        )


def prepare_pairs(spec, request, source=None, *, negatives: int = 0, seed: int = 0, for_prediction: bool = False):
    """``epizoo build-store``'s reading step: ``(loaded, source)``, the dataset's pairs (with ``negatives``
    generated negatives per positive) and the sequence source (``source``, else the dataset's own).

    A store of one class (every label 1, or every label 0) is refused: nothing could be learnt from it.
    ``for_prediction=True`` lifts that refusal, for a store that is only scored (``epizoo predict
    --bedpe``, whose BEDPE may have no label column); build-store never sets it.
    """
    loaded = spec.load(request)
    source = source if source is not None else loaded.sequence
    if for_prediction:
        if negatives:
            raise InputFileError("generated negatives are for training stores; a store to predict on takes none")
        loaded.pairs = normalise_pair_table(loaded.pairs, what=f"{spec.name} pair table")
        return loaded, source
    if negatives:
        loaded = _with_negatives(loaded, negatives, seed, source)
    _require_negatives(loaded, spec.name, generated=bool(negatives))
    return loaded, source


def build_store(
    loaded: LoadedDataset,
    out: str | os.PathLike,
    *,
    sequence=None,
    enhancer_window: int = 3000,
    promoter_window: int = 2000,
    n_shifts: int = coords.DEFAULT_N_SHIFTS,
    shift_step: int = coords.DEFAULT_SHIFT_STEP,
    force: bool = False,
    command: str = "",
    dataset: str = "",
    progress: bool = True,
    add_layers=None,
    signals: str | None = None,
    with_sequence: bool = True,
    allow_drops: bool = False,
    warnings: list[str] | None = None,
    check_drops: bool = True,
    allow_assembly_mismatch: bool = False,
    warnings_as_errors: bool = False,
) -> BuildReport:
    """Join ``loaded.pairs`` with sequence and/or signals and write a validated store at ``out``.

    ``signals`` is ``--signals``: ``targetfinder-features``, a tracks YAML or a feature table
    (:func:`epizoo.sources.signals.resolve`). ``with_sequence=False`` (or no sequence source at all, with
    signals) builds a store of signals only, which leaves out the pairs without signals, counted.

    ``add_layers(wip)``, when given, writes further layers (e.g. the genome layer) into the staged
    folder after the pairs and before the manifest, so they are checked and staged with them.

    A build that drops more than half of the observed pairs, or moves their positive rate by more
    than 10 points or 2-fold, is refused before anything is written unless ``allow_drops``
    (then it warns); ``check_drops=False`` skips that check (``predict --bedpe``, which refuses any
    pair without sequence itself). ``warnings`` are the caller's, kept in the report with the build's.
    ``allow_assembly_mismatch`` reads signal tracks whose contig lengths differ from the genome's.
    ``warnings_as_errors`` turns every warning (a negatives shortfall, pairs of a cell line the tracks
    do not name, a distortion let through by ``allow_drops``) into a refusal, before the store is in place.
    """
    began = time.perf_counter()
    out = Path(out)
    check_output(out, force)
    source = (sequence if sequence is not None else loaded.sequence) if with_sequence else None
    if source is None and signals is None:
        raise InputFileError(
            "no sequence source: pass --genome FASTA (whole genome) or --regions FASTA (pre-extracted), or --signals for a store of signals"
        )
    if min(enhancer_window, promoter_window) <= 0:
        raise InputFileError("--enhancer-window and --promoter-window must be positive")
    settings = {
        "enhancer_window": int(enhancer_window),
        "promoter_window": int(promoter_window),
        "flank": coords.required_flank(n_shifts, shift_step),
        "shift_step": int(shift_step),
        "n_shifts": int(n_shifts),
    }
    pairs = normalise_pair_table(loaded.pairs, what=f"{dataset or 'dataset'} pair table")
    pairs_read = len(pairs)
    observed_read = _observed(pairs)
    warnings = BuildWarnings(warnings or [], as_errors=warnings_as_errors or getattr(warnings, "as_errors", False))
    _warn_shortfall(loaded, warnings)
    pairs, repeated = collapse_repeated_pairs(pairs)
    dropped = dict(repeated)
    if source is not None:
        pairs, unavailable = _drop_unavailable(pairs, source)
        dropped.update(unavailable)
        if pairs.empty:
            raise EmptyResultError(
                f"none of the {pairs_read} pairs has both sequences in {source.name}; check the genome build and contig names"
            )
    pairs, measured, signal_report = _with_signals(pairs, signals, dataset, keep_unmeasured=source is not None, genome=source,
                                                   allow_assembly_mismatch=allow_assembly_mismatch)
    if source is None:
        dropped.update(signal_report.get("pairs without signals", {}))
    _warn_untracked(signal_report, source is not None, warnings)
    observed_kept = _observed(pairs)
    if check_drops:
        _check_distortion(distortion(observed_read, observed_kept, dropped), allow_drops, warnings)
    lengths = {kind: settings[f"{kind}_window"] + 2 * settings["flank"] for kind in KINDS}
    if source is not None:
        _check_windows(pairs, source, settings, lengths)
    data, elements = _variables(pairs, settings, source)
    if measured is not None:
        data.update(_signal_variables(measured))
    stored_bases = sum(len(elements[k]) * lengths[k] for k in KINDS) if source is not None else 0
    report = BuildReport(
        out=str(out), pairs_read=pairs_read, pairs_kept=len(pairs), dropped=dropped,
        enhancers=len(elements["enhancer"]), promoters=len(elements["promoter"]),
        stored_bases=stored_bases, bytes_on_disk=0, seconds=0.0, reader=dict(loaded.report or {}), signals=signal_report,
        positive_rate_read=_rate(*observed_read), positive_rate_kept=_rate(*observed_kept), warnings=warnings,
    )
    command = command or _api_command(dataset, settings)
    attrs = _attributes(loaded, source, settings, command, dataset)
    layers = ["pairs"] + (["sequence"] if source is not None else []) + (["signals"] if measured is not None else [])
    attrs["epizoo_layers"] = ",".join(layers)
    if measured is not None:
        attrs.update(signal_source=measured.source, signal_sha256=measured.sha256)
    with staged(out) as wip:
        with console.progress(progress) as bar:
            task = bar.add_task("writing sequences", total=report.enhancers + report.promoters, status="")
            _write_tables(wip, data, attrs)
            for kind in KINDS if source is not None else ():
                _write_sequences(wip, source, kind, elements[kind], data[f"{kind}_window_start"][1], lengths[kind], bar, task)
        if add_layers is not None:
            add_layers(wip)
        _finalise(wip, report, began)
        _move_into_place(wip, out, force)
    return report


def _warn_shortfall(loaded: LoadedDataset, warnings: list[str]) -> None:
    """A negatives shortfall: the generator could not reach the ratio asked for."""
    short = int((loaded.report or {}).get("negatives_shortfall", 0) or 0)
    if short:
        made = int(loaded.report.get("negatives_generated", 0) or 0)
        warn(
            f"--negatives could not be reached: {made:,} negatives generated, {short:,} short (only pairings of elements "
            "with sequence, within the positives' distances, can be drawn); ask for fewer with a lower --negatives, or give a "
            "sequence source that covers more elements (e.g. --genome FASTA)", warnings,
        )


def _warn_untracked(signal_report: dict, kept: bool, warnings: list[str]) -> None:
    """Cell lines of the pairs that the signal tracks do not name."""
    untracked = {k: n for k, n in (signal_report.get("pairs without signals") or {}).items() if k.startswith("no tracks for cell line")}
    if untracked:
        cells = ", ".join(k.rsplit(" ", 1)[-1] for k in untracked)
        warn(
            f"the tracks name no cell line {cells} of the pairs ({sum(untracked.values()):,} pairs "
            f"{'kept with NaN signals' if kept else 'left out'}); add the cell line to the tracks YAML, "
            "or build with --cell-lines naming only cell lines it has", warnings,
        )


def track_cell_line_mismatch(pair_cell_lines, track_cell_lines, warnings: list[str]) -> None:
    """The genome layer's --tracks against the pairs' cell lines: warn about either side's extras."""
    pairs, tracks = set(map(str, pair_cell_lines)), set(map(str, track_cell_lines))
    if not tracks or pairs <= tracks:
        return
    missing = sorted(pairs - tracks, key=natural_text_key)
    warn(
        f"--tracks has no tracks for cell line {', '.join(missing)} of the pairs (it has {', '.join(sorted(tracks, key=natural_text_key))}); "
        "models reading tracks get none for those pairs. Name the same cell lines in the tracks YAML as in the pairs "
        "(or build with --cell-lines)", warnings,
    )


def collapse_repeated_pairs(pairs: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Keep each pair once per cell line and source table; resolve contradictory labels.

    A pair is its enhancer and promoter intervals, its cell line and its source table (the same
    pair in two source tables, e.g. two BENGI assays, is two pairs by design). Exact repeats are
    collapsed to their first row. A pair labelled both 1 and 0 is kept once, as a positive: an
    interaction observed in any row counts (the rule is in ``docs/store.md``). Both are counted.
    """
    key = ["enhancer_contig", "enhancer_start", "enhancer_end", "promoter_contig", "promoter_start",
           "promoter_end", "cell_line", "source"]
    if not pairs.duplicated(key, keep=False).any():
        return pairs, {}
    first_label = pairs.groupby(key, sort=False)["label"].transform("max")
    contradictory = pairs.groupby(key, sort=False)["label"].transform("nunique") > 1
    # the row kept is the first one carrying the winning label; its names and other fields stay
    ranked = pairs.assign(_wins=(pairs["label"] == first_label), _order=np.arange(len(pairs)))
    kept = ranked.sort_values(["_wins", "_order"], ascending=[False, True]).drop_duplicates(key, keep="first")
    kept = kept.sort_values("_order").drop(columns=["_wins", "_order"]).reset_index(drop=True)
    removed_contradictory = int((contradictory & (pairs["label"] != first_label)).sum())
    counts = {
        "duplicate pair": len(pairs) - len(kept) - removed_contradictory,
        "contradictory label (kept as positive)": removed_contradictory,
    }
    return kept, {reason: n for reason, n in counts.items() if n}


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _check_windows(pairs: pd.DataFrame, source, settings: dict, lengths: dict[str, int]) -> None:
    """Refuse windows longer than every contig, or whose write blocks would not fit in memory."""
    for kind in KINDS:
        window = settings[f"{kind}_window"]
        known = [n for c in pd.unique(pairs[f"{kind}_contig"]) if (n := source.contig_length(c)) is not None and n > 0]
        if known and window > max(known):
            raise InputFileError(
                f"--{kind}-window {window:,} bp is longer than the longest contig it would be cut from "
                f"({max(known):,} bp in {source.name}); choose a window of a few kb"
            )
        # one block of ELEMENT_CHUNK windows is held as int8 codes plus an int64 gather index
        block_bytes = min(ELEMENT_CHUNK, len(pairs)) * lengths[kind] * 10
        memory = _available_memory()
        if memory is not None and block_bytes > memory // 2:
            raise InputFileError(
                f"--{kind}-window {window:,} bp would need about {block_bytes / 1e9:,.1f} GB of memory per block of "
                f"{ELEMENT_CHUNK:,} elements, more than half of the {memory / 1e9:,.1f} GB available; choose a smaller window"
            )
