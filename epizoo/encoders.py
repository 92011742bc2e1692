"""Encoders: int8 codes (A,C,G,T,N = 0..4) to model input, on the model's device.

Also pretrained k-mer vectors: loading the published dna2vec 6-mer matrix or any word2vec file
into the row order the k-mer ids index (row 0 zeros, row 1 + rank of the k-mer in
``itertools.product("ACGT", repeat=k)``), and training new vectors with gensim the way dna2vec
made its own (skip-gram over sequences cut into overlapping k-mers).

This module is a default plugin: it registers ``onehot``, ``kmer6`` and ``codes``.
"""

from __future__ import annotations

import itertools
import os
import warnings
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from epizoo.catalog import fetch
from epizoo.errors import EpizooError, InputFileError
from epizoo.files import into_place
from epizoo.hookspecs import hookimpl
from epizoo.sequence import N_CODE, encode

# ---- one-hot ---------------------------------------------------------------------------------

_ONEHOT_TABLE = torch.cat([torch.eye(4), torch.zeros(1, 4)])  # row N_CODE is all zeros


def _as_tensor(codes: Any) -> torch.Tensor:
    """Accept a tensor or a numpy array of codes (numpy is convenient in notebooks and tests)."""
    return codes if isinstance(codes, torch.Tensor) else torch.as_tensor(np.asarray(codes))


def onehot(codes: torch.Tensor) -> torch.Tensor:
    """Codes ``(B, L)`` to float32 one-hot ``(B, 4, L)``, channels first; N is all zeros."""
    codes = _as_tensor(codes)
    table = _ONEHOT_TABLE.to(codes.device)
    return table[codes.long()].transpose(-1, -2).contiguous()


# ---- k-mer ids -------------------------------------------------------------------------------


def _sliding_ids(codes: torch.Tensor, k: int) -> torch.Tensor:
    """The ``L-k+1`` ids of the overlapping k-mers, unpadded: ``1 + base-4 value``, 0 where an N is.

    A sum of ``k`` shifted slices (a rolling base-4 number) keeps memory at one ``(B, L)`` tensor
    per step instead of unfolding ``(B, L, k)`` windows. The sum runs in int32 with in-place adds
    (exact up to k = 15), about six times faster on CPU than int64 arithmetic.
    """
    wide = torch.int32 if k <= 15 else torch.long
    codes = codes.to(wide)
    n_kmers = codes.shape[-1] - k + 1
    is_n = codes >= N_CODE
    codes = codes.clamp(max=3)
    value = codes[..., :n_kmers] * 4 ** (k - 1)
    has_n = is_n[..., :n_kmers].clone()
    for offset in range(1, k):
        value.add_(codes[..., offset : offset + n_kmers], alpha=4 ** (k - 1 - offset))
        has_n |= is_n[..., offset : offset + n_kmers]
    return value.add_(1).masked_fill_(has_n, 0).long()


def kmer_ids(codes: torch.Tensor, k: int = 6) -> torch.Tensor:
    """Codes ``(B, L)`` to int64 k-mer ids ``(B, L)``, stride 1, left-padded with ``k-1`` zeros.

    id = 1 + rank of the k-mer in ``itertools.product("ACGT", repeat=k)``; 0 for a k-mer with N.
    The padding reproduces Keras ``pad_sequences(maxlen=L)`` (padding='pre') of the published
    models: a 3,000-bp enhancer gives 5 leading zeros and then 2,995 ids.
    """
    codes = _as_tensor(codes)
    if k < 1:
        raise EpizooError(f"k-mer length must be at least 1, got k={k}")
    length = codes.shape[-1]
    if length < k:
        return torch.zeros(codes.shape, dtype=torch.long, device=codes.device)
    ids = _sliding_ids(codes, k)
    return torch.nn.functional.pad(ids, (k - 1, 0))


def kmer_counts(codes: torch.Tensor, k: int) -> torch.Tensor:
    """Codes ``(B, L)`` to float32 k-mer frequencies ``(B, 4**k)``; k-mers with N are ignored.

    Column ``r`` is the k-mer of rank ``r`` in ``itertools.product("ACGT", repeat=k)``. A row
    with no valid k-mer stays all zeros.
    """
    codes = _as_tensor(codes)
    squeeze = codes.dim() == 1
    codes = codes.unsqueeze(0) if squeeze else codes
    batch, n_ids = codes.shape[0], 4**k + 1
    if codes.shape[-1] < k:
        counts = torch.zeros(batch, n_ids, device=codes.device)
    else:
        ids = _sliding_ids(codes, k)
        rows = torch.arange(batch, device=codes.device).unsqueeze(1) * n_ids
        flat = torch.bincount((ids + rows).reshape(-1), minlength=batch * n_ids)
        counts = flat.view(batch, n_ids).float()
    counts = counts[:, 1:]  # drop the id-0 bin (k-mers with N)
    totals = counts.sum(dim=1, keepdim=True).clamp(min=1)
    freqs = counts / totals
    return freqs[0] if squeeze else freqs


def kmer_vocabulary(k: int = 6) -> list[str]:
    """Every k-mer in rank order (``itertools.product("ACGT", repeat=k)``); id = 1 + index."""
    return ["".join(kmer) for kmer in itertools.product("ACGT", repeat=k)]


_RANK_TABLE = str.maketrans("ACGT", "0123")


def kmer_rank(kmer: str) -> int | None:
    """Rank of an upper-case A/C/G/T k-mer in product order (its base-4 value); None otherwise."""
    if not kmer or set(kmer) - set("ACGT"):
        return None
    return int(kmer.translate(_RANK_TABLE), 4)


def identity(codes: torch.Tensor) -> torch.Tensor:
    """The ``codes`` encoder: the int8 codes unchanged (models that embed bases themselves)."""
    return codes


# ---- pretrained k-mer vectors ----------------------------------------------------------------


def _keyed_vectors_to_matrix(keyed_vectors: Any, k: int) -> tuple[np.ndarray, int]:
    """Place each length-k A/C/G/T key at row ``1 + rank``; return the matrix and the missing count."""
    matrix = np.zeros((4**k + 1, keyed_vectors.vector_size), dtype=np.float32)
    found = np.zeros(4**k + 1, dtype=bool)
    for key in keyed_vectors.index_to_key:
        rank = kmer_rank(key.upper()) if len(key) == k else None
        if rank is not None:
            matrix[rank + 1] = keyed_vectors[key]
            found[rank + 1] = True
    return matrix, int((~found[1:]).sum())


def _read_word2vec(path: Path) -> Any:
    """A word2vec file, text (dna2vec's ``.w2v``) or binary, via gensim."""
    from gensim.models import KeyedVectors

    try:
        return KeyedVectors.load_word2vec_format(str(path), binary=False)
    except (UnicodeDecodeError, ValueError):
        pass
    try:
        return KeyedVectors.load_word2vec_format(str(path), binary=True)
    except Exception as exc:
        raise InputFileError(f"{path} is neither a word2vec text nor binary file ({exc})") from None


def _load_npy_matrix(path: Path, k: int) -> np.ndarray:
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot read k-mer vectors {path}: {exc}") from None
    if matrix.ndim != 2 or matrix.shape[0] != 4**k + 1:
        raise InputFileError(
            f"{path} has shape {matrix.shape}; a {k}-mer matrix needs {4**k + 1} rows "
            "(row 0 for N/padding, then one per k-mer in product order)"
        )
    return matrix.astype(np.float32)


def load_kmer_vectors(path: str | os.PathLike, k: int = 6, allow_missing: bool = False) -> np.ndarray:
    """k-mer vectors as float32 ``(4**k + 1, dim)`` in k-mer id order; row 0 (N, padding) is zeros.

    ``path`` is either a ``.npy`` matrix already in that order (the published
    ``embedding_matrix.npy``) or a word2vec text/binary file (dna2vec's ``.w2v`` mixes k = 3..8;
    only the keys of length ``k`` are used). k-mers absent from a word2vec file raise
    :class:`InputFileError` unless ``allow_missing``, which leaves their rows zero and warns.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"k-mer vector file {path} does not exist; check the path")
    if path.suffix == ".npy":
        return _load_npy_matrix(path, k)
    matrix, missing = _keyed_vectors_to_matrix(_read_word2vec(path), k)
    if missing == 4**k:
        raise InputFileError(f"{path} holds no {k}-mer vectors; check k (the file's k-mers may be another length)")
    if missing and not allow_missing:
        raise InputFileError(
            f"{path} lacks vectors for {missing} of {4**k} {k}-mers; pass allow_missing=True to leave them zero"
        )
    if missing:
        warnings.warn(f"{path}: {missing} of {4**k} {k}-mers have no vector; their rows are zero", stacklevel=2)
    return matrix


_dna2vec_cache: dict[Any, Any] = {}


def _catalog_settings() -> tuple[str | None, str | None]:
    """What decides where the vectors come from; a change retries a failed fetch."""
    return os.environ.get("EPIZOO_DATA_DIR"), os.environ.get("EPIZOO_CATALOG_BASE_URL")


def dna2vec_vectors() -> np.ndarray | None:
    """The published dna2vec 6-mer vectors ``(4097, 100)``, or None when they cannot be had.

    They come from the data catalog (``epizoo.catalog.fetch``, cached under ``EPIZOO_DATA_DIR``).
    Offline without a cached copy, or with a damaged file, this returns None so models fall back
    to random vectors; :func:`dna2vec_unavailable_reason` says why. The outcome is remembered
    (per ``EPIZOO_DATA_DIR``), so every fold of a benchmark does not retry a slow download.
    """
    key = _catalog_settings()
    if key not in _dna2vec_cache:
        try:
            _dna2vec_cache[key] = (load_kmer_vectors(fetch("dna2vec", "embedding_matrix"), k=6), None)
        except Exception as exc:  # offline, catalog missing, bad hash: all mean "use random vectors"
            _dna2vec_cache[key] = (None, f"{type(exc).__name__}: {exc}".splitlines()[0])
    _dna2vec_cache["last"] = key
    return _dna2vec_cache[key][0]


def dna2vec_unavailable_reason() -> str | None:
    """Why the last :func:`dna2vec_vectors` call returned None; None if it succeeded or never ran."""
    if "last" not in _dna2vec_cache:
        return None
    return _dna2vec_cache[_dna2vec_cache["last"]][1]


# ---- training new k-mer vectors (gensim Word2Vec, as dna2vec did) ----------------------------


def _stable_hash(text: str) -> int:
    """gensim seeds each word's initial vector with this; Python's ``hash`` differs per process."""
    return zlib.crc32(text.encode("ascii"))


class KmerSentences:
    """Re-iterable corpus: every N-free stretch of each sequence as a sentence of overlapping k-mers.

    gensim iterates once to build the vocabulary and once per epoch, so the int8 codes are kept
    (compact) and the k-mer strings are made on the fly. Sentences are cut at ``max_words``
    because gensim silently truncates longer ones.
    """

    def __init__(self, sequences: list[np.ndarray], k: int, max_words: int = 1000):
        self.sequences, self.k, self.max_words = sequences, k, max_words
        self.vocabulary = np.array(kmer_vocabulary(k), dtype=object)

    def _fragments(self, seq: np.ndarray) -> Iterable[np.ndarray]:
        ids = _sliding_ids(torch.from_numpy(seq).unsqueeze(0), self.k)[0].numpy()
        breaks = np.flatnonzero(ids == 0)
        for run in np.split(ids, breaks):
            run = run[run > 0]
            for start in range(0, len(run), self.max_words):
                yield run[start : start + self.max_words]

    def __iter__(self):
        for seq in self.sequences:
            if len(seq) < self.k:
                continue
            for run in self._fragments(seq):
                if len(run) > 1:  # a lone k-mer has no context to learn from
                    yield self.vocabulary[run - 1].tolist()


def _as_codes_array(sequence: Any) -> np.ndarray:
    if isinstance(sequence, (str, bytes)):
        return encode(sequence)
    return np.asarray(sequence, dtype=np.int8)


def train_kmer_vectors(
    sequences_iter: Iterable[Any],
    k: int = 6,
    dim: int = 100,
    window: int = 10,
    epochs: int = 5,
    seed: int = 0,
    workers: int = 1,
    min_count: int = 1,
    on_epoch_end: Callable[[int], None] | None = None,
) -> Any:
    """Train k-mer vectors with gensim Word2Vec; returns its ``KeyedVectors``.

    As dna2vec: skip-gram, a context of ``window`` k-mers on each side, sentences made of the
    overlapping k-mers of N-free stretches (a k-mer with N is skipped, not bridged). Sequences are
    strings or int8 code arrays. With ``workers=1`` the result depends only on the inputs and the
    seed. ``on_epoch_end(epoch)`` is called after each epoch (progress bars).
    """
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    corpus = KmerSentences([_as_codes_array(s) for s in sequences_iter], k)
    if not any(True for _ in itertools.islice(iter(corpus), 1)):
        raise EpizooError(f"no {k}-mers without N in the given sequences; nothing to train on")

    class _Progress(CallbackAny2Vec):
        def __init__(self):
            self.epoch = 0

        def on_epoch_end(self, model):
            self.epoch += 1
            if on_epoch_end is not None:
                on_epoch_end(self.epoch)

    model = Word2Vec(
        sentences=corpus,
        vector_size=dim,
        window=window,
        min_count=min_count,
        sg=1,
        epochs=epochs,
        seed=seed,
        workers=workers,
        hashfxn=_stable_hash,
        callbacks=[_Progress()],
    )
    return model.wv


def kmer_matrix(keyed_vectors: Any, k: int = 6) -> tuple[np.ndarray, int]:
    """KeyedVectors to the published row order ``(4**k + 1, dim)``; also the number of k-mers missing."""
    return _keyed_vectors_to_matrix(keyed_vectors, k)


def save_kmer_vectors(keyed_vectors: Any, path: str | os.PathLike, fmt: str = "w2v", k: int = 6) -> Path:
    """Write vectors as word2vec text (``w2v``) or the ``npy`` matrix; atomically (no half file)."""
    path = Path(path)
    if fmt not in ("w2v", "npy"):
        raise EpizooError(f"unknown vector format {fmt!r}; use 'w2v' or 'npy'")
    if not path.parent.is_dir():
        raise InputFileError(f"output folder {path.parent} does not exist; create it first")
    with into_place(path) as tmp:
        if fmt == "npy":
            with open(tmp, "wb") as out:  # a handle: np.save would add .npy to a path
                np.save(out, kmer_matrix(keyed_vectors, k)[0])
        else:
            keyed_vectors.save_word2vec_format(str(tmp), binary=False)
    return path


def store_sequences(
    ds: Any, max_sequences: int | None = None, seed: int = 0, on_read: Callable[[int], None] | None = None, block: int = 2048
) -> list[np.ndarray]:
    """Stored enhancer and promoter windows (int8 codes) of a store, for training k-mer vectors.

    With ``max_sequences``, a seeded sample of that many elements drawn from enhancers and
    promoters together. Rows are read in sorted blocks (chunk-friendly); ``on_read(n)`` reports
    each block read.
    """
    sizes = {kind: int(ds.sizes[f"{kind}s"]) for kind in ("enhancer", "promoter")}
    total = sum(sizes.values())
    if total == 0:
        raise EpizooError("the store has no enhancers or promoters; nothing to train on")
    chosen = np.arange(total)
    if max_sequences is not None and max_sequences < total:
        chosen = np.sort(np.random.default_rng(seed).choice(total, size=max_sequences, replace=False))
    sequences = []
    for kind, rows in (("enhancer", chosen[chosen < sizes["enhancer"]]), ("promoter", chosen[chosen >= sizes["enhancer"]] - sizes["enhancer"])):
        for start in range(0, len(rows), block):
            part = rows[start : start + block]
            sequences.extend(ds[f"{kind}_sequence"].isel({f"{kind}s": part}).values)
            if on_read is not None:
                on_read(len(part))
    return sequences


# ---- registration ----------------------------------------------------------------------------


def kmer6(codes: torch.Tensor) -> torch.Tensor:
    """Overlapping 6-mer ids ``(B, L)`` as the published dna2vec-based models take them."""
    return kmer_ids(codes, 6)


@hookimpl
def register_encoders(register):
    register("onehot", onehot, "float32 (B, 4, L) one-hot, channels first; N is all zeros")
    register("kmer6", kmer6, "int64 (B, L) overlapping 6-mer ids (1 + product rank, 0 for N), left-padded with 5 zeros")
    register("codes", identity, "the int8 codes A,C,G,T,N = 0..4 unchanged")
