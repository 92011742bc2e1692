"""BEDPE and UCSC interact rendering of a prediction table (epizoo.browser_formats), on a hand-made table."""

from __future__ import annotations

import pandas as pd
import pytest

from epizoo.browser_formats import INTERACT_COLUMNS, bedpe_text, interact_text, output_format
from epizoo.errors import EpizooError


def table() -> pd.DataFrame:
    rows = [  # pair, name, score, enhancer (contig, start, end), promoter (contig, start, end)
        (0, "a", 0.9994, ("chr2", 500, 900), ("chr2", 100, 101)),
        (1, "", 0.0004, ("chr10", 50, 60), ("chr10", 5000, 5001)),
        (2, "trans pair", 0.5, ("chr2", 10, 20), ("chr1", 300, 301)),
    ]
    return pd.DataFrame([{
        "pair": pair, "label": 1, "score": score, "pair_name": name, "contig": e[0], "cell_line": "K562",
        "enhancer": pair, "enhancer_name": f"e{pair}", "promoter": pair, "promoter_name": "", "distance": 0,
        "enhancer_contig": e[0], "enhancer_start": e[1], "enhancer_end": e[2],
        "promoter_contig": p[0], "promoter_start": p[1], "promoter_end": p[2],
    } for pair, name, score, e, p in rows])


def test_bedpe_rows_keep_the_table_order():
    lines = [line.split("\t") for line in bedpe_text(table()).splitlines()]
    assert [row[:10] for row in lines] == [
        ["chr2", "500", "900", "chr2", "100", "101", "a", "0.9994", ".", "."],
        ["chr10", "50", "60", "chr10", "5000", "5001", "pair_1", "0.0004", ".", "."],
        ["chr2", "10", "20", "chr1", "300", "301", "trans_pair", "0.5", ".", "."],
    ]
    assert all(len(row) == 16 for row in lines) and lines[0][13] == "."  # an empty promoter name is "."


def test_interact_spans_sorts_and_splits_inter_chromosomal_pairs():
    rows = [line.split("\t") for line in interact_text(table()).splitlines()]
    assert all(len(row) == len(INTERACT_COLUMNS) == 18 for row in rows)
    assert [(row[0], int(row[1]), int(row[2]), row[3], int(row[4])) for row in rows] == [
        ("chr1", 300, 301, "trans_pair", 500),  # an inter-chromosomal pair: one row per element
        ("chr10", 50, 5001, "pair_1", 0),
        ("chr2", 10, 20, "trans_pair", 500),
        ("chr2", 100, 900, "a", 999),
    ]
    assert rows[0][8:11] == ["chr2", "10", "20"] and rows[0][13:16] == ["chr1", "300", "301"]


def test_format_from_the_suffix_or_the_option():
    assert [output_format(name, None) for name in ("x.bedpe", "x.BEDPE", "x.interact", "x.bed", "x.tsv")] == \
        ["bedpe", "bedpe", "interact", "tsv", "tsv"]
    assert output_format("x.bed", "interact") == "interact"
    with pytest.raises(EpizooError):
        output_format("x.bed", "bigwig")
