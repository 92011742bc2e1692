"""Sequence sources: FASTA via pyfaidx, pre-extracted regions, in-memory arrays."""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from epizoo.errors import InputFileError, SequenceError
from epizoo.sources.genome import ArrayGenome, FastaGenome, RegionSequences, index_problem, open_sequence_source
from epizoo.sequence import decode, encode


@pytest.fixture
def genome() -> ArrayGenome:
    rng = np.random.default_rng(7)
    return ArrayGenome({"chr1": rng.integers(0, 4, 2000, dtype=np.int8), "chr2": rng.integers(0, 4, 333, dtype=np.int8)})


@pytest.fixture
def fasta(tmp_path, genome) -> FastaGenome:
    return FastaGenome(genome.write_fasta(tmp_path / "tiny.fa"))


def test_fasta_round_trips_the_array_genome_and_builds_the_index(fasta, genome, tmp_path):
    assert fasta.contigs() == ["chr1", "chr2"]
    assert fasta.contig_length("chr2") == 333
    assert np.array_equal(fasta.fetch("chr1", 123, 1456), genome.arrays["chr1"][123:1456])
    assert (tmp_path / "tiny.fa.fai").exists()
    assert fasta.sha256() == __import__("hashlib").sha256((tmp_path / "tiny.fa").read_bytes()).hexdigest()


def test_windows_running_off_either_end_are_n_padded(fasta, genome):
    left = fasta.fetch("chr2", -3, 5)
    assert decode(left[:3]) == "NNN" and np.array_equal(left[3:], genome.arrays["chr2"][:5])
    right = fasta.fetch("chr2", 330, 336)
    assert np.array_equal(right[:3], genome.arrays["chr2"][330:]) and decode(right[3:]) == "NNN"
    many = fasta.fetch_many("chr2", np.array([-3, 330, 10]), 6)
    assert np.array_equal(many[0], fasta.fetch("chr2", -3, 3))
    assert np.array_equal(many[1], right)
    assert np.array_equal(many[2], genome.arrays["chr2"][10:16])


def test_missing_contig_names_the_contig_and_hints_at_chr_naming(fasta):
    with pytest.raises(SequenceError, match=r"contig '1' is not in tiny.fa .*'chr1'"):
        fasta.has("1", 0, 10)
    with pytest.raises(SequenceError, match="chr9"):
        fasta.fetch("chr9", 0, 10)


def test_element_off_or_past_the_contig_end_is_an_error(fasta, genome):
    assert fasta.has("chr2", 300, 333)
    with pytest.raises(SequenceError, match="off the end of chr2"):
        fasta.has("chr2", 333, 400)
    with pytest.raises(SequenceError, match=r"element chr2:300-400 runs past the end of chr2 \(333 bp\).*genome build"):
        fasta.has("chr2", 300, 400)
    with pytest.raises(SequenceError, match="runs past the end"):
        genome.has("chr2", 300, 334)
    assert fasta.available("chr2", 333, 400) is False and fasta.available("chr2", 300, 400) is False
    # a window around a valid element may still run off the end: it is N-padded, not refused
    assert decode(fasta.fetch("chr2", 330, 336)[3:]) == "NNN"


def test_fasta_is_picklable_and_reopens_lazily(fasta, genome):
    fasta.fetch("chr1", 0, 10)
    clone = pickle.loads(pickle.dumps(fasta))
    assert clone._fasta is None
    assert np.array_equal(clone.fetch("chr1", 5, 50), genome.arrays["chr1"][5:50])


def test_plain_gzip_fasta_gives_the_command_to_fix_it(tmp_path, fasta):
    packed = tmp_path / "tiny.fa.gz"
    with open(fasta.path, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    with pytest.raises(SequenceError, match="bgzip"):
        FastaGenome(packed).contigs()


def test_bgzip_fasta_is_read_like_the_plain_one(tmp_path, genome):
    from Bio import bgzf

    plain = genome.write_fasta(tmp_path / "tiny.fa")
    packed = tmp_path / "tiny.fa.gz"
    with open(plain, "rb") as src, bgzf.BgzfWriter(str(packed), "wb") as dst:
        dst.write(src.read())
    source = FastaGenome(packed)
    assert source.compressed and source.contigs() == ["chr1", "chr2"] and source.contig_length("chr2") == 333
    assert np.array_equal(source.fetch("chr1", 123, 1456), genome.arrays["chr1"][123:1456])
    many = source.fetch_many("chr2", np.array([-2, 10, 330]), 5)
    assert np.array_equal(many, FastaGenome(plain).fetch_many("chr2", np.array([-2, 10, 330]), 5))
    assert (tmp_path / "tiny.fa.gz.fai").exists()


def test_missing_and_malformed_fasta(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        FastaGenome(tmp_path / "absent.fa")
    bad = tmp_path / "bad.fa"
    bad.write_text("not a fasta\n")
    with pytest.raises(SequenceError, match="samtools faidx"):
        FastaGenome(bad).contigs()


def test_regions_fill_known_bases_and_n_elsewhere(tmp_path):
    path = tmp_path / "regions.fa"
    path.write_text(">chr1:100-104\nACGT\n>chr1:106-108\nGG\n>chr3:0-2\nTT\n")
    source = RegionSequences(path)
    assert source.contigs() == ["chr1", "chr3"] and source.contig_length("chr1") is None
    assert decode(source.fetch("chr1", 98, 110)) == "NNACGTNNGGNN"
    assert source.has("chr1", 103, 200) and not source.has("chr1", 104, 106) and not source.has("chr7", 0, 5)
    assert decode(source.fetch_many("chr1", np.array([100, 105]), 3)) == ["ACG", "NGG"]


def test_malformed_region_header_names_the_file_and_the_record(tmp_path):
    path = tmp_path / "regions.fa"
    path.write_text(">chr1:100-104\nACGT\n>chr1_100_104\nACGT\n")
    with pytest.raises(InputFileError, match=r"regions\.fa: record header >chr1_100_104: malformed region") as info:
        RegionSequences(path).contigs()
    assert "\n" not in str(info.value)


def test_region_record_length_must_match_its_header(tmp_path):
    path = tmp_path / "regions.fa"
    path.write_text(">chr1:100-105\nACGT\n")
    with pytest.raises(InputFileError, match="holds 4 bases but its header spans 5"):
        RegionSequences(path).contigs()


def test_real_targetfinder_regions(shared_data):
    source = RegionSequences(shared_data / "derived" / "targetfinder-regions.hg19.fa.gz")
    assert "chr10" in source.contigs()
    # the first record of the file: chr10:100174719-100174919
    window = source.fetch("chr10", 100174709, 100174729)
    assert decode(window) == "N" * 10 + "GTCTTCCCGC"
    assert source.has("chr10", 100174900, 100175000) and not source.has("chr10", 100174919, 100175000)
    assert len(source.sha256()) == 64
    clone = pickle.loads(pickle.dumps(source))
    assert np.array_equal(clone.fetch("chr10", 100174709, 100174729), window)


def test_array_genome_hash_and_fasta(tmp_path):
    one = ArrayGenome({"c": encode("ACGTN")})
    assert one.sha256() == ArrayGenome({"c": encode("ACGTN")}).sha256() != ArrayGenome({"c": encode("ACGTA")}).sha256()
    text = one.write_fasta(tmp_path / "a.fa", line_width=2).read_text()
    assert text == ">c\nAC\nGT\nN\n"


def test_open_sequence_source_picks_one(tmp_path, fasta):
    assert open_sequence_source() is None
    assert isinstance(open_sequence_source(genome=fasta.path), FastaGenome)
    with pytest.raises(InputFileError, match="not both"):
        open_sequence_source(genome=fasta.path, regions=fasta.path)


def test_pair_sequence_csv_and_several_region_files(shared_data, tmp_path):
    """gcn4epi's pair-sequence table gives the real sequence of every TargetFinder positive."""
    table = shared_data / "smtnkc-gcn4epi" / "data" / "NHEK" / "ep_sequences.csv"
    fasta = shared_data / "derived" / "targetfinder-regions.hg19.fa.gz"
    source = RegionSequences([fasta, table])
    # NHEK|chr1:3399800-3400600 is the BED interval (3399799, 3400600): 801 bases, first GGGCTC
    assert decode(source.fetch("chr1", 3399799, 3399805)) == "GGGCTC"
    assert source.has("chr1", 3541199, 3542000)  # a promoter absent from the FASTA alone
    assert not RegionSequences(fasta).has("chr1", 3541199, 3542000)
    assert source.has("chr10", 100174719, 100174919)  # and the FASTA's records are still there
    assert source.sha256() not in (RegionSequences(fasta).sha256(), RegionSequences(table).sha256())
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputFileError, match="pair-sequence CSV"):
        RegionSequences(bad).contigs()


# ---- stale or foreign .fai ---------------------------------------------------------------------


def _age_index(path):
    """Make the .fai look older than its FASTA, as after editing the FASTA."""
    fai = path.parent / f"{path.name}.fai"
    stat = fai.stat()
    os.utime(fai, (stat.st_atime - 100, stat.st_mtime - 100))


def _read_only(monkeypatch, folder):
    import epizoo.sources.genome as genome_module

    real = os.access
    monkeypatch.setattr(genome_module.os, "access", lambda p, mode: False if Path(p) == folder else real(p, mode))


def test_a_consistent_index_passes_the_cheap_check(fasta, tmp_path):
    fasta.contigs()
    assert index_problem(fasta.path) is None
    crlf = tmp_path / "crlf.fa"
    crlf.write_bytes(fasta.path.read_bytes().replace(b"\n", b"\r\n"))
    assert FastaGenome(crlf).contig_length("chr2") == 333 and index_problem(crlf) is None
    bare = tmp_path / "bare.fa"  # no newline at the very end
    bare.write_bytes(fasta.path.read_bytes().rstrip(b"\n"))
    assert FastaGenome(bare).contig_length("chr2") == 333 and index_problem(bare) is None


def test_an_index_older_than_an_edited_fasta_is_rebuilt(fasta, genome, capsys):
    fasta.contigs()  # builds the .fai
    longer = np.concatenate([genome.arrays["chr1"], np.zeros(130, dtype=np.int8)])
    edited = ArrayGenome({"chr1": longer, "chr2": genome.arrays["chr2"]})
    edited.write_fasta(fasta.path)
    _age_index(fasta.path)
    assert index_problem(fasta.path) is not None
    fresh = FastaGenome(fasta.path)
    assert fresh.contig_length("chr1") == 2130
    assert np.array_equal(fresh.fetch("chr2", 0, 333), genome.arrays["chr2"])  # not shifted by the edit
    assert "rebuilding the index" in capsys.readouterr().err
    assert index_problem(fasta.path) is None


@pytest.mark.parametrize("case", ["foreign", "garbage", "edited"])
def test_a_stale_or_foreign_index_in_a_read_only_folder_is_refused(tmp_path, genome, monkeypatch, case):
    path = genome.write_fasta(tmp_path / "g.fa")
    FastaGenome(path).contigs()
    fai = tmp_path / "g.fa.fai"
    if case == "foreign":  # the index of another genome, with the same contig names
        other = ArrayGenome({"chr1": genome.arrays["chr1"][:1500], "chr2": genome.arrays["chr2"]})
        other_path = other.write_fasta(tmp_path / "other.fa")
        FastaGenome(other_path).contigs()
        shutil.copy(tmp_path / "other.fa.fai", fai)
    elif case == "garbage":
        fai.write_text("chr1\t2000\tx\n")
    else:  # an edit that shortens a line in the middle of chr1
        text = path.read_text().splitlines(keepends=True)
        text[5] = text[5][1:]
        path.write_text("".join(text))
        _age_index(path)
    _read_only(monkeypatch, tmp_path)
    with pytest.raises(SequenceError, match=r"the index .*g\.fa\.fai does not match .*stale or belongs to another FASTA") as error:
        FastaGenome(path).contigs()
    assert "\n" not in str(error.value)


def test_an_older_but_consistent_index_in_a_read_only_folder_is_used(tmp_path, genome, monkeypatch, recwarn):
    path = genome.write_fasta(tmp_path / "g.fa")
    FastaGenome(path).contigs()
    _age_index(path)
    _read_only(monkeypatch, tmp_path)
    source = FastaGenome(path)
    assert np.array_equal(source.fetch("chr1", 10, 200), genome.arrays["chr1"][10:200])
    assert not [w for w in recwarn if "older than" in str(w.message)]


def test_a_truncated_gzip_regions_file_is_one_line(tmp_path):
    packed = tmp_path / "regions.fa.gz"
    with gzip.open(packed, "wt") as handle:
        handle.write("".join(f">chr1:{i * 10}-{i * 10 + 4}\nACGT\n" for i in range(2000)))
    packed.write_bytes(packed.read_bytes()[:-40])
    with pytest.raises(InputFileError, match=r"regions\.fa\.gz is truncated or not valid gzip") as error:
        RegionSequences(packed).contigs()
    assert "\n" not in str(error.value)
