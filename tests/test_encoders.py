"""Encoders: one-hot, k-mer ids and counts, pretrained k-mer vectors (checked against dna2vec's own table)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from epizoo import encoders
from epizoo.encoders import (
    dna2vec_unavailable_reason,
    dna2vec_vectors,
    kmer_counts,
    kmer_ids,
    kmer_vocabulary,
    load_kmer_vectors,
    onehot,
)
from epizoo.errors import EpizooError, InputFileError
from epizoo.plugins import get_encoder
from epizoo.sequence import encode

NEAREST = "pnpnpn-dna2vec/stat_output/dna2vec-20161219-0153-k3to8-100d-10c-29320Mbp-sliding-Xat.nearest_neighbor.csv"
MATRIX = "hzy95-EPIVAN/embedding_matrix.npy"


def batch(*sequences: str) -> torch.Tensor:
    return torch.as_tensor(np.stack([encode(s) for s in sequences]))


# ---- one-hot -----------------------------------------------------------------------------------


def test_onehot_channels_first_and_n_is_zero():
    out = onehot(batch("ACGTN", "TTNAA"))
    assert out.shape == (2, 4, 5) and out.dtype == torch.float32
    assert out[0, :, :4].argmax(dim=0).tolist() == [0, 1, 2, 3]
    assert out[0, :, 4].sum() == 0 and out[1, :, 2].sum() == 0
    assert out.sum(dim=1)[1].tolist() == [1, 1, 0, 1, 1]


# ---- k-mer ids ---------------------------------------------------------------------------------


def reference_ids(sequence: str, k: int) -> list[int]:
    """Written the slow, obvious way: tokenize, look up product rank, Keras pre-padding."""
    rank = {"".join(p): i + 1 for i, p in enumerate(itertools.product("ACGT", repeat=k))}
    ids = [rank.get(sequence[i : i + k], 0) for i in range(len(sequence) - k + 1)]
    return [0] * (len(sequence) - len(ids)) + ids


def test_kmer_ids_match_product_rank_with_keras_pre_padding():
    rng = np.random.default_rng(1)
    sequences = ["".join(rng.choice(list("ACGTN"), p=[0.24, 0.24, 0.24, 0.24, 0.04], size=40)) for _ in range(3)]
    out = kmer_ids(batch(*sequences), 6)
    assert out.dtype == torch.int64 and out.shape == (3, 40)
    for row, sequence in zip(out.tolist(), sequences):
        assert row == reference_ids(sequence, 6)


def test_kmer6_of_a_3000bp_enhancer_has_five_leading_zeros():
    enhancer = batch("ACGT" * 750)
    ids = get_encoder("kmer6").function(enhancer)
    assert ids.shape == (1, 3000)
    assert ids[0, :5].tolist() == [0] * 5 and bool((ids[0, 5:] > 0).all())
    assert ids[0, 5].item() == 1 + int("012301", 4)  # ACGTAC


def test_kmer_ids_extremes():
    assert kmer_ids(batch("AAAAAA", "TTTTTT"), 6)[:, -1].tolist() == [1, 4096]
    assert kmer_ids(batch("ACG"), 6).tolist() == [[0, 0, 0]]  # shorter than k: all padding
    with pytest.raises(EpizooError):
        kmer_ids(batch("ACG"), 0)


def test_kmer_counts_are_frequencies_without_n():
    counts = kmer_counts(batch("AACNAAC"), 2)
    assert counts.shape == (1, 16)
    # valid 2-mers: AA, AC, AA, AC  (CN, NA contain N)
    expected = torch.zeros(16)
    expected[0] = expected[1] = 0.5
    assert torch.allclose(counts[0], expected)
    assert kmer_counts(batch("NNNN"), 2).sum() == 0


def test_codes_encoder_is_identity():
    codes = batch("ACGTN")
    assert get_encoder("codes").function(codes) is codes


DEVICES = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])  # meta: device handling without a GPU


@pytest.mark.parametrize("device", DEVICES)
def test_encoders_stay_on_the_input_device(device):
    codes = batch("ACGTNACGTTAC", "TTTTGGGGCCCA")
    on_device = codes.to(device)
    for encoder, expected in ((onehot, onehot(codes)), (lambda c: kmer_ids(c, 6), kmer_ids(codes, 6))):
        out = encoder(on_device)
        assert out.device.type == device and out.shape == expected.shape and out.dtype == expected.dtype
        if device != "meta":
            assert torch.equal(out.cpu(), expected)


# ---- pretrained vectors: the published nearest-neighbour table ---------------------------------


def nearest_six_mers(shared_data):
    table = pd.read_csv(shared_data / NEAREST)
    rows = table[(table.k_len == 6) & (table.relation == "nearest_neighbor")]
    assert len(rows) == 1000
    return rows


def nearest_neighbour_hits(matrix: np.ndarray, rows: pd.DataFrame) -> int:
    """How many of dna2vec's nearest neighbours (cosine, among 6-mers) the matrix reproduces."""
    queries = torch.as_tensor(np.stack([encode(k) for k in rows.kmer1]))
    query_ids = kmer_ids(queries, 6)[:, -1].numpy()  # the one full 6-mer of each 6-bp string
    vectors = matrix[1:] / np.linalg.norm(matrix[1:], axis=1, keepdims=True)
    similarity = vectors[query_ids - 1] @ vectors.T
    similarity[np.arange(len(query_ids)), query_ids - 1] = -np.inf  # a k-mer is not its own neighbour
    vocabulary = np.array(kmer_vocabulary(6))
    return int((vocabulary[similarity.argmax(axis=1)] == rows.kmer2.to_numpy()).sum())


def test_published_matrix_reproduces_dna2vec_nearest_neighbours(shared_data):
    rows = nearest_six_mers(shared_data)
    matrix = load_kmer_vectors(shared_data / MATRIX, k=6)
    assert matrix.shape == (4097, 100) and matrix.dtype == np.float32
    assert not matrix[0].any()
    assert nearest_neighbour_hits(matrix, rows) == 1000


def test_shuffled_row_order_fails_the_nearest_neighbour_check(shared_data):
    rows = nearest_six_mers(shared_data)
    matrix = load_kmer_vectors(shared_data / MATRIX, k=6)
    shuffled = matrix.copy()
    shuffled[1:] = matrix[1:][np.random.default_rng(0).permutation(4096)]
    assert nearest_neighbour_hits(shuffled, rows) < 20


def test_nw_column_is_the_alignment_score_of_the_pair(shared_data):
    """``nw`` is a Needleman-Wunsch score (match 1, else 0, i.e. the longest common subsequence),
    not a similarity of the vectors: nearest neighbours are mostly one-base shifts (score 5)."""
    rows = nearest_six_mers(shared_data).head(50)

    def lcs(a: str, b: str) -> int:
        best = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                best[i + 1][j + 1] = best[i][j] + 1 if x == y else max(best[i][j + 1], best[i + 1][j])
        return best[-1][-1]

    assert [lcs(a, b) for a, b in zip(rows.kmer1, rows.kmer2)] == rows.nw.astype(int).tolist()


# ---- word2vec files ----------------------------------------------------------------------------


def tiny_keyed_vectors(kmers: list[str], dim: int = 4):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=dim)
    vectors = np.arange(len(kmers) * dim, dtype=np.float32).reshape(len(kmers), dim)
    kv.add_vectors(kmers, vectors)
    return kv, vectors


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_file_mixing_k_is_placed_by_rank(tmp_path, binary):
    all_3mers = kmer_vocabulary(3)
    kv, vectors = tiny_keyed_vectors(["ACGT", "AC"] + all_3mers[::-1])  # other k-mer lengths mixed in
    path = tmp_path / ("vectors.bin" if binary else "vectors.w2v")
    kv.save_word2vec_format(str(path), binary=binary)
    matrix = load_kmer_vectors(path, k=3)
    assert matrix.shape == (65, 4) and not matrix[0].any()
    assert np.array_equal(matrix[1], vectors[2 + 63])  # AAA was written last
    assert np.array_equal(matrix[64], vectors[2])  # TTT was written first


def test_word2vec_file_with_missing_kmers(tmp_path):
    kv, vectors = tiny_keyed_vectors(["AAA", "TTT"])
    path = tmp_path / "partial.w2v"
    kv.save_word2vec_format(str(path))
    with pytest.raises(InputFileError, match="lacks vectors for 62 of 64"):
        load_kmer_vectors(path, k=3)
    with pytest.warns(UserWarning, match="62 of 64"):
        matrix = load_kmer_vectors(path, k=3, allow_missing=True)
    assert np.array_equal(matrix[1], vectors[0]) and np.array_equal(matrix[64], vectors[1])
    assert not matrix[2:64].any()
    with pytest.raises(InputFileError, match="no 6-mer vectors"):
        load_kmer_vectors(path, k=6)


def test_bad_vector_files_give_one_line(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        load_kmer_vectors(tmp_path / "absent.npy")
    np.save(tmp_path / "wrong.npy", np.zeros((10, 3)))
    with pytest.raises(InputFileError, match="4097 rows"):
        load_kmer_vectors(tmp_path / "wrong.npy")


def test_dna2vec_vectors_from_the_catalog_cache(monkeypatch, shared_data):
    monkeypatch.setattr(encoders, "_dna2vec_cache", {})
    monkeypatch.setenv("EPIZOO_DATA_DIR", str(shared_data))
    vectors = dna2vec_vectors()
    assert vectors is not None, dna2vec_unavailable_reason()
    assert vectors.shape == (4097, 100) and dna2vec_unavailable_reason() is None
    assert np.array_equal(vectors, load_kmer_vectors(shared_data / MATRIX))


def test_dna2vec_vectors_offline_give_none_and_a_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(encoders, "_dna2vec_cache", {})
    monkeypatch.setenv("EPIZOO_DATA_DIR", str(tmp_path))  # empty cache
    monkeypatch.setenv("EPIZOO_CATALOG_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    assert dna2vec_vectors() is None
    reason = dna2vec_unavailable_reason()
    assert reason and "\n" not in reason


def test_dna2vec_outcome_is_remembered_per_data_dir(monkeypatch, tmp_path, shared_data):
    import epizoo.catalog

    monkeypatch.setattr(encoders, "_dna2vec_cache", {})
    monkeypatch.setenv("EPIZOO_CATALOG_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("EPIZOO_DATA_DIR", str(tmp_path))
    assert dna2vec_vectors() is None
    real_fetch = epizoo.catalog.fetch
    monkeypatch.setattr(encoders, "fetch", lambda *a: pytest.fail("a failed fetch must not be retried"))
    assert dna2vec_vectors() is None and dna2vec_unavailable_reason()
    monkeypatch.setattr(encoders, "fetch", real_fetch)
    monkeypatch.setenv("EPIZOO_DATA_DIR", str(shared_data))  # another cache folder is tried afresh
    assert dna2vec_vectors() is not None and dna2vec_unavailable_reason() is None
