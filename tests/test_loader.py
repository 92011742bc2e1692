"""The streaming loader: whole batches, chunk-aware shuffling, worker shards, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr

from epizoo import coords
from epizoo.errors import StoreError
from epizoo.training.loader import (
    PairBatches,
    augmented_items,
    balanced_items,
    make_loader,
    plain_items,
    training_items,
)

WINDOW_E, WINDOW_P, FLANK = 60, 40, 500


def write_store(path, n_pairs=300, n_enh=70, n_prom=50, seed=0, pair_chunk=64, element_chunk=16):
    """Just the arrays and attributes the loader reads; sequences are random codes."""
    rng = np.random.default_rng(seed)
    group = zarr.open_group(str(path), mode="w")
    group.attrs.update(enhancer_window=WINDOW_E, promoter_window=WINDOW_P, flank=FLANK)
    arrays = {
        "pair_enhancer": rng.integers(0, n_enh, n_pairs),
        "pair_promoter": rng.integers(0, n_prom, n_pairs),
        "pair_label": (rng.random(n_pairs) < 0.2).astype(np.int8),
        "pair_distance": rng.integers(10_000, 100_000, n_pairs),
    }
    for name, values in arrays.items():
        group.create_array(name, data=values, chunks=(pair_chunk,))
    for kind, n, window in (("enhancer", n_enh, WINDOW_E), ("promoter", n_prom, WINDOW_P)):
        codes = rng.integers(0, 5, (n, window + 2 * FLANK)).astype(np.int8)
        group.create_array(f"{kind}_sequence", data=codes, chunks=(element_chunk, window + 2 * FLANK))
    return arrays


@pytest.fixture()
def store(tmp_path):
    path = tmp_path / "mini.zarr"
    arrays = write_store(path)
    return str(path), arrays


def collect(loader):
    return [batch for batch in loader]


def test_batches_are_whole_and_cover_every_pair_once(store):
    path, arrays = store
    pairs = np.arange(0, 300, 2)
    dataset = PairBatches(path, plain_items(pairs), 32, WINDOW_E, WINDOW_P, shuffle=True, seed=3, block_pairs=50)
    batches = collect(dataset)
    assert [len(b["pair"]) for b in batches[:-1]] == [32] * (len(batches) - 1)
    seen = torch.cat([b["pair"] for b in batches]).numpy()
    assert sorted(seen.tolist()) == pairs.tolist()
    first = batches[0]
    assert first["enhancer"].dtype == torch.int8 and first["enhancer"].shape == (32, WINDOW_E)
    assert first["promoter"].shape == (32, WINDOW_P)
    assert first["label"].dtype == torch.float32
    np.testing.assert_array_equal(first["label"].numpy(), arrays["pair_label"][first["pair"].numpy()])
    np.testing.assert_array_equal(first["distance"].numpy(), arrays["pair_distance"][first["pair"].numpy()])


def test_windows_are_cut_from_the_stored_flank(store):
    path, arrays = store
    group = zarr.open_group(path, mode="r")
    items = augmented_items(np.arange(10), np.ones(10), [-450, 500])
    batch = next(iter(PairBatches(path, items, 20, 30, 20)))
    for row in range(20):
        pair, shift = int(batch["pair"][row]), int(batch["shift"][row])
        enhancer = group["enhancer_sequence"][arrays["pair_enhancer"][pair]]
        start = coords.cut_offset(WINDOW_E, FLANK, 30, shift)
        np.testing.assert_array_equal(batch["enhancer"][row].numpy(), enhancer[start : start + 30])
        promoter = group["promoter_sequence"][arrays["pair_promoter"][pair]]
        start = coords.cut_offset(WINDOW_P, FLANK, 20, shift)  # the same shift for both elements
        np.testing.assert_array_equal(batch["promoter"][row].numpy(), promoter[start : start + 20])


def test_shuffle_depends_on_seed_and_epoch_only(store):
    path, _ = store
    items = plain_items(np.arange(300))

    def order(seed, epoch):
        dataset = PairBatches(path, items, 16, WINDOW_E, WINDOW_P, shuffle=True, seed=seed, block_pairs=40)
        dataset.set_epoch(epoch)
        return torch.cat([b["pair"] for b in dataset]).tolist()

    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1)
    assert order(0, 0) != order(1, 0)
    assert order(0, 0) != list(range(300))


def test_augmentation_shifts_only_positives():
    pairs, labels = np.arange(6), np.array([1, 0, 0, 1, 0, 0])
    items = augmented_items(pairs, labels, coords.augmentation_shifts())
    assert len(items) == 2 * 20 + 4
    for pair in (0, 3):
        assert sorted(items.shifts[items.pairs == pair].tolist()) == coords.augmentation_shifts()
    assert not items.shifts[np.isin(items.pairs, [1, 2, 4, 5])].any()
    none = training_items("unused", pairs, labels, "none", 20, 50)
    assert len(none) == 6 and not none.shifts.any()


def test_balanced_sampling_matches_classes():
    pairs, labels = np.arange(100), (np.arange(100) < 10).astype(int)
    items = balanced_items(pairs, labels, np.random.default_rng(0))
    positives = np.isin(items.pairs, np.arange(10)).sum()
    assert positives == 90 and len(items) == 180


def test_sampler_redraws_each_epoch(store):
    path, arrays = store
    pairs = np.arange(300)
    dataset = PairBatches(path, plain_items(pairs), 64, WINDOW_E, WINDOW_P, shuffle=True, sampler_labels=arrays["pair_label"])
    labels = torch.cat([b["label"] for b in dataset])
    assert labels.mean().item() == pytest.approx(0.5)
    first = sorted(torch.cat([b["pair"] for b in dataset]).tolist())
    dataset.set_epoch(1)
    assert sorted(torch.cat([b["pair"] for b in dataset]).tolist()) != first


def test_two_spawned_workers_read_disjoint_shards(store):
    path, _ = store
    items = augmented_items(np.arange(300), np.arange(300) % 7 == 0, [-50, 0, 50])
    dataset = PairBatches(path, items, 25, WINDOW_E, WINDOW_P, shuffle=True, seed=1, block_pairs=30)
    dataset.set_epoch(1)
    batches = collect(make_loader(dataset, num_workers=2, spawn=True))
    seen = sorted(zip(torch.cat([b["pair"] for b in batches]).tolist(), torch.cat([b["shift"] for b in batches]).tolist()))
    assert seen == sorted(zip(items.pairs.tolist(), items.shifts.tolist()))


def test_bounded_cache(store):
    path, _ = store
    dataset = PairBatches(path, plain_items(np.arange(300)), 8, WINDOW_E, WINDOW_P, shuffle=True, cache_chunks=2)
    collect(dataset)
    assert len(dataset._caches()["enhancer"].cache) <= 2


def test_window_that_does_not_fit_is_one_clear_error(store):
    path, _ = store
    with pytest.raises(StoreError, match="does not fit"):
        PairBatches(path, augmented_items(np.arange(3), np.ones(3), [-600]), 4, WINDOW_E, WINDOW_P)


def test_missing_store_is_one_clear_error(tmp_path):
    with pytest.raises(StoreError, match="build-store"):
        PairBatches(str(tmp_path / "absent.zarr"), plain_items(np.arange(3)), 4, 10, 10)
