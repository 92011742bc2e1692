"""Streaming batches of pairs straight from a Zarr store.

One dataset item is one whole batch. Pairs are visited block by block (``block_pairs``
consecutive pairs; smaller than a pair chunk so that even a one-chunk store shuffles well): the
order of blocks is shuffled, a few blocks are preloaded into a buffer and shuffled inside it, and
element windows are read on demand for the rows a batch needs, through a small cache of decoded
element chunks (pairs and elements are stored in contig order, so a block touches few element
chunks). Memory is therefore bounded by the buffer and the caches, whatever the store size.

Under a DataLoader with several workers, each worker reads a disjoint shard of the blocks and
draws from its own random stream derived from ``(seed, epoch, worker id)``, so every item appears
exactly once per epoch. The dataset holds only the store path and plain arrays and opens Zarr
lazily in the process that iterates it, so it pickles for the ``spawn`` start method.

Sequences travel as int8 codes; encoders turn them into model input on the model's device.

In memory
---------
When a store's sequence arrays (``enhancer_sequence`` + ``promoter_sequence``: elements x stored
window, int8) fit a memory budget, the int8 codes are loaded once and the (shifted) model windows
are cut there with one vectorised gather per batch: row = element, start = ``coords.cut_offset``
of the shift. On a CUDA device the codes live in GPU memory and the gather runs there (a torch
index into an ``unfold`` view): sequences never cross the PCIe bus, and the pair fields (rows,
offsets, labels, ...) go over once per :data:`GROUP_BATCHES` batches from pinned memory without a
sync, so the host queues batches ahead and the GPU does not wait. On the CPU the gather is numpy
fancy indexing into a sliding-window view (a copy of ``B x L`` bytes). The order of items, the
shifts and every field are exactly those of the streaming path with ``num_workers=0`` (both draw
their batches from the same block/buffer shuffle).

The choice is automatic (``in_memory=None``, or ``EPIZOO_IN_MEMORY=auto``): in memory when the
sequence arrays take at most :data:`MEMORY_FRACTION` of the memory available where they would
live: free GPU memory (``torch.cuda.mem_get_info``) for a CUDA target, else available RAM
(``psutil``, or ``os.sysconf``). A CUDA target whose GPU budget is too small falls back to RAM
(batches are then pinned and copied asynchronously), then to streaming. ``in_memory=True`` /
``False`` (or ``EPIZOO_IN_MEMORY=1`` / ``0``) forces a path; ``memory_budget`` (bytes) replaces the
automatic budget. Loaded arrays are shared through a small module-level cache (at most
:data:`MEMORY_CACHE_ENTRIES` stores, keyed by path, store identity and device), so the train,
validation and test loaders of a fold load them once; :func:`clear_memory_cache` frees them.
An in-memory dataset is iterated in the main process: :func:`make_loader` drops worker
processes for it (the gather is much faster than a worker hand-off), and a DataLoader worker
that meets an automatic dataset streams rather than loading a copy per worker.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import zarr
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from epizoo import coords
from epizoo.errors import EpizooError, StoreError
from epizoo.schema import store_layers
from epizoo.store.io import require_pairs

BALANCE_MODES = ("augment", "weights", "sampler", "none")

_PAIR_VARIABLES = ("pair_enhancer", "pair_promoter", "pair_label", "pair_distance")
CELL_LINE_VARIABLE = "pair_cell_line"  # batches carry it when the store has it (models with a cell-line task use it)
SIGNAL_VARIABLE = "pair_signal"  # (pairs, marks, regions) float32: read only for models whose inputs include signals
_KINDS = ("enhancer", "promoter")

MEMORY_FRACTION = 0.25
"""Automatic budget: the share of available RAM / free GPU memory the sequence arrays may take."""
MEMORY_CACHE_ENTRIES = 2
"""Stores (per device) whose arrays the module-level cache keeps loaded."""
GROUP_BATCHES = 256
"""In-memory path: batches whose pair fields are looked up (and sent to the device) together."""


@dataclass(frozen=True)
class Items:
    """What one epoch visits: pair indices (sorted) with the shift of each visit."""

    pairs: np.ndarray  # int64
    shifts: np.ndarray  # int64, bp

    def __len__(self) -> int:
        return int(self.pairs.size)


def plain_items(pairs: np.ndarray) -> Items:
    """Every pair once, unshifted (validation, test, and training without augmentation)."""
    pairs = np.sort(np.asarray(pairs, dtype=np.int64))
    return Items(pairs, np.zeros(pairs.size, dtype=np.int64))


def augmented_items(pairs: np.ndarray, labels: np.ndarray, shifts: list[int]) -> Items:
    """The published augmentation: each positive at every shift, each negative once unshifted.

    ``labels`` are the labels of ``pairs``. Call this for the training side only, after the
    validation pairs were set aside, so no shifted copy of a pair reaches validation or test.
    """
    pairs = np.asarray(pairs, dtype=np.int64)
    positive = np.asarray(labels).astype(bool)
    shifts = np.asarray(shifts or [0], dtype=np.int64)
    pos_pairs = np.repeat(pairs[positive], shifts.size)
    pos_shifts = np.tile(shifts, int(positive.sum()))
    all_pairs = np.concatenate([pos_pairs, pairs[~positive]])
    all_shifts = np.concatenate([pos_shifts, np.zeros(int((~positive).sum()), dtype=np.int64)])
    order = np.argsort(all_pairs, kind="stable")
    return Items(all_pairs[order], all_shifts[order])


def balanced_items(pairs: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> Items:
    """Balanced sampling: every pair of the larger class once, the smaller class drawn with replacement to match."""
    pairs = np.asarray(pairs, dtype=np.int64)
    positive = np.asarray(labels).astype(bool)
    pos, neg = pairs[positive], pairs[~positive]
    if pos.size == 0 or neg.size == 0:
        return plain_items(pairs)
    small, large = (pos, neg) if pos.size < neg.size else (neg, pos)
    drawn = rng.choice(small, size=large.size, replace=True)
    return plain_items(np.concatenate([large, drawn]))


class _ChunkCache:
    """Reads chosen rows of a Zarr array, keeping a few decoded chunks in an LRU cache."""

    def __init__(self, array: zarr.Array, max_chunks: int):
        self.array = array
        self.rows_per_chunk = int(array.chunks[0])
        self.max_chunks = max_chunks
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def _chunk(self, chunk_id: int) -> np.ndarray:
        if chunk_id in self.cache:
            self.cache.move_to_end(chunk_id)
            return self.cache[chunk_id]
        start = chunk_id * self.rows_per_chunk
        block = np.asarray(self.array[start : start + self.rows_per_chunk])
        self.cache[chunk_id] = block
        if len(self.cache) > self.max_chunks:
            self.cache.popitem(last=False)
        return block

    def rows(self, index: np.ndarray) -> np.ndarray:
        out = np.empty((index.size, *self.array.shape[1:]), dtype=self.array.dtype)
        chunk_ids = index // self.rows_per_chunk
        for chunk_id in np.unique(chunk_ids):
            where = np.flatnonzero(chunk_ids == chunk_id)
            out[where] = self._chunk(int(chunk_id))[index[where] - chunk_id * self.rows_per_chunk]
        return out


def _cut(rows: np.ndarray, offsets: np.ndarray, length: int) -> np.ndarray:
    """Per-row windows ``rows[i, offsets[i] : offsets[i] + length]`` in one gather."""
    if offsets.size and (offsets == offsets[0]).all():  # unshifted batches: a plain slice
        return np.ascontiguousarray(rows[:, offsets[0] : offsets[0] + length])
    columns = offsets[:, None] + np.arange(length, dtype=np.int64)[None, :]
    return np.take_along_axis(rows, columns, axis=1)


# ---- the in-memory path ------------------------------------------------------------------------
def available_memory(device: str | torch.device = "cpu") -> int:
    """Bytes free where arrays would live: GPU memory for a CUDA device, else available RAM."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with distributed
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def sequence_bytes(store: str | zarr.Group) -> int:
    """Bytes of a store's decoded sequence arrays (what the in-memory path loads), from metadata."""
    group = store if isinstance(store, zarr.Group) else zarr.open_group(str(store), mode="r")
    return sum(int(np.prod(group[f"{kind}_sequence"].shape)) * group[f"{kind}_sequence"].dtype.itemsize for kind in _KINDS)


def _env_in_memory() -> bool | None:
    value = os.environ.get("EPIZOO_IN_MEMORY", "auto").strip().lower()
    if value in ("", "auto"):
        return None
    if value in ("1", "yes", "true", "on"):
        return True
    if value in ("0", "no", "false", "off"):
        return False
    raise EpizooError(f"EPIZOO_IN_MEMORY must be auto, 1 or 0, got {value!r}")


def _gather_numpy(windows: np.ndarray, rows: np.ndarray, offsets: np.ndarray, length: int) -> np.ndarray:
    """``codes[rows[i], offsets[i] : offsets[i] + length]`` for every i, where ``windows`` is
    ``sliding_window_view(codes, length, axis=1)``: fancy indexing into it copies ``len(rows)``
    contiguous runs of ``length`` bytes."""
    return windows[rows, offsets]


def _gather_torch(codes: torch.Tensor, rows: torch.Tensor, offsets: torch.Tensor, length: int) -> torch.Tensor:
    """The same gather with torch on the tensors' device (one index kernel on CUDA, no sync)."""
    return codes.unfold(1, length, 1)[rows, offsets]


def _host_arrays(device: torch.device) -> bool:
    """numpy codes and gather on the CPU; torch tensors and the torch gather on any other device."""
    return device.type == "cpu"


class _StoreArrays:
    """A store's pair variables (host) and sequence codes (on ``device``), loaded once."""

    def __init__(self, group: zarr.Group, device: torch.device):
        self.device = device
        self.pair = {name: np.asarray(group[name][...]) for name in _PAIR_VARIABLES}
        for name in (CELL_LINE_VARIABLE, SIGNAL_VARIABLE):
            if name in group:
                self.pair[name] = np.asarray(group[name][...])
        self.codes: dict[str, np.ndarray | torch.Tensor] = {}
        for kind in _KINDS:
            array = group[f"{kind}_sequence"]
            step = max(1, int(array.chunks[0]))
            if _host_arrays(device):
                out = np.empty(array.shape, dtype=array.dtype)
                for start in range(0, array.shape[0], step):
                    out[start : start + step] = array[start : start + step]
            else:  # block by block, so the host never holds the whole array
                out = torch.empty(array.shape, dtype=torch.int8, device=device)
                for start in range(0, array.shape[0], step):
                    out[start : start + step] = torch.from_numpy(np.asarray(array[start : start + step]).astype(np.int8))
            self.codes[kind] = out
        self._views: dict[tuple[str, int], np.ndarray] = {}

    def cut(self, kind: str, rows, offsets, length: int):
        codes = self.codes[kind]
        if isinstance(codes, np.ndarray):
            if (kind, length) not in self._views:  # building the view costs as much as a gather
                self._views[kind, length] = np.lib.stride_tricks.sliding_window_view(codes, length, axis=1)
            return torch.from_numpy(_gather_numpy(self._views[kind, length], rows, offsets, length))
        return _gather_torch(codes, rows, offsets, length)


_MEMORY_CACHE: OrderedDict[tuple, _StoreArrays] = OrderedDict()
_MEMORY_LOCK = threading.Lock()


def clear_memory_cache() -> None:
    """Forget every loaded store (frees the RAM / GPU memory it held once no batch refers to it)."""
    with _MEMORY_LOCK:
        _MEMORY_CACHE.clear()


def _store_identity(path: str, group: zarr.Group) -> tuple:
    """Changes when the store is rebuilt: its root metadata's mtime and the build time."""
    root = Path(path) / "zarr.json"
    stat = root.stat() if root.is_file() else None
    return (stat.st_mtime_ns if stat else None, stat.st_size if stat else None, str(group.attrs.get("created", "")))


def _memory_key(path: str, group: zarr.Group, device: torch.device) -> tuple:
    return (os.path.realpath(path), _store_identity(path, group), str(device))


def _load_arrays(path: str, group: zarr.Group, device: torch.device) -> _StoreArrays:
    key = _memory_key(path, group, device)
    with _MEMORY_LOCK:
        if key in _MEMORY_CACHE:
            _MEMORY_CACHE.move_to_end(key)
            return _MEMORY_CACHE[key]
        stale = [other for other in _MEMORY_CACHE if other[0] == key[0] and other[2] == key[2]]
        for other in stale:  # an older build of the same store
            del _MEMORY_CACHE[other]
        while len(_MEMORY_CACHE) >= MEMORY_CACHE_ENTRIES:
            _MEMORY_CACHE.popitem(last=False)
        arrays = _MEMORY_CACHE[key] = _StoreArrays(group, device)
        return arrays


def _groups(positions: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    group: list[np.ndarray] = []
    for batch in positions:
        group.append(batch)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


class PairBatches(IterableDataset):
    """Whole batches of ``dict(enhancer, promoter, label, distance, pair)`` read from a store.

    ``items`` says which pairs an epoch visits and at which shift; ``shuffle`` turns on
    chunk-aware shuffling. Call :meth:`set_epoch` before each epoch for a new order.

    ``in_memory``: None (default) chooses between the in-memory path and streaming by
    ``memory_budget`` (bytes; None: :data:`MEMORY_FRACTION` of the memory available where the
    codes would live); True / False forces one. ``device`` is where batches go (set by
    :func:`make_loader`); with CUDA the in-memory codes and the gather live on the GPU.
    """

    def __init__(
        self,
        store_path: str,
        items: Items,
        batch_size: int,
        enhancer_length: int,
        promoter_length: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        block_pairs: int = 1024,
        buffer_blocks: int = 4,
        cache_chunks: int = 16,
        sampler_labels: np.ndarray | None = None,
        in_memory: bool | None = None,
        memory_budget: int | None = None,
        device: str | torch.device | None = None,
        inputs: tuple[str, ...] = ("sequence",),
    ):
        if batch_size < 1:
            raise EpizooError(f"batch size must be at least 1, got {batch_size}")
        self.store_path = str(store_path)
        self.items = items
        self.batch_size = int(batch_size)
        self.enhancer_length = int(enhancer_length)
        self.promoter_length = int(promoter_length)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.block_pairs = max(1, int(block_pairs))
        self.buffer_blocks = max(1, int(buffer_blocks))
        self.cache_chunks = int(cache_chunks)
        self.sampler_labels = sampler_labels  # set: redraw a balanced sample each epoch
        self.in_memory = in_memory
        self.memory_budget = None if memory_budget is None else int(memory_budget)
        self.device = None if device is None else torch.device(device)
        self.inputs = tuple(inputs)  # what the model reads: 'sequence' windows and/or per-pair 'signals'
        self.epoch = 0
        self._store = None
        self._chunk_caches = None
        self._placements: dict[str, torch.device | None] = {}
        self._check_windows()

    # -- set-up -----------------------------------------------------------------------------
    def _check_windows(self) -> None:
        """Fail now, with one line, if a requested window or shift does not fit the store."""
        group = self._group()

        require_pairs(group.attrs, self.store_path)  # a genome-only store lacks pairs, not a --genome
        for needed, layer, how in (("sequence", "sequence", "--genome or --regions"), ("signals", "signals", "--signals")):
            if needed in self.inputs and layer not in store_layers(group.attrs):
                raise StoreError(f"the model reads {needed}, which store {self.store_path} does not hold; rebuild it with {how}")
        if "sequence" not in self.inputs:
            self._store = None
            return
        shifts = np.unique(self.items.shifts) if len(self.items) else np.zeros(1, dtype=np.int64)
        for kind, length in (("enhancer", self.enhancer_length), ("promoter", self.promoter_length)):
            window, flank = int(group.attrs[f"{kind}_window"]), int(group.attrs["flank"])
            for shift in (int(shifts.min()), int(shifts.max())):
                try:
                    coords.cut_offset(window, flank, length, shift)
                except ValueError as exc:
                    raise StoreError(f"{kind}: {exc}") from None
        self._store = None  # reopened lazily in the process that iterates

    def _group(self) -> zarr.Group:
        if self._store is None:
            try:
                self._store = zarr.open_group(self.store_path, mode="r")
            except FileNotFoundError:
                raise StoreError(f"no store at {self.store_path}; build one with `epizoo build-store`") from None
        return self._store

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_store"] = None
        state["_chunk_caches"] = None
        state["_placements"] = {}  # a worker decides for itself
        return state

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Batches per epoch when iterated by one process (an upper bound with several workers)."""
        return -(-len(self._epoch_items()) // self.batch_size)

    # -- iteration --------------------------------------------------------------------------
    def _epoch_items(self) -> Items:
        if self.sampler_labels is None:
            return self.items
        rng = np.random.default_rng([self.seed, self.epoch, 7])
        return balanced_items(self.items.pairs, self.sampler_labels, rng)

    def _shard(self, items: Items) -> list[np.ndarray]:
        """This worker's blocks, each an array of positions into ``items`` (sorted by pair)."""
        block_of_item = items.pairs // self.block_pairs
        boundaries = np.flatnonzero(np.diff(block_of_item)) + 1
        blocks = np.split(np.arange(len(items)), boundaries) if len(items) else []
        order = np.arange(len(blocks))
        if self.shuffle:  # the same permutation in every worker, so the shards stay disjoint
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(blocks))
        info = get_worker_info()
        worker, n_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return [blocks[i] for i in order[worker::n_workers]]

    def _worker_rng(self) -> np.random.Generator:
        info = get_worker_info()
        return np.random.default_rng([self.seed, self.epoch, info.id if info is not None else 0, 1])

    def _positions(self, items: Items) -> Iterator[np.ndarray]:
        """Each batch as positions into ``items``: the block/buffer shuffle both paths share."""
        shard = self._shard(items)
        rng = self._worker_rng()
        pending = np.empty(0, dtype=np.int64)
        for start in range(0, len(shard), self.buffer_blocks):
            buffer = np.concatenate([pending, *shard[start : start + self.buffer_blocks]])
            if self.shuffle:
                buffer = rng.permutation(buffer)
            n_full = buffer.size // self.batch_size * self.batch_size
            for first in range(0, n_full, self.batch_size):
                yield buffer[first : first + self.batch_size]
            pending = buffer[n_full:]
        if pending.size:
            yield pending

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        items = self._epoch_items()
        # signals are a few floats per pair: the streaming path's pair caches serve them well
        where = self.placement() if "sequence" in self.inputs else None
        if where is None:
            for positions in self._positions(items):
                yield self._read(items, positions)
        else:
            yield from self._memory_batches(items, where)

    # -- the in-memory path -----------------------------------------------------------------
    def placement(self, device: str | torch.device | None = None) -> torch.device | None:
        """Where the codes are held when batches go to ``device`` (default: the dataset's);
        None means streaming from Zarr. Decided once per device and dataset."""
        target = torch.device(device if device is not None else (self.device or "cpu"))
        if str(target) not in self._placements:
            self._placements[str(target)] = self._choose(target)
        return self._placements[str(target)]

    def _choose(self, target: torch.device) -> torch.device | None:
        forced = self.in_memory if self.in_memory is not None else _env_in_memory()
        if forced is False or (forced is None and get_worker_info() is not None):
            return None
        if forced:
            return target
        group = self._group()
        need = sequence_bytes(group)
        for where in (target, torch.device("cpu")) if target.type != "cpu" else (target,):
            if self.memory_budget is None:
                with _MEMORY_LOCK:
                    if _memory_key(self.store_path, group, where) in _MEMORY_CACHE:
                        return where  # already loaded: costs nothing more
                budget = MEMORY_FRACTION * available_memory(where)
            else:
                budget = self.memory_budget
            if need <= budget:
                return where
        return None

    def _memory_batches(self, items: Items, where: torch.device) -> Iterator[dict[str, torch.Tensor]]:
        group = self._group()
        arrays = _load_arrays(self.store_path, group, where)
        flank = int(group.attrs["flank"])
        lengths = {"enhancer": self.enhancer_length, "promoter": self.promoter_length}
        base = {kind: coords.cut_offset(int(group.attrs[f"{kind}_window"]), flank, length, 0) for kind, length in lengths.items()}
        on_host = isinstance(arrays.codes["enhancer"], np.ndarray)
        for chunk in _groups(self._positions(items), GROUP_BATCHES):
            # the pair fields of a group of batches at once, sent to the device in one copy each
            positions = np.concatenate(chunk)
            pairs, shifts = items.pairs[positions], items.shifts[positions]
            fields = {
                "label": arrays.pair["pair_label"][pairs].astype(np.float32),
                "distance": arrays.pair["pair_distance"][pairs].astype(np.int64),
                "pair": pairs,
                "shift": shifts,
            }
            if CELL_LINE_VARIABLE in arrays.pair:
                fields["cell_line"] = arrays.pair[CELL_LINE_VARIABLE][pairs].astype(np.int64)
            if "signals" in self.inputs:
                fields["signals"] = arrays.pair[SIGNAL_VARIABLE][pairs].astype(np.float32)
            for kind in lengths:
                fields[f"{kind}_row"] = arrays.pair[f"pair_{kind}"][pairs].astype(np.int64)
                fields[f"{kind}_offset"] = base[kind] + shifts
            if not on_host:
                fields = {name: _to_device(torch.from_numpy(values), where) for name, values in fields.items()}
            start = 0
            for end in np.cumsum([batch.size for batch in chunk]).tolist():
                part = {name: values[start:end] for name, values in fields.items()}
                batch = {kind: arrays.cut(kind, part[f"{kind}_row"], part[f"{kind}_offset"], length) for kind, length in lengths.items()}
                for name in ("label", "distance", "pair", "shift", "cell_line", "signals"):
                    if name in part:
                        batch[name] = torch.from_numpy(part[name]) if on_host else part[name]
                yield batch
                start = end

    def _caches(self) -> dict[str, _ChunkCache]:
        if self._chunk_caches is None:
            group = self._group()
            # pair variables are a few bytes per pair: keep the chunks one buffer can touch
            pair_cache = self.buffer_blocks + 1
            self._chunk_caches = {name: _ChunkCache(group[name], pair_cache) for name in _PAIR_VARIABLES}
            for name in (CELL_LINE_VARIABLE, *((SIGNAL_VARIABLE,) if "signals" in self.inputs else ())):
                if name in group:
                    self._chunk_caches[name] = _ChunkCache(group[name], pair_cache)
            for kind in ("enhancer", "promoter") if "sequence" in self.inputs else ():
                self._chunk_caches[kind] = _ChunkCache(group[f"{kind}_sequence"], self.cache_chunks)
        return self._chunk_caches

    def _read(self, items: Items, positions: np.ndarray) -> dict[str, torch.Tensor]:
        pairs, shifts = items.pairs[positions], items.shifts[positions]
        caches = self._caches()
        rows = {name: caches[name].rows(pairs) for name in _PAIR_VARIABLES}
        group = self._group()
        flank = int(group.attrs["flank"])
        batch = {}
        if "signals" in self.inputs:
            batch["signals"] = torch.from_numpy(caches[SIGNAL_VARIABLE].rows(pairs).astype(np.float32))
        if CELL_LINE_VARIABLE in caches:
            batch["cell_line"] = torch.from_numpy(caches[CELL_LINE_VARIABLE].rows(pairs).astype(np.int64))
        kinds = (("enhancer", self.enhancer_length), ("promoter", self.promoter_length)) if "sequence" in self.inputs else ()
        for kind, length in kinds:
            window = int(group.attrs[f"{kind}_window"])
            base = coords.cut_offset(window, flank, length, 0)
            stored = caches[kind].rows(rows[f"pair_{kind}"].astype(np.int64))
            batch[kind] = torch.from_numpy(_cut(stored, base + shifts, length))
        batch["label"] = torch.from_numpy(rows["pair_label"].astype(np.float32))
        batch["distance"] = torch.from_numpy(rows["pair_distance"].astype(np.int64))
        batch["pair"] = torch.from_numpy(pairs.copy())
        batch["shift"] = torch.from_numpy(shifts.copy())
        return batch


def _as_is(batch):
    """The in-memory path's batches are final: skip the DataLoader's per-batch conversion walk."""
    return batch


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":  # pinned, so the copy does not wait for the work queued before it
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def make_loader(dataset: PairBatches, num_workers: int = 0, device: str | torch.device | None = None, spawn: bool = False) -> DataLoader:
    """A DataLoader over whole batches going to ``device`` (None: the dataset's, else the CPU).

    The device is recorded on the dataset, which then chooses its path (see the module notes).
    An in-memory dataset runs in the main process (``num_workers`` is ignored); batches already
    on a CUDA device are not pinned; host batches bound for CUDA are.
    """
    if device is not None and isinstance(dataset, PairBatches):
        dataset.device = torch.device(device)
    target = torch.device(device if device is not None else (getattr(dataset, "device", None) or "cpu"))
    where = dataset.placement(target) if isinstance(dataset, PairBatches) and "sequence" in dataset.inputs else None
    options = {}
    if where is not None:
        num_workers = 0
        options["collate_fn"] = _as_is
    cuda = target.type == "cuda" and (where is None or where.type == "cpu")
    if num_workers > 0:
        options["multiprocessing_context"] = "spawn" if spawn else None
        options["prefetch_factor"] = 4
    return DataLoader(dataset, batch_size=None, num_workers=num_workers, pin_memory=cuda, **options)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Move a batch; from pinned memory the copy is asynchronous (``non_blocking``)."""
    non_blocking = device.type == "cuda"
    return {name: tensor.to(device, non_blocking=non_blocking) for name, tensor in batch.items()}


def training_items(
    store_path: str,
    pairs: np.ndarray,
    labels: np.ndarray,
    balance: str,
    n_shifts: int,
    shift_step: int,
) -> Items:
    """The items of one training epoch for a balance mode (``sampler`` redraws per epoch in the dataset)."""
    if balance not in BALANCE_MODES:
        raise EpizooError(f"unknown balance mode {balance!r}; choose one of {', '.join(BALANCE_MODES)}")
    if balance == "augment" and n_shifts > 1:
        return augmented_items(pairs, labels, coords.augmentation_shifts(n_shifts, shift_step))
    return plain_items(pairs)
