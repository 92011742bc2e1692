"""Epigenomic signals per pair: marks x regions (enhancer, promoter, the window between them).

A signal value is a mark's mean signal per bp over a region, as in TargetFinder: the summed signal
over the region divided by its length. Three sources give them, all through :func:`resolve`:

* ``targetfinder-features``: TransEPI's feature tables for the dataset's pairs, from the
  ``transepi-features`` catalog (pooch, pinned URL and hash; the shared data folder is its cache);
* a ``tracks.yaml`` mapping cell line -> mark -> bigWig: the same features computed here with
  pyBigWig;
* a user's feature table in the same column layout (``enh_name, prom_name, celltype``, then
  ``<mark> (enhancer|promoter|window)`` for every mark).

Tables join a store's pairs on the cell line and both elements' intervals, parsed from the
``chr:start-end|...`` names. A pair without values keeps NaN (never zeros pretending to be
measurements) and is counted; a store of signals only leaves such pairs out, counted per reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from epizoo import catalog, console
from epizoo.errors import EmptyResultError, InputFileError, UnknownNameError
from epizoo.sources.signal_tracks import track_signals
# what every source returns lives below both this module and signal_tracks (the bigWig source)
from epizoo.sources.signal_values import REGIONS, Signals, _sha256
from epizoo.textfile import numbered_lines, refuse_special_file

MARKS = ("CTCF", "DNase", "H3K27ac", "H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3")
CATALOG = "transepi-features"
CATALOG_NAME = "targetfinder-features"
KEY = ["cell_line", "enhancer_contig", "enhancer_start", "enhancer_end", "promoter_contig", "promoter_start", "promoter_end"]
NAME_CONVENTIONS = ("bed", "targetfinder")


@dataclass
class SignalTable:
    """Rows of a feature table: join keys and values."""

    keys: pd.DataFrame  # KEY columns
    values: np.ndarray  # float32 (rows, marks, regions)
    marks: tuple[str, ...]
    name: str
    labels: np.ndarray | None = None  # the table's label column (0/1), when it has one


# ---- reading feature tables --------------------------------------------------------------------


def _value_columns(columns: list[str], path) -> tuple[str, ...]:
    """The marks of a table whose value columns are ``<mark> (<region>)`` for every region."""
    found: dict[str, set[str]] = {}
    for column in columns:
        mark, _, rest = column.partition(" (")
        if rest.endswith(")") and rest[:-1] in REGIONS:
            found.setdefault(mark, set()).add(rest[:-1])
    if not found:
        raise InputFileError(
            f"{path}: no signal columns; expected '<mark> (enhancer)', '<mark> (promoter)', '<mark> (window)' for each mark"
        )
    for mark, regions in found.items():
        if regions != set(REGIONS):
            lacking = ", ".join(f"'{mark} ({r})'" for r in REGIONS if r not in regions)
            raise InputFileError(f"{path}: mark {mark} lacks column(s) {lacking}; give every mark all three regions")
    return tuple(found)


def _parse_names(names: pd.Series, path, what: str) -> pd.DataFrame:
    """``chr:start-end|...`` -> contig, start, end (as written)."""
    parts = names.str.split("|", n=1).str[0].str.extract(r"^([^:]+):(\d+)-(\d+)$")
    bad = parts.isna().any(axis=1)
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise InputFileError(f"{path}, line {row + 2}: {what} {names.iloc[row]!r} is not 'chrom:start-end|...'")
    return pd.DataFrame({"contig": parts[0], "start": parts[1].astype("int64"), "end": parts[2].astype("int64")})


def _separator(path: Path) -> str:
    """Tab or comma, from the header line (the tables upstream are comma-separated despite .tsv)."""
    header = next((line for _, line in numbered_lines(path, "feature table", "check the --signals path")), "")
    return "\t" if header.count("\t") > header.count(",") else ","


def _check_finite(array: np.ndarray, raw: pd.DataFrame, columns: list[str], path: Path) -> None:
    """Refuse inf, and values float32 cannot hold (they would be stored as inf): an empty cell is the
    only missing value (NaN)."""
    infinite = np.isinf(array.reshape(len(raw), -1))
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        raise InputFileError(
            f"{path}, line {row + 2}: {columns[col]} is {raw[columns[col]].iloc[row].strip()!r}, not a finite number "
            f"(signals are stored as float32, at most {np.finfo(np.float32).max:.3g}); fix or leave the cell empty"
        )


def read_feature_table(path: str | Path, convention: str = "bed", cell_line: str | None = None) -> SignalTable:
    """A TargetFinder-style feature table (CSV or TSV, optionally gzipped).

    ``convention`` says how to read the names' numbers: ``bed`` (0-based, half-open; TransEPI's BENGI
    tables and user tables) or ``targetfinder`` (TargetFinder's own ``S-E``, whose BED interval is
    ``S-1..E``; TransEPI's Whalen tables). ``cell_line`` replaces the ``celltype`` column (TransEPI
    writes ``HeLa`` for TargetFinder's ``HeLa-S3``).
    """
    if convention not in NAME_CONVENTIONS:
        raise UnknownNameError(f"unknown name convention {convention!r}; use one of {', '.join(NAME_CONVENTIONS)}")
    path = Path(path)
    try:
        raw = pd.read_csv(path, sep=_separator(path), dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read as a feature table ({str(exc).splitlines()[0]})") from None
    missing = [c for c in ("enh_name", "prom_name", "celltype") if c not in raw]
    if missing:
        raise InputFileError(f"{path}: missing column(s) {', '.join(missing)}; a feature table needs enh_name, prom_name, celltype")
    marks = _value_columns(list(raw.columns), path)
    columns = [f"{mark} ({region})" for mark in marks for region in REGIONS]
    values = raw[columns].apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & (raw[columns].apply(lambda c: c.str.strip()) != "")
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise InputFileError(f"{path}, line {row + 2}: {columns[col]} is {raw[columns[col]].iloc[row]!r}, not a number")
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf here, and is refused below
        array = values.to_numpy(np.float32).reshape(len(raw), len(marks), len(REGIONS))
    _check_finite(array, raw, columns, path)
    if (array < 0).any():
        row = int(np.argwhere(array < 0)[0][0])
        raise InputFileError(f"{path}, line {row + 2}: a negative signal value; signals are mean signal per bp (>= 0)")
    shift = 1 if convention == "targetfinder" else 0
    enhancer, promoter = _parse_names(raw["enh_name"], path, "enh_name"), _parse_names(raw["prom_name"], path, "prom_name")
    keys = pd.DataFrame(
        {
            "cell_line": raw["celltype"].str.strip() if cell_line is None else cell_line,
            "enhancer_contig": enhancer["contig"], "enhancer_start": enhancer["start"] - shift, "enhancer_end": enhancer["end"],
            "promoter_contig": promoter["contig"], "promoter_start": promoter["start"] - shift, "promoter_end": promoter["end"],
        }
    )
    labels = None
    if "label" in raw:
        if not raw["label"].str.strip().isin(["0", "1"]).all():
            row = int((~raw["label"].str.strip().isin(["0", "1"])).to_numpy().argmax())
            raise InputFileError(f"{path}, line {row + 2}: label {raw['label'].iloc[row]!r} must be 0 or 1")
        labels = raw["label"].str.strip().astype("int8").to_numpy()
    return SignalTable(keys, array, marks, path.name, labels)


def concat_tables(tables: list[SignalTable]) -> SignalTable:
    """One table from several; every table must give the same marks (in any order)."""
    marks = tables[0].marks
    for table in tables[1:]:
        if set(table.marks) != set(marks):
            lacking = sorted(set(marks) ^ set(table.marks))
            cells = ", ".join(sorted(set(table.keys["cell_line"])))
            raise InputFileError(
                f"mark(s) {', '.join(lacking)} missing for cell line {cells} ({table.name} vs {tables[0].name}); "
                "every cell line needs the same marks"
            )
    values = [t.values[:, [t.marks.index(m) for m in marks], :] for t in tables]
    keys = pd.concat([t.keys for t in tables], ignore_index=True)
    return SignalTable(keys, np.concatenate(values), marks, ", ".join(t.name for t in tables))


# ---- joining --------------------------------------------------------------------------------


def join(pairs: pd.DataFrame, table: SignalTable) -> tuple[np.ndarray, dict[str, int]]:
    """Values for each pair (NaN where the table has none) and counts of what did not join.

    A pair listed twice in the table (e.g. in two assays' tables) takes its first row: the values
    describe the cell line's chromatin, not the assay. A table none of whose rows join is refused.
    """
    keyed = table.keys.assign(_row=np.arange(len(table.keys))).drop_duplicates(KEY)
    merged = pairs[KEY].reset_index(drop=True).merge(keyed, on=KEY, how="left")
    rows = merged["_row"].to_numpy()
    found = ~np.isnan(rows)
    if not found.any():
        example = table.keys.iloc[0]
        raise InputFileError(
            f"no pair joins the signal table {table.name}: its rows name pairs such as {example['cell_line']} "
            f"{example['enhancer_contig']}:{example['enhancer_start']}-{example['enhancer_end']} x "
            f"{example['promoter_contig']}:{example['promoter_start']}-{example['promoter_end']} that the pair table lacks; "
            "check the cell line names, the genome build and the coordinate convention"
        )
    values = np.full((len(pairs), len(table.marks), len(REGIONS)), np.nan, dtype=np.float32)
    values[found] = table.values[rows[found].astype(np.int64)]
    missing = {}
    for cell in sorted(set(pairs["cell_line"])):
        lacking = int((~found & (pairs["cell_line"].to_numpy() == cell)).sum())
        if lacking:
            missing[f"no row in the signal table ({cell})"] = lacking
    return values, missing


# ---- sources --------------------------------------------------------------------------------


def _catalog_keys(pairs: pd.DataFrame, dataset: str) -> dict[str, list[str]]:
    """Catalog keys of the feature tables for the pairs' source tables (key -> sources it covers)."""
    keys: dict[str, list[str]] = {}
    for source in sorted(set(pairs["source"])):
        family, _, name = source.partition("/")
        if family == "bengi":
            key = "bengi/" + name.removesuffix("-Benchmark.v3")
        elif family in ("targetfinder", "targetfinder-transepi"):
            key = f"targetfinder/{name}"
        else:
            raise UnknownNameError(
                f"--signals {CATALOG_NAME} has tables for the bengi (transepi variant) and targetfinder datasets, "
                f"not for {dataset or family!r}; pass your own feature table or a tracks.yaml instead"
            )
        keys.setdefault(key, []).append(source)
    return keys


def catalog_signals(pairs: pd.DataFrame, dataset: str = "") -> Signals:
    """TransEPI's feature tables for the pairs (``--signals targetfinder-features``).

    A table the catalog lists but that cannot be had (not in the cache, and no download) leaves its
    pairs without signals, counted under that reason in the build report; a source the catalog has
    no table for is an error.
    """
    cat = catalog.load_catalog(CATALOG)
    conventions = cat.extra.get("name_conventions", {})
    tables, paths, missing, unavailable = [], [], {}, []
    for key, sources in _catalog_keys(pairs, dataset).items():
        if key not in cat.files:
            raise UnknownNameError(
                f"the {CATALOG_NAME} catalog has no table for {', '.join(sources)} (it has {', '.join(sorted(cat.files))})"
            )
        try:
            path = cat.fetch(key)
        except InputFileError as exc:
            unavailable += sources
            reason = "not in the cache, and the download failed" if "cannot download" in str(exc) else str(exc).split(";")[0]
            missing[f"signal table {key} unavailable ({reason})"] = int(pairs["source"].isin(sources).sum())
            console.stderr.print(f"warning: signal table {key} unavailable ({reason}); its pairs get no signals", markup=False, highlight=False)
            continue
        paths.append(path)
        family, _, cell = key.partition("/")
        tables.append(read_feature_table(path, conventions.get(family, "bed"), cell_line=cell.split(".")[0]))
    if not tables:
        raise EmptyResultError(f"none of the {CATALOG_NAME} tables for these pairs could be had: {'; '.join(missing)}")
    table = concat_tables(tables)
    covered = ~pairs["source"].isin(unavailable).to_numpy()
    values, lacking = join(pairs[covered], table)
    full = np.full((len(pairs), len(table.marks), len(REGIONS)), np.nan, dtype=np.float32)
    full[covered] = values
    described = f"{CATALOG_NAME} ({len(paths)} table{'s' if len(paths) > 1 else ''} of {CATALOG} catalog)"
    return Signals(full, table.marks, described, _sha256(paths), {**missing, **lacking})


def table_signals(pairs: pd.DataFrame, path: str | Path) -> Signals:
    """A user's feature table (BED-convention names)."""
    table = read_feature_table(path, "bed")
    values, missing = join(pairs, table)
    return Signals(values, table.marks, f"table: {Path(path).name}", _sha256([path]), missing)


def resolve(spec: str, pairs: pd.DataFrame, dataset: str = "", genome=None, allow_assembly_mismatch: bool = False) -> Signals:
    """``--signals NAME_OR_FILE`` for these pairs: the catalog name, a tracks YAML or a feature table.

    ``genome`` (the pairs' whole-genome source, if any) is the assembly a tracks YAML's bigWigs must
    match, unless ``allow_assembly_mismatch``.
    """
    if spec == CATALOG_NAME:
        return catalog_signals(pairs, dataset)
    path = Path(spec)
    if not path.is_file():
        refuse_special_file(path, "--signals")
        raise InputFileError(
            f"--signals {spec}: no such file; pass {CATALOG_NAME}, a tracks.yaml (cell line -> mark -> bigWig) or a feature table"
        )
    if path.suffix.lower() in (".yaml", ".yml"):
        return track_signals(pairs, path, genome=genome, allow_assembly_mismatch=allow_assembly_mismatch)
    return table_signals(pairs, path)
