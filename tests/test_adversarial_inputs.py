"""Adversarial inputs (issue 21, the last items): a stale .fai caught by its sampled line ends, FASTA
records of no base indexed as samtools and pyfaidx index them, tracks and contact maps of another
assembly, non-finite track values, pipes given as input files, a full TMPDIR, and integer options
beyond any sensible value. Each bad input is one clear line with a non-zero exit."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from epizoo.cli import cli
from epizoo.errors import InputFileError, SequenceError

sys.path.insert(0, str(Path(__file__).parent))


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_failure(result, *words: str) -> str:
    assert result.exit_code != 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output, result.output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# ---- 1. a stale .fai whose offsets still fit: sampled line ends ------------------------------------


def _newer_index(path: Path) -> None:
    """The .fai newer than its FASTA (copied after it, or the FASTA's time kept by `cp -p`): no rebuild by age."""
    fai = Path(f"{path}.fai")
    stat = path.stat()
    os.utime(fai, (stat.st_atime + 100, stat.st_mtime + 100))


def _read_only(monkeypatch, folder: Path) -> None:
    import epizoo.genome as genome_module

    real = os.access
    monkeypatch.setattr(genome_module.os, "access", lambda p, mode: False if Path(p) == folder else real(p, mode))


@pytest.fixture
def shifted(tmp_path):
    """A FASTA indexed, then edited so that line 11 of chr1 gains a base and line 31 loses one: the
    file's size, every header, and chr1's first, middle and last lines stay where the index says,
    but bases on lines 12-31 now sit one byte later."""
    from epizoo.genome import ArrayGenome, FastaGenome

    rng = np.random.default_rng(3)
    genome = ArrayGenome({"chr1": rng.integers(0, 4, 6000, dtype=np.int8), "chr2": rng.integers(0, 4, 500, dtype=np.int8)})
    path = genome.write_fasta(tmp_path / "g.fa")
    FastaGenome(path).contigs()
    lines = path.read_text().splitlines(keepends=True)  # line 0 is >chr1; chr1's line k is lines[k + 1]
    lines[11] = lines[11][:-1] + "A\n"
    lines[31] = lines[31][1:]
    path.write_text("".join(lines))
    _newer_index(path)
    return path, genome


def test_a_stale_index_with_shifted_middle_lines_is_caught(shifted):
    from epizoo.genome import index_problem

    path, _ = shifted
    assert "of sequence chr1 is not 60 bases long as the index says" in index_problem(path)


def test_a_stale_index_with_shifted_middle_lines_is_not_used_where_writable(shifted, capsys):
    """It is dropped for a rebuild, which finds the lines of unequal length (no longer a FASTA any
    indexer reads): one line, never windows read a base off."""
    from epizoo.genome import FastaGenome

    path, _ = shifted
    with pytest.raises(SequenceError, match=r"cannot index .*g\.fa \(.*not consistent.*line 12") as error:
        FastaGenome(path).fetch("chr1", 1500, 1600)
    assert "\n" not in str(error.value)
    assert "rebuilding the index" in capsys.readouterr().err


def test_a_stale_index_with_shifted_middle_lines_is_refused_read_only(shifted, monkeypatch):
    from epizoo.genome import FastaGenome

    path, _ = shifted
    _read_only(monkeypatch, path.parent)
    with pytest.raises(SequenceError, match=r"does not match .*line \d+ of sequence chr1 .*stale or belongs to another FASTA") as error:
        FastaGenome(path).contigs()
    assert "\n" not in str(error.value)


def test_the_sampled_check_stays_cheap(tmp_path, monkeypatch):
    """A few seeks per record plus at most 18 records x 16 line ends, never the sequence."""
    import epizoo.genome as genome_module
    from epizoo.genome import ArrayGenome, FastaGenome

    rng = np.random.default_rng(4)
    genome = ArrayGenome({f"c{i}": rng.integers(0, 4, 3000 + i, dtype=np.int8) for i in range(40)})
    path = genome.write_fasta(tmp_path / "g.fa")
    FastaGenome(path).contigs()
    reads = []
    real = genome_module._read_at
    monkeypatch.setattr(genome_module, "_read_at", lambda handle, at, size: reads.append(size) or real(handle, at, size))
    assert genome_module.index_problem(path) is None
    assert len(reads) <= 40 * 5 + 18 * 16 and max(reads) <= 1 << 16


# ---- 2. records of no base, as samtools and pyfaidx index them -------------------------------------

EMPTY_FASTA = ">chr1 first\nACGTACGTAC\nACGTAC\n>chrE nothing here\n>chr2\nGGGGCCCCAA\nTT\n>chrF\n\n>chr3\nA\n"
# The index current samtools (htslib's faidx, as pysam 0.24 runs it) writes for EMPTY_FASTA: a header
# with no sequence line is left out of the index (no line for chrE or chrF).
SAMTOOLS_FAI = "chr1\t16\t12\t10\t11\nchr2\t12\t55\t10\t11\nchr3\t1\t82\t1\t2\n"
# pyfaidx's own index of it (what epizoo writes when there is none): length 0, the offset where the
# sequence would start, and the line lengths of its blank lines (0, or 0 and 1). Older samtools wrote the
# previous record's line lengths there (or -1 for a first record), and the offset past a blank line.
PYFAIDX_FAI = "chr1\t16\t12\t10\t11\nchrE\t0\t49\t0\t0\nchr2\t12\t55\t10\t11\nchrF\t0\t75\t0\t1\nchr3\t1\t82\t1\t2\n"
OLD_SAMTOOLS_FAI = "chr1\t16\t12\t10\t11\nchrE\t0\t49\t10\t11\nchr2\t12\t55\t10\t11\nchrF\t0\t76\t10\t11\nchr3\t1\t82\t1\t2\n"


def test_samtools_leaves_records_of_no_base_out_of_its_index(tmp_path):
    """The convention the hand-written SAMTOOLS_FAI follows, checked against htslib itself."""
    import pysam

    path = tmp_path / "e.fa"
    path.write_text(EMPTY_FASTA)
    pysam.faidx(str(path))
    assert Path(f"{path}.fai").read_text() == SAMTOOLS_FAI


@pytest.mark.parametrize("fai", [SAMTOOLS_FAI, PYFAIDX_FAI, OLD_SAMTOOLS_FAI], ids=["samtools", "pyfaidx", "old-samtools"])
def test_an_index_with_records_of_no_base_is_accepted(tmp_path, monkeypatch, capsys, fai):
    from epizoo.genome import FastaGenome, index_problem
    from epizoo.sequence import decode

    path = tmp_path / "e.fa"
    path.write_text(EMPTY_FASTA)
    Path(f"{path}.fai").write_text(fai)
    _newer_index(path)
    assert index_problem(path) is None
    _read_only(monkeypatch, tmp_path)  # where it could not be rebuilt, it is still used
    source = FastaGenome(path)
    assert source.contigs() == ["chr1", "chrE", "chr2", "chrF", "chr3"]
    assert [source.contig_length(c) for c in source.contigs()] == [16, 0, 12, 0, 1]
    assert decode(source.fetch("chr2", 8, 14)) == "AATTNN" and decode(source.fetch("chr3", -1, 2)) == "NAN"
    assert decode(source.fetch("chrE", 0, 5)) == "NNNNN" and decode(source.fetch_many("chrF", np.array([-2, 3]), 3)) == ["NNN", "NNN"]
    with pytest.raises(SequenceError, match="lies off the end of chrE"):
        source.has("chrE", 0, 10)
    assert Path(f"{path}.fai").read_text() == fai and "rebuilding" not in capsys.readouterr().err


def test_pyfaidx_s_own_index_of_records_of_no_base_is_not_rebuilt_on_every_run(tmp_path, capsys):
    from epizoo.genome import FastaGenome, index_problem

    path = tmp_path / "e.fa"
    path.write_text(EMPTY_FASTA.replace(">chr3\nA\n", ">chrLast"))  # even a last header with no newline
    assert FastaGenome(path).contig_length("chrLast") == 0
    assert index_problem(path) is None
    FastaGenome(path).contigs()
    assert "rebuilding" not in capsys.readouterr().err


def test_a_stale_index_beside_a_record_of_no_base_is_still_refused(tmp_path):
    """An index that leaves out a record holding bases is not one of samtools' (it lists all of those)."""
    from epizoo.genome import index_problem

    path = tmp_path / "e.fa"
    path.write_text(EMPTY_FASTA)
    Path(f"{path}.fai").write_text("chr1\t16\t12\t10\t11\nchr3\t1\t71\t1\t2\n")  # chr2 left out
    assert "does not name sequence chr3" in index_problem(path)
