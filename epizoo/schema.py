"""The store schema: every variable registered once with its dtype kind, dims and docstring.

Naming follows sgkit: dimensions are plural nouns (``pairs``, ``enhancers``), variables are
singular and start with the dimension they live on (``pair_label``, ``enhancer_sequence``).
Categorical strings live once in a lookup variable (``contig_id``, ``cell_line_id``) and rows
hold integer codes into it. :func:`validate` checks a Dataset against these specs when a store is
opened, and :func:`variables_markdown` generates ``docs/variables.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import xarray as xr

from epizoo.errors import StoreError
from epizoo.options import comma_list

FORMAT_VERSION = "1.2"  # 1.1: pair_name, epizoo_manifest.json; 1.2: layers (signals, genome)

# A store holds one or more layers; each variable belongs to one. `pairs` is the pair tables and their
# elements, `sequence` their stored DNA windows, `signals` per-pair epigenomic features, `genome` the
# genome-scale layer (reference sequence, tracks, contact maps). The root attribute `epizoo_layers` lists
# a store's layers; stores written before format 1.2 hold `pairs` and `sequence`.
LAYERS = {
    "pairs": "Enhancer-promoter pairs with their elements, labels, distances and groups.",
    "sequence": "Each element's DNA window, with flanks for shifted augmentation.",
    "signals": "Epigenomic signal features per pair: marks x regions (enhancer, promoter, window between).",
    "genome": "Genome-scale layer: reference sequence per contig, signal tracks and contact maps.",
}
DEFAULT_LAYERS = ("pairs", "sequence")

DIMENSIONS = {
    "pairs": "Enhancer-promoter pairs, one per row of the input tables that survived the build.",
    "enhancers": "Distinct enhancer intervals (de-duplicated on contig, start, end).",
    "promoters": "Distinct promoter intervals (de-duplicated on contig, start, end).",
    "contigs": "Contigs (chromosomes) named by the input, in natural order.",
    "cell_lines": "Cell lines or tissues the pairs were measured in.",
    "sources": "Source tables the pairs came from (dataset/assay/variant).",
    "cv_groups": "Upstream cross-validation groups (BENGI `cv-k`); may be empty.",
    "enhancer_bases": "Positions in a stored enhancer window (window + 2 x flank).",
    "promoter_bases": "Positions in a stored promoter window (window + 2 x flank).",
    "genome_contigs": "Contigs of the genome layer, in the order of the genome source.",
    "genome_bases": "Positions of the genome layer's concatenated sequence; each contig starts on a chunk boundary.",
    "tracks": "Signal tracks of the genome layer, one per cell line and mark.",
    "track_bins": "Bins of `track_value` (`resolution` bp each), contig after contig, each contig starting on a chunk boundary.",
    "contact_cell_lines": "Cell lines with a contact map in the genome layer.",
    "contact_bins": "Bins of `contact_value` (`bin_size` bp each), contig after contig, each contig starting on a chunk boundary.",
    "contact_diagonals": "Distance in bins between the two ends of a contact, 0 .. max_distance / bin_size.",
}


@dataclass(frozen=True)
class VariableSpec:
    name: str
    dims: tuple[str, ...]
    kind: str  # numpy dtype kind: 'i' signed int, 'b' bool, 'U'/'O' text, 'f' float
    doc: str
    itemsize: int | None = None  # exact itemsize in bytes where it matters (int8 sequences)
    since: str = "1.0"  # store format that added it; one added later may be absent (older stores)
    layer: str = "pairs"  # the store layer (LAYERS) it belongs to; checked only in stores that hold that layer

    def check(self, ds: xr.Dataset) -> str | None:
        """Return a problem description, or None when the variable matches its spec."""
        if self.name not in ds.variables:
            return f"variable {self.name!r} is missing"
        var = ds[self.name]
        if tuple(var.dims) != self.dims:
            return f"variable {self.name!r} has dims {tuple(var.dims)}, expected {self.dims}"
        kind = var.dtype.kind
        text_kinds = {"U", "O", "S", "T"}
        ok = kind in text_kinds if self.kind in text_kinds else kind == self.kind
        if not ok:
            return f"variable {self.name!r} has dtype {var.dtype}, expected kind {self.kind!r}"
        if self.itemsize is not None and var.dtype.itemsize != self.itemsize:
            return f"variable {self.name!r} has dtype {var.dtype}, expected {self.itemsize}-byte items"
        return None


SPECS: dict[str, VariableSpec] = {}


def _spec(name, dims, kind, doc, itemsize=None, since="1.0", layer="pairs"):
    SPECS[name] = VariableSpec(name, tuple(dims), kind, doc, itemsize, since, layer)


def store_layers(ds_or_attrs) -> tuple[str, ...]:
    """The layers a store holds, from its ``epizoo_layers`` attribute (older stores: pairs and sequence)."""
    attrs = getattr(ds_or_attrs, "attrs", ds_or_attrs)
    text = str(attrs.get("epizoo_layers", "") or "")
    return tuple(comma_list(text)) or DEFAULT_LAYERS





# lookups -----------------------------------------------------------------------------------
_spec("contig_id", ["contigs"], "U", "Contig name, e.g. `chr1`. Rows of `*_contig` index into it.")
_spec("contig_length", ["contigs"], "i", "Contig length in bp from the sequence source; -1 when the source does not know it (pre-extracted element sequences).")
_spec("cell_line_id", ["cell_lines"], "U", "Cell line or tissue name, e.g. `GM12878`.")
_spec("source_id", ["sources"], "U", "Source table, e.g. `bengi/HeLa.HiC-Benchmark.v3` or `targetfinder/NHEK`.")
_spec("cv_group_id", ["cv_groups"], "U", "Upstream cross-validation group name, e.g. `cv-3`.")

# elements ----------------------------------------------------------------------------------
for _kind, _centre in (("enhancer", "the element centre"), ("promoter", "the TSS (or the element centre when no TSS is given)")):
    _spec(f"{_kind}_contig", [f"{_kind}s"], "i", f"Contig of the {_kind}: integer code into `contig_id`.")
    _spec(f"{_kind}_start", [f"{_kind}s"], "i", f"Start of the {_kind} interval, 0-based.")
    _spec(f"{_kind}_end", [f"{_kind}s"], "i", f"End of the {_kind} interval, 0-based exclusive.")
    _spec(f"{_kind}_name", [f"{_kind}s"], "U", f"Name of the {_kind} in its source (e.g. a cCRE accession or gene/transcript id); empty when the source has none.")
    _spec(f"{_kind}_window_start", [f"{_kind}s"], "i", f"Genomic position of the first stored base of `{_kind}_sequence`: a window centred on {_centre}, minus the flank.")
    _spec(f"{_kind}_sequence", [f"{_kind}s", f"{_kind}_bases"], "i", f"Stored {_kind} window as int8 codes A,C,G,T,N = 0..4; N where the window runs off a contig or no sequence is known.", itemsize=1, layer="sequence")
_spec("promoter_strand", ["promoters"], "U", "Strand of the promoter's gene, `+`, `-` or `.` when unknown.")

# pairs -------------------------------------------------------------------------------------
_spec("pair_enhancer", ["pairs"], "i", "Index of the pair's enhancer along `enhancers`.")
_spec("pair_promoter", ["pairs"], "i", "Index of the pair's promoter along `promoters`.")
_spec("pair_contig", ["pairs"], "i", "Contig of the pair (the enhancer's contig): code into `contig_id`.")
_spec("pair_cell_line", ["pairs"], "i", "Cell line of the pair: code into `cell_line_id`.")
_spec("pair_label", ["pairs"], "i", "1 for an interacting pair, 0 for a non-interacting one.", itemsize=1)
_spec("pair_distance", ["pairs"], "i", "Distance in bp from the enhancer centre to the promoter's TSS (or centre); -1 for a pair across contigs.")
_spec("pair_source", ["pairs"], "i", "Source table of the pair: code into `source_id`.")
_spec("pair_cv_group", ["pairs"], "i", "Upstream cross-validation group: code into `cv_group_id`, -1 where the dataset has none.")
_spec("pair_name", ["pairs"], "U", "Name of the pair in its source (the BEDPE `name` column), so predictions join back to the input rows; empty when the source has none.", since="1.1")
_spec("pair_label_generated", ["pairs"], "b", "True for a negative generated by epizoo (distance-matched), False for a label observed upstream.")

# genome layer (epizoo.store.genome_layer) --------------------------------------------------
# a layer new in format 1.2: a store that lists it must hold every one of these
_G = {"layer": "genome"}
_spec("genome_contig_id", ["genome_contigs"], "U", "Contig name in the genome source, e.g. `chr1`.", **_G)
_spec("genome_contig_length", ["genome_contigs"], "i", "Contig length in bp.", **_G)
_spec("genome_contig_offset", ["genome_contigs"], "i", "Position along `genome_bases` of the contig's first base.", **_G)
_spec("genome_contig_track_offset", ["genome_contigs"], "i", "Position along `track_bins` of the contig's first bin.", **_G)
_spec("genome_contig_contact_offset", ["genome_contigs"], "i", "Position along `contact_bins` of the contig's first bin.", **_G)
_spec("genome_sequence", ["genome_bases"], "i", "Reference sequence as int8 codes A,C,G,T,N = 0..4, every contig concatenated (N between contigs); attrs `source`, `sha256`.", itemsize=1, **_G)
_spec("track_cell_line", ["tracks"], "U", "Cell line of the track, e.g. `GM12878`.", **_G)
_spec("track_mark", ["tracks"], "U", "Mark or assay of the track, e.g. `CTCF`, `ATAC`.", **_G)
_spec("track_value", ["tracks", "track_bins"], "f", "Mean signal of the measured bases in each bin, float16, NaN where none was measured; attrs `resolution` (bp per bin), `sources` (JSON: file and sha256 per track).", itemsize=2, **_G)
_spec("contact_cell_line_id", ["contact_cell_lines"], "U", "Cell line of the contact map.", **_G)
_spec("contact_value", ["contact_cell_lines", "contact_bins", "contact_diagonals"], "f", "Contact band: `[c, i, d]` = contact(bin i, bin i + d) of cell line c, NaN past a contig or where the map masks a bin; attrs `bin_size`, `max_distance`, `matrix` (`balanced` or `raw`), `sources` (JSON: file and sha256 per map).", itemsize=4, **_G)

# signals ------------------------------------------------------------------------------------
_spec("signal_mark_id", ["signal_marks"], "U", "Mark name of each signal feature, e.g. `H3K27ac`.", since="1.2", layer="signals")
_spec("signal_region_id", ["signal_regions"], "U", "Region name: `enhancer`, `promoter` or `window` (the bases between the two elements).", since="1.2", layer="signals")
_spec(
    "pair_signal", ["pairs", "signal_marks", "signal_regions"], "f",
    "Mean signal per bp of each mark over each region of the pair (summed signal / region length, as TargetFinder; "
    "an empty window between overlapping elements is 0). NaN where the pair has no measurement: never filled with zeros.",
    since="1.2", layer="signals",
)

# root attributes (provenance) ---------------------------------------------------------------
ATTRIBUTES = {
    "epizoo_format_version": "Store format version; a reader refuses a major version it does not know.",
    "epizoo_version": "Version of epizoo that built the store.",
    "dataset": "Dataset name (`bengi`, `targetfinder`, `bedpe`, `synthetic`).",
    "variant": "Dataset variant, or empty.",
    "genome_build": "Genome build of the coordinates, e.g. `hg19`.",
    "sequence_source": "Name of the sequence source (FASTA file name or generator).",
    "sequence_sha256": "sha256 of the sequence source file(s).",
    "enhancer_window": "Model window for enhancers in bp (default 3000).",
    "promoter_window": "Model window for promoters in bp (default 2000).",
    "flank": "Extra bases stored on each side of every window for shifted augmentation.",
    "shift_step": "Spacing in bp of the augmentation shifts.",
    "n_shifts": "Number of augmentation shifts the flank allows.",
    "command": "The command line that built the store.",
    "created": "UTC time the build finished (ISO 8601).",
    "build_report": "JSON: counts of pairs read, kept and dropped per reason.",
}
# Window settings of the pair layers: a store without pairs (genome layer only) has none.
PAIR_ATTRIBUTES = ("enhancer_window", "promoter_window", "flank", "shift_step", "n_shifts")
# Attributes added after format 1.0: checked only when present.
OPTIONAL_ATTRIBUTES = {
    "epizoo_layers": "Comma-separated layers the store holds (see Layers); absent: `pairs,sequence` (format < 1.2).",
    "signal_source": "What the signal features came from (catalog tables, a feature table or bigWig tracks).",
    "signal_sha256": "sha256 of the signal source file(s).",
    "signal_normalisation": (
        "How `pair_signal` was normalised within each cell line after the build "
        "(`epizoo.signal_norm.normalise_store_signals`); absent: the raw mean signal per bp."
    ),
}


def validate(ds: xr.Dataset) -> xr.Dataset:
    """Check every registered variable and attribute; raise :class:`StoreError` on the first problem."""
    version = str(ds.attrs.get("epizoo_format_version", ""))
    # a variable added after format 1.0 may be absent (stores built before it); present, it must match.
    # Only the layers the store holds are checked.
    layers = store_layers(ds)
    unknown = [layer for layer in layers if layer not in LAYERS]
    problems = [f"unknown layer {unknown[0]!r} in epizoo_layers"] if unknown else []
    problems += [
        p for spec in SPECS.values()
        if spec.layer in layers
        and not (spec.since != "1.0" and spec.name not in ds.variables) and (p := spec.check(ds)) is not None
    ]
    missing_attrs = [a for a in ATTRIBUTES if a not in ds.attrs and (a not in PAIR_ATTRIBUTES or "pairs" in layers)]
    if missing_attrs:
        problems.append(f"root attributes missing: {', '.join(missing_attrs)}")
    if version and version.split(".")[0] != FORMAT_VERSION.split(".")[0]:
        problems.append(f"store format {version} is not readable by this epizoo (format {FORMAT_VERSION})")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise StoreError(f"not a valid epizoo store: {problems[0]}{more}; rebuild it with `epizoo build-store`")
    return ds


def variables_markdown() -> str:
    """The reference page of dimensions, variables and attributes (``docs/variables.md``)."""
    lines = [
        "# Store variables",
        "",
        "Generated from `epizoo.schema` by `python -m epizoo.schema > docs/variables.md`; do not edit by hand.",
        f"Store format version {FORMAT_VERSION}.",
        "",
        "## Dimensions",
        "",
        "| dimension | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {doc} |" for name, doc in DIMENSIONS.items()]
    lines += ["", "## Layers", "", "| layer | holds |", "|---|---|"]
    lines += [f"| `{name}` | {doc} |" for name, doc in LAYERS.items()]
    lines += ["", "## Variables", "", "| variable | layer | dims | dtype kind | meaning |", "|---|---|---|---|---|"]
    kinds = {"i": "integer", "b": "bool", "U": "string", "f": "float"}
    for spec in SPECS.values():
        kind = kinds.get(spec.kind, spec.kind) + (f" ({spec.itemsize * 8}-bit)" if spec.itemsize else "")
        added = f" (Format {spec.since} and later; may be absent from older stores.)" if spec.since != "1.0" else ""
        lines.append(f"| `{spec.name}` | {spec.layer} | {', '.join(f'`{d}`' for d in spec.dims)} | {kind} | {spec.doc}{added} |")
    lines += ["", "## Root attributes (provenance)", "", "| attribute | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {doc} |" for name, doc in {**ATTRIBUTES, **OPTIONAL_ATTRIBUTES}.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(variables_markdown(), end="")
