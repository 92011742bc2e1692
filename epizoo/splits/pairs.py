"""The small per-pair arrays a split reads (never the sequences), and user names resolved against them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from epizoo import contigs
from epizoo.errors import EpizooError, UnknownNameError
from epizoo.options import comma_list


class SplitOptionError(EpizooError):
    """A split was given an unknown option or an impossible value."""



# ---- the per-pair table ----------------------------------------------------------------------

_PAIR_VARIABLES = ("pair_contig", "pair_cell_line", "pair_enhancer", "pair_promoter", "pair_cv_group", "pair_label", "pair_source")
_LOOKUPS = ("contig_id", "cell_line_id", "cv_group_id", "source_id")


@dataclass
class _Pairs:
    """The small per-pair arrays a split needs, loaded once."""

    contig: np.ndarray
    cell_line: np.ndarray
    enhancer: np.ndarray
    promoter: np.ndarray
    cv_group: np.ndarray
    label: np.ndarray
    source: np.ndarray
    promoter_contig: np.ndarray  # contig of each pair's promoter (trans pairs differ from `contig`)
    contig_names: list[str]
    cell_line_names: list[str]
    cv_group_names: list[str]
    source_names: list[str]
    elements: dict[str, dict[str, np.ndarray]] | None = None  # kind -> contig/start/end/window_start
    bases: dict[str, int] | None = None  # stored window length per kind

    @property
    def size(self) -> int:
        return len(self.contig)

    def describe(self, kind: str, index: int) -> str:
        """``enhancer chr1:100-200``: an element in words, for error messages."""
        element = self.elements[kind]
        contig = self.contig_names[int(element["contig"][index])]
        return f"{kind} {contig}:{int(element['start'][index])}-{int(element['end'][index])}"


_ELEMENT_FIELDS = ("contig", "start", "end", "window_start")


def _load_pairs(ds: xr.Dataset, elements: bool = False) -> _Pairs:
    """The per-pair arrays (and, for the leakage check, element coordinates) in one dask pass."""
    names = [*_PAIR_VARIABLES, *_LOOKUPS, "promoter_contig"]
    if elements:
        names += [f"{kind}_{f}" for kind in ("enhancer", "promoter") for f in _ELEMENT_FIELDS if f != "contig" or kind == "enhancer"]
    missing = [v for v in names if v not in ds.variables]
    if missing:
        raise SplitOptionError(f"the dataset lacks {', '.join(missing)}; open a store with epizoo.open_store")
    arrays = {name: variable.values for name, variable in ds[names].compute().variables.items()}  # never sequences
    promoter = arrays["pair_promoter"].astype(np.int64)
    pairs = _Pairs(
        contig=arrays["pair_contig"].astype(np.int64),
        cell_line=arrays["pair_cell_line"].astype(np.int64),
        enhancer=arrays["pair_enhancer"].astype(np.int64),
        promoter=promoter,
        cv_group=arrays["pair_cv_group"].astype(np.int64),
        label=arrays["pair_label"].astype(np.int8),
        source=arrays["pair_source"].astype(np.int64),
        promoter_contig=arrays["promoter_contig"].astype(np.int64)[promoter],
        contig_names=[str(n) for n in arrays["contig_id"]],
        cell_line_names=[str(n) for n in arrays["cell_line_id"]],
        cv_group_names=[str(n) for n in arrays["cv_group_id"]],
        source_names=[str(n) for n in arrays["source_id"]],
    )
    if elements:
        pairs.elements = {
            kind: {f: arrays[f"{kind}_{f}"].astype(np.int64) for f in _ELEMENT_FIELDS} for kind in ("enhancer", "promoter")
        }
        # a store without sequence still defines each element's stored window (model window + 2 x flank)
        pairs.bases = {
            kind: int(ds.sizes[f"{kind}_bases"]) if f"{kind}_bases" in ds.sizes else int(ds.attrs[f"{kind}_window"]) + 2 * int(ds.attrs["flank"])
            for kind in ("enhancer", "promoter")
        }
    return pairs


def _used(indices: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Boolean over ``n`` elements: those referenced by the pairs in ``mask`` (O(n), no sort)."""
    used = np.zeros(n, dtype=bool)
    used[indices[mask]] = True
    return used


# ---- contig and name helpers -----------------------------------------------------------------


def _as_list(value: Any) -> list[str]:
    """A split option's names, read as the command line reads them: ``'chr1,chr2'`` from Python too."""
    return comma_list(value)


def _resolve_contigs(pairs: _Pairs, names: Any, option: str) -> list[int]:
    """User contig names (either naming style, see :mod:`epizoo.contigs`) to codes into ``contig_id``."""
    return [contigs.resolve(name, pairs.contig_names, prefix=f"{option}: ") for name in _as_list(names)]


def _resolve_cell_lines(pairs: _Pairs, names: Any, option: str) -> list[int]:
    lookup = {name.lower(): code for code, name in enumerate(pairs.cell_line_names)}
    codes = []
    for name in _as_list(names):
        code = lookup.get(str(name).lower())
        if code is None:
            known = ", ".join(pairs.cell_line_names) or "none"
            raise UnknownNameError(f"{option}: unknown cell line {name!r}; the store has {known}")
        codes.append(code)
    return codes


def _cell_line_mask(pairs: _Pairs, cell_lines: Any) -> np.ndarray:
    if cell_lines is None:
        return np.ones(pairs.size, dtype=bool)
    return np.isin(pairs.cell_line, _resolve_cell_lines(pairs, cell_lines, "cell_lines"))


def _main_contigs_present(pairs: _Pairs, pool: np.ndarray) -> list[int]:
    """Codes of chr1..22 and chrX that have pairs in ``pool``, in natural order."""
    present = set(np.unique(pairs.contig[pool]).tolist())
    eligible = [c for c in present if contigs.is_main(pairs.contig_names[c])]
    return sorted(eligible, key=lambda c: contigs.natural_key(pairs.contig_names[c]))


def _valid_count(requested: int | None, available: int) -> int:
    """Validation contigs to take from ``available`` training-side ones, leaving at least one to train on.

    The default (None) is one, or none when only one contig is left for training.
    """
    if requested is None:
        return 1 if available >= 2 else 0
    return _check_count(requested, "valid_contigs", 0, max(available - 1, 0))


def _check_count(value: Any, option: str, low: int, high: int) -> int:
    if not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise SplitOptionError(f"{option} must be a whole number from {low} to {high}, got {value!r}")
    return int(value)
