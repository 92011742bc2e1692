"""Without the dna2vec vectors, k-mer models start from gensim vectors of the fold's training side."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import epizoo
import epizoo.catalog
from epizoo import encoders
from epizoo.encoders import kmer_vocabulary
from epizoo.errors import EpizooError
from epizoo.plugins import get_model, get_split
from epizoo.training import embedding
from epizoo.training.trainer import Sides, TrainOptions, train_fold

SMALL_BUDGET = 30_000  # k-mers per epoch: enough to learn the one-base shifts, fast enough for tests


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("fallback") / "tiny.zarr"
    ds = epizoo.simulate_store(path, n_pairs=90, n_contigs=3, cell_lines=1, ratio=2, seed=1)
    fold = get_split("loco").function(ds)[0]  # a held-out contig: test elements are not training elements
    sides = Sides(*(np.flatnonzero(mask) for mask in (fold.train, fold.valid, fold.test)))
    return str(path), zarr.open_group(str(path), mode="r"), sides


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """An empty download cache and a catalog nobody serves: the dna2vec vectors cannot be had."""
    monkeypatch.setattr(encoders, "_dna2vec_cache", {})
    monkeypatch.setenv("EPIZOO_DATA_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("EPIZOO_CATALOG_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setattr(epizoo.catalog, "RETRY_DELAYS", ())  # refused at once, not retried for seconds
    monkeypatch.setattr(embedding, "KMER_BUDGET", SMALL_BUDGET)
    embedding.clear_cache()
    yield
    embedding.clear_cache()


@pytest.fixture()
def trained_on(monkeypatch):
    """Every list of sequences handed to gensim training, in order."""
    seen = []
    real = encoders.train_kmer_vectors

    def recording(sequences, *args, **kwargs):
        sequences = list(sequences)
        seen.append(sequences)
        return real(sequences, *args, **kwargs)

    monkeypatch.setattr(embedding, "train_kmer_vectors", recording)
    return seen


def tiny() -> TrainOptions:
    return TrainOptions(tiny=True, epochs=1, batch_size=8, max_pairs=8, lr=1e-6)


def windows(group, pairs: np.ndarray) -> set[bytes]:
    """The stored enhancer and promoter windows of these pairs."""
    enhancers, promoters = embedding.training_elements(group, pairs)
    rows = [group["enhancer_sequence"][int(i)] for i in enhancers] + [group["promoter_sequence"][int(i)] for i in promoters]
    return {np.asarray(row).tobytes() for row in rows}


@pytest.fixture()
def handed(monkeypatch):
    """(train_pairs, StartingVectors) of every call the trainer makes."""
    calls = []
    real = embedding.starting_vectors

    def recording(store, group, train_pairs, seed=0):
        calls.append((np.asarray(train_pairs), real(store, group, train_pairs, seed)))
        return calls[-1][1]

    monkeypatch.setattr("epizoo.training.trainer.starting_vectors", recording)
    return calls


def test_an_offline_kmer_model_starts_from_gensim_vectors_of_the_training_side(store, trained_on, handed):
    path, group, sides = store
    result = train_fold(get_model("epivan"), path, sides, tiny())
    assert result.summary["embedding_source"].startswith("gensim (trained on ")
    assert "of the fold's" in result.summary["embedding_source"]
    pairs = handed[0][0]  # the trainer hands over its training side as the model trains on it (capped at 8)
    assert len(handed) == 1 and pairs.size == 8 and np.isin(pairs, sides.train).all()
    assert not np.isin(pairs, np.concatenate([sides.valid, sides.test])).any()
    assert len(trained_on) == 1
    used = {np.asarray(seq).tobytes() for seq in trained_on[0]}
    assert used and used <= windows(group, sides.train) and not used & windows(group, sides.test)
    # the model's table starts from the trained matrix (a tiny lr barely moves it in one epoch)
    start = handed[0][1].matrix
    table = result.state["embedding.enhancer.weight"].numpy()
    assert np.corrcoef(table[1:].ravel(), start[1:].ravel())[0, 1] > 0.99


def test_the_vectors_learn_kmer_context_and_are_not_random(store):
    _, group, sides = store
    enhancers, promoters = embedding.training_elements(group, sides.train)
    matrix = embedding.fold_vectors("tiny.zarr", group, enhancers, promoters, seed=0).matrix
    assert matrix.shape == (4097, 100) and matrix.dtype == np.float32 and not matrix[0].any()
    unit = matrix[1:] / np.maximum(np.linalg.norm(matrix[1:], axis=1, keepdims=True), 1e-12)
    vocabulary = kmer_vocabulary(6)
    rank = {kmer: i for i, kmer in enumerate(vocabulary)}
    shifted = np.array([rank[kmer[1:] + "A"] for kmer in vocabulary])  # a 6-mer and the next overlapping one
    others = np.random.default_rng(0).permutation(len(vocabulary))
    neighbours = np.mean(np.sum(unit * unit[shifted], axis=1))
    strangers = np.mean(np.sum(unit * unit[others], axis=1))
    assert neighbours > strangers + 0.1


def test_same_seed_same_vectors_once_per_fold(store, trained_on):
    path, group, sides = store
    elements = embedding.training_elements(group, sides.train)
    first = embedding.fold_vectors(path, group, *elements, seed=3)
    assert embedding.fold_vectors(path, group, *elements, seed=3) is first and len(trained_on) == 1  # remembered
    embedding.clear_cache()
    again = embedding.fold_vectors(path, group, *elements, seed=3)
    other = embedding.fold_vectors(path, group, *elements, seed=4)
    assert len(trained_on) == 3
    assert np.array_equal(first.matrix, again.matrix) and first.source == again.source
    assert not np.array_equal(first.matrix, other.matrix)


def test_a_failed_training_falls_back_to_random_with_one_line(store, monkeypatch, capsys):
    path, _, sides = store

    def failing(*args, **kwargs):
        raise EpizooError("no 6-mers without N in the given sequences; nothing to train on")

    monkeypatch.setattr(embedding, "train_kmer_vectors", failing)
    result = train_fold(get_model("epivan"), path, sides, tiny())
    assert result.summary["embedding_source"] == "random"
    lines = [line for line in capsys.readouterr().err.splitlines() if "random vectors" in line]
    assert len(lines) == 1 and "no 6-mers without N" in lines[0]
    empty = embedding.fold_vectors(path, zarr.open_group(path, mode="r"), np.array([], int), np.array([], int))
    assert empty.matrix is None and empty.source == "random"


def test_the_dna2vec_vectors_are_used_when_they_can_be_had(store, shared_data, monkeypatch, trained_on):
    path, group, sides = store
    monkeypatch.setenv("EPIZOO_DATA_DIR", str(shared_data))  # the catalog's pre-filled cache
    starting = embedding.starting_vectors(path, group, sides.train)
    assert starting.source == "dna2vec" and starting.matrix.shape == (4097, 100) and not trained_on
    summary = {"embedding_source": "dna2vec"}
    starting.record(summary)
    assert summary["embedding_source"] == "dna2vec"
