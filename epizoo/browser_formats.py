"""Prediction tables as genome-browser files: BEDPE and UCSC interact (bed5+13).

Both are rendered from the bench's prediction table (:func:`epizoo.bench.task._prediction_table`),
which carries each pair's enhancer and promoter coordinates (0-based half-open, as the store holds
them). ``epizoo predict -o`` picks the format: ``--format``, else the name's suffix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from epizoo.errors import EpizooError

FORMATS = ("tsv", "bedpe", "interact")
BEDPE_COLUMNS = ("chrom1", "start1", "end1", "chrom2", "start2", "end2", "name", "score", "strand1", "strand2")
BEDPE_EXTRA = ("label", "cell_line", "enhancer_name", "promoter_name", "distance", "pair")
INTERACT_COLUMNS = (
    "chrom", "chromStart", "chromEnd", "name", "score", "value", "exp", "color",
    "sourceChrom", "sourceStart", "sourceEnd", "sourceName", "sourceStrand",
    "targetChrom", "targetStart", "targetEnd", "targetName", "targetStrand",
)
SCORE_DIGITS = 7  # the prediction table's own rounding of the probability


def output_format(out: str | Path, wanted: str | None) -> str:
    """``wanted``, else from the suffix of ``out``: ``.bedpe`` is BEDPE, ``.interact`` is interact, any other TSV."""
    if wanted is not None:
        if wanted not in FORMATS:
            raise EpizooError(f"--format {wanted!r}: use one of {', '.join(FORMATS)}")
        return wanted
    name = Path(out).name.lower()
    if name.endswith(".bedpe"):
        return "bedpe"
    if name.endswith(".interact"):
        return "interact"
    return "tsv"


def _names(table: pd.DataFrame) -> np.ndarray:
    """Each pair's name: its source row's name, else ``pair_N`` (N: the ``pair`` column); no whitespace."""
    given = table["pair_name"].fillna("").astype(str).str.replace(r"\s+", "_", regex=True)
    fallback = "pair_" + table["pair"].astype(str)
    return np.where(given.str.len() > 0, given, fallback).astype(object)


def _dot(column: pd.Series) -> pd.Series:
    """Text with empty values as ``.`` and no whitespace inside, for a browser file's free-text fields."""
    text = column.fillna("").astype(str).str.replace(r"\s+", "_", regex=True)
    return text.where(text.str.len() > 0, ".")


def _probabilities(table: pd.DataFrame) -> np.ndarray:
    return np.round(table["score"].to_numpy(np.float64), SCORE_DIGITS)


def bedpe_text(table: pd.DataFrame) -> str:
    """BEDPE rows, no header: enhancer as the first element, promoter as the second, name, the
    probability as score, strands ``.``, then ``label cell_line enhancer_name promoter_name distance pair``."""
    frame = pd.DataFrame({
        "chrom1": table["enhancer_contig"].astype(str), "start1": table["enhancer_start"].astype(np.int64),
        "end1": table["enhancer_end"].astype(np.int64), "chrom2": table["promoter_contig"].astype(str),
        "start2": table["promoter_start"].astype(np.int64), "end2": table["promoter_end"].astype(np.int64),
        "name": _names(table), "score": _probabilities(table), "strand1": ".", "strand2": ".",
        "label": table["label"].astype(int), "cell_line": _dot(table["cell_line"]),
        "enhancer_name": _dot(table["enhancer_name"]), "promoter_name": _dot(table["promoter_name"]),
        "distance": table["distance"], "pair": table["pair"].astype(np.int64),
    }, columns=[*BEDPE_COLUMNS, *BEDPE_EXTRA])
    return frame.to_csv(sep="\t", index=False, header=False)


def bedpe_comment() -> str:
    return "# " + "\t".join((*BEDPE_COLUMNS, *BEDPE_EXTRA)) + " (0-based half-open; element 1 the enhancer, 2 the promoter)\n"


def interact_text(table: pd.DataFrame) -> str:
    """UCSC interact rows (bed5+13), sorted by chrom then chromStart (byte order of the chrom name,
    as ``sort -k1,1 -k2,2n`` with LC_ALL=C), the enhancer the source and the promoter the target.

    score: the probability x 1000 as an integer 0-1000; value: the probability; exp: the cell line.
    An intra-chromosomal pair is one row spanning both elements; an inter-chromosomal pair is two
    rows, one per element, as UCSC's interact format asks.
    """
    p = _probabilities(table)
    enhancer = (table["enhancer_contig"].astype(str).to_numpy(object), table["enhancer_start"].to_numpy(np.int64),
                table["enhancer_end"].to_numpy(np.int64), _dot(table["enhancer_name"]).to_numpy(object))
    promoter = (table["promoter_contig"].astype(str).to_numpy(object), table["promoter_start"].to_numpy(np.int64),
                table["promoter_end"].to_numpy(np.int64), _dot(table["promoter_name"]).to_numpy(object))
    common = {
        "name": _names(table), "score": np.clip(np.rint(p * 1000), 0, 1000).astype(np.int64), "value": p,
        "exp": _dot(table["cell_line"]).to_numpy(object), "color": 0,
        "sourceChrom": enhancer[0], "sourceStart": enhancer[1], "sourceEnd": enhancer[2], "sourceName": enhancer[3],
        "sourceStrand": ".",
        "targetChrom": promoter[0], "targetStart": promoter[1], "targetEnd": promoter[2], "targetName": promoter[3],
        "targetStrand": ".",
    }
    same = enhancer[0] == promoter[0]
    spans = [pd.DataFrame({
        "chrom": enhancer[0], "chromStart": np.minimum(enhancer[1], promoter[1]),
        "chromEnd": np.maximum(enhancer[2], promoter[2]), **common,
    })[same]]
    for chrom, start, end, _name in (enhancer, promoter):  # inter-chromosomal: one row per element
        spans.append(pd.DataFrame({"chrom": chrom, "chromStart": start, "chromEnd": end, **common})[~same])
    frame = pd.concat(spans, ignore_index=True)[list(INTERACT_COLUMNS)]
    keys = frame["chrom"].map(lambda c: c.encode())
    frame = frame.assign(_key=keys).sort_values(["_key", "chromStart", "chromEnd"], kind="stable").drop(columns="_key")
    return frame.to_csv(sep="\t", index=False, header=False)


def interact_comment() -> str:
    return ("# UCSC interact (bed5+13; bedToBigBed -as=interact.as -type=bed5+13, see docs/predict.md): "
            + "\t".join(INTERACT_COLUMNS) + "\n")


def render(table: pd.DataFrame, kind: str, header: str) -> str:
    """The whole file: ``header`` (``#`` lines) then the table in ``kind`` (tsv, bedpe, interact)."""
    if kind == "bedpe":
        return header + bedpe_comment() + bedpe_text(table)
    if kind == "interact":
        return header + interact_comment() + interact_text(table)
    return header + table.to_csv(sep="\t", index=False)
