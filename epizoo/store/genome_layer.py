"""The genome layer: reference sequence per contig, signal tracks and contact maps in the store.

Layout (``docs/store.md``, "Genome layer"; every variable is registered in :mod:`epizoo.schema`):

* ``genome_sequence`` (``genome_bases``): every contig's int8 codes, concatenated. One variable
  whatever the number of contigs, so the schema names it once; ``genome_contig_offset`` gives each
  contig's first position. Each contig starts on a chunk boundary (the gap is N), so a contig is
  whole chunks and the build can write (and a reader fetch) contig by contig.
* ``track_value`` (``tracks``, ``track_bins``): the mean of each track over bins of
  ``track_resolution`` bp, in the dtype chosen by measurement (``docs/performance.md``), on the same
  per-contig, chunk-aligned plan (``genome_contig_track_offset``); NaN where nothing was measured.
* ``contact_value`` (``contact_cell_lines``, ``contact_bins``, ``contact_diagonals``): a band of
  diagonals, ``[c, i, d] = contact(i, i + d)``, up to ``max_distance``; a window's map is a
  contiguous slice of rows (``genome_contig_contact_offset``).

Sources are a :class:`LayerSource`: :class:`~epizoo.sources.layer_files.FileLayerSource` reads a FASTA
(pyfaidx, through :mod:`epizoo.sources.genome`), bigWigs (pyBigWig) and ``.cool``/``.mcool`` files
(cooler); the synthetic
dataset brings its own (``epizoo.datasets.synthetic.SyntheticGenomeLayer``). The writer does not
know which.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from epizoo import __version__, console
from epizoo.errors import InputFileError
from epizoo.options import comma_list
from epizoo.sequence import N_CODE
from epizoo.sources.genome import LayerSource, open_sequence_source
from epizoo.sources.layer_files import FileLayerSource, read_contacts_yaml
from epizoo.sources.tracks import read_tracks_yaml
from epizoo.store.genome_reader import LAYER, GenomeLayer

# epizoo.schema and epizoo.store.writing import xarray, and the command line reads this module's
# defaults (DEFAULT_BIN_SIZE ...) when it starts, so those two are imported where they are used.

DEFAULT_BIN_SIZE = 10_000
DEFAULT_MAX_DISTANCE = 2_000_000
# Chosen by measurement (docs/performance.md, "Genome layer"): 10-bp bins in float16 hold a 2-Mb window's
# per-base values to within a fraction of a percent of the 1-bp signal at a tenth of its size.
DEFAULT_TRACK_RESOLUTION = 10
TRACK_DTYPE = np.float16
FLOAT16_MAX = float(np.finfo(np.float16).max)
SEQUENCE_CHUNK = 1 << 20  # bases per chunk of genome_sequence
TRACK_CHUNK_BP = 1 << 20  # genome span of one track chunk, whatever the resolution
CONTACT_CHUNK = 256  # contact bins per chunk: a 2-Mb window at 10 kb (200 bins) is one or two chunks
TRACK_CODEC = {"cname": "zstd", "clevel": 3, "shuffle": "shuffle"}
CONTACT_CODEC = {"cname": "zstd", "clevel": 3, "shuffle": "shuffle"}


@dataclass(frozen=True)
class LayerSettings:
    """Resolution of what the layer stores; checked once, before anything is read."""

    bin_size: int = DEFAULT_BIN_SIZE
    max_distance: int = DEFAULT_MAX_DISTANCE
    track_resolution: int = DEFAULT_TRACK_RESOLUTION
    balance: bool = True

    def __post_init__(self):
        for name in ("bin_size", "max_distance", "track_resolution"):
            if int(getattr(self, name)) <= 0:
                raise InputFileError(f"--{name.replace('_', '-')} must be a positive number of bp")
        if self.max_distance % self.bin_size:
            raise InputFileError(
                f"--max-distance {self.max_distance:,} is not a multiple of --bin-size {self.bin_size:,}; "
                f"choose e.g. {self.max_distance // self.bin_size * self.bin_size or self.bin_size:,}"
            )

    @property
    def diagonals(self) -> int:
        return self.max_distance // self.bin_size + 1

    @property
    def track_chunk(self) -> int:
        return -(-TRACK_CHUNK_BP // self.track_resolution)


# ---- sources --------------------------------------------------------------------------------------


def bin_means(values: np.ndarray, resolution: int) -> np.ndarray:
    """Mean of the measured (non-NaN) values in each ``resolution``-bp bin; NaN for bins with none."""
    if resolution == 1:
        return values
    n_bins = -(-len(values) // resolution)
    padded = np.full(n_bins * resolution, np.nan, dtype=np.float32)
    padded[: len(values)] = values
    padded = padded.reshape(n_bins, resolution)
    counts = (~np.isnan(padded)).sum(axis=1)
    sums = np.nansum(padded, axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float32)


# ---- the plan: where each contig lives on each axis -------------------------------------------------


def _offsets(units: list[int], chunk: int) -> np.ndarray:
    """First position of each contig on an axis where every contig starts on a chunk boundary."""
    spans = [-(-n // chunk) * chunk for n in units]
    return np.concatenate([[0], np.cumsum(spans)]).astype(np.int64)


@dataclass
class Plan:
    names: list[str]
    lengths: list[int]
    settings: LayerSettings
    base: np.ndarray = field(init=False)
    track: np.ndarray = field(init=False)
    contact: np.ndarray = field(init=False)

    def __post_init__(self):
        s = self.settings
        self.base = _offsets(self.lengths, SEQUENCE_CHUNK)
        self.track = _offsets([-(-n // s.track_resolution) for n in self.lengths], s.track_chunk)
        self.contact = _offsets([-(-n // s.bin_size) for n in self.lengths], CONTACT_CHUNK)


# ---- writing ----------------------------------------------------------------------------------------


def _blosc(options: dict):
    from zarr.codecs import BloscCodec

    return BloscCodec(**options)


def _write_lookups(wip: Path, plan: Plan, source: LayerSource, create: bool, root_attrs: dict) -> None:
    import xarray as xr

    from epizoo.store.writing import _text  # lazy: imports xarray

    data = {
        "genome_contig_id": (["genome_contigs"], _text(plan.names)),
        "genome_contig_length": (["genome_contigs"], np.asarray(plan.lengths, dtype=np.int64)),
        "genome_contig_offset": (["genome_contigs"], plan.base[:-1]),
        "genome_contig_track_offset": (["genome_contigs"], plan.track[:-1]),
        "genome_contig_contact_offset": (["genome_contigs"], plan.contact[:-1]),
        "track_cell_line": (["tracks"], _text(c for c, _ in source.tracks)),
        "track_mark": (["tracks"], _text(m for _, m in source.tracks)),
        "contact_cell_line_id": (["contact_cell_lines"], _text(source.contact_cells)),
    }
    import zarr

    # appending to a store rewrites its root attributes: carry the pair build's over
    attrs = root_attrs if create else dict(zarr.open_group(wip, mode="r", zarr_format=3).attrs)
    ds = xr.Dataset({k: (d, v) for k, (d, v) in data.items()}, attrs=attrs)
    ds.to_zarr(wip, mode="w" if create else "a", zarr_format=3, consolidated=False)


def _create_arrays(wip: Path, plan: Plan, source: LayerSource, settings: LayerSettings, provenance: dict):
    import zarr

    from epizoo.store.writing import SEQUENCE_CODEC  # lazy: imports xarray

    group = zarr.open_group(wip, mode="r+", zarr_format=3)
    sequence = group.create_array(
        "genome_sequence", shape=(int(plan.base[-1]),), chunks=(SEQUENCE_CHUNK,), dtype="int8",
        compressors=[_blosc(SEQUENCE_CODEC)], dimension_names=["genome_bases"], fill_value=N_CODE,
        attributes={"source": source.sequence.name, "sha256": source.sequence.sha256()},
    )
    tracks = group.create_array(
        "track_value", shape=(len(source.tracks), int(plan.track[-1])), chunks=(1, settings.track_chunk),
        dtype=TRACK_DTYPE, compressors=[_blosc(TRACK_CODEC)], dimension_names=["tracks", "track_bins"],
        fill_value=np.nan, attributes={"resolution": settings.track_resolution, "statistic": "mean of measured bases",
                                       "sources": json.dumps(provenance.get("tracks", []))},
    )
    contacts = group.create_array(
        "contact_value", shape=(len(source.contact_cells), int(plan.contact[-1]), settings.diagonals),
        chunks=(1, CONTACT_CHUNK, settings.diagonals), dtype="float32", compressors=[_blosc(CONTACT_CODEC)],
        dimension_names=["contact_cell_lines", "contact_bins", "contact_diagonals"], fill_value=np.nan,
        attributes={"bin_size": settings.bin_size, "max_distance": settings.max_distance, "matrix": source.matrix,
                    "sources": json.dumps(provenance.get("contacts", []))},
    )
    return sequence, tracks, contacts


# Each unit of work writes one array's rows for one contig. Every contig starts on a chunk boundary on
# each axis (Plan), so no two units touch a chunk: they run in any order, in processes (bigWig and
# cooler handles are per process), with no lock. A unit opens its array by path, so it pickles.
ARRAYS = {"sequence": "genome_sequence", "track": "track_value", "contact": "contact_value"}


def _units(plan: Plan, source: LayerSource) -> list[tuple[str, int, int]]:
    """(kind, row, contig index) of every unit: the sequence, then each track, then each map, contig by contig."""
    contigs = range(len(plan.names))
    return ([("sequence", 0, i) for i in contigs] + [("track", row, i) for row in range(len(source.tracks)) for i in contigs]
            + [("contact", row, i) for row in range(len(source.contact_cells)) for i in contigs])


def _write_unit(wip: str, plan: Plan, source: LayerSource, settings: LayerSettings, unit: tuple[str, int, int]) -> tuple[int, float]:
    """Write one unit; (measured values, largest absolute value) for a track unit, (0, 0) otherwise."""
    import zarr

    kind, row, i = unit
    array = zarr.open_array(Path(wip) / ARRAYS[kind], mode="r+", zarr_format=3)
    name, length = plan.names[i], plan.lengths[i]
    if kind == "sequence":
        offset = int(plan.base[i])
        for lo in range(0, length, SEQUENCE_CHUNK):
            hi = min(lo + SEQUENCE_CHUNK, length)
            array[offset + lo : offset + hi] = source.sequence.fetch(name, lo, hi)
        return 0, 0.0
    if kind == "track":
        return _write_track(array, int(plan.track[i]), name, length, source, settings, source.tracks[row], row)
    _write_contact(array, int(plan.contact[i]), name, length, source, settings, row)
    return 0, 0.0


def _write_track(array, offset: int, name: str, length: int, source: LayerSource, settings: LayerSettings, key, row: int):
    """One track on one contig, 1 Mb at a time; a value beyond float16 is refused."""
    cell, mark = key
    step = settings.track_chunk * settings.track_resolution
    measured, peak = 0, 0.0
    for lo in range(0, length, step):
        values = bin_means(source.track_values(cell, mark, name, lo, min(lo + step, length)), settings.track_resolution)
        finite = values[~np.isnan(values)]
        measured += finite.size
        peak = max(peak, float(np.abs(finite).max(initial=0.0)))
        if peak > FLOAT16_MAX:
            raise InputFileError(
                f"track {cell}/{mark} reaches {peak:,.0f} on {name}, beyond the {FLOAT16_MAX:,.0f} the store's "
                "float16 holds; scale the signal (e.g. fold change or CPM) before building"
            )
        start = offset + lo // settings.track_resolution
        array[row, start : start + len(values)] = values.astype(TRACK_DTYPE)
    return measured, peak


def _write_contact(array, offset: int, name: str, length: int, source: LayerSource, settings: LayerSettings, row: int) -> None:
    """One map on one contig, CONTACT_CHUNK rows of bins at a time."""
    cell = source.contact_cells[row]
    n_bins = -(-length // settings.bin_size)
    for lo in range(0, n_bins, CONTACT_CHUNK):
        hi = min(lo + CONTACT_CHUNK, n_bins)
        band = source.contact_band(cell, name, lo, hi, settings)
        # pairs past the contig's last bin are not contacts
        band[np.arange(lo, hi)[:, None] + np.arange(settings.diagonals)[None, :] >= n_bins] = np.nan
        array[row, offset + lo : offset + hi, :] = band


def _run_units(wip: Path, plan: Plan, source: LayerSource, settings: LayerSettings, workers: int, bar, task) -> list:
    """Every unit's result, in order: here, or with ``workers`` > 1 as dask tasks on a process pool."""
    units = _units(plan, source)
    if workers <= 1 or len(units) <= 1:
        results = []
        for unit in units:
            results.append(_write_unit(str(wip), plan, source, settings, unit))
            bar.advance(task, 1)
        return results
    import dask
    from dask import delayed

    tasks = [delayed(_write_unit, pure=False)(str(wip), plan, source, settings, unit) for unit in units]
    results = dask.compute(*tasks, scheduler="processes", num_workers=workers)
    bar.advance(task, len(units))
    return list(results)


def _check_tracks_measured(source: LayerSource, plan: Plan, units: list, results: list) -> None:
    """A track with no measured base on any contig is refused."""
    measured = [0] * len(source.tracks)
    for (kind, row, _), (count, _) in zip(units, results):
        if kind == "track":
            measured[row] += count
    for (cell, mark), count in zip(source.tracks, measured):
        if count == 0:
            raise InputFileError(f"track {cell}/{mark} has no values on the layer's contigs (every base is NaN); check the file")


def write_genome_layer(wip: Path, source: LayerSource, settings: LayerSettings, *, create: bool = False,
                       root_attrs: dict | None = None, progress: bool = True, workers: int = 1) -> None:
    """Write the layer into the staged store ``wip`` (``create``: a new store holding only this layer),
    one unit (array x contig) at a time, or ``workers`` processes at once."""
    import zarr

    from epizoo.schema import store_layers  # lazy: imports xarray

    source.check(settings)
    plan = Plan(list(source.contigs), list(source.contigs.values()), settings)
    provenance = source.provenance()
    _write_lookups(wip, plan, source, create, root_attrs or {})
    _create_arrays(wip, plan, source, settings, provenance)
    units = _units(plan, source)
    with console.progress(progress) as bar:
        task = bar.add_task("writing the genome layer", total=len(units), status="")
        results = _run_units(wip, plan, source, settings, workers, bar, task)
    _check_tracks_measured(source, plan, units, results)
    group = zarr.open_group(wip, mode="r+", zarr_format=3)
    layers = [] if create else list(store_layers(dict(group.attrs)))
    group.attrs["epizoo_layers"] = ",".join([*layers, LAYER] if LAYER not in layers else layers)


# ---- building ---------------------------------------------------------------------------------------


@dataclass
class LayerRequest:
    """The genome layer a ``build-store`` asked for: files named on the command line, and settings."""

    genome: str | None = None
    tracks: dict[str, dict[str, Path]] = field(default_factory=dict)
    contacts: dict[str, str] = field(default_factory=dict)
    settings: LayerSettings = field(default_factory=LayerSettings)
    contigs: list[str] = field(default_factory=list)
    workers: int = 1  # processes writing the layer (one unit: an array's rows for one contig)
    allow_assembly_mismatch: bool = False  # tracks and maps whose contig lengths differ from the genome's are read anyway

    @classmethod
    def from_options(cls, genome=None, tracks=None, contacts=None, bin_size=DEFAULT_BIN_SIZE, max_distance=DEFAULT_MAX_DISTANCE,
                     track_resolution=DEFAULT_TRACK_RESOLUTION, balance=True, contigs=(), workers=1,
                     allow_assembly_mismatch=False) -> "LayerRequest":
        """Read and check the YAML files now, before any slow work."""
        return cls(
            genome=genome,
            tracks=read_tracks_yaml(tracks) if tracks else {},
            contacts=read_contacts_yaml(contacts) if contacts else {},
            settings=LayerSettings(int(bin_size), int(max_distance), int(track_resolution), bool(balance)),
            contigs=comma_list(contigs),
            workers=int(workers or 1),
            allow_assembly_mismatch=bool(allow_assembly_mismatch),
        )

    @property
    def from_files(self) -> bool:
        return bool(self.tracks or self.contacts)

    def source(self, sequence) -> FileLayerSource:
        if sequence is None or not getattr(sequence, "strict", False) or not hasattr(sequence, "contig_length"):
            raise InputFileError("the genome layer needs a whole-genome FASTA: pass --genome FASTA (not --regions)")
        return FileLayerSource(sequence, self.tracks, self.contacts, self.contigs or None, self.allow_assembly_mismatch)

    def writer_for(self, loaded, sequence, progress: bool = True):
        """The hook ``build_store`` calls on its staged folder, or None when no layer is wanted.

        A dataset may bring its own layer (``loaded.genome_layer``, the synthetic one); files named on
        the command line then conflict with it.
        """
        brought = getattr(loaded, "genome_layer", None)
        if brought is not None and self.from_files:
            raise InputFileError("this dataset brings its own genome layer; drop --tracks and --contacts")
        if brought is None and not self.from_files:
            return None
        source = brought if brought is not None else self.source(sequence)
        source.check(self.settings)  # refuse bad input before the pairs are written
        return lambda wip: write_genome_layer(Path(wip), source, self.settings, progress=progress, workers=self.workers)


@dataclass
class GenomeReport:
    """What a genome-layer-only build wrote (the shape ``build._finalise`` records)."""

    out: str
    contigs: int
    bases: int
    tracks: int
    contact_maps: int
    bytes_on_disk: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def build_genome_store(request: LayerRequest, out: str | os.PathLike, *, force: bool = False, command: str = "",
                       progress: bool = True) -> GenomeReport:
    """A store holding only the genome layer (``epizoo_layers = "genome"``), staged like every build."""
    from epizoo import schema  # lazy: imports xarray
    from epizoo.store.writing import _finalise, _move_into_place, check_output, staged  # lazy: imports xarray

    began = time.perf_counter()
    out = Path(out)
    check_output(out, force)
    if not request.genome:
        raise InputFileError("a genome-layer store needs --genome FASTA (or pass --dataset to build pairs)")
    source = request.source(open_sequence_source(genome=request.genome))
    source.check(request.settings)
    attrs = {
        "epizoo_format_version": schema.FORMAT_VERSION, "epizoo_version": __version__, "epizoo_layers": LAYER,
        "dataset": "", "variant": "", "genome_build": "", "sequence_source": source.sequence.name,
        "sequence_sha256": source.sequence.sha256(), "command": command or "python: epizoo.store.genome_layer.build_genome_store",
    }
    report = GenomeReport(str(out), len(source.contigs), sum(source.contigs.values()), len(source.tracks), len(source.contact_cells))
    with staged(out) as wip:
        write_genome_layer(wip, source, request.settings, create=True, root_attrs=attrs, progress=progress, workers=request.workers)
        _finalise(wip, report, began)
        _move_into_place(wip, out, force)
    return report


# ---- inspection -------------------------------------------------------------------------------------


def inspection(ds, path) -> dict:
    """What ``epizoo inspect`` shows of the layer: contigs, tracks, maps, settings and bytes on disk."""
    layer = GenomeLayer(ds)
    sizes = {name: sum(f.stat().st_size for f in (Path(path) / name).rglob("*") if f.is_file())
             for name in ("genome_sequence", "track_value", "contact_value")}
    return {
        "contigs": layer.contigs(),
        "tracks": [f"{c}/{m}" for c, m in layer.tracks],
        "contact_maps": layer.contact_cells,
        "track_resolution": layer.resolution,
        "contact_bin_size": layer.bin_size,
        "contact_max_distance": layer.max_distance,
        "contact_matrix": str(ds["contact_value"].attrs.get("matrix", "")),
        "bytes_on_disk": sizes,
    }


def inspection_table(info: dict):
    from rich.table import Table

    table = Table(show_header=False, title="genome layer")
    contigs = info["contigs"]
    table.add_row("contigs", f"{len(contigs):,} ({sum(contigs.values()):,} bp): " + ", ".join(list(contigs)[:8])
                  + (", ..." if len(contigs) > 8 else ""))
    table.add_row("tracks", (", ".join(info["tracks"]) or "none") + f" ({info['track_resolution']} bp bins)")
    table.add_row("contact maps", (", ".join(info["contact_maps"]) or "none") + f" ({info['contact_matrix']}, "
                  f"{info['contact_bin_size']:,} bp bins up to {info['contact_max_distance']:,} bp)")
    for name, size in info["bytes_on_disk"].items():
        table.add_row(f"size: {name}", f"{size / 1e6:,.1f} MB")
    return table


def build_command(request: LayerRequest, out, force: bool, command: str, progress: bool, as_json: bool) -> None:
    """``epizoo build-store`` without ``--dataset``: a genome-layer store, and its report on stdout."""
    from rich.table import Table

    report = build_genome_store(request, out, force=force, command=command, progress=progress)
    if as_json:
        console.print_json(report.to_dict())
        return
    table = Table(title=f"built {report.out}", show_header=False)
    for key, value in report.to_dict().items():
        if key != "out":
            table.add_row(key.replace("_", " "), f"{value:,}" if isinstance(value, int) else str(value))
    console.stdout.print(table)
