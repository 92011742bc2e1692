"""The 6-mer vectors a k-mer embedding model starts from, for one fold.

The published dna2vec matrix when the data catalog can provide it. Without it (offline, no cached
copy), 6-mer vectors trained with gensim the way dna2vec made its own (skip-gram word2vec over
overlapping k-mers), on the store's own sequences of the fold's TRAINING side only: vectors
learnt from test elements would carry information about them into the model (leakage). Only if
that training fails too do the models start from random vectors.

The training is kept to a few seconds on a 2-core CPU (a seeded sample of the training elements,
a few epochs), with one gensim worker so the vectors depend only on the store, the training
elements and the seed. They are remembered per (store, training elements, seed), so the models
of one fold share one training.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from epizoo import console
from epizoo.encoders import dna2vec_vectors, kmer_matrix, train_kmer_vectors
from epizoo.errors import EpizooError

K = 6  # the models' kmer6 ids index a (4**6 + 1)-row table
DIM = 100  # dna2vec's vector size, which the models' tables expect
WINDOW = 10  # dna2vec's context: 10 k-mers on each side
EPOCHS = 3
# k-mers per epoch: about a second of one gensim worker per epoch on the development machine, and
# enough for the one-base shifts of most 6-mers to become their nearest neighbours.
KMER_BUDGET = 200_000
CACHE_ENTRIES = 8  # folds remembered (each matrix is 1.6 MB)

_cache: OrderedDict[tuple, "StartingVectors"] = OrderedDict()


@dataclass(frozen=True)
class StartingVectors:
    """The matrix given to the model (None: random) and what the run records as its source."""

    matrix: np.ndarray | None
    source: str  # 'dna2vec', 'gensim (trained on ...)' or 'random'

    def record(self, summary: dict[str, Any]) -> None:
        """A model reports 'dna2vec' for any matrix it is given; the summary says where it came from."""
        if self.matrix is not None and summary.get("embedding_source") == "dna2vec":
            summary["embedding_source"] = self.source


def starting_vectors(store: str, group: Any, train_pairs: np.ndarray, seed: int = 0) -> StartingVectors:
    """dna2vec's vectors, else gensim vectors of the fold's training elements, else random (one line says why)."""
    vectors = dna2vec_vectors()
    if vectors is not None:
        return StartingVectors(vectors, "dna2vec")
    enhancers, promoters = training_elements(group, train_pairs)
    return fold_vectors(store, group, enhancers, promoters, seed)


def training_elements(group: Any, train_pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The enhancer and promoter indices of the training pairs, sorted and unique."""
    pairs = np.asarray(train_pairs, dtype=np.int64)
    return tuple(np.unique(np.asarray(group[f"pair_{kind}"][:])[pairs]) for kind in ("enhancer", "promoter"))


def clear_cache() -> None:
    _cache.clear()


def fold_vectors(store: str, group: Any, enhancers: np.ndarray, promoters: np.ndarray, seed: int = 0) -> StartingVectors:
    """gensim 6-mer vectors of these elements, trained once per (store, elements, seed)."""
    key = (_store_key(store, group), _digest(enhancers), _digest(promoters), seed)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    try:
        matrix, used = train_on_elements(group, enhancers, promoters, seed)
        found = StartingVectors(matrix, f"gensim (trained on {used} of the fold's {len(enhancers) + len(promoters)} training elements)")
    except (EpizooError, ImportError, ValueError, RuntimeError, MemoryError) as exc:  # no k-mers, no gensim ...
        _say(f"gensim 6-mer vectors could not be trained on the fold's training side ({type(exc).__name__}: {exc}); "
             "k-mer embedding models start from random vectors")
        found = StartingVectors(None, "random")
    _cache[key] = found
    while len(_cache) > CACHE_ENTRIES:
        _cache.popitem(last=False)
    return found


def train_on_elements(group: Any, enhancers: np.ndarray, promoters: np.ndarray, seed: int = 0) -> tuple[np.ndarray, int]:
    """The ``(4097, 100)`` matrix trained on a seeded sample of the elements, and the sample's size.

    The vectors are centred: a few epochs leave a direction shared by every vector (unrelated
    6-mers at cosine ~0.75, dna2vec's ~0.15) that says nothing about any k-mer. Row 0 (N, padding)
    and any 6-mer the sample never shows are zeros, as in a loaded matrix.
    """
    sample = sample_elements(group, enhancers, promoters, seed)
    if not sample:
        raise EpizooError("the fold's training side has no enhancers or promoters")
    sequences = read_elements(group, sample)
    vectors = train_kmer_vectors(sequences, k=K, dim=DIM, window=WINDOW, epochs=EPOCHS, seed=seed, workers=1)
    matrix = kmer_matrix(vectors, K)[0]
    seen = matrix.any(axis=1)
    matrix[seen] -= matrix[seen].mean(axis=0)
    return matrix, len(sample)


def sample_elements(
    group: Any, enhancers: np.ndarray, promoters: np.ndarray, seed: int = 0, budget: int | None = None
) -> list[tuple[str, int]]:
    """A seeded draw of (kind, index) from both kinds together, until about ``budget`` k-mers."""
    budget = KMER_BUDGET if budget is None else budget
    pool = [("enhancer", int(i)) for i in enhancers] + [("promoter", int(i)) for i in promoters]
    kmers = {kind: max(int(group[f"{kind}_sequence"].shape[1]) - K + 1, 1) for kind in ("enhancer", "promoter")}
    chosen, total = [], 0
    for position in np.random.default_rng(seed).permutation(len(pool)):
        if total >= budget:
            break
        chosen.append(pool[position])
        total += kmers[pool[position][0]]
    return chosen


def read_elements(group: Any, sample: list[tuple[str, int]]) -> list[np.ndarray]:
    """The int8 windows of the sample, in its (shuffled) order; each kind read in one sorted selection."""
    rows: dict[tuple[str, int], np.ndarray] = {}
    for kind in ("enhancer", "promoter"):
        wanted = sorted({index for k, index in sample if k == kind})
        if wanted:
            block = np.asarray(group[f"{kind}_sequence"].oindex[np.asarray(wanted), :], dtype=np.int8)
            rows.update({(kind, index): row for index, row in zip(wanted, block)})
    return [rows[item] for item in sample]


def _store_key(store: str, group: Any) -> tuple:
    """A rebuilt store at the same path is another store: its build time and sequence hash change."""
    return (os.path.realpath(store), str(group.attrs.get("created", "")), str(group.attrs.get("sequence_sha256", "")))


def _digest(indices: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(indices, dtype=np.int64).tobytes()).hexdigest()


def _say(line: str) -> None:
    console.stderr.print(line, markup=False, highlight=False, soft_wrap=True)  # looked up per call: console.stderr may be replaced
