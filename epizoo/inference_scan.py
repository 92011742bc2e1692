"""``epizoo scan``: score every enhancer-promoter pair of a genome within a distance range.

A pair is an enhancer and a promoter on the same contig whose distance, the store's
``pair_distance`` (``|enhancer centre - promoter anchor|``, see :mod:`epizoo.coords`), lies in
``[min_distance, max_distance)``: the minimum is included, the maximum excluded. A promoter's
anchor is the base its window is centred on: the centre of a BED interval (its strand is not used,
as the BEDPE reader and the store builder do: a BED of 1-bp TSSs anchors on the TSS, a promoter
window centred on its TSS on that TSS too), or a GTF transcript's TSS, written as the 1-bp
interval ``[tss, tss + 1)`` (strand-aware: the first base of a ``+`` transcript, the last of a
``-`` one). With ``tss="transcript"`` each distinct TSS is one promoter; with ``tss="gene"`` each
gene is one, at its outermost TSS (the gene's start on ``+``, its end on ``-``).

The work streams contig by contig with bounded memory: pairs are enumerated in blocks from sorted
anchors with ``np.searchsorted`` (never an all-pairs matrix), each element's window is read from the
FASTA once per contig (held as one int8 array when the contig's windows fit the memory budget,
else read again per batch), batches are scored, and rows are written as batches finish. With dask
(``workers`` or ``scheduler``, as ``epizoo bench`` spells them) each contig is one task writing a
part file; the parts are joined in contig order, so the output equals the single-process one.

The output is a BEDPE sorted by enhancer contig (epizoo's contig order), enhancer start and
promoter start; a first line ``#chrom1 ... distance`` names the columns, so the file is also a
valid input of ``epizoo predict --bedpe``. A name ending in ``.gz`` is bgzip-compressed and
tabix-indexed (``.tbi``, on the enhancer columns). It is written under a temporary name and
renamed when complete.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from epizoo import __version__, console, coords
from epizoo.checkpoint import load_checkpoint_model, model_windows
from epizoo.contigs import natural_key
from epizoo.devices import resolve_device
from epizoo.errors import EmptyResultError, EpizooError, InputFileError, SequenceError
from epizoo.extras import require
from epizoo.sources.genome import FastaGenome, _naming_hint
from epizoo.textfile import numbered_lines
from epizoo.zoo import ModelSpec

DEFAULT_MIN_DISTANCE = 10_000
DEFAULT_MAX_DISTANCE = 2_000_000
TSS_MODES = ("transcript", "gene")
BLOCK_PAIRS = 1 << 16  # pairs enumerated and sorted at once: a few MB of index arrays
COLUMNS = ("chrom1", "start1", "end1", "chrom2", "start2", "end2", "name", "score", "strand1", "strand2", "distance")
GTF_SUFFIXES = (".gtf", ".gtf.gz", ".gff", ".gff.gz")


# ---- elements ------------------------------------------------------------------------------------
@dataclass
class Elements:
    """Enhancers or promoters: contig, interval, the anchor base their window is centred on, name."""

    contig: np.ndarray  # str objects
    start: np.ndarray  # int64, 0-based half-open
    end: np.ndarray
    name: np.ndarray  # str objects, '' when none

    @property
    def anchor(self) -> np.ndarray:
        return coords.centre(self.start, self.end)

    def __len__(self) -> int:
        return len(self.start)

    def subset(self, rows: np.ndarray) -> "Elements":
        return Elements(self.contig[rows], self.start[rows], self.end[rows], self.name[rows])


def _elements(rows: list[tuple[str, int, int, str]]) -> Elements:
    contig, start, end, name = zip(*rows) if rows else ((), (), (), ())
    return Elements(np.array(contig, dtype=object), np.array(start, dtype=np.int64), np.array(end, dtype=np.int64), np.array(name, dtype=object))


def _text_lines(path: Path, what: str) -> Iterator[tuple[int, str]]:
    return numbered_lines(path, what, "check the path", "give a BED or GTF file")


def _skipped(line: str) -> bool:
    return not line.strip() or line.startswith(("#", "track", "browser"))


def read_bed(path: str | Path, what: str = "BED file") -> Elements:
    """The intervals of a BED file (3 or more tab-separated columns; the 4th, when given, names them)."""
    path, rows = Path(path), []
    for number, line in _text_lines(path, what):
        if _skipped(line):
            continue
        fields = line.rstrip("\r\n").split("\t")
        where = f"{what} {path}:{number}"
        if len(fields) < 3:
            raise InputFileError(f"{where}: {len(fields)} tab-separated columns, a BED line needs chrom, start and end")
        if not (fields[1].isdigit() and fields[2].isdigit()):
            raise InputFileError(f"{where}: start {fields[1]!r} and end {fields[2]!r} must be non-negative integers")
        start, end = int(fields[1]), int(fields[2])
        if end <= start:
            raise InputFileError(f"{where}: end must be greater than start (0-based half-open)")
        name = fields[3] if len(fields) > 3 and fields[3] != "." else ""
        rows.append((fields[0], start, end, name))
    return _elements(rows)


_ATTRIBUTE = re.compile(r'(\S+)\s+"([^"]*)"')
GFF3_TRANSCRIPTS = ("mRNA", "transcript")  # the GFF3 types read as transcripts (Ensembl, GENCODE)


def _gff3_attributes(text: str) -> dict[str, str] | None:
    """GFF3's ``key=value;`` attributes (percent-encoded), or None for GTF's ``key "value";``: a GFF3
    file read as GTF would name every promoter ``.``."""
    if _ATTRIBUTE.search(text) or "=" not in text:
        return None
    from urllib.parse import unquote

    return {key.strip(): unquote(value) for key, _, value in (part.partition("=") for part in text.split(";")) if key.strip()}


def _gene_and_label(kind: str, attributes: str, gff3_names: dict[str, str]) -> tuple[str, str]:
    """(gene id, name) of a GTF line, or of a GFF3 line from its ID, Parent and Name (a transcript
    takes its gene's Name, filled in once every gene is read)."""
    gff3 = _gff3_attributes(attributes)
    if gff3 is None:
        found = dict(_ATTRIBUTE.findall(attributes))
        gene = found.get("gene_id", "")
        return gene, found.get("gene_name") or gene or found.get("transcript_id", "")
    if kind == "gene":
        gff3_names[gff3.get("ID", "")] = gff3.get("Name", "")
        return gff3.get("ID", ""), gff3.get("Name") or gff3.get("ID", "")
    gene = gff3.get("Parent", "").split(",")[0]
    return gene, gene  # the label is the gene's Name when the file has its gene line


def read_gtf_tss(path: str | Path, per: str = "transcript", what: str = "GTF file") -> Elements:
    """Promoters of a GTF as 1-bp TSS intervals: one per distinct transcript TSS, or one per gene.

    Transcript lines give the TSSs (gene lines when the file has no transcript line); a TSS is named
    by its genes' ``gene_name`` (else ``gene_id``), joined with ``,`` when several genes share it.
    """
    if per not in TSS_MODES:
        raise EpizooError(f"--tss {per!r}: use transcript or gene")
    path = Path(path)
    found: dict[str, list[tuple[str, int, str, str, str]]] = {"transcript": [], "gene": []}
    gff3_names: dict[str, str] = {}
    for number, line in _text_lines(path, what):
        if _skipped(line):
            continue
        fields = line.rstrip("\r\n").split("\t")
        where = f"{what} {path}:{number}"
        if len(fields) != 9:
            raise InputFileError(f"{where}: {len(fields)} tab-separated columns, a GTF line has 9; is it a GTF file?")
        kind = "transcript" if fields[2] in GFF3_TRANSCRIPTS else fields[2]
        if kind not in found:
            continue
        if not (fields[3].isdigit() and fields[4].isdigit()) or int(fields[3]) < 1 or int(fields[4]) < int(fields[3]):
            raise InputFileError(f"{where}: start {fields[3]!r} and end {fields[4]!r} must be 1-based positions, start <= end")
        if fields[6] not in ("+", "-"):
            raise InputFileError(f"{where}: strand {fields[6]!r} must be + or - to place the TSS")
        gene, label = _gene_and_label(kind, fields[8], gff3_names)
        tss = int(fields[3]) - 1 if fields[6] == "+" else int(fields[4]) - 1  # 1-based closed to a 0-based base
        found[kind].append((fields[0], tss, fields[6], gene or label, label))
    records = [(c, t, s, g, gff3_names.get(label) or label) for c, t, s, g, label in found["transcript"] or found["gene"]]
    if not records:
        raise InputFileError(f"{what} {path} has no transcript or gene lines; give a GTF (GENCODE, Ensembl) or a promoter BED")
    return _tss_elements(records, per)


def _tss_elements(records: list[tuple[str, int, str, str, str]], per: str) -> Elements:
    import pandas as pd

    table = pd.DataFrame(records, columns=["contig", "tss", "strand", "gene", "label"])
    if per == "gene":  # the outermost TSS: the smallest on +, the largest on -
        table["key"] = np.where(table["strand"] == "+", table["tss"], -table["tss"])
        table = table.sort_values("key", kind="stable").drop_duplicates(["gene", "contig", "strand"], keep="first")
    grouped = table.groupby(["contig", "tss", "strand"], sort=True)["label"].agg(lambda names: ",".join(sorted(set(names))))
    rows = [(contig, int(tss), int(tss) + 1, label) for (contig, tss, _strand), label in grouped.items()]
    return _elements(rows)


def read_promoters(path: str | Path, tss: str = "transcript") -> Elements:
    """A promoter BED, or a GTF (a name ending in .gtf or .gff, gzip or not) read for its TSSs."""
    if str(path).lower().endswith(GTF_SUFFIXES):
        return read_gtf_tss(path, tss, "promoter GTF")
    return read_bed(path, "promoter BED")


def check_on_genome(elements: Elements, source: Any, path: str | Path, what: str) -> None:
    """Every contig of ``elements`` is in the FASTA and every element lies within its contig."""
    known = set(source.contigs())
    absent = sorted(set(elements.contig) - known)
    if absent:
        shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        raise SequenceError(f"{what} {path} names contig(s) absent from {source.name}: {shown} {_naming_hint(absent[0], source.contigs())}")
    lengths = {contig: source.contig_length(contig) for contig in set(elements.contig)}
    limit = np.array([lengths[c] for c in elements.contig], dtype=np.int64)
    past = np.flatnonzero(elements.end > limit)
    if past.size:
        i = int(past[0])
        raise SequenceError(
            f"{what} {path}: {elements.contig[i]}:{elements.start[i]}-{elements.end[i]} runs past the end of "
            f"{elements.contig[i]} ({limit[i]} bp) in {source.name}; check that the coordinates and the genome build match"
        )


# ---- candidate pairs -----------------------------------------------------------------------------
def _ranges(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, value): every ``value`` in ``range(starts[i], stops[i])``, with its ``i``."""
    lengths = np.maximum(stops - starts, 0)
    owner = np.repeat(np.arange(len(starts)), lengths)
    first = np.cumsum(lengths) - lengths
    return owner, np.arange(int(lengths.sum()), dtype=np.int64) - first[owner] + starts[owner]


@dataclass
class ContigPlan:
    """One contig's enhancers (sorted by start, end, input order) and promoters, with the ranges of
    promoters (positions in anchor order) that lie in the distance range of each enhancer."""

    contig: str
    enhancers: Elements
    promoters: Elements
    promoter_order: np.ndarray  # promoters by anchor
    left: tuple[np.ndarray, np.ndarray]  # anchor-order positions [lo, hi) at or upstream of each enhancer
    right: tuple[np.ndarray, np.ndarray]  # and downstream of it

    @property
    def counts(self) -> np.ndarray:
        return (self.left[1] - self.left[0]) + (self.right[1] - self.right[0])

    @property
    def n_pairs(self) -> int:
        return int(self.counts.sum())

    def blocks(self, size: int = BLOCK_PAIRS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(enhancer rows, promoter rows) of about ``size`` pairs at a time, sorted by (enhancer start,
        promoter start, enhancer end, enhancer, promoter end, promoter); a block ends where the
        enhancer start changes, so blocks follow each other in that order."""
        counts, starts = self.counts, self.enhancers.start
        total, lo = np.cumsum(counts), 0
        boundaries = np.flatnonzero(np.diff(starts)) + 1  # first enhancer of each run of equal starts
        while lo < len(counts):
            reach = np.searchsorted(total, (total[lo - 1] if lo else 0) + size, side="right")
            nxt = boundaries[np.searchsorted(boundaries, max(reach, lo + 1), side="left"):]
            hi = int(nxt[0]) if nxt.size else len(counts)
            rows = self._pairs(lo, hi)
            if rows[0].size:
                yield rows
            lo = hi

    def _pairs(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        parts = [_ranges(a[lo:hi], b[lo:hi]) for a, b in (self.left, self.right)]
        enhancer = np.concatenate([owner for owner, _ in parts]) + lo
        promoter = self.promoter_order[np.concatenate([value for _, value in parts])]
        e, p = self.enhancers, self.promoters
        order = np.lexsort((promoter, p.end[promoter], enhancer, e.end[enhancer], p.start[promoter], e.start[enhancer]))
        return enhancer[order], promoter[order]


def plan_contig(contig: str, enhancers: Elements, promoters: Elements, min_distance: int, max_distance: int) -> ContigPlan:
    """The candidate pairs of one contig, as ranges found with ``np.searchsorted`` on sorted anchors."""
    enhancers = enhancers.subset(np.lexsort((np.arange(len(enhancers)), enhancers.end, enhancers.start)))
    order = np.argsort(promoters.anchor, kind="stable")
    anchors, centre = promoters.anchor[order], enhancers.anchor
    # upstream or at the centre: centre - max < anchor <= centre - min; downstream: centre + max(min, 1) <= anchor < centre + max
    left = (np.searchsorted(anchors, centre - max_distance, "right"), np.searchsorted(anchors, centre - min_distance, "right"))
    right = (np.searchsorted(anchors, centre + max(min_distance, 1), "left"), np.searchsorted(anchors, centre + max_distance, "left"))
    return ContigPlan(contig, enhancers, promoters, order, left, right)


def plan_genome(enhancers: Elements, promoters: Elements, min_distance: int, max_distance: int) -> list[ContigPlan]:
    """One plan per contig holding both kinds, in epizoo's contig order (those without a pair left out)."""
    plans = []
    for contig in sorted(set(enhancers.contig) & set(promoters.contig), key=natural_key):
        plan = plan_contig(
            contig, enhancers.subset(np.flatnonzero(enhancers.contig == contig)),
            promoters.subset(np.flatnonzero(promoters.contig == contig)), min_distance, max_distance,
        )
        if plan.n_pairs:
            plans.append(plan)
    return plans


# ---- windows and scoring -------------------------------------------------------------------------
def scan_windows(spec: ModelSpec, description: dict[str, Any]) -> dict[str, int]:
    """The window lengths a scan reads for the model: its own (:func:`~epizoo.inference.model_windows`),
    or none for a model of the pair's distance alone (``inputs=()``). A model that is not a pair model,
    or that reads epigenomic signals (which a FASTA does not hold), is refused in one line."""
    if spec.task != "pair":
        raise EpizooError(f"{spec.name} is a {spec.task} model; epizoo scan scores enhancer-promoter pairs: give a pair model's checkpoint")
    if spec.reads("signals"):
        raise EpizooError(
            f"{spec.name} reads epigenomic signals, which a FASTA does not hold; scan a sequence model, or score "
            "pairs of a store with signals with epizoo predict"
        )
    windows = model_windows(spec, description)
    return windows if spec.reads("sequence") else {kind: 0 for kind in windows}


class _Windows:
    """One contig's element windows: read once into an int8 array when they fit ``budget`` bytes,
    else read again for each batch (only the batch's distinct elements)."""

    def __init__(self, source: Any, contig: str, elements: Elements, length: int, budget: float):
        self.source, self.contig, self.length = source, contig, length
        self.starts = coords.window_start(elements.start, elements.end, length)
        self.codes = source.fetch_many(contig, self.starts, length) if len(elements) * length <= budget else None

    @property
    def nbytes(self) -> int:
        return 0 if self.codes is None else int(self.codes.nbytes)

    def rows(self, index: np.ndarray) -> np.ndarray:
        if self.codes is not None:
            return self.codes[index]  # one fancy-indexing gather
        unique, inverse = np.unique(index, return_inverse=True)
        return self.source.fetch_many(self.contig, self.starts[unique], self.length)[inverse]


def _texts(elements: Elements, contig: str) -> tuple[np.ndarray, np.ndarray]:
    """Each element's three BEDPE columns and its name, formatted once per contig."""
    columns = np.array([f"{contig}\t{s}\t{e}" for s, e in zip(elements.start.tolist(), elements.end.tolist())], dtype=object)
    names = np.array([name or "." for name in elements.name], dtype=object)
    return columns, names


def scan_contig(
    plan: ContigPlan,
    source: Any,
    score: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    windows: dict[str, int],
    write: Callable[[str], Any],
    batch_size: int,
    memory_budget: float,
    on_batch: Callable[[int], None] = lambda n: None,
) -> int:
    """Score every candidate pair of ``plan`` in sorted order, writing rows with ``write``; the pair count."""
    budget = float(memory_budget)  # promoters first: usually fewer, and read by more pairs each
    held = {}
    for kind, elements in (("promoter", plan.promoters), ("enhancer", plan.enhancers)):
        held[kind] = _Windows(source, plan.contig, elements, windows[kind], budget)
        budget -= held[kind].nbytes
    e_columns, e_names = _texts(plan.enhancers, plan.contig)
    p_columns, p_names = _texts(plan.promoters, plan.contig)
    e_anchor, p_anchor = plan.enhancers.anchor, plan.promoters.anchor
    done = 0
    for block_e, block_p in plan.blocks():
        for lo in range(0, block_e.size, batch_size):
            e, p = block_e[lo : lo + batch_size], block_p[lo : lo + batch_size]
            distance = np.abs(e_anchor[e] - p_anchor[p])
            scores = np.asarray(score(held["enhancer"].rows(e), held["promoter"].rows(p), distance), dtype=np.float64)
            write("".join(
                f"{ec}\t{pc}\t{en}|{pn}\t{s:.6g}\t.\t.\t{d}\n"
                for ec, pc, en, pn, s, d in zip(e_columns[e], p_columns[p], e_names[e], p_names[p], scores.tolist(), distance.tolist())
            ))
            done += e.size
            on_batch(e.size)
    return done


# ---- one process or dask -------------------------------------------------------------------------
@dataclass
class _Job:
    """What a dask worker needs to scan one contig into a part file."""

    checkpoint: str
    genome: str
    plan: ContigPlan
    part: str
    device: str
    precision: str
    batch_size: int
    memory_budget: float
    threads: int | None


_WORKER_MODELS: dict[tuple, tuple[Any, dict[str, int]]] = {}


def _worker_scorer(job: _Job) -> tuple[Any, dict[str, int]]:
    """The job's model, loaded once per worker process."""
    from epizoo.inference import pair_scorer  # lazy: imports torch and scikit-learn

    folder = Path(job.checkpoint)  # a checkpoint rewritten since (same path, new files) is loaded again
    stamp = tuple(sorted((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in folder.iterdir())) if folder.is_dir() else ()
    key = (job.checkpoint, stamp, job.device, job.precision)
    if key not in _WORKER_MODELS:
        model, spec, description = load_checkpoint_model(job.checkpoint, device=job.device)
        _WORKER_MODELS[key] = (pair_scorer(model, spec, description, job.device, job.precision), scan_windows(spec, description))
    return _WORKER_MODELS[key]


def _run_job(job: _Job) -> int:
    if job.threads:
        import torch

        torch.set_num_threads(job.threads)
    score, windows = _worker_scorer(job)
    with open(job.part, "w", encoding="utf-8") as handle:
        return scan_contig(job.plan, FastaGenome(job.genome), score, windows, handle.write, job.batch_size, job.memory_budget)


def _run_dask(jobs: list[_Job], workers: int | None, scheduler: str | None, advance: Callable[[int], None], log: Callable[[str], None]) -> None:
    """One dask task per contig on a local cluster (``workers`` processes) or an existing scheduler."""
    import dask
    from distributed import as_completed

    from epizoo.bench.runner import _Cluster, _quiet_dask  # lazy: imports torch and scikit-learn

    cluster = _Cluster(workers, scheduler, log)  # no GPU resources: every job runs on its own job.device
    try:
        with _quiet_dask():
            n_workers = max(1, len(cluster.client.scheduler_info()["workers"]))
            threads = jobs[0].threads or max(1, (os.cpu_count() or 1) // n_workers)
            tasks = [dask.delayed(_run_job, pure=False)(_with_threads(job, threads)) for job in jobs]
            futures = {future: job for future, job in zip(cluster.client.compute(tasks), jobs)}
            for future in as_completed(futures):
                future.result()  # a task's error is raised here, with its message
                advance(futures[future].plan.n_pairs)
    finally:
        cluster.close()


def _with_threads(job: _Job, threads: int) -> _Job:
    from dataclasses import replace

    return replace(job, threads=threads)


# ---- output --------------------------------------------------------------------------------------
def _header(model: str, checkpoint: str | Path, min_distance: int, max_distance: int, command: str) -> str:
    lines = ["#" + "\t".join(COLUMNS), f"# epizoo {__version__} scan; model {model}; checkpoint {Path(checkpoint).name}; "
             f"pairs on one contig with {min_distance} <= distance < {max_distance} bp; score: probability"]
    if command:
        lines.append(f"# command: {command}")
    return "\n".join(lines) + "\n"


def _finish(plain: Path, out: Path) -> None:
    """Move the complete plain text to ``out``: bgzip-compressed and tabix-indexed when it ends in .gz."""
    if not out.name.endswith(".gz"):
        os.replace(plain, out)
        return

    pysam = require("pysam", "genome", needed_for="a bgzip + tabix output (.gz)")
    packed = plain.with_name(plain.name + ".gz")
    pysam.tabix_compress(str(plain), str(packed), force=True)
    pysam.tabix_index(str(packed), seq_col=0, start_col=1, end_col=2, zerobased=True, meta_char="#", force=True)
    index = Path(f"{out}.tbi")
    index.unlink(missing_ok=True)  # never leave an index of an older file beside the new one
    os.replace(packed, out)
    os.replace(f"{packed}.tbi", index)


def _check_out(out: Path) -> None:
    if out.is_dir():
        raise InputFileError(f"-o {out} is a folder; give the path of the BEDPE to write (ending in .gz for bgzip and tabix)")
    if not out.parent.is_dir() and out.parent.exists():
        raise InputFileError(f"-o {out}: {out.parent} is not a folder")
    if out.name.endswith(".gz"):  # before the scan, not after it
        require("pysam", "genome", needed_for="a bgzip + tabix output (.gz)")


# ---- the scan ------------------------------------------------------------------------------------
def scan(
    checkpoint: str | Path,
    genome: str | Path,
    enhancers: str | Path,
    promoters: str | Path,
    out: str | Path,
    *,
    min_distance: int = DEFAULT_MIN_DISTANCE,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    tss: str = "transcript",
    batch_size: int = 256,
    device: str = "auto",
    precision: str = "auto",
    memory_budget: float | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    progress: bool = False,
    command: str = "",
) -> dict[str, Any]:
    """Score every enhancer-promoter pair on one contig with ``min_distance <= distance < max_distance``
    with the model of ``checkpoint`` and write the sorted BEDPE ``out`` (see the module's text).

    This is ``epizoo scan`` from Python.

    Args:
        checkpoint: a checkpoint folder (``RUN/checkpoints/MODEL/CELL/FOLD``) or its ``checkpoint.json``;
            a pair model of sequence or of the distance alone (not one of signals).
        genome: the FASTA the elements' coordinates refer to.
        enhancers: a BED of enhancers (3 or more columns; the 4th names them).
        promoters: a BED of promoters, or a GTF/GFF (gzip or not) read for its TSSs.
        out: the BEDPE to write; a name ending in ``.gz`` is bgzip-compressed and tabix-indexed.
        min_distance: the smallest distance scored, in bp, included (default 10,000).
        max_distance: the distance bound in bp, excluded (default 2,000,000).
        tss: with a GTF, one promoter per distinct ``transcript`` TSS or per ``gene``.
        batch_size: pairs scored at once.
        device: ``auto`` (a GPU if there is one), ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``auto``, ``fp32`` or ``bf16``.
        memory_budget: bytes of one contig's element windows held in memory (default: a quarter of
            the available memory, shared among the workers); beyond it windows are read per batch.
        workers: run each contig as a task on a local dask cluster of this many workers.
        scheduler: the address of an existing dask scheduler to run the contigs on.
        threads: torch threads per process (default: torch's).
        progress: show a progress bar on stderr.
        command: the command line recorded in the output's header.

    Returns:
        The output path and counts: ``out``, ``model``, ``pairs``, ``contigs``, ``enhancers``,
        ``promoters``, ``seconds`` (all of it), ``scoring_seconds`` (reading windows, scoring and
        writing rows: the model and inputs loaded) and ``pairs_per_second`` (over the scoring seconds).

    Raises:
        InputFileError: a malformed BED or GTF, ``out`` a folder or not writable.
        SequenceError: an element on a contig absent from the FASTA, or past its end.
        EmptyResultError: a file with no elements, or no pair in the distance range.
        MissingExtraError: a ``.gz`` output without pysam (the ``genome`` extra).
        EpizooError: a bad distance range, ``batch_size``, ``tss``, ``device`` or ``precision``, both
            ``workers`` and ``scheduler``, or a checkpoint that cannot be loaded or scanned.
    """
    from epizoo.inference import pair_scorer  # lazy: imports torch and scikit-learn
    from epizoo.training.loader import MEMORY_FRACTION, available_memory  # lazy: imports torch

    started = time.monotonic()
    out = Path(out)
    _check_out(out)
    if min_distance < 0 or max_distance <= min_distance:
        raise EpizooError(f"--min-distance {min_distance} must be at least 0 and below --max-distance {max_distance} (the minimum is included, the maximum excluded)")
    if batch_size < 1:
        raise EpizooError(f"--batch-size {batch_size} must be at least 1")
    if workers and scheduler:
        raise EpizooError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    target = str(resolve_device(device))
    model, spec, description = load_checkpoint_model(checkpoint, device=target)
    windows = scan_windows(spec, description)
    source = FastaGenome(genome)
    enhancer_set, promoter_set = read_bed(enhancers, "enhancer BED"), read_promoters(promoters, tss)
    for elements, path, what in ((enhancer_set, enhancers, "enhancer BED"), (promoter_set, promoters, "promoters")):
        if not len(elements):
            raise EmptyResultError(f"{what} {path} has no elements; give a file with at least one interval")
        check_on_genome(elements, source, path, what)
    plans = plan_genome(enhancer_set, promoter_set, min_distance, max_distance)
    total = sum(plan.n_pairs for plan in plans)
    if not total:
        raise EmptyResultError(
            f"no enhancer-promoter pair on a shared contig lies {min_distance} <= distance < {max_distance} bp; "
            "check the contig names of the two files and the distance range"
        )
    if memory_budget is None:
        memory_budget = MEMORY_FRACTION * available_memory("cpu") / max(1, workers or 1)
    if threads:
        import torch

        torch.set_num_threads(threads)
    header = _header(spec.name, checkpoint, min_distance, max_distance, command)
    scratch = out.with_name(f".{out.name}.scan-{os.getpid()}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        scratch.mkdir()
        plain, scoring = scratch / "rows.bedpe", time.monotonic()
        with _progress_bar(progress, total) as advance:
            if workers or scheduler:
                jobs = [
                    _Job(str(Path(checkpoint).resolve()), str(Path(genome).resolve()), plan, str((scratch / f"part-{i:05d}.bedpe").resolve()),
                         target, precision, batch_size, float(memory_budget), threads)
                    for i, plan in enumerate(plans)
                ]

                _run_dask(jobs, workers, scheduler, advance, lambda text: console.stderr.print(text, markup=False, highlight=False) if progress else None)
                _join(header, [Path(job.part) for job in jobs], plain)
            else:
                score = pair_scorer(model, spec, description, target, precision)
                with open(plain, "w", encoding="utf-8") as handle:
                    handle.write(header)
                    for plan in plans:
                        scan_contig(plan, source, score, windows, handle.write, batch_size, memory_budget, advance)
        scoring = time.monotonic() - scoring
        _finish(plain, out)
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        raise InputFileError(f"scan stopped: {exc.strerror or exc}{where}; check that -o {out} is in a writable folder with free space") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "out": str(out), "model": spec.name, "pairs": total, "contigs": len(plans), "enhancers": len(enhancer_set),
        "promoters": len(promoter_set), "seconds": time.monotonic() - started, "scoring_seconds": scoring,
        "pairs_per_second": total / max(scoring, 1e-9),
    }


def _join(header: str, parts: list[Path], plain: Path) -> None:
    """The header, then the part files in contig order: each is sorted, so the whole is."""
    with open(plain, "w", encoding="utf-8") as handle:
        handle.write(header)
        for part in parts:
            with open(part, encoding="utf-8") as piece:
                shutil.copyfileobj(piece, handle, 1 << 20)


@contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    """A rich bar of pairs scored that shows pairs/s (silent without ``enabled``); yields ``advance(n)``."""
    with console.progress(enabled) as bar:
        task = bar.add_task("scan", total=total, status="")
        started, done = time.monotonic(), [0]

        def advance(n: int) -> None:
            done[0] += n
            rate = done[0] / max(time.monotonic() - started, 1e-9)
            bar.update(task, advance=n, status=f"{rate:,.0f} pairs/s")

        yield advance
