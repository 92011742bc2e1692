"""The contract between dataset readers and the store builder.

A reader turns upstream files into a *pair table*: a pandas DataFrame with one row per pair and
the columns of :data:`PAIR_COLUMNS`, all coordinates 0-based half-open (convert with
:mod:`epizoo.coords`). A TSS-defined promoter is the 1-bp interval ``[tss, tss + 1)``; the
builder centres the promoter window on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from epizoo.errors import EmptyResultError, InputFileError

PAIR_COLUMNS: dict[str, str] = {
    "enhancer_contig": "str",
    "enhancer_start": "int64",
    "enhancer_end": "int64",
    "enhancer_name": "str",
    "promoter_contig": "str",
    "promoter_start": "int64",
    "promoter_end": "int64",
    "promoter_name": "str",
    "promoter_strand": "str",  # '+', '-' or '.'
    "pair_name": "str",  # the pair's name in its source (a BEDPE name), '' when none
    "cell_line": "str",
    "label": "int8",  # 1 interacting, 0 not
    "source": "str",  # e.g. 'bengi/HeLa.HiC-Benchmark.v3'
    "cv_group": "str",  # upstream group such as 'cv-3', '' when none
    "label_generated": "bool",  # True for epizoo-generated negatives
}

OPTIONAL_DEFAULTS = {
    "enhancer_name": "",
    "promoter_name": "",
    "promoter_strand": ".",
    "pair_name": "",
    "cv_group": "",
    "label_generated": False,
}


def normalise_pair_table(table: pd.DataFrame, what: str = "pair table") -> pd.DataFrame:
    """Fill optional columns, check required ones and coerce dtypes; raise one clear error."""
    table = table.copy()
    for column, default in OPTIONAL_DEFAULTS.items():
        if column not in table:
            table[column] = default
        else:  # rows appended without it (e.g. generated negatives) take the default, never 'nan'
            table[column] = table[column].fillna(default)
    missing = [c for c in PAIR_COLUMNS if c not in table]
    if missing:
        raise InputFileError(f"{what} lacks column(s) {', '.join(missing)}")
    if table.empty:
        raise EmptyResultError(f"{what} has no pairs; check the input file and the filters")
    try:
        table = table[list(PAIR_COLUMNS)].astype(PAIR_COLUMNS)
    except (TypeError, ValueError) as exc:
        raise InputFileError(f"{what} has a malformed value: {exc}") from None
    bad_labels = ~table["label"].isin([0, 1])
    if bad_labels.any():
        raise InputFileError(f"{what} row {int(bad_labels.idxmax())}: label must be 0 or 1")
    for kind in ("enhancer", "promoter"):
        bad = (table[f"{kind}_start"] < 0) | (table[f"{kind}_end"] <= table[f"{kind}_start"])
        if bad.any():
            row = table[bad].iloc[0]
            raise InputFileError(
                f"{what}: {kind} interval {row[f'{kind}_contig']}:{row[f'{kind}_start']}-"
                f"{row[f'{kind}_end']} is empty or negative; intervals must be 0-based with end > start"
            )
    return table.reset_index(drop=True)


@dataclass
class DatasetRequest:
    """What the user asked for: ``epizoo build-store --dataset NAME --variant V ...``."""

    variant: str | None = None
    cell_lines: tuple[str, ...] | None = None  # None: all
    path: str | None = None  # a user's own file (bedpe)
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)  # dataset-specific (assays, sizes ...)


@dataclass
class LoadedDataset:
    """A reader's result: the pair table and, for datasets that bring their own, a sequence source."""

    pairs: pd.DataFrame
    genome_build: str
    variant: str = ""
    sequence: Any = None  # an epizoo.sources.genome.SequenceSource, or None: the user gives --genome/--regions
    report: dict[str, int] = field(default_factory=dict)  # rows read / skipped per reason


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset registered through the ``register_datasets`` hook."""

    name: str
    description: str
    load: Callable[[DatasetRequest], LoadedDataset]
    variants: tuple[str, ...] = ()
    default_variant: str | None = None
    genome_build: str = "hg19"
    catalog: str | None = None  # name of an epizoo/catalogs/<name>.yaml describing upstream files
