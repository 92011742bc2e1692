"""A user's own pairs as BEDPE (``--dataset bedpe --bedpe PATH``).

Tab-separated, 0-based half-open, enhancer first and promoter second. Without a header, columns
follow the BEDPE convention, then epizoo's two::

    chrom1 start1 end1 chrom2 start2 end2 name score strand1 strand2 label cell_line

Columns 1-6 are required; a row may stop after any later column (6 to 12 columns). ``score`` is
read and ignored; ``strand1``/``strand2`` must be ``+``, ``-`` or ``.``; ``label`` is 0 or 1. A
first line starting with ``#chrom1`` (or ``chrom1``) names the columns instead, so they may come
in any order, with also ``cv_group`` and the element names ``name1`` (enhancer) and ``name2``
(promoter); other names are ignored. ``name`` is the pair's name (stored per pair as
``pair_name``, so predictions join back to the rows); element names are stored only when given
as ``name1``/``name2``; ``.`` is no name. Without a label column every pair is a positive: add
negatives with ``--negatives K``. Without a cell-line column, the pairs take the single
``--cell-line`` given, or ``default``. Every row must have as many tab-separated fields as the
header (or, without one, as the first row). Pairs across contigs are kept (their distance is -1
in the store). Lines starting with ``#``, ``track`` or ``browser``, and blank lines, are skipped;
a UTF-8 byte-order mark is ignored; gzip files (any name) are read as gzip.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from epizoo.coords import MAX_COORDINATE
from epizoo.datasets.base import DatasetRequest, LoadedDataset, normalise_pair_table
from epizoo.textfile import numbered_lines
from epizoo.errors import EmptyResultError, InputFileError

REQUIRED = ["chrom1", "start1", "end1", "chrom2", "start2", "end2"]
OPTIONAL = {"name": "", "score": "", "strand1": ".", "strand2": ".", "label": None, "cell_line": None,
            "cv_group": "", "name1": "", "name2": ""}
HEADERLESS = [*REQUIRED, "name", "score", "strand1", "strand2", "label", "cell_line"]
STRANDS = ("+", "-", ".")


def _lines(path: Path):
    return numbered_lines(path, "BEDPE file", "check the --bedpe path")


def _is_header(line: str) -> bool:
    return line.lstrip("#").split("\t", 1)[0].split(" ", 1)[0].strip() == "chrom1"


def _header(where: str, line: str) -> list[str]:
    names = line.lstrip("#").split()
    if names[:6] != REQUIRED:
        raise InputFileError(f"{where}: BEDPE header must begin with {' '.join(REQUIRED)}, got {' '.join(names[:6])}")
    names = [{"enhancer_name": "name1", "promoter_name": "name2"}.get(c, c) for c in names]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:  # the last such column would silently win
        raise InputFileError(f"{where}: the BEDPE header names {', '.join(twice)} twice; give each column one name")
    return names


def _check_width(where: str, fields: list[str], expected: int | None, header: bool) -> None:
    """Every row must have as many fields as the header (or, without one, as the first row)."""
    if len(fields) < 6:
        raise InputFileError(f"{where}: {len(fields)} columns, a BEDPE row needs at least 6 (chrom1 start1 end1 chrom2 start2 end2)")
    if expected is None and len(fields) > len(HEADERLESS):
        raise InputFileError(
            f"{where}: {len(fields)} columns but a BEDPE file without a header has at most {len(HEADERLESS)} "
            f"({' '.join(HEADERLESS)}); add a '#chrom1 start1 end1 chrom2 start2 end2 ...' header naming them"
        )
    if expected is not None and len(fields) != expected:
        against = "the header names" if header else "the first row has"
        raise InputFileError(
            f"{where}: {len(fields)} tab-separated columns but {against} {expected}; "
            "every row needs the same columns (check for missing or extra tabs)"
        )


def _row(where: str, fields: list[str], columns: list[str]) -> dict:
    row = dict(zip(columns, fields))
    for key in ("start1", "end1", "start2", "end2"):
        if not (row[key].isascii() and row[key].isdigit()):
            raise InputFileError(f"{where}: {key} {row[key]!r} is not a non-negative integer")
        row[key] = int(row[key])
        if row[key] > MAX_COORDINATE:
            raise InputFileError(f"{where}: {key} {row[key]} is beyond any genome (at most {MAX_COORDINATE}); check the column")
    for side in ("1", "2"):
        if row[f"end{side}"] <= row[f"start{side}"]:
            raise InputFileError(f"{where}: end{side} must be greater than start{side} (0-based half-open)")
    for key in ("strand1", "strand2"):
        if key in row and row[key] not in STRANDS:
            raise InputFileError(f"{where}: {key} {row[key]!r} must be +, - or .")
    if "label" in row and row["label"] not in ("0", "1"):
        column = f"column {columns.index('label') + 1} (label)"
        raise InputFileError(f"{where}: {column} {row['label']!r} must be 0 or 1")
    for key in ("name", "name1", "name2"):
        if row.get(key) == ".":
            row[key] = ""
    return row


def read_bedpe(path: str | Path) -> tuple[pd.DataFrame, set[str]]:
    """The rows of a BEDPE file and the optional columns it has."""
    path = Path(path)
    columns, rows, width, header = HEADERLESS, [], None, False
    for number, line in _lines(path):
        where = f"{path}:{number}"
        if not rows and not header and _is_header(line):
            columns, header = _header(where, line), True
            width = len(columns)
            continue
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        fields = line.rstrip("\r\n").split("\t")
        _check_width(where, fields, width, header)
        width = len(fields)
        rows.append(_row(where, fields, columns))
    if not rows:
        raise EmptyResultError(f"BEDPE file {path} has no pairs")
    table = pd.DataFrame(rows)
    return table, {c for c in OPTIONAL if c in table and table[c].notna().all()}


def load(request: DatasetRequest) -> LoadedDataset:
    if not request.path:
        raise InputFileError("the bedpe dataset needs a file: --bedpe PATH")
    raw, present = read_bedpe(request.path)
    cell_lines = list(request.cell_lines or ())
    if "cell_line" in present:
        if cell_lines:
            raw = raw[raw["cell_line"].isin(cell_lines)]
            if raw.empty:
                raise EmptyResultError(f"{request.path} has no pairs for cell line(s) {', '.join(cell_lines)}")
    elif len(cell_lines) > 1:
        raise InputFileError(f"{request.path} has no cell_line column; give at most one --cell-line")
    def column(name, default):
        return raw[name] if name in present else default

    table = pd.DataFrame(
        {
            "enhancer_contig": raw["chrom1"],
            "enhancer_start": raw["start1"],
            "enhancer_end": raw["end1"],
            "enhancer_name": column("name1", ""),
            "promoter_contig": raw["chrom2"],
            "promoter_start": raw["start2"],
            "promoter_end": raw["end2"],
            "promoter_name": column("name2", ""),
            "promoter_strand": column("strand2", "."),
            "pair_name": column("name", ""),
            "cell_line": column("cell_line", cell_lines[0] if cell_lines else "default"),
            "label": raw["label"].astype("int8") if "label" in present else 1,
            "source": f"bedpe/{Path(request.path).name}",
            "cv_group": column("cv_group", ""),
        }
    )
    pairs = normalise_pair_table(table, f"BEDPE file {request.path}")
    report = {
        "rows_read": len(pairs),
        "positives": int(pairs["label"].sum()),
        "inter_chromosomal": int((pairs["enhancer_contig"] != pairs["promoter_contig"]).sum()),
        "positives_only": int("label" not in present),
    }
    return LoadedDataset(pairs, "user", variant="", report=report)
