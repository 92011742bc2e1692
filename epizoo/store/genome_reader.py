"""Reading a store's genome layer (behind ``ds.epizoo.sequence/track/contacts``).

Apart from ``genome_layer`` (which builds the layer) so that reading a store never imports the builders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from epizoo import contigs as contig_names
from epizoo.errors import StoreError, UnknownNameError
from epizoo.sequence import N_CODE

LAYER = "genome"


class GenomeLayer:
    """Reads windows of a store's genome layer (behind ``ds.epizoo.sequence/track/contacts``).

    Lookups are read once; windows are read from the Zarr arrays straight (no dask graph per window)
    when the Dataset came from a store on disk, else through xarray.
    """

    def __init__(self, ds):
        from epizoo.schema import store_layers  # lazy: imports xarray (the CLI imports genome_layer, hence this, at start)

        if LAYER not in store_layers(ds) or "genome_contig_id" not in ds.variables:
            raise StoreError("this store has no genome layer; build one with `epizoo build-store --genome FA --tracks ... --contacts ...`")
        self._ds = ds
        self.names = [str(v) for v in ds["genome_contig_id"].values]
        self.lengths = ds["genome_contig_length"].values.astype(np.int64)
        self.base = ds["genome_contig_offset"].values.astype(np.int64)
        self.track_offset = ds["genome_contig_track_offset"].values.astype(np.int64)
        self.contact_offset = ds["genome_contig_contact_offset"].values.astype(np.int64)
        self.tracks = list(zip((str(v) for v in ds["track_cell_line"].values), (str(v) for v in ds["track_mark"].values)))
        self.contact_cells = [str(v) for v in ds["contact_cell_line_id"].values]
        self.resolution = int(ds["track_value"].attrs["resolution"])
        self.bin_size = int(ds["contact_value"].attrs["bin_size"])
        self.max_distance = int(ds["contact_value"].attrs["max_distance"])
        self._arrays = self._zarr_arrays()

    def _zarr_arrays(self) -> dict:
        source = self._ds.encoding.get("source")
        if not source or not Path(source).is_dir():
            return {}
        import zarr

        group = zarr.open_group(source, mode="r", zarr_format=3)
        return {name: group[name] for name in ("genome_sequence", "track_value", "contact_value")}

    def _read(self, name: str, key: tuple) -> np.ndarray:
        if name in self._arrays:
            return np.asarray(self._arrays[name][key])
        return np.asarray(self._ds[name].data[key])

    def _contig(self, contig: str) -> int:
        return contig_names.resolve(contig, self.names, where="this store's genome layer")

    def contigs(self) -> dict[str, int]:
        return dict(zip(self.names, (int(n) for n in self.lengths)))

    def sequence(self, contig: str, start: int, end: int) -> np.ndarray:
        k = self._contig(contig)
        start, end = int(start), int(end)
        out = np.full(max(end - start, 0), N_CODE, dtype=np.int8)
        lo, hi = max(start, 0), min(end, int(self.lengths[k]))
        if hi > lo:
            out[lo - start : hi - start] = self._read("genome_sequence", (slice(self.base[k] + lo, self.base[k] + hi),))
        return out

    def _track_row(self, cell: str, mark: str) -> int:
        if (cell, mark) not in self.tracks:
            known = ", ".join(f"{c}/{m}" for c, m in self.tracks) or "none"
            raise UnknownNameError(f"no track {cell}/{mark} in this store; it has {known}")
        return self.tracks.index((cell, mark))

    def track(self, cell: str, mark: str, contig: str, start: int, end: int) -> np.ndarray:
        """float32 per base: each base gets its bin's value (NaN off the contig or where unmeasured)."""
        row, k, r = self._track_row(cell, mark), self._contig(contig), self.resolution
        start, end = int(start), int(end)
        out = np.full(max(end - start, 0), np.nan, dtype=np.float32)
        lo, hi = max(start, 0), min(end, int(self.lengths[k]))
        if hi <= lo:
            return out
        first, last = lo // r, -(-hi // r)
        bins = self._read("track_value", (row, slice(self.track_offset[k] + first, self.track_offset[k] + last)))
        per_base = np.repeat(bins.astype(np.float32), r)
        out[lo - start : hi - start] = per_base[lo - first * r : hi - first * r]
        return out

    def contacts(self, cell: str, contig: str, start: int, end: int) -> np.ndarray:
        """The symmetric ``(n, n)`` map of the bins covering ``[start, end)``; NaN beyond the band or the contig."""
        if cell not in self.contact_cells:
            raise UnknownNameError(f"no contact map for {cell!r} in this store; it has {', '.join(self.contact_cells) or 'none'}")
        row, k, size = self.contact_cells.index(cell), self._contig(contig), self.bin_size
        first, n = int(start) // size, max(-(-int(end) // size) - int(start) // size, 0)
        n_bins = -(-int(self.lengths[k]) // size)
        out = np.full((n, n), np.nan, dtype=np.float32)
        lo, hi = max(first, 0), min(first + n, n_bins)
        if hi <= lo:
            return out
        diagonals = min(self.max_distance // size + 1, n)
        offset = int(self.contact_offset[k])
        band = self._read("contact_value", (row, slice(offset + lo, offset + hi), slice(0, diagonals)))
        i, d = np.nonzero(np.ones(band.shape, dtype=bool))
        col = i + lo - first + d
        inside = col < n
        r, c, v = (i + lo - first)[inside], col[inside], band[i[inside], d[inside]]
        out[r, c] = v
        out[c, r] = v
        return out
