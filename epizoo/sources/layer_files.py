"""The files a genome layer is built from: a FASTA (through :mod:`epizoo.sources.genome`), bigWig
tracks (pyBigWig) and ``.cool``/``.mcool`` contact maps (cooler), read by :class:`FileLayerSource`,
the source :mod:`epizoo.store.genome_layer` writes from. Every track and map is checked against the
genome (contig names, lengths) before anything is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from epizoo import contigs as contig_names
from epizoo.errors import InputFileError
from epizoo.extras import require
from epizoo.sources.genome import LayerSource, file_sha256
from epizoo.sources.tracks import _check_lengths, infinite_value_line, open_bigwig, read_yaml_mapping, resolve_file, track_extremes
from epizoo.textfile import refuse_special_file

if TYPE_CHECKING:
    from epizoo.store.genome_layer import LayerSettings


def _missing_contigs_line(what: str, wanted: list[str], have: list[str], rename_hint: str) -> str | None:
    """One line when ``have`` lacks some of ``wanted``: a naming mismatch (``1`` vs ``chr1``) or plain absence."""
    missing = [c for c in wanted if c not in have]
    if not missing:
        return None
    flipped = [(c, have[i]) for c in missing if (i := contig_names.find(c, have)) is not None]
    if flipped:
        ours, theirs = flipped[0]
        return (
            f"{what} names its contigs differently from the genome ({theirs!r} where the genome has {ours!r}); "
            f"{rename_hint}, or pass a genome named the same way"
        )
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return f"{what} has no data for contig(s) {shown}; add them, or restrict the layer with --genome-contigs"


class FileLayerSource(LayerSource):
    """A FASTA (an :class:`epizoo.sources.genome.FastaGenome` or any whole-genome source), bigWigs and coolers.

    Every track and map must give the layer's contigs the genome's lengths (the same assembly), unless
    ``allow_assembly_mismatch``; a contig of length 0 (a FASTA header with no sequence) is left out
    unless named in ``contigs``.
    """

    def __init__(self, sequence, tracks: dict[str, dict[str, Path]] | None = None, contacts: dict[str, str] | None = None,
                 contigs: list[str] | None = None, allow_assembly_mismatch: bool = False):
        self.sequence = sequence
        known = sequence.contigs()
        if contigs:
            chosen = [known[contig_names.resolve(c, known, where=sequence.name)] for c in contigs]
        else:
            chosen = [name for name in known if sequence.contig_length(name)]
        self.contigs = {name: int(sequence.contig_length(name)) for name in chosen}
        self.allow_assembly_mismatch = bool(allow_assembly_mismatch)
        self.track_files = {(cell, mark): Path(path) for cell, marks in (tracks or {}).items() for mark, path in marks.items()}
        self.tracks = list(self.track_files)
        self.contact_uris = dict(contacts or {})
        self.contact_cells = list(self.contact_uris)
        self._bigwigs: dict = {}
        self._coolers: dict = {}
        self.matrix = "balanced"

    def __getstate__(self):
        """Open bigWig and cooler handles stay in their process; another opens its own."""
        return {**self.__dict__, "_bigwigs": {}, "_coolers": {}}

    # bigWig ------------------------------------------------------------------------------------
    def _bigwig(self, key):
        if key not in self._bigwigs:
            self._bigwigs[key] = open_bigwig(self.track_files[key], f"track {key[0]}/{key[1]}: ")
        return self._bigwigs[key]

    def _check_track(self, key) -> None:
        bw, path = self._bigwig(key), self.track_files[key]
        what = f"track {key[0]}/{key[1]} ({path.name})"
        problem = _missing_contigs_line(
            what, list(self.contigs), list(bw.chroms()),
            "rename them (e.g. bigWigToBedGraph, add or strip `chr`, bedGraphToBigWig)",
        )
        if problem:
            raise InputFileError(problem)
        _check_lengths(what, bw.chroms(), self.sequence.name, self.contigs, self.allow_assembly_mismatch)
        measured = False
        for contig in self.contigs:
            low, high = track_extremes(bw, contig)
            for value in (low, high):
                if value is not None and np.isinf(value):
                    raise InputFileError(infinite_value_line(what, contig, value))
            measured = measured or high is not None
        if not measured:
            raise InputFileError(f"{what} holds no values (every base is NaN); check the file")

    def track_values(self, cell, mark, contig, start, end):
        bw = self._bigwig((cell, mark))
        out = np.full(end - start, np.nan, dtype=np.float32)
        hi = min(end, int(bw.chroms(contig) or 0))
        if hi > start:
            out[: hi - start] = bw.values(contig, start, hi, numpy=True)
        infinite = np.flatnonzero(np.isinf(out))
        if infinite.size:  # the zoom levels checked first said otherwise: say where
            at = start + int(infinite[0])
            what = f"track {cell}/{mark} ({self.track_files[(cell, mark)].name})"
            raise InputFileError(infinite_value_line(what, f"{contig} (at {contig}:{at:,})", float(out[infinite[0]])))
        return out

    # cooler ------------------------------------------------------------------------------------
    def _cooler(self, cell: str, settings: LayerSettings):
        if cell not in self._coolers:
            self._coolers[cell] = open_cooler(self.contact_uris[cell], settings.bin_size, what=f"contact map {cell}")
        return self._coolers[cell]

    def check(self, settings: LayerSettings) -> None:
        self.matrix = "balanced" if settings.balance else "raw"
        for key in self.tracks:
            self._check_track(key)
        for cell in self.contact_cells:
            clr = self._cooler(cell, settings)
            if settings.bin_size % clr.binsize:
                raise InputFileError(
                    f"--bin-size {settings.bin_size:,} is not a multiple of the resolution of contact map {cell} "
                    f"({clr.binsize:,} bp in {self.contact_uris[cell]}); choose a multiple of {clr.binsize:,}"
                )
            what = f"contact map {cell} ({Path(clr.filename).name})"
            problem = _missing_contigs_line(what, list(self.contigs), list(clr.chromnames), "rename them with cooler.rename_chroms")
            if problem:
                raise InputFileError(problem)
            _check_lengths(what, {str(k): int(v) for k, v in clr.chromsizes.items()}, self.sequence.name, self.contigs,
                           self.allow_assembly_mismatch)
            if settings.balance and "weight" not in clr.bins().columns:
                raise InputFileError(
                    f"contact map {cell} ({self.contact_uris[cell]}) is not balanced (no `weight` column); run "
                    "`cooler balance` on it, or pass --no-balance for raw counts"
                )

    def contact_band(self, cell, contig, lo, hi, settings):
        clr = self._cooler(cell, settings)
        factor = settings.bin_size // clr.binsize
        first, n_fine = clr.offset(contig), clr.extent(contig)[1] - clr.offset(contig)
        width = hi - lo + settings.diagonals - 1
        start = first + min(lo * factor, n_fine)  # a map shorter than the genome's contig (--allow-assembly-mismatch): NaN past it
        rows = (start, first + min(hi * factor, n_fine))
        cols = (start, first + min((lo + width) * factor, n_fine))
        fine = clr.matrix(balance=settings.balance)[rows[0] : rows[1], cols[0] : cols[1]].astype(np.float32)
        return band_of(coarsen(fine, factor, hi - lo, width), settings.diagonals)

    def provenance(self) -> dict:
        tracks = [
            {"cell_line": c, "mark": m, "file": p.name, "sha256": file_sha256(p)} for (c, m), p in self.track_files.items()
        ]
        maps = []
        for cell, uri in self.contact_uris.items():
            path = Path(uri.split("::")[0])
            maps.append({"cell_line": cell, "file": path.name + uri[len(uri.split("::")[0]):], "sha256": file_sha256(path)})
        return {"tracks": tracks, "contacts": maps}


def open_cooler(uri: str, bin_size: int, what: str = "contact map"):
    """The cooler at ``uri`` (``file.cool``, ``file.mcool::/resolutions/N``, or ``file.mcool``: the
    resolution equal to ``bin_size``), or one line listing the resolutions an .mcool has."""
    cooler = require("cooler", "genome", needed_for="Hi-C contact maps")
    path, _, group = uri.partition("::")
    if not Path(path).is_file():
        refuse_special_file(path, f"{what}:")
        raise InputFileError(f"{what}: {path} does not exist")
    try:
        present = cooler.fileops.list_coolers(path)
    except (OSError, ValueError, KeyError):
        raise InputFileError(f"{what}: {path} is not a .cool or .mcool file") from None
    if not present:
        raise InputFileError(f"{what}: {path} holds no cooler")
    resolutions = sorted(int(p.rsplit("/", 1)[-1]) for p in present if p.startswith("/resolutions/"))
    if not group:
        group = "/" if "/" in present else f"/resolutions/{bin_size}"
    group = "/" + group.strip("/") if group.strip("/") else "/"
    if group not in present:
        listed = ", ".join(f"{r:,}" for r in resolutions) or ", ".join(present)
        raise InputFileError(
            f"{what}: {path} has no {group} (its resolutions: {listed}); name one with "
            f"`{Path(path).name}::/resolutions/N` or choose --bin-size among them"
        )
    return cooler.Cooler(f"{path}::{group}")


def coarsen(fine: np.ndarray, factor: int, rows: int, cols: int) -> np.ndarray:
    """Sum ``factor`` x ``factor`` blocks of ``fine`` into a ``(rows, cols)`` matrix; NaN where no
    fine pixel was measured (all NaN) or the block lies past the contig."""
    out = np.full((rows * factor, cols * factor), np.nan, dtype=np.float32)
    out[: fine.shape[0], : fine.shape[1]] = fine
    if factor == 1:
        return out[:rows, :cols]
    blocks = out.reshape(rows, factor, cols, factor)
    measured = (~np.isnan(blocks)).any(axis=(1, 3))
    return np.where(measured, np.nansum(blocks, axis=(1, 3)), np.nan).astype(np.float32)


def band_of(matrix: np.ndarray, diagonals: int) -> np.ndarray:
    """``[i, d] = matrix[i, i + d]`` for the ``matrix.shape[0]`` rows; NaN where ``i + d`` is past its columns."""
    rows, cols = matrix.shape
    index = np.arange(rows)[:, None] + np.arange(diagonals)[None, :]
    inside = index < cols
    band = np.full((rows, diagonals), np.nan, dtype=np.float32)
    band[inside] = matrix[np.nonzero(inside)[0], index[inside]]
    return band


def read_contacts_yaml(path: str | os.PathLike) -> dict[str, str]:
    """``{cell_line: cooler URI}`` from a contacts YAML file (``K562: k562.mcool::/resolutions/10000``)."""
    path = Path(path)
    maps = {}
    for cell, uri in read_yaml_mapping(path, "contacts").items():
        file, sep, group = str(uri).partition("::") if isinstance(uri, str) else (uri, "", "")
        maps[str(cell)] = f"{resolve_file(path, file, str(cell))}{sep}{group}"
    return maps
