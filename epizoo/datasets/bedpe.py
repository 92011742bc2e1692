"""A user's own pairs as BEDPE (``--dataset bedpe --bedpe PATH``).

Tab-separated, 0-based half-open, enhancer first and promoter second::

    #chrom1  start1  end1  chrom2  start2  end2  name  label  cell_line
    chr1     1000    2500  chr1    90000   90001 p1    1      GM12878

Columns 1-6 are required. A first line starting with ``#chrom1`` names the columns, so extra
columns may come in any order: ``name``, ``label`` (0/1), ``cell_line``, ``strand2`` (promoter
strand), ``cv_group``; other names are ignored. Without such a header, columns 7, 8 and 9 are
name, label and cell line. Without a label column every pair is a positive: add negatives with
``--negatives K``. Without a cell-line column, the pairs take the single ``--cell-line`` given, or
``default``. Every row must have as many tab-separated fields as the header (or, without one,
as the first row). Pairs across contigs are kept (their distance is -1 in the store). Lines starting
with ``#``, ``track`` or ``browser``, and blank lines, are skipped. ``.gz`` files are read as gzip.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd

from epizoo.datasets.base import DatasetRequest, LoadedDataset, normalise_pair_table
from epizoo.errors import EmptyResultError, InputFileError

REQUIRED = ["chrom1", "start1", "end1", "chrom2", "start2", "end2"]
OPTIONAL = {"name": "", "label": None, "cell_line": None, "strand2": ".", "cv_group": ""}
HEADERLESS = [*REQUIRED, "name", "label", "cell_line"]


def _lines(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            yield from enumerate(handle, start=1)
    except FileNotFoundError:
        raise InputFileError(f"BEDPE file {path} not found; check the --bedpe path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read as text BEDPE ({exc})") from None


def _header(line: str) -> list[str]:
    names = line.lstrip("#").split()
    if names[:6] != REQUIRED:
        raise InputFileError(f"BEDPE header must begin with {' '.join(REQUIRED)}, got {' '.join(names[:6])}")
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


def _row(path: Path, number: int, fields: list[str], columns: list[str]) -> dict:
    where = f"{path}:{number}"
    row = dict(zip(columns, fields))
    for key in ("start1", "end1", "start2", "end2"):
        if not row[key].isdigit():
            raise InputFileError(f"{where}: {key} {row[key]!r} is not a non-negative integer")
        row[key] = int(row[key])
    for side in ("1", "2"):
        if row[f"end{side}"] <= row[f"start{side}"]:
            raise InputFileError(f"{where}: end{side} must be greater than start{side} (0-based half-open)")
    if "label" in row and row["label"] not in ("0", "1"):
        raise InputFileError(f"{where}: label {row['label']!r} must be 0 or 1")
    return row


def read_bedpe(path: str | Path) -> tuple[pd.DataFrame, set[str]]:
    """The rows of a BEDPE file and the optional columns it has."""
    path = Path(path)
    columns, rows, width, header = HEADERLESS, [], None, False
    for number, line in _lines(path):
        if line.startswith("#chrom1") and not rows:
            columns, header = _header(line), True
            width = len(columns)
            continue
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        fields = line.rstrip("\r\n").split("\t")
        _check_width(f"{path}:{number}", fields, width, header)
        width = len(fields)
        rows.append(_row(path, number, fields, columns))
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
    table = pd.DataFrame(
        {
            "enhancer_contig": raw["chrom1"],
            "enhancer_start": raw["start1"],
            "enhancer_end": raw["end1"],
            "enhancer_name": raw["name"] if "name" in present else "",
            "promoter_contig": raw["chrom2"],
            "promoter_start": raw["start2"],
            "promoter_end": raw["end2"],
            "promoter_name": raw["name"] if "name" in present else "",
            "promoter_strand": raw["strand2"] if "strand2" in present else ".",
            "cell_line": raw["cell_line"] if "cell_line" in present else (cell_lines[0] if cell_lines else "default"),
            "label": raw["label"].astype("int8") if "label" in present else 1,
            "source": f"bedpe/{Path(request.path).name}",
            "cv_group": raw["cv_group"] if "cv_group" in present else "",
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
