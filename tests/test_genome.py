"""Sequence sources: FASTA via pyfaidx, pre-extracted regions, in-memory arrays."""

from __future__ import annotations

import gzip
import pickle
import shutil

import numpy as np
import pytest

from epizoo.errors import InputFileError, SequenceError
from epizoo.genome import ArrayGenome, FastaGenome, RegionSequences, open_sequence_source
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
