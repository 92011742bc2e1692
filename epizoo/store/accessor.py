"""``ds.epizoo``: the questions people ask of a store, answered on the lazy Dataset."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from epizoo import contigs, coords
from epizoo.errors import EmptyResultError, EpizooError, UnknownNameError
from epizoo.sequence import decode
from epizoo.splits import get_split  # answers built-in splits without loading the plugins
from epizoo.store.genome_reader import GenomeLayer

KINDS = ("enhancer", "promoter")


class StoreIndexError(EpizooError, IndexError):
    """An element index outside the store (an :class:`EpizooError` that is also an IndexError)."""


def _as_indices(index, size: int | None = None, what: str = "index") -> tuple[np.ndarray, bool]:
    """``index`` as a 1-D int array, and whether a single element (scalar) was asked for.

    With ``size``, negative indices count from the end and any index outside ``[-size, size)``
    is a :class:`StoreIndexError`.
    """
    array = np.asarray(index)
    if array.dtype.kind not in "iu" and not (array.dtype.kind == "f" and array.size == 0):
        raise StoreIndexError(f"{what} {index!r} must be whole numbers (positions along the dimension)")
    rows = np.atleast_1d(array).astype(np.int64)
    if size is not None:
        bad = (rows < -size) | (rows >= size)
        if bad.any():
            raise StoreIndexError(
                f"{what} {int(rows[bad][0])} is out of range: this store has {size} {what.split()[0]}s (0..{size - 1})"
            )
        rows = np.where(rows < 0, rows + size, rows)
    return rows, array.ndim == 0


@xr.register_dataset_accessor("epizoo")
class EpizooAccessor:
    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    # ---- lookups -------------------------------------------------------------------------------

    @property
    def cell_lines(self) -> list[str]:
        return [str(v) for v in self._ds["cell_line_id"].values]

    @property
    def contigs(self) -> list[str]:
        return [str(v) for v in self._ds["contig_id"].values]

    def _code(self, lookup: str, name: str, what: str) -> int:
        names = [str(v) for v in self._ds[lookup].values]
        if name not in names:
            raise UnknownNameError(f"unknown {what} {name!r}; this store has {', '.join(names) or 'none'}")
        return names.index(name)

    # ---- sequences -----------------------------------------------------------------------------

    def _kind(self, kind: str) -> str:
        if kind not in KINDS:
            raise UnknownNameError(f"unknown element kind {kind!r}; use 'enhancer' or 'promoter'")
        return kind

    def codes(self, kind: str, index, length: int | None = None, shift: int = 0) -> np.ndarray:
        """int8 codes of the ``length``-bp view (default: the model window) moved by ``shift`` bp.

        ``index`` is one position along ``enhancers``/``promoters`` (gives 1-D) or several (2-D).
        """
        kind = self._kind(kind)
        window = int(self._ds.attrs[f"{kind}_window"])
        length = window if length is None else int(length)
        offset = coords.cut_offset(window, int(self._ds.attrs["flank"]), length, shift)
        rows, scalar = _as_indices(index, self._ds.sizes[f"{kind}s"], f"{kind} index")
        stored = self._ds[f"{kind}_sequence"].isel({f"{kind}s": rows}).values
        view = stored[:, offset : offset + length]
        return view[0] if scalar else view

    def sequences(self, kind: str, index, shift: int = 0, length: int | None = None) -> list[str]:
        """Decoded letters of the elements at ``index`` (always a list, one string each)."""
        rows, _ = _as_indices(index, self._ds.sizes[f"{self._kind(kind)}s"], f"{kind} index")
        return list(decode(self.codes(kind, rows, length=length, shift=shift)))

    # ---- genome layer (epizoo.store.genome_reader) ----------------------------------------------

    @property
    def _genome(self):
        if getattr(self, "_genome_layer", None) is None:
            self._genome_layer = GenomeLayer(self._ds)
        return self._genome_layer

    def sequence(self, contig: str, start: int, end: int) -> np.ndarray:
        """int8 codes of ``contig:[start, end)`` from the genome layer; N beyond the contig."""
        return self._genome.sequence(contig, start, end)

    def track(self, cell_line: str, mark: str, contig: str, start: int, end: int) -> np.ndarray:
        """float32 signal per base of ``contig:[start, end)``; NaN where unmeasured or off the contig."""
        return self._genome.track(cell_line, mark, contig, start, end)

    def contacts(self, cell_line: str, contig: str, start: int, end: int) -> np.ndarray:
        """float32 ``(n, n)`` contact map of the bins covering ``[start, end)``; NaN beyond the stored band."""
        return self._genome.contacts(cell_line, contig, start, end)

    def genome_contigs(self) -> dict[str, int]:
        return self._genome.contigs()

    def track_names(self) -> list[tuple[str, str]]:
        return list(self._genome.tracks)

    def contact_cell_lines(self) -> list[str]:
        return list(self._genome.contact_cells)

    @property
    def contact_bin_size(self) -> int:
        return self._genome.bin_size

    # ---- pairs ---------------------------------------------------------------------------------

    def pairs(self, cell_line: str | None = None, contig: str | None = None, label: int | None = None) -> xr.Dataset:
        """The store restricted to the pairs matching every filter given (elements untouched)."""
        keep = np.ones(self._ds.sizes["pairs"], dtype=bool)
        if cell_line is not None:
            keep &= self._ds["pair_cell_line"].values == self._code("cell_line_id", cell_line, "cell line")
        if contig is not None:  # 'chr1', 'CHR1' or '1', as the splits read it
            keep &= self._ds["pair_contig"].values == contigs.resolve(contig, self.contigs, where="this store")
        if label is not None:
            keep &= self._ds["pair_label"].values == int(label)
        if not keep.any():
            raise EmptyResultError(f"no pairs match cell_line={cell_line!r}, contig={contig!r}, label={label!r}")
        return self._ds.isel(pairs=np.flatnonzero(keep))

    def pair_names(self, index=None) -> np.ndarray:
        """Names of the pairs at ``index`` (default: all) as given by the source, '' where none.

        Stores built before format 1.1 have no ``pair_name``: every name is ''.
        """
        size = self._ds.sizes["pairs"]
        rows = np.arange(size) if index is None else _as_indices(index, size, "pair index")[0]
        if "pair_name" not in self._ds.variables:
            return np.full(len(rows), "", dtype=object)
        return np.asarray(self._ds["pair_name"].values, dtype=object)[rows]

    def signals(self, index=None) -> xr.DataArray:
        """Signal values of the pairs at ``index`` (default: all): ``(pairs, signal_marks, signal_regions)``
        labelled by mark and region names; NaN where a pair has no measurement."""
        if "pair_signal" not in self._ds.variables:
            raise EmptyResultError("this store holds no signals; build it with `epizoo build-store ... --signals`")
        values = self._ds["pair_signal"]
        if index is not None:
            values = values.isel(pairs=_as_indices(index, self._ds.sizes["pairs"], "pair index")[0])
        return values.assign_coords(
            signal_marks=[str(m) for m in self._ds["signal_mark_id"].values],
            signal_regions=[str(r) for r in self._ds["signal_region_id"].values],
        )

    def folds(self, split_name: str, **options: Any) -> list:
        """The folds of a registered split (``epizoo splits`` lists them)."""
        return get_split(split_name)(self._ds, **options)

    def table(self) -> pd.DataFrame:
        """One row per pair with names instead of codes: cell_line, contig, label, distance, generated."""
        ds = self._ds
        return pd.DataFrame(
            {
                "cell_line": np.asarray(self.cell_lines, dtype=object)[ds["pair_cell_line"].values],
                "contig": np.asarray(self.contigs, dtype=object)[ds["pair_contig"].values],
                "label": ds["pair_label"].values.astype(int),
                "distance": ds["pair_distance"].values,
                "generated": ds["pair_label_generated"].values,
            }
        )

    def summary(self) -> pd.DataFrame:
        """Pairs, positives and negatives per cell line x contig (contigs in store order)."""
        table = self.table()
        table["contig"] = pd.Categorical(table["contig"], categories=self.contigs, ordered=True)
        grouped = table.groupby(["cell_line", "contig"], observed=True)["label"]
        summary = pd.DataFrame({"pairs": grouped.size(), "positives": grouped.sum()})
        summary["negatives"] = summary["pairs"] - summary["positives"]
        return summary.astype(int)
