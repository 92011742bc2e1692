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
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import zarr
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from epizoo import coords
from epizoo.errors import EpizooError, StoreError

BALANCE_MODES = ("augment", "weights", "sampler", "none")

_PAIR_VARIABLES = ("pair_enhancer", "pair_promoter", "pair_label", "pair_distance")


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


class PairBatches(IterableDataset):
    """Whole batches of ``dict(enhancer, promoter, label, distance, pair)`` read from a store.

    ``items`` says which pairs an epoch visits and at which shift; ``shuffle`` turns on
    chunk-aware shuffling. Call :meth:`set_epoch` before each epoch for a new order.
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
        self.epoch = 0
        self._store = None
        self._chunk_caches = None
        self._check_windows()

    # -- set-up -----------------------------------------------------------------------------
    def _check_windows(self) -> None:
        """Fail now, with one line, if a requested window or shift does not fit the store."""
        group = self._group()
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

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        items = self._epoch_items()
        shard = self._shard(items)
        rng = self._worker_rng()
        pending = np.empty(0, dtype=np.int64)
        for start in range(0, len(shard), self.buffer_blocks):
            buffer = np.concatenate([pending, *shard[start : start + self.buffer_blocks]])
            if self.shuffle:
                buffer = rng.permutation(buffer)
            n_full = buffer.size // self.batch_size * self.batch_size
            for first in range(0, n_full, self.batch_size):
                yield self._read(items, buffer[first : first + self.batch_size])
            pending = buffer[n_full:]
        if pending.size:
            yield self._read(items, pending)

    def _caches(self) -> dict[str, _ChunkCache]:
        if self._chunk_caches is None:
            group = self._group()
            # pair variables are a few bytes per pair: keep the chunks one buffer can touch
            pair_cache = self.buffer_blocks + 1
            self._chunk_caches = {name: _ChunkCache(group[name], pair_cache) for name in _PAIR_VARIABLES}
            for kind in ("enhancer", "promoter"):
                self._chunk_caches[kind] = _ChunkCache(group[f"{kind}_sequence"], self.cache_chunks)
        return self._chunk_caches

    def _read(self, items: Items, positions: np.ndarray) -> dict[str, torch.Tensor]:
        pairs, shifts = items.pairs[positions], items.shifts[positions]
        caches = self._caches()
        rows = {name: caches[name].rows(pairs) for name in _PAIR_VARIABLES}
        group = self._group()
        flank = int(group.attrs["flank"])
        batch = {}
        for kind, length in (("enhancer", self.enhancer_length), ("promoter", self.promoter_length)):
            window = int(group.attrs[f"{kind}_window"])
            base = coords.cut_offset(window, flank, length, 0)
            stored = caches[kind].rows(rows[f"pair_{kind}"].astype(np.int64))
            batch[kind] = torch.from_numpy(_cut(stored, base + shifts, length))
        batch["label"] = torch.from_numpy(rows["pair_label"].astype(np.float32))
        batch["distance"] = torch.from_numpy(rows["pair_distance"].astype(np.int64))
        batch["pair"] = torch.from_numpy(pairs.copy())
        batch["shift"] = torch.from_numpy(shifts.copy())
        return batch


def make_loader(dataset: PairBatches, num_workers: int = 0, device: str | torch.device = "cpu", spawn: bool = False) -> DataLoader:
    """A DataLoader over whole batches; pinned memory when the batches go to a CUDA device."""
    cuda = torch.device(device).type == "cuda"
    options = {}
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
