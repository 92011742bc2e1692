"""Sequence sources: where the bases of a store come from.

Every source answers the same questions (see ``docs/architecture.md``): which contigs it knows,
whether an element's sequence is known (``has``) and the int8 codes of a window (``fetch``), with
N (4) wherever the window runs off a contig or no base is known.

* :class:`FastaGenome`: a whole-genome FASTA read with pyfaidx, opened lazily per process.
* :class:`RegionSequences`: pre-extracted element sequences in ``bedtools getfasta`` form.
* :class:`ArrayGenome`: an in-memory genome (synthetic data and tests).

Whole-genome sources are *strict*: asking about a contig they lack, or an element that lies off
or runs past a contig's end, is a user error (:class:`SequenceError`), not a silently dropped pair.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import warnings
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from epizoo import console
from epizoo.contigs import find as find_contig
from epizoo.coords import from_targetfinder_name, parse_region
from epizoo.errors import InputFileError, SequenceError
from epizoo.sequence import N_CODE, decode, encode
from epizoo.textfile import is_gzip, refuse_special_file

if TYPE_CHECKING:
    from epizoo.store.genome_layer import LayerSettings

_HASH_BLOCK = 1 << 20
_BYTE_CODES = encode(bytes(range(256)))  # code of every byte value: the letter lookup as an array


class SequenceSource:
    """Shared behaviour; subclasses implement ``contigs``, ``contig_length``, ``has``, ``fetch``."""

    name: str = ""
    strict: bool = True  # True: a missing contig or an off-contig element is a user error

    def contigs(self) -> list[str]:
        raise NotImplementedError

    def contig_length(self, contig: str) -> int | None:
        raise NotImplementedError

    def has(self, contig: str, start: int, end: int) -> bool:
        raise NotImplementedError

    def fetch(self, contig: str, start: int, end: int) -> np.ndarray:
        raise NotImplementedError

    def sha256(self) -> str:
        raise NotImplementedError

    def fetch_many(self, contig: str, starts: np.ndarray, length: int) -> np.ndarray:
        """Windows of ``length`` bases at each of ``starts`` on one contig, as a 2-D int8 array."""
        out = np.empty((len(starts), length), dtype=np.int8)
        for row, start in enumerate(np.asarray(starts, dtype=np.int64)):
            out[row] = self.fetch(contig, int(start), int(start) + length)
        return out

    def available(self, contig: str, start: int, end: int) -> bool:
        """``has`` that answers False instead of raising (for negative sampling)."""
        try:
            return self.has(contig, start, end)
        except SequenceError:
            return False


def _slice_padded(codes: np.ndarray, start: int, end: int) -> np.ndarray:
    """``codes[start:end]`` with N where the range runs past either end of ``codes``."""
    out = np.full(end - start, N_CODE, dtype=np.int8)
    lo, hi = max(start, 0), min(end, len(codes))
    if hi > lo:
        out[lo - start : hi - start] = codes[lo:hi]
    return out


def _gather_padded(codes: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Vectorised :func:`_slice_padded` for many equal-length windows."""
    index = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(length, dtype=np.int64)
    inside = (index >= 0) & (index < len(codes))
    out = codes[np.clip(index, 0, max(len(codes) - 1, 0))] if len(codes) else np.full(index.shape, N_CODE, np.int8)
    out[~inside] = N_CODE
    return out.astype(np.int8, copy=False)


def _naming_hint(contig: str, known: list[str]) -> str:
    """A few contigs the source has, plus a hint when 'chr1' meets '1'."""
    sample = ", ".join(known[:5]) + (", ..." if len(known) > 5 else "")
    position = find_contig(contig, known)  # the other naming style ('1' for 'chr1'), never the same name
    flipped = known[position] if position is not None and known[position] != contig else None
    hint = f"; the source names it {flipped!r} (rename contigs to match)" if flipped else ""
    return f"(it has {sample}){hint}"


class _WholeGenome(SequenceSource):
    """Checks shared by FASTA and array genomes, which know every contig's length."""

    def _codes(self, contig: str) -> np.ndarray:
        raise NotImplementedError

    def _require_contig(self, contig: str) -> int:
        length = self.contig_length(contig)
        if length is None:
            raise SequenceError(f"contig {contig!r} is not in {self.name} {_naming_hint(contig, self.contigs())}")
        return length

    def has(self, contig: str, start: int, end: int) -> bool:
        length = self._require_contig(contig)
        if start >= length:
            raise SequenceError(
                f"element {contig}:{start}-{end} lies off the end of {contig} ({length} bp) in {self.name}; "
                "check that the coordinates and the genome build match"
            )
        if end > length:
            # its own bases would be N-padded: a wrong build or a bad coordinate, never data
            raise SequenceError(
                f"element {contig}:{start}-{end} runs past the end of {contig} ({length} bp) in {self.name}; "
                "check that the coordinates and the genome build match, or trim the element to the contig"
            )
        return True

    def fetch(self, contig: str, start: int, end: int) -> np.ndarray:
        self._require_contig(contig)
        return _slice_padded(self._codes(contig), start, end)

    def fetch_many(self, contig: str, starts: np.ndarray, length: int) -> np.ndarray:
        self._require_contig(contig)
        return _gather_padded(self._codes(contig), starts, length)


def file_sha256(path: Path) -> str:
    """sha256 of a file, streamed in blocks so large genomes (and stores) never sit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _is_bgzip(path: Path) -> bool:
    """BGZF is gzip with an extra field whose subfield id is 'BC' (SAM spec, section 4.1)."""
    with open(path, "rb") as handle:
        header = handle.read(18)
    return len(header) == 18 and header[3] & 4 and header[12:14] == b"BC"


_HEADER_LIMIT = 1 << 16  # a FASTA header line longer than this is taken as a sign of a foreign index
_SAMPLED_RECORDS = 16  # records whose lines are checked densely, besides the first and the last
_SAMPLED_LINES = 16  # line ends checked in each of those, spread over the record


def _read_at(handle, position: int, size: int) -> bytes:
    handle.seek(position)
    return handle.read(size)


def _fai_records(fai: Path) -> list[tuple[str, int, int, int, int]]:
    """``(name, length, offset, bases per line, bytes per line)`` of every line of a ``.fai``.

    A record of no base (a header with no sequence line) has no lines, so its line lengths are
    whatever the indexer wrote (pyfaidx: 0 and 0; older samtools: the previous record's, or -1):
    they are read as 0 and 0. Current samtools leaves such records out (see :func:`index_problem`).
    """
    records = []
    for number, line in enumerate(fai.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 5:
            raise ValueError(f"line {number} has {len(fields)} fields, a .fai line has 5")
        name, *numbers = fields[:5]
        length, offset, line_bases, line_bytes = (int(n) for n in numbers)
        if length == 0 and offset >= 0:
            line_bases = line_bytes = 0
        elif length < 0 or offset < 0 or line_bases <= 0 or not 0 <= line_bytes - line_bases <= 2:
            raise ValueError(f"line {number} ({name}) has impossible line lengths or offsets")
        records.append((name, length, offset, line_bases, line_bytes))
    if not records:
        raise ValueError("it lists no sequences")
    return records


def _header_names(block: bytes) -> list[str] | None:
    """The names on the header lines of ``block`` (blank lines between them allowed), or None
    when a line of it is not a header."""
    names = []
    for line in block.splitlines():
        if not line.strip():
            continue
        if not line.startswith(b">"):
            return None
        words = line[1:].split()
        names.append(words[0].decode("utf-8", "replace") if words else "")
    return names


def _spread(n: int, k: int) -> list[int]:
    """``k`` of ``range(n)`` spread evenly, the first and the last among them (all of it when ``n <= k``)."""
    if n <= k:
        return list(range(n))
    return sorted({round(j * (n - 1) / (k - 1)) for j in range(k)})


def index_check(fasta: str | os.PathLike, fai: str | os.PathLike | None = None) -> tuple[str | None, dict[str, int]]:
    """Why a ``.fai`` does not describe this plain FASTA (None when it does), and the records of
    no base it leaves out, by the byte where each one's header starts.

    A cheap check that reads a few bytes per sequence, never the sequences: the index must parse;
    each record's header line must name it and end just before its first base; its first, middle
    and last full lines must end where the index says (``line_bases`` bases, then the newline);
    each record must end where the next header (or the file) begins. The first and the last
    record, and up to 16 spread between them, have 16 line ends checked each, spread over the
    record: an edit that changes line lengths but not the file's size shifts them. A stale index
    (the FASTA edited after indexing) or one from another FASTA fails it; an edit that keeps every
    checked line end in place may not.

    A header with no sequence line is a record of no base: pyfaidx (and older samtools) index it
    with length 0; current samtools leaves it out of the index, so a header naming no indexed
    record, just before the next one's, is such a record (returned, as its length is 0).
    """
    fasta = Path(fasta)
    fai = Path(fai) if fai is not None else Path(f"{fasta}.fai")
    try:
        records = sorted(_fai_records(fai), key=lambda r: r[2])
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"it is not a readable FASTA index: {exc}", {}
    size = fasta.stat().st_size
    dense = set(_spread(len(records), _SAMPLED_RECORDS + 2))
    empty: dict[str, int] = {}
    with open(fasta, "rb") as handle:
        expected = 0  # where the next header line may begin
        for i, (name, length, offset, line_bases, line_bytes) in enumerate(records):
            last = i == len(records) - 1
            if offset - expected > _HEADER_LIMIT or offset < expected:
                return f"sequence {name} is not where the index puts it (byte {offset:,})", {}
            block = _read_at(handle, expected, offset - expected)
            names = _header_names(block)
            ends = block.endswith(b"\n") or (last and length == 0 and offset == size)  # a last empty record may end the file
            if not ends or not names or names[-1] != name:
                return f"the header before byte {offset:,} does not name sequence {name}", {}
            empty.update((skipped, expected + k) for k, skipped in enumerate(names[:-1]))
            full, rest = divmod(length, line_bases) if length else (0, 0)
            newline = line_bytes - line_bases
            lines = {0, full // 2, full - 1} if full else set()
            if full and i in dense:
                lines |= set(_spread(full, _SAMPLED_LINES))
            for line in sorted(lines):
                start = offset + line * line_bytes
                chunk = _read_at(handle, start + line_bases - 1, 1 + newline)
                if len(chunk) < 1 + newline or chunk[:1] in (b"\n", b"\r", b">") or chunk[1:] not in (b"\n", b"\r\n", b""):
                    return f"line {line + 1} of sequence {name} is not {line_bases} bases long as the index says", {}
            end = offset + full * line_bytes + (rest + newline if rest else 0)
            if end > size and not (last and end - size <= newline):  # the last line may lack its newline
                return f"sequence {name} runs past the end of the file ({length:,} bases in the index)", {}
            if rest:
                ending = _read_at(handle, end - newline - 1, 1 + newline)
                if ending[:1] in (b"\n", b"\r", b">") or ending[1:] not in (b"\n", b"\r\n", b"")[: 3 if last else 2]:
                    return f"the last line of sequence {name} is not {rest} bases long as the index says", {}
            expected = end
        trailing = _read_at(handle, expected, _HEADER_LIMIT + 1) if expected < size else b""
        names = _header_names(trailing) if len(trailing) <= _HEADER_LIMIT else None
        if trailing.strip() and names is None:
            return f"the file holds more than the index describes (from byte {expected:,})", {}
        empty.update((skipped, expected + k) for k, skipped in enumerate(names or []))
    return None, empty


def index_problem(fasta: str | os.PathLike, fai: str | os.PathLike | None = None) -> str | None:
    """Why a ``.fai`` does not describe this plain FASTA, or None when it does (:func:`index_check`)."""
    return index_check(fasta, fai)[0]


class FastaGenome(_WholeGenome):
    """A whole-genome FASTA (plain or bgzip) read through pyfaidx.

    The pyfaidx handle is opened on first use and dropped when pickled, so the object can be
    sent to DataLoader or dask workers. Whole contigs are read once and cached (the most recent
    one), which makes fetching many windows per contig fast.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            refuse_special_file(self.path, "genome FASTA")
            raise InputFileError(f"genome FASTA {self.path} does not exist; pass the path of a whole-genome FASTA")
        self.name = self.path.name
        self.compressed = is_gzip(self.path)
        self._fasta = None
        self._mapped: np.ndarray | None = None
        self._cached: tuple[str, np.ndarray] | None = None
        self._sha256: str | None = None
        self._empty: dict[str, int] = {}  # records of no base the .fai leaves out (samtools), by header byte

    def __getstate__(self):
        return {"path": self.path, "name": self.name, "compressed": self.compressed, "_sha256": self._sha256}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._fasta = None
        self._mapped = None
        self._cached = None
        self._empty = {}

    @property
    def fasta(self):
        if self._fasta is None:
            self._fasta = self._open()
        return self._fasta

    def _open(self):
        import pyfaidx

        fai = Path(f"{self.path}.fai")
        if self.compressed and not _is_bgzip(self.path):
            raise SequenceError(
                f"{self.path} is gzip- but not bgzip-compressed, so it cannot be indexed; run "
                f"`gunzip -c {self.path} | bgzip > {self.path.with_suffix('.bgz')}` (or `gunzip -k {self.path}`) "
                "and pass the result"
            )
        if fai.exists():
            self._check_index(fai)
        if not fai.exists() and not os.access(self.path.parent, os.W_OK):
            raise SequenceError(
                f"{self.path} has no index {fai.name} and its folder is read-only; copy the FASTA somewhere "
                f"writable, or run `samtools faidx {self.path}` where you can write"
            )
        try:
            with warnings.catch_warnings():  # an older but consistent index was checked above
                warnings.filterwarnings("ignore", message=r".*Index file .* is older than FASTA file")
                return pyfaidx.Fasta(str(self.path), as_raw=True, sequence_always_upper=True, rebuild=False)
        except ImportError:
            raise SequenceError(
                f"reading bgzip-compressed {self.path} needs biopython; run `bgzip -d {self.path}` and pass the "
                "plain FASTA (pyfaidx then builds the .fai)"
            ) from None
        except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, OSError, ValueError) as exc:
            raise SequenceError(
                f"cannot index {self.path} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                f"check it is a FASTA file, or run `samtools faidx {self.path}`"
            ) from None

    def _check_index(self, fai: Path) -> None:
        """Rebuild a stale or foreign ``.fai`` where the folder is writable, else refuse it.

        An index older than the FASTA is rebuilt when it can be (the FASTA was edited after
        indexing); where it cannot, it is used only if :func:`index_problem` finds it consistent.
        For bgzip files only the index's form and age are checked. The records of no base that a
        samtools index leaves out are kept, as contigs of length 0.
        """
        older = fai.stat().st_mtime < self.path.stat().st_mtime
        if self.compressed:
            try:
                _fai_records(fai)
                problem = None
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                problem = f"it is not a readable FASTA index: {exc}"
        else:
            problem, self._empty = index_check(self.path, fai)
        if problem is None and not older:
            return
        writable = os.access(self.path.parent, os.W_OK | os.X_OK)
        if writable:
            why = problem or "it is older than the FASTA"
            console.stderr.print(f"rebuilding the index {fai} ({why})", markup=False, highlight=False)
            fai.unlink()
            self._empty = {}  # pyfaidx's own index lists them
            Path(f"{self.path}.gzi").unlink(missing_ok=True)
            return
        if problem is not None:
            raise SequenceError(
                f"the index {fai} does not match {self.path} ({problem}): it is stale or belongs to another FASTA, "
                f"and its folder is read-only; run `samtools faidx {self.path}` where you can write, or copy the FASTA "
                "somewhere writable"
            )

    def contigs(self) -> list[str]:
        index = self.fasta.faidx.index
        if not self._empty:
            return list(self.fasta.keys())
        where = {name: record.offset for name, record in index.items()} | self._empty
        return sorted(where, key=where.__getitem__)  # the FASTA's order, records of no base among them

    def contig_length(self, contig: str) -> int | None:
        record = self.fasta.faidx.index.get(contig)
        if record is None:
            return 0 if contig in self._empty else None
        return int(record.rlen)

    def fetch_many(self, contig: str, starts: np.ndarray, length: int) -> np.ndarray:
        """Many windows at once, sliced straight from the memory-mapped file when it is plain.

        The ``.fai`` record (offset, bases and bytes per line) maps a base to its byte, so a
        window costs one slice, whatever the genome's size; bgzip files go through pyfaidx's
        whole-contig read instead.
        """
        contig_length = self._require_contig(contig)
        if contig_length == 0:  # a record of no base: every window is off the contig
            return np.full((len(starts), length), N_CODE, dtype=np.int8)
        if self.compressed:
            return _gather_padded(self._codes(contig), starts, length)
        record = self.fasta.faidx.index[contig]
        out = np.full((len(starts), length), N_CODE, dtype=np.int8)
        for row, start in enumerate(np.asarray(starts, dtype=np.int64).tolist()):
            lo, hi = max(start, 0), min(start + length, contig_length)
            if hi > lo:
                out[row, lo - start : hi - start] = self._read(record, lo, hi)
        return out

    def _read(self, record, lo: int, hi: int) -> np.ndarray:
        """Codes of bases ``[lo, hi)`` of a record: its bytes in the mapped file, line ends removed."""
        first = record.offset + (lo // record.lenc) * record.lenb + lo % record.lenc
        last = record.offset + ((hi - 1) // record.lenc) * record.lenb + (hi - 1) % record.lenc
        raw = self._bytes[first : last + 1]
        if record.lenb != record.lenc:
            raw = raw[raw > 13]  # drop '\n' and '\r'
        return _BYTE_CODES[raw]

    def fetch(self, contig: str, start: int, end: int) -> np.ndarray:
        return self.fetch_many(contig, np.array([start]), end - start)[0]

    @property
    def _bytes(self) -> np.ndarray:
        if self._mapped is None:
            self._mapped = np.memmap(self.path, dtype=np.uint8, mode="r")
        return self._mapped

    def _codes(self, contig: str) -> np.ndarray:
        if self._cached is None or self._cached[0] != contig:
            self._cached = None  # release the previous contig before reading the next
            self._cached = (contig, encode(self.fasta[contig][:]))
        return self._cached[1]

    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256


class ArrayGenome(_WholeGenome):
    """An in-memory genome: ``{contig: int8 codes}``, for the synthetic generator and tests."""

    def __init__(self, contigs: dict[str, np.ndarray], name: str = "array-genome"):
        self.arrays = {str(k): np.ascontiguousarray(v, dtype=np.int8) for k, v in contigs.items()}
        self.name = name

    def contigs(self) -> list[str]:
        return list(self.arrays)

    def contig_length(self, contig: str) -> int | None:
        codes = self.arrays.get(contig)
        return None if codes is None else len(codes)

    def _codes(self, contig: str) -> np.ndarray:
        return self.arrays[contig]

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for contig, codes in self.arrays.items():
            digest.update(f">{contig}\n".encode())
            digest.update(codes.tobytes())
        return digest.hexdigest()

    def write_fasta(self, path: str | os.PathLike, line_width: int = 60) -> Path:
        """Write the genome as a plain FASTA (upper case, ``line_width`` bases a line)."""
        path = Path(path)
        with open(path, "w", encoding="ascii") as handle:
            for contig, codes in self.arrays.items():
                handle.write(f">{contig}\n")
                text = decode(codes)
                handle.writelines(text[i : i + line_width] + "\n" for i in range(0, len(text), line_width))
        return path


def _checked_lines(path: Path, handle):
    """The lines of an open text file, with a truncated or corrupt gzip or non-ASCII text as one line."""
    try:
        yield from handle
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputFileError(f"{path} is truncated or not valid gzip ({exc}); download or copy it again") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path} is not a text FASTA ({exc.reason} at byte {exc.start})") from None


class RegionSequences(SequenceSource):
    """Pre-extracted element sequences, from one or more files.

    Two forms are read: ``bedtools getfasta`` FASTA (one record per ``>chrom:start-end`` header,
    0-based half-open, optionally gzip) and pair-sequence CSV tables with the columns
    ``enhancer_name, promoter_name, enhancer_seq, promoter_seq`` and TargetFinder element names
    (``<cell>|chrom:S-E``, converted by :func:`epizoo.coords.from_targetfinder_name`). A window
    is filled with the known bases of the records overlapping it and N elsewhere. An element is
    available when at least one record covers part of it; contig lengths are unknown.
    """

    strict = False

    def __init__(self, paths: str | os.PathLike | list[str | os.PathLike]):
        self.paths = [Path(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths])]
        for path in self.paths:
            if not path.is_file():
                refuse_special_file(path, "regions file")
                raise InputFileError(
                    f"regions file {path} does not exist; pass a `bedtools getfasta` FASTA or a pair-sequence CSV"
                )
        self.path = self.paths[0]
        self.name = "+".join(path.name for path in self.paths)
        self._index: dict[str, tuple[np.ndarray, np.ndarray, list[np.ndarray]]] | None = None
        self._max_length = 0
        self._sha256: str | None = None

    def __getstate__(self):
        return {"paths": self.paths, "path": self.path, "name": self.name, "_sha256": self._sha256}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._index = None
        self._max_length = 0

    def _records(self):
        """Yield ``(path, header, sequence)`` for every record of every file."""
        for path in self.paths:
            suffixes = [s.lower() for s in path.suffixes]
            read = self._csv_records if ".csv" in suffixes else self._fasta_records
            for header, text in read(path):
                yield path, header, text

    @staticmethod
    def _csv_records(path: Path):
        """Element records of a pair-sequence CSV, as ``chrom:start-end`` headers (0-based)."""
        import pandas as pd

        columns = ["enhancer_name", "promoter_name", "enhancer_seq", "promoter_seq"]
        try:
            table = pd.read_csv(path, usecols=columns, dtype=str)
        except ValueError as exc:
            raise InputFileError(f"{path} is not a pair-sequence CSV ({exc}); expected columns {', '.join(columns)}") from None
        for kind in ("enhancer", "promoter"):
            for name, text in zip(table[f"{kind}_name"], table[f"{kind}_seq"]):
                _cell, contig, start, end = from_targetfinder_name(name)
                yield f"{contig}:{start}-{end}", text

    @staticmethod
    def _fasta_records(path: Path):
        """``(header, sequence)`` for every record of the (possibly gzip) FASTA."""
        opener = gzip.open if is_gzip(path) else open
        header, lines = None, []
        with opener(path, "rt", encoding="ascii") as handle:
            for line in _checked_lines(path, handle):
                line = line.strip()
                if line.startswith(">"):
                    if header is not None:
                        yield header, "".join(lines)
                    header, lines = line[1:], []
                elif line:
                    if header is None:
                        raise InputFileError(f"{path} does not start with a '>' header; is it a FASTA file?")
                    lines.append(line)
        if header is not None:
            yield header, "".join(lines)

    @staticmethod
    def _region(path: Path, header: str) -> tuple[str, int, int]:
        """The interval a record's header names, with the file and header in any error."""
        try:
            return parse_region(header)
        except InputFileError as exc:
            raise InputFileError(f"{path}: record header >{header}: {exc}") from None

    def _load(self):
        by_contig: dict[str, list[tuple[int, int, np.ndarray]]] = {}
        for path, header, text in self._records():
            contig, start, end = self._region(path, header)
            codes = encode(text)
            if len(codes) != end - start:
                raise InputFileError(
                    f"{path}: record {header} holds {len(codes)} bases but its header spans {end - start}; "
                    "headers must be `bedtools getfasta` intervals"
                )
            by_contig.setdefault(contig, []).append((start, end, codes))
            self._max_length = max(self._max_length, end - start)
        if not by_contig:
            raise InputFileError(f"{self.name} holds no sequence records")
        index = {}
        for contig, records in by_contig.items():
            records.sort(key=lambda r: r[0])
            index[contig] = (
                np.array([r[0] for r in records], dtype=np.int64),
                np.array([r[1] for r in records], dtype=np.int64),
                [r[2] for r in records],
            )
        return index

    @property
    def index(self):
        if self._index is None:
            self._index = self._load()
        return self._index

    def _overlapping(self, contig: str, start: int, end: int):
        """Records on ``contig`` overlapping ``[start, end)`` as ``(start, end, codes)``."""
        if contig not in self.index:
            return
        starts, ends, codes = self.index[contig]
        lo = np.searchsorted(starts, start - self._max_length, side="left")
        hi = np.searchsorted(starts, end, side="left")
        for i in range(lo, hi):
            if ends[i] > start:
                yield int(starts[i]), int(ends[i]), codes[i]

    def contigs(self) -> list[str]:
        return list(self.index)

    def contig_length(self, contig: str) -> int | None:
        return None

    def has(self, contig: str, start: int, end: int) -> bool:
        return next(self._overlapping(contig, start, end), None) is not None

    def fetch(self, contig: str, start: int, end: int) -> np.ndarray:
        out = np.full(end - start, N_CODE, dtype=np.int8)
        for rec_start, rec_end, codes in self._overlapping(contig, start, end):
            lo, hi = max(start, rec_start), min(end, rec_end)
            out[lo - start : hi - start] = codes[lo - rec_start : hi - rec_start]
        return out

    def sha256(self) -> str:
        if self._sha256 is None:
            digests = [file_sha256(path) for path in self.paths]
            self._sha256 = digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()
        return self._sha256


def open_sequence_source(genome: str | os.PathLike | None = None, regions=None):
    """The source named on the command line: ``--genome`` FASTA or ``--regions`` file(s) (or None)."""
    if genome and regions:
        raise InputFileError("give either --genome (a whole-genome FASTA) or --regions (pre-extracted), not both")
    if genome:
        return FastaGenome(genome)
    if regions:
        return RegionSequences(regions)
    return None


# ---- the genome layer's source (epizoo.store.genome_layer writes it; datasets may provide one) ---------


class LayerSource:
    """What the writer asks of a source; subclasses fill ``sequence``, ``contigs``, ``tracks``, ``contact_cells``."""

    sequence = None  # an epizoo.sources.genome SequenceSource (whole genome)
    contigs: dict[str, int]  # name -> length, in the order the layer stores them
    tracks: list[tuple[str, str]]  # (cell line, mark)
    contact_cells: list[str]
    matrix: str = "balanced"  # or "raw"

    def check(self, settings: LayerSettings) -> None:
        """Refuse settings the inputs cannot serve (raise one clear line); called before writing."""

    def track_values(self, cell: str, mark: str, contig: str, start: int, end: int) -> np.ndarray:
        """float32 per base of ``[start, end)`` (inside the contig); NaN where unmeasured."""
        raise NotImplementedError

    def contact_band(self, cell: str, contig: str, lo: int, hi: int, settings: LayerSettings) -> np.ndarray:
        """float32 ``(hi - lo, diagonals)``: ``[i, d]`` = contact(lo + i, lo + i + d); NaN past the contig."""
        raise NotImplementedError

    def provenance(self) -> dict:
        """Source names and checksums per track and map."""
        return {}
