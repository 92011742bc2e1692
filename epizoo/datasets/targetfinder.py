"""TargetFinder (Whalen et al. 2016): enhancer-promoter pairs for six cell lines.

Each cell line's ``predictions-gbm.csv`` holds ``enhancer_name,promoter_name,label,prediction``;
names are ``<cell>|<chrom>:<S>-<E>`` (1-based closed, converted by :mod:`epizoo.coords`). The
``prediction`` column is the paper's GBM output, not a feature, and is ignored.

Variant ``transepi`` reads the pairs of TransEPI's feature tables of TargetFinder's data (the
``transepi-features`` catalog, ``targetfinder/<cell>``): the pairs TransEPI's cross-cell comparison
used. For GM12878 and HeLa-S3 they differ from the paper's tables (TransEPI re-derived them), so
build with this variant to give every pair its signals.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from epizoo import catalog, coords
from epizoo.datasets.base import DatasetRequest, LoadedDataset, normalise_pair_table
from epizoo.errors import InputFileError, UnknownNameError
from epizoo.sources import signals

CELL_LINES = ("GM12878", "HUVEC", "HeLa-S3", "IMR90", "K562", "NHEK")
COLUMNS = ("enhancer_name", "promoter_name", "label")


def selected_cell_lines(request: DatasetRequest) -> list[str]:
    if not request.cell_lines:
        return list(CELL_LINES)
    unknown = [c for c in request.cell_lines if c not in CELL_LINES]
    if unknown:
        raise UnknownNameError(
            f"TargetFinder has no cell line {', '.join(map(repr, unknown))} (known: {', '.join(CELL_LINES)})"
        )
    return list(dict.fromkeys(request.cell_lines))


def read_table(path: Path, cell_line: str) -> pd.DataFrame:
    """One ``predictions-gbm.csv`` as a pair table."""
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read as CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in COLUMNS if c not in raw]
    if missing:
        raise InputFileError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
    enhancer = coords.from_targetfinder_names(raw["enhancer_name"])
    promoter = coords.from_targetfinder_names(raw["promoter_name"])
    check_rows(path, raw, enhancer, promoter)
    return pd.DataFrame(
        {
            "enhancer_contig": enhancer["chrom"],
            "enhancer_start": enhancer["start"].astype("int64"),
            "enhancer_end": enhancer["end"].astype("int64"),
            "enhancer_name": raw["enhancer_name"],
            "promoter_contig": promoter["chrom"],
            "promoter_start": promoter["start"].astype("int64"),
            "promoter_end": promoter["end"].astype("int64"),
            "promoter_name": raw["promoter_name"],
            "label": raw["label"].str.strip().astype("int8"),
            "cell_line": cell_line,
            "source": f"targetfinder/{cell_line}",
        }
    )


def check_rows(path: Path, raw: pd.DataFrame, enhancer: pd.DataFrame, promoter: pd.DataFrame) -> None:
    """Raise on the first malformed row, naming the file and its line."""
    problems = (
        ("enhancer_name", enhancer["start"].isna(), "malformed enhancer name {!r}; expected '<cell>|<chrom>:<start>-<end>'"),
        ("promoter_name", promoter["start"].isna(), "malformed promoter name {!r}; expected '<cell>|<chrom>:<start>-<end>'"),
        ("label", ~raw["label"].str.strip().isin(["0", "1"]), "label {!r} must be 0 or 1"),
    )
    for column, bad, message in problems:
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise InputFileError(f"{path}, line {row + 2}: " + message.format(raw[column].iloc[row]))


def load_transepi(cells: list[str]) -> pd.DataFrame:
    """The pairs of TransEPI's feature tables for ``cells`` (their signals join them exactly)."""
    cat = catalog.load_catalog(signals.CATALOG)
    convention = cat.extra.get("name_conventions", {}).get("targetfinder", "bed")
    tables = []
    for cell in cells:
        table = signals.read_feature_table(cat.fetch(f"targetfinder/{cell}"), convention, cell_line=cell)
        if table.labels is None:
            raise InputFileError(f"{table.name}: no label column; it cannot give pairs")
        tables.append(
            table.keys.assign(
                enhancer_name=table.keys["enhancer_contig"] + ":" + table.keys["enhancer_start"].astype(str) + "-" + table.keys["enhancer_end"].astype(str),
                promoter_name=table.keys["promoter_contig"] + ":" + table.keys["promoter_start"].astype(str) + "-" + table.keys["promoter_end"].astype(str),
                label=table.labels, source=f"targetfinder-transepi/{cell}",
            )
        )
    return pd.concat(tables, ignore_index=True)


def load(request: DatasetRequest) -> LoadedDataset:
    """Pairs of the requested cell lines (all six by default), from the catalog or ``request.path``."""
    cells = selected_cell_lines(request)
    if request.variant == "transepi":
        pairs = normalise_pair_table(load_transepi(cells), "TargetFinder (TransEPI) pairs")
        report = {"rows_read": len(pairs), "positives": int(pairs["label"].sum())}
        return LoadedDataset(pairs, "hg19", variant="transepi", report=report)
    if request.path:
        if len(cells) != 1:
            raise UnknownNameError("with a local TargetFinder file, name its cell line with --cell-line")
        tables = [read_table(Path(request.path), cells[0])]
    else:
        tables = [read_table(catalog.fetch("targetfinder", cell), cell) for cell in cells]
    pairs = normalise_pair_table(pd.concat(tables, ignore_index=True), "TargetFinder pairs")
    report = {"rows_read": len(pairs), "positives": int(pairs["label"].sum())}
    report.update({f"pairs/{cell}": int((pairs["cell_line"] == cell).sum()) for cell in cells})
    return LoadedDataset(pairs, "hg19", variant="", report=report)
