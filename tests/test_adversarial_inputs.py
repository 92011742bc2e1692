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

from epizoo.cli import cli
from epizoo.errors import InputFileError, SequenceError

sys.path.insert(0, str(Path(__file__).parent))
from test_adversarial import invoke, one_line_failure  # noqa: E402: the battery's one-line check, shared


# ---- 1. a stale .fai whose offsets still fit: sampled line ends ------------------------------------


def _newer_index(path: Path) -> None:
    """The .fai newer than its FASTA (copied after it, or the FASTA's time kept by `cp -p`): no rebuild by age."""
    fai = Path(f"{path}.fai")
    stat = path.stat()
    os.utime(fai, (stat.st_atime + 100, stat.st_mtime + 100))


def _read_only(monkeypatch, folder: Path) -> None:
    import epizoo.sources.genome as genome_module

    real = os.access
    monkeypatch.setattr(genome_module.os, "access", lambda p, mode: False if Path(p) == folder else real(p, mode))


@pytest.fixture
def shifted(tmp_path):
    """A FASTA indexed, then edited so that line 11 of chr1 gains a base and line 31 loses one: the
    file's size, every header, and chr1's first, middle and last lines stay where the index says,
    but bases on lines 12-31 now sit one byte later."""
    from epizoo.sources.genome import ArrayGenome, FastaGenome

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
    from epizoo.sources.genome import index_problem

    path, _ = shifted
    assert "of sequence chr1 is not 60 bases long as the index says" in index_problem(path)


def test_a_stale_index_with_shifted_middle_lines_is_not_used_where_writable(shifted, capsys):
    """It is dropped for a rebuild, which finds the lines of unequal length (no longer a FASTA any
    indexer reads): one line, never windows read a base off."""
    from epizoo.sources.genome import FastaGenome

    path, _ = shifted
    with pytest.raises(SequenceError, match=r"cannot index .*g\.fa \(.*not consistent.*line 12") as error:
        FastaGenome(path).fetch("chr1", 1500, 1600)
    assert "\n" not in str(error.value)
    assert "rebuilding the index" in capsys.readouterr().err


def test_a_stale_index_with_shifted_middle_lines_is_refused_read_only(shifted, monkeypatch):
    from epizoo.sources.genome import FastaGenome

    path, _ = shifted
    _read_only(monkeypatch, path.parent)
    with pytest.raises(SequenceError, match=r"does not match .*line \d+ of sequence chr1 .*stale or belongs to another FASTA") as error:
        FastaGenome(path).contigs()
    assert "\n" not in str(error.value)


def test_the_sampled_check_stays_cheap(tmp_path, monkeypatch):
    """A few seeks per record plus at most 18 records x 16 line ends, never the sequence."""
    import epizoo.sources.genome as genome_module
    from epizoo.sources.genome import ArrayGenome, FastaGenome

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
    from epizoo.sources.genome import FastaGenome, index_problem
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
    from epizoo.sources.genome import FastaGenome, index_problem

    path = tmp_path / "e.fa"
    path.write_text(EMPTY_FASTA.replace(">chr3\nA\n", ">chrLast"))  # even a last header with no newline
    assert FastaGenome(path).contig_length("chrLast") == 0
    assert index_problem(path) is None
    FastaGenome(path).contigs()
    assert "rebuilding" not in capsys.readouterr().err


def test_a_stale_index_beside_a_record_of_no_base_is_still_refused(tmp_path):
    """An index that leaves out a record holding bases is not one of samtools' (it lists all of those)."""
    from epizoo.sources.genome import index_problem

    path = tmp_path / "e.fa"
    path.write_text(EMPTY_FASTA)
    Path(f"{path}.fai").write_text("chr1\t16\t12\t10\t11\nchr3\t1\t71\t1\t2\n")  # chr2 left out
    assert "does not name sequence chr3" in index_problem(path)


# ---- 3. tracks and contact maps of another assembly ------------------------------------------------

from test_genome_layer import BIN, LENGTHS, MAX_DISTANCE, _bins, _pixels, _write_bigwig, files  # noqa: E402,F401


def _layer(files, tmp_path, tracks=None, contacts=None, *options):
    """``build-store`` of a genome-layer store from the module's FASTA and these YAML files."""
    args = ["build-store", "--genome", files["fasta"], "--bin-size", BIN, "--max-distance", MAX_DISTANCE,
            "--out", tmp_path / "out.zarr", "--no-progress", *options]
    args += ["--tracks", tracks] if tracks else []
    args += ["--contacts", contacts] if contacts else []
    return invoke(*args)


def _longer_track(files, folder: Path, extra: int = 1_000) -> Path:
    """The module's CTCF values with chr1 ``extra`` bp longer (in its header too): another assembly's chr1."""
    values = dict(files["values"]["ctcf"])
    values["chr1"] = np.concatenate([values["chr1"], np.ones(extra, dtype=np.float32)])
    _write_bigwig(folder / "other.bw", values)
    (folder / "t.yaml").write_text("GM:\n  CTCF: other.bw\n")
    return folder / "t.yaml"


def test_a_track_of_another_assembly_is_refused(files, tmp_path):
    line = one_line_failure(_layer(files, tmp_path, _longer_track(files, tmp_path)),
                            "other.bw", "chr1", "204,000 bp", "203,000 bp", "same assembly", "--allow-assembly-mismatch")
    assert "genome.fa" in line and not (tmp_path / "out.zarr").exists()


def test_a_track_of_another_assembly_is_read_when_allowed(files, tmp_path):
    from epizoo.store.genome_reader import GenomeLayer
    from epizoo.store.io import open_store

    result = _layer(files, tmp_path, _longer_track(files, tmp_path), None, "--allow-assembly-mismatch", "--json")
    assert result.exit_code == 0, result.output
    assert "WARNING: track GM/CTCF (other.bw) gives chr1 204,000 bp but genome.fa gives it 203,000 bp" in result.output
    layer = GenomeLayer(open_store(tmp_path / "out.zarr"))
    assert layer.contigs()["chr1"] == 203_000  # the genome's length; the track is cut to it
    assert np.isfinite(layer.track("GM", "CTCF", "chr1", 202_990, 203_000)).all()


def _shorter_map(folder: Path, cut: int = 20_000) -> Path:
    import cooler

    rng = np.random.default_rng(5)
    bins = _bins(BIN, rng, masked=False)
    keep = ~((bins["chrom"] == "chr2") & (bins["start"] >= LENGTHS["chr2"] - cut))
    bins = bins[keep].reset_index(drop=True)
    last = bins.index[bins["chrom"] == "chr2"][-1]
    bins.loc[last, "end"] = LENGTHS["chr2"] - cut  # chr2 is `cut` bp shorter in this map's assembly
    cooler.create_cooler(str(folder / "short.cool"), bins, _pixels(bins, rng, 4))
    (folder / "c.yaml").write_text("GM: short.cool\n")
    return folder / "c.yaml"


def test_a_contact_map_of_another_assembly_is_refused(files, tmp_path):
    contacts = _shorter_map(tmp_path)
    one_line_failure(_layer(files, tmp_path, None, contacts, "--no-balance"),
                     "contact map GM (short.cool)", "chr2", "131,500 bp", "151,500 bp", "same assembly", "--allow-assembly-mismatch")
    result = _layer(files, tmp_path, None, contacts, "--no-balance", "--allow-assembly-mismatch", "--json")
    assert result.exit_code == 0, result.output
    from epizoo.store.genome_reader import GenomeLayer
    from epizoo.store.io import open_store

    layer = GenomeLayer(open_store(tmp_path / "out.zarr"))
    assert np.isnan(layer.contacts("GM", "chr2", 140_000, 150_000)).all()  # past the map's chr2: unmeasured
    assert np.isfinite(layer.contacts("GM", "chr2", 0, 20_000)).any()


def _signal_tracks(folder: Path, chroms: dict[str, int], entries) -> Path:
    from test_signals import write_bigwig

    write_bigwig(folder / "a.bw", chroms, entries)
    (folder / "tracks.yaml").write_text("A:\n  CTCF: a.bw\n")
    return folder / "tracks.yaml"


def _pairs(*rows):
    from test_signals import pair_frame

    return pair_frame([("A", *row) for row in rows])


def test_a_pair_past_the_end_of_a_signal_track_is_one_line_without_a_genome(tmp_path):
    from epizoo.sources import signals

    tracks = _signal_tracks(tmp_path, {"chr1": 10_000}, [("chr1", 100, 200, 2.0)])
    pairs = _pairs(("chr1", 100, 300, "chr1", 1000, 1200), ("chr1", 500, 700, "chr1", 9_900, 10_100))
    with pytest.raises(InputFileError, match=r"a\.bw: the promoter chr1:9900-10100 of a pair runs past the end of chr1 in "
                                             r"the track \(10,000 bp\); tracks and pairs must be the same assembly") as error:
        signals.resolve(str(tracks), pairs)
    assert "\n" not in str(error.value)
    allowed = signals.resolve(str(tracks), pairs, allow_assembly_mismatch=True)  # bases past the end: uncovered
    assert np.isfinite(allowed.values).all()


def test_a_signal_track_of_another_assembly_than_the_genome_is_refused(tmp_path):
    from epizoo.sources import signals
    from epizoo.sources.genome import ArrayGenome

    genome = ArrayGenome({"chr1": np.zeros(12_000, dtype=np.int8)}, name="hg-test.fa")
    tracks = _signal_tracks(tmp_path, {"chr1": 10_000}, [("chr1", 100, 200, 2.0)])
    pairs = _pairs(("chr1", 100, 300, "chr1", 1000, 1200))
    with pytest.raises(InputFileError, match=r"a\.bw gives chr1 10,000 bp but hg-test\.fa gives it 12,000 bp; tracks and genome "
                                             r"must be the same assembly.*--allow-assembly-mismatch"):
        signals.resolve(str(tracks), pairs, genome=genome)
    assert signals.resolve(str(tracks), pairs, genome=genome, allow_assembly_mismatch=True).values[0, 0, 0] == pytest.approx(1.0)


def test_build_store_signals_are_checked_against_the_fasta(files, tmp_path):
    bedpe = tmp_path / "p.bedpe"
    bedpe.write_text("chr1\t1000\t1200\tchr1\t30000\t30200\tp0\t.\t.\t.\t1\tGM\n"
                     "chr1\t5000\t5200\tchr1\t90000\t90200\tp1\t.\t.\t.\t0\tGM\n")
    tracks = _longer_track(files, tmp_path)
    args = ["build-store", "--dataset", "bedpe", "--bedpe", bedpe, "--genome", files["fasta"], "--signals", tracks,
            "--enhancer-window", 200, "--promoter-window", 200, "--out", tmp_path / "s.zarr", "--no-progress"]
    one_line_failure(invoke(*args), "other.bw gives chr1 204,000 bp but genome.fa gives it 203,000 bp")
    result = invoke(*args, "--allow-assembly-mismatch", "--json")
    assert result.exit_code == 0, result.output


# ---- 4. finite values only in tracks ---------------------------------------------------------------


def _track_with(files, folder: Path, contig: str, at: int, value: float) -> Path:
    """The module's CTCF track with one base set to ``value`` (pyBigWig refuses inf from numpy, not from a list)."""
    import pyBigWig

    values = files["values"]["ctcf"]
    bw = pyBigWig.open(str(folder / "odd.bw"), "w")
    bw.addHeader([(c, len(v)) for c, v in values.items()])
    for name, v in values.items():
        for lo, hi in ((0, 50_000), (60_000, len(v))):
            row = v[lo:hi].astype(np.float64).tolist()
            if name == contig and lo <= at < hi:
                row[at - lo] = value
            bw.addEntries(name, lo, values=row, span=1, step=1)
    bw.close()
    (folder / "t.yaml").write_text("GM:\n  CTCF: odd.bw\n")
    return folder / "t.yaml"


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_an_infinite_track_value_is_refused_in_the_layer(files, tmp_path, value):
    line = one_line_failure(_layer(files, tmp_path, _track_with(files, tmp_path, "chr2", 70_123, value)),
                            "track GM/CTCF (odd.bw)", "inf on chr2", "finite")
    assert line.count("inf") >= 1 and not (tmp_path / "out.zarr").exists()


def test_a_nan_track_value_is_unmeasured_in_the_layer(files, tmp_path):
    """NaN means nothing measured there: stored as NaN (and pyBigWig's header(), which crashes on it, is not asked)."""
    from epizoo.store.genome_reader import GenomeLayer
    from epizoo.store.io import open_store

    result = _layer(files, tmp_path, _track_with(files, tmp_path, "chr2", 70_123, float("nan")), None, "--json")
    assert result.exit_code == 0, result.output
    layer = GenomeLayer(open_store(tmp_path / "out.zarr"))
    expected = files["values"]["ctcf"]["chr2"][70_120:70_130]
    assert layer.track("GM", "CTCF", "chr2", 70_120, 70_130)[0] == pytest.approx(np.nanmean(np.delete(expected, 3)), rel=1e-2)


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_an_infinite_signal_value_is_refused(tmp_path, value):
    from epizoo.sources import signals

    tracks = _signal_tracks(tmp_path, {"chr1": 10_000}, [("chr1", 100, 200, 2.0), ("chr1", 5_000, 5_001, value)])
    with pytest.raises(InputFileError, match=r"a\.bw holds -?inf on chr1; a track must hold finite numbers") as error:
        signals.resolve(str(tracks), _pairs(("chr1", 100, 300, "chr1", 1000, 1200)))
    assert "\n" not in str(error.value)


def test_a_nan_signal_value_counts_as_an_uncovered_base(tmp_path):
    """pyBigWig's sum over an element with one NaN base gives up (None): the other bases still count."""
    from epizoo.sources import signals

    tracks = _signal_tracks(tmp_path, {"chr1": 10_000}, [("chr1", 100, 150, 2.0), ("chr1", 150, 151, float("nan")),
                                                         ("chr1", 151, 200, 2.0)])
    measured = signals.resolve(str(tracks), _pairs(("chr1", 100, 300, "chr1", 1000, 1200)))
    assert measured.values[0, 0, 0] == pytest.approx(2.0 * 99 / 200)


# ---- 5. pipes given as input files -----------------------------------------------------------------


@pytest.mark.parametrize("option", ["--bedpe", "--genome", "--regions", "--signals", "--tracks", "--contacts"])
def test_build_store_refuses_a_named_pipe_as_any_input(files, tmp_path, option):
    fifo = tmp_path / "input.fifo"
    os.mkfifo(fifo)  # nothing ever writes it: a reader that opened it would hang, not fail
    bedpe = tmp_path / "p.bedpe"
    bedpe.write_text("chr1\t1000\t1200\tchr1\t30000\t30200\tp0\t.\t.\t.\t1\tGM\nchr1\t5000\t5200\tchr1\t90000\t90200\tp1\t.\t.\t.\t0\tGM\n")
    given = {"--bedpe": bedpe, "--genome": files["fasta"], option: fifo}
    if option == "--regions":
        given.pop("--genome")
    args = ["build-store", "--dataset", "bedpe", *[a for kv in given.items() for a in kv], "--out", tmp_path / "s.zarr", "--no-progress"]
    one_line_failure(invoke(*args), f"{option} {fifo} is a pipe", "write it to a file first")
    assert not (tmp_path / "s.zarr").exists()


def test_a_pipe_named_inside_a_yaml_or_given_to_a_reader_is_one_line(tmp_path):
    from epizoo.datasets.bedpe import read_bedpe
    from epizoo.sources.genome import FastaGenome
    from epizoo.sources.tracks import read_tracks_yaml

    fifo = tmp_path / "t.bw"
    os.mkfifo(fifo)
    (tmp_path / "tracks.yaml").write_text("GM:\n  CTCF: t.bw\n")
    with pytest.raises(InputFileError, match=r"tracks\.yaml: GM/CTCF names 't\.bw', but .*t\.bw is a pipe"):
        read_tracks_yaml(tmp_path / "tracks.yaml")
    with pytest.raises(InputFileError, match=r"BEDPE file .*t\.bw is a pipe"):
        read_bedpe(fifo)
    with pytest.raises(InputFileError, match=r"genome FASTA .*t\.bw is a pipe"):
        FastaGenome(fifo)


def test_bedpe_from_dev_stdin_is_one_line(files, tmp_path):
    """`... | epizoo build-store --bedpe /dev/stdin`: the shell's pipe, in a real process."""
    import subprocess

    args = [sys.executable, "-m", "epizoo", "build-store", "--dataset", "bedpe", "--bedpe", "/dev/stdin", "--genome",
            str(files["fasta"]), "--out", str(tmp_path / "s.zarr"), "--no-progress"]
    done = subprocess.run(args, input="chr1\t1000\t1200\tchr1\t30000\t30200\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        "Error: --bedpe /dev/stdin is a pipe; epizoo may read an input more than once, so write it to a file first "
        "(e.g. `zcat pairs.bedpe.gz > pairs.bedpe`) and pass that"
    ], done.stderr


# ---- 6. a full TMPDIR names TMPDIR, not --out --------------------------------------------------------


@pytest.fixture
def bedpe_inputs(tmp_path, monkeypatch):
    """A tiny checkpoint, a FASTA and a BEDPE for `predict --bedpe`, and TMPDIR set to a folder of the test's."""
    import tempfile

    from test_predict import BEDPE_PAIRS, CONTIG, write_bedpe
    from test_scan import save_tiny_checkpoint

    from epizoo.sources.genome import ArrayGenome

    rng = np.random.default_rng(7)
    fasta = ArrayGenome({c: rng.integers(0, 4, CONTIG, dtype=np.int8) for c in ("chr1", "chr2", "chr3")}).write_fasta(tmp_path / "g.fa")
    temporary = tmp_path / "tmpdir"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    return {"checkpoint": save_tiny_checkpoint(tmp_path / "ck", "simcnn"), "fasta": fasta,
            "bedpe": write_bedpe(tmp_path / "pairs.bedpe", BEDPE_PAIRS), "tmpdir": temporary}


def _no_space(*args, **kwargs):
    import errno
    import tempfile

    raise OSError(errno.ENOSPC, "No space left on device", str(Path(tempfile.gettempdir()) / "epizoo-predict-x" / "pairs.zarr"))


def test_a_full_tmpdir_under_predict_bedpe_names_tmpdir(bedpe_inputs, tmp_path, monkeypatch):
    import epizoo.store.build as build

    monkeypatch.setattr(build, "_write_tables", _no_space)  # the temporary store's first write
    result = invoke("predict", "--bedpe", bedpe_inputs["bedpe"], "--genome", bedpe_inputs["fasta"], "--checkpoint",
                    bedpe_inputs["checkpoint"], "-o", tmp_path / "scores.tsv")
    line = one_line_failure(result, f"no space left in the temporary directory {bedpe_inputs['tmpdir']} (TMPDIR)",
                            "set TMPDIR to a folder with room")
    assert "--out" not in line and not (tmp_path / "scores.tsv").exists()
    assert not list(bedpe_inputs["tmpdir"].iterdir())  # the scratch folder is gone


def test_a_full_tmpdir_anywhere_else_names_tmpdir(bedpe_inputs, tmp_path, monkeypatch):
    """An ENOSPC under TMPDIR that no command turned into a line (a library's temporary file) still is one."""
    import epizoo.inference as inference

    monkeypatch.setattr(inference, "score_pairs", _no_space)
    result = invoke("predict", "--bedpe", bedpe_inputs["bedpe"], "--genome", bedpe_inputs["fasta"], "--checkpoint",
                    bedpe_inputs["checkpoint"], "-o", tmp_path / "scores.tsv")
    one_line_failure(result, "no space left in the temporary directory", "(TMPDIR)", "epizoo-predict-x")


def test_a_full_disk_at_a_store_s_own_out_still_says_out(tmp_path, monkeypatch):
    import errno

    from epizoo.store.writing import _os_error_line

    monkeypatch.setattr(__import__("tempfile"), "tempdir", str(tmp_path))
    exc = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "s.zarr" / "x"))
    assert "choose another --out" in _os_error_line(tmp_path / "s.zarr", exc)  # the user's --out, even inside TMPDIR


# ---- 7. integer options: bounded on both sides --------------------------------------------------------


def _integer_options() -> list[tuple[str, str]]:
    """(command, option) for every integer option of every command, hidden ones and plugins' included."""
    import click

    ctx = click.Context(cli)
    cli.add_plugin_commands()
    found = []
    for name in sorted(cli.list_commands(ctx)):
        command = cli.get_command(ctx, name)
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(param.type, click.types.IntParamType):
                found.append((name, max(param.opts, key=len)))
    return found


INTEGER_OPTIONS = _integer_options()


def test_every_integer_option_is_bounded():
    import click

    ctx = click.Context(cli)
    loose = []
    for name, flag in INTEGER_OPTIONS:
        param = next(p for p in cli.get_command(ctx, name).params if flag in p.opts)
        kind = param.type
        if not isinstance(kind, click.IntRange) or kind.min is None or kind.max is None or kind.min < 0:
            loose.append(f"{name} {flag}")
    assert len(INTEGER_OPTIONS) > 40 and not loose, loose


@pytest.mark.parametrize("value", [str(2**70), "-1"], ids=["2**70", "-1"])
@pytest.mark.parametrize("command, flag", INTEGER_OPTIONS, ids=[f"{c} {f}" for c, f in INTEGER_OPTIONS])
def test_an_integer_option_out_of_range_is_a_usage_error(command, flag, value):
    result = invoke(command, flag, value)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert f"Invalid value for '{flag}'" in result.output and not isinstance(result.exception, (OverflowError, ValueError))


def test_the_largest_seed_runs(tmp_path):
    """2**32 - 1 reaches np.random.seed, torch and the store's generators without an error."""
    import epizoo

    store = tmp_path / "s.zarr"
    epizoo.simulate_store(store, n_pairs=60, n_contigs=3, cell_lines=1, seed=0)
    result = invoke("bench", store, "--models", "simcnn", "--folds", "chr1", "--tiny", "--no-progress", "--seed", 2**32 - 1,
                    "--threads", 1, "-o", tmp_path / "run")
    assert result.exit_code == 0, result.output


def test_the_genome_layer_leaves_out_contigs_of_no_base(tmp_path):
    """A track cannot cover a contig of length 0: it is not among the layer's contigs unless named."""
    from epizoo.sources.genome import FastaGenome
    from epizoo.sources.layer_files import FileLayerSource

    path = tmp_path / "e.fa"
    path.write_text(EMPTY_FASTA)
    Path(f"{path}.fai").write_text(SAMTOOLS_FAI)
    assert list(FileLayerSource(FastaGenome(path)).contigs) == ["chr1", "chr2", "chr3"]
    assert FileLayerSource(FastaGenome(path), contigs=["chrE", "chr3"]).contigs == {"chrE": 0, "chr3": 1}
