"""The loader: whole batches, chunk-aware shuffling, worker shards, augmentation, the in-memory path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from epizoo import coords
from epizoo.errors import EpizooError, StoreError
from epizoo.training import loader as loader_module
from epizoo.training.loader import (
    PairBatches,
    augmented_items,
    balanced_items,
    clear_memory_cache,
    make_loader,
    plain_items,
    sequence_bytes,
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
    dataset = PairBatches(path, items, 25, WINDOW_E, WINDOW_P, shuffle=True, seed=1, block_pairs=30, in_memory=False)
    dataset.set_epoch(1)
    batches = collect(make_loader(dataset, num_workers=2, spawn=True))
    seen = sorted(zip(torch.cat([b["pair"] for b in batches]).tolist(), torch.cat([b["shift"] for b in batches]).tolist()))
    assert seen == sorted(zip(items.pairs.tolist(), items.shifts.tolist()))


def test_bounded_cache(store):
    path, _ = store
    dataset = PairBatches(path, plain_items(np.arange(300)), 8, WINDOW_E, WINDOW_P, shuffle=True, cache_chunks=2, in_memory=False)
    collect(dataset)
    assert len(dataset._caches()["enhancer"].cache) <= 2


def test_window_that_does_not_fit_is_one_clear_error(store):
    path, _ = store
    with pytest.raises(StoreError, match="does not fit"):
        PairBatches(path, augmented_items(np.arange(3), np.ones(3), [-600]), 4, WINDOW_E, WINDOW_P)


def test_missing_store_is_one_clear_error(tmp_path):
    with pytest.raises(StoreError, match="build-store"):
        PairBatches(str(tmp_path / "absent.zarr"), plain_items(np.arange(3)), 4, 10, 10)


# ---- the in-memory path ------------------------------------------------------------------------
def assert_same_batches(streamed, in_memory):
    assert len(streamed) == len(in_memory) > 0
    for a, b in zip(streamed, in_memory):
        assert list(a) == list(b)
        for name in a:
            assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
            assert torch.equal(a[name], b[name].cpu()), name


def both_paths(path, items, batch_size, lengths, epochs=(0, 1), **options):
    out = {}
    for in_memory in (False, True):
        dataset = PairBatches(path, items, batch_size, *lengths, in_memory=in_memory, **options)
        assert (dataset.placement() is not None) == in_memory
        batches = []
        for epoch in epochs:
            dataset.set_epoch(epoch)
            batches += collect(make_loader(dataset, num_workers=0))
        out[in_memory] = batches
    return out[False], out[True]


def test_in_memory_batches_equal_streaming_for_shuffled_augmented_training(store):
    path, arrays = store
    pairs = np.arange(0, 300, 3)
    items = augmented_items(pairs, arrays["pair_label"][pairs], coords.augmentation_shifts())
    streamed, in_memory = both_paths(path, items, 37, (30, 20), shuffle=True, seed=5, block_pairs=40, buffer_blocks=2)
    assert torch.cat([b["shift"] for b in streamed]).unique().numel() == 20
    assert_same_batches(streamed, in_memory)


def test_in_memory_batches_equal_streaming_for_evaluation_and_sampler(store):
    path, arrays = store
    streamed, in_memory = both_paths(path, plain_items(np.arange(1, 300, 2)), 16, (WINDOW_E, WINDOW_P), epochs=(0,))
    assert_same_batches(streamed, in_memory)
    streamed, in_memory = both_paths(path, plain_items(np.arange(300)), 64, (40, 30), shuffle=True, sampler_labels=arrays["pair_label"])
    assert_same_batches(streamed, in_memory)


def test_device_gather_equals_host_gather(store, monkeypatch):
    """The torch path used on a GPU (codes as tensors, pair fields sent per group, torch gather),
    run here on the CPU, gives the same batches."""
    path, arrays = store
    items = augmented_items(np.arange(300), arrays["pair_label"], [-450, -50, 0, 500])
    streamed, _ = both_paths(path, items, 50, (30, 20), epochs=(2,), shuffle=True, seed=2)
    clear_memory_cache()
    monkeypatch.setattr(loader_module, "_host_arrays", lambda device: False)  # the GPU code path, on the CPU
    dataset = PairBatches(path, items, 50, 30, 20, shuffle=True, seed=2, in_memory=True)
    dataset.set_epoch(2)
    batches = collect(dataset)
    assert all(isinstance(codes, torch.Tensor) for codes in loader_module._MEMORY_CACHE[next(iter(loader_module._MEMORY_CACHE))].codes.values())
    assert_same_batches(streamed, batches)
    clear_memory_cache()


def test_automatic_choice_follows_the_budget(store, monkeypatch):
    path, _ = store
    clear_memory_cache()
    need = sequence_bytes(path)
    assert need == 70 * (WINDOW_E + 2 * FLANK) + 50 * (WINDOW_P + 2 * FLANK)
    items = plain_items(np.arange(300))
    assert PairBatches(path, items, 8, WINDOW_E, WINDOW_P, memory_budget=need - 1).placement() is None
    assert PairBatches(path, items, 8, WINDOW_E, WINDOW_P, memory_budget=need).placement() == torch.device("cpu")
    # default budget: a share of the available memory
    monkeypatch.setattr(loader_module, "available_memory", lambda device="cpu": 10 * need)
    tiny = PairBatches(path, items, 8, WINDOW_E, WINDOW_P)
    assert tiny.placement() is not None
    monkeypatch.setattr(loader_module, "available_memory", lambda device="cpu": need)
    assert PairBatches(path, items, 8, WINDOW_E, WINDOW_P).placement() is None
    # a CUDA target: GPU memory first, then RAM (batches pinned and copied), then streaming
    monkeypatch.setattr(loader_module, "available_memory", lambda device="cpu": need if torch.device(device).type == "cuda" else 10 * need)
    assert PairBatches(path, items, 8, WINDOW_E, WINDOW_P).placement("cuda") == torch.device("cpu")
    monkeypatch.setattr(loader_module, "available_memory", lambda device="cpu": 10 * need if torch.device(device).type == "cuda" else need)
    assert PairBatches(path, items, 8, WINDOW_E, WINDOW_P).placement("cuda") == torch.device("cuda")
    monkeypatch.setattr(loader_module, "available_memory", lambda device="cpu": need)
    assert PairBatches(path, items, 8, WINDOW_E, WINDOW_P).placement("cuda") is None
    # forced either way, by argument or environment
    assert PairBatches(path, items, 8, WINDOW_E, WINDOW_P, in_memory=True).placement() is not None
    monkeypatch.setattr(loader_module, "available_memory", lambda device="cpu": 10 * need)
    assert PairBatches(path, items, 8, WINDOW_E, WINDOW_P, in_memory=False).placement() is None
    monkeypatch.setenv("EPIZOO_IN_MEMORY", "0")
    assert PairBatches(path, items, 8, WINDOW_E, WINDOW_P).placement() is None
    monkeypatch.setenv("EPIZOO_IN_MEMORY", "maybe")
    with pytest.raises(EpizooError, match="EPIZOO_IN_MEMORY"):
        PairBatches(path, items, 8, WINDOW_E, WINDOW_P).placement()


def test_in_memory_loader_runs_in_process_and_shares_one_load(store):
    path, _ = store
    clear_memory_cache()
    loads = []
    original = loader_module._StoreArrays.__init__

    def counting(self, group, device):
        loads.append(device)
        original(self, group, device)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loader_module._StoreArrays, "__init__", counting)
        for pairs in (np.arange(0, 200), np.arange(200, 250), np.arange(250, 300)):  # train, valid, test
            dataset = PairBatches(path, plain_items(pairs), 32, WINDOW_E, WINDOW_P, in_memory=True)
            loader = make_loader(dataset, num_workers=2)
            assert loader.num_workers == 0
            assert sorted(torch.cat([b["pair"] for b in loader]).tolist()) == pairs.tolist()
    assert loads == [torch.device("cpu")]
    assert len(loader_module._MEMORY_CACHE) <= loader_module.MEMORY_CACHE_ENTRIES


def test_a_rebuilt_store_is_loaded_again(tmp_path):
    path = str(tmp_path / "rebuilt.zarr")
    items = plain_items(np.arange(100))
    for seed in (0, 1):
        arrays = write_store(path, seed=seed)
        batch = next(iter(PairBatches(path, items, 100, WINDOW_E, WINDOW_P, in_memory=True)))
        np.testing.assert_array_equal(batch["distance"].numpy(), arrays["pair_distance"][:100])
        streamed = next(iter(PairBatches(path, items, 100, WINDOW_E, WINDOW_P, in_memory=False)))
        assert torch.equal(batch["enhancer"], streamed["enhancer"])
    assert sum(key[0] == str(Path(path).resolve()) for key in loader_module._MEMORY_CACHE) == 1
