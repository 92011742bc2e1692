"""Training k-mer vectors (gensim Word2Vec) and the ``epizoo embed`` command, on tiny inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import epizoo
from epizoo.cli import cli
from epizoo.encoders import KmerSentences, kmer_matrix, kmer_vocabulary, load_kmer_vectors, store_sequences, train_kmer_vectors
from epizoo.errors import EpizooError
from epizoo.sequence import encode

TINY = dict(k=3, dim=8, window=3, epochs=2, seed=5)


def random_dna(n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]


def test_sentences_are_overlapping_kmers_cut_at_n():
    corpus = KmerSentences([encode("ACGTANNACGG"), encode("AC")], k=3, max_words=2)
    assert list(corpus) == [["ACG", "CGT"], ["ACG", "CGG"]]  # cut at N and every 2 words; a lone k-mer has no context
    assert list(KmerSentences([encode("ACGTA")], k=3)) == [["ACG", "CGT", "GTA"]]


def test_training_is_reproducible_and_skips_n():
    sequences = [s[:40] + "NNNN" + s[40:] for s in random_dna(20, 120)]
    first = train_kmer_vectors(sequences, **TINY)
    second = train_kmer_vectors(sequences, **TINY)
    assert first.vector_size == 8 and all("N" not in key for key in first.index_to_key)
    assert len(first.index_to_key) == 64  # every 3-mer occurs in 2,400 random bases
    assert np.array_equal(first.vectors, second.vectors)
    assert not np.array_equal(first.vectors, train_kmer_vectors(sequences, **{**TINY, "seed": 6}).vectors)
    matrix, missing = kmer_matrix(first, 3)
    assert matrix.shape == (65, 8) and missing == 0 and not matrix[0].any()
    assert np.array_equal(matrix[1], first["AAA"]) and np.array_equal(matrix[64], first["TTT"])


def test_trained_vectors_learn_what_dna2vec_learned():
    """In dna2vec's table a 6-mer's nearest neighbour is nearly always its one-base shift; skip-gram
    over overlapping k-mers learns the same on any DNA (chance would be 8 of 255 4-mers, about 3 %)."""
    rng = np.random.default_rng(0)
    vectors = train_kmer_vectors([rng.integers(0, 4, 600).astype(np.int8) for _ in range(100)], k=4, dim=16, window=3, epochs=3, seed=1)
    matrix = kmer_matrix(vectors, 4)[0][1:]
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    vocabulary = kmer_vocabulary(4)
    nearest = [vocabulary[j] for j in similarity.argmax(axis=1)]
    shifted = [a[1:] == b[:-1] or a[:-1] == b[1:] for a, b in zip(vocabulary, nearest)]
    assert np.mean(shifted) > 0.5


def test_training_without_usable_kmers_is_one_line():
    with pytest.raises(EpizooError, match="no 3-mers without N"):
        train_kmer_vectors(["NNNNNN", "AC"], k=3)


def hand_store(n_enhancers: int = 5, n_promoters: int = 3) -> xr.Dataset:
    enhancer = np.arange(n_enhancers * 4, dtype=np.int8).reshape(n_enhancers, 4) % 5
    promoter = -np.ones((n_promoters, 4), dtype=np.int8) - np.arange(n_promoters, dtype=np.int8)[:, None]
    return xr.Dataset({"enhancer_sequence": (("enhancers", "enhancer_bases"), enhancer),
                       "promoter_sequence": (("promoters", "promoter_bases"), promoter)}).chunk({"enhancers": 2})


def test_store_sequences_reads_enhancers_and_promoters():
    ds = hand_store()
    everything = store_sequences(ds, block=2)
    assert len(everything) == 8 and everything[0].dtype == np.int8
    assert np.array_equal(everything[4], ds["enhancer_sequence"].values[4])
    assert np.array_equal(everything[5], ds["promoter_sequence"].values[0])
    reads = []
    sample = store_sequences(ds, max_sequences=4, seed=3, on_read=reads.append)
    assert len(sample) == 4 and sum(reads) == 4
    assert [s.tolist() for s in sample] == [s.tolist() for s in store_sequences(ds, max_sequences=4, seed=3)]


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("embed") / "tiny.zarr"
    epizoo.simulate_store(path, n_pairs=60, n_contigs=3, cell_lines=1)
    return path


def run(*args: str):
    return CliRunner().invoke(cli, ["embed", *map(str, args)], catch_exceptions=False)


def test_embed_writes_vectors_that_reload_identically(tiny_store, tmp_path):
    common = [tiny_store, "--k", "3", "--dim", "8", "--epochs", "1", "--window", "3", "--max-sequences", "6", "--seed", "2", "--no-progress"]
    text = run(*common, "--out", tmp_path / "vectors.w2v", "--json")
    assert text.exit_code == 0, text.output
    summary = json.loads(text.output)
    assert summary["sequences"] == 6 and summary["kmers_with_vectors"] + summary["kmers_missing"] == 64
    matrix = run(*common, "--out", tmp_path / "vectors.npy")
    assert matrix.exit_code == 0 and "3-mer vectors (8-d, npy)" in matrix.output
    from_text = load_kmer_vectors(tmp_path / "vectors.w2v", k=3, allow_missing=True)
    from_npy = load_kmer_vectors(tmp_path / "vectors.npy", k=3)
    assert from_text.shape == (65, 8) and not from_text[0].any()
    np.testing.assert_allclose(from_text, from_npy, rtol=1e-6)  # the text format rounds the last digit


def test_embed_mistakes_are_one_line(tiny_store, tmp_path):
    out = tmp_path / "vectors.npy"
    out.write_bytes(b"")
    result = CliRunner().invoke(cli, ["embed", str(tiny_store), "--out", str(out)])
    assert result.exit_code == 1 and "already exists; pass --force" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(cli, ["embed", str(tmp_path / "absent.zarr"), "--out", str(tmp_path / "v.w2v")])
    assert result.exit_code == 1 and "does not exist" in result.output
    result = CliRunner().invoke(cli, ["embed", str(tiny_store), "--out", str(tmp_path / "no" / "v.w2v")])
    assert result.exit_code == 1 and "create it first" in result.output


# ---- epizoo splits ---------------------------------------------------------------------------------


def test_splits_command_lists_splits_and_shows_folds(tiny_store):
    listed = CliRunner().invoke(cli, ["splits", "--json"])
    assert listed.exit_code == 0
    assert {"loco", "random", "cross-cell-line-strict"} <= {row["name"] for row in json.loads(listed.output)}
    shown = CliRunner().invoke(cli, ["splits", str(tiny_store), "--split", "loco", "--split-option", "valid_contigs=0", "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)
    assert [row["fold"] for row in rows] == ["chr1", "chr2", "chrX"]
    assert all(not row["leakage"]["leaks"] and row["valid"]["pairs"] == 0 for row in rows)
    total = {row["train"]["pairs"] + row["test"]["pairs"] for row in rows}
    assert len(total) == 1 and sum(row["test"]["pairs"] for row in rows) == total.pop()  # each pair tested once


def test_splits_command_mistakes_are_one_line(tiny_store):
    result = CliRunner().invoke(cli, ["splits", str(tiny_store), "--split", "loco", "--split-option", "folds=chr9"])
    assert result.exit_code == 1 and "unknown contig 'chr9'" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["splits", str(tiny_store)])
    assert result.exit_code != 0 and "give both STORE and --split" in result.output


def test_embed_output_follows_the_umask_and_threads_has_one_name(tiny_store, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        result = CliRunner().invoke(cli, ["embed", str(tiny_store), "--k", "3", "--dim", "4", "--epochs", "1", "--threads", "1",
                                          "-o", str(tmp_path / "v.w2v"), "--no-progress"])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((tmp_path / "v.w2v").stat().st_mode) == 0o644
    legacy = CliRunner().invoke(cli, ["embed", str(tiny_store), "--k", "3", "--dim", "4", "--epochs", "1", "--workers", "1",
                                      "-o", str(tmp_path / "w.w2v"), "--no-progress"])
    assert legacy.exit_code == 0 and "note: embed --workers N (threads) is deprecated; use --threads N" in legacy.stderr


def test_embed_min_count_and_unwritable_folder_are_one_line(tiny_store, tmp_path, monkeypatch):
    import os

    out = tmp_path / "v.w2v"
    result = CliRunner().invoke(cli, ["embed", str(tiny_store), "--k", "3", "--min-count", "100000000", "-o", str(out), "--no-progress"])
    assert result.exit_code == 1 and "--min-count 100000000: no 3-mer occurs that often" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1 and not out.exists()

    locked = tmp_path / "read-only"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: stand in for the kernel's refusal
            real_access = os.access
            monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == str(locked) else real_access(path, mode))
        result = CliRunner().invoke(cli, ["embed", str(tiny_store), "--k", "3", "-o", str(locked / "v.w2v"), "--no-progress"])
        assert result.exit_code == 1 and "is not writable" in result.output and len(result.output.strip().splitlines()) == 1
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)

    def refused(*args, **kwargs):  # the folder turns read-only (or the disk fills) during training
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("epizoo.encoders.save_kmer_vectors", refused)
    result = CliRunner().invoke(cli, ["embed", str(tiny_store), "--k", "3", "--dim", "4", "--epochs", "1", "-o", str(out), "--no-progress"])
    assert result.exit_code == 1 and f"cannot write {out} (Permission denied)" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()
