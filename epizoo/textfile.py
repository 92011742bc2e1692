"""Reading a user's text file (plain or gzip) line by line, with one clear line for what goes wrong."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Iterator

from epizoo.errors import InputFileError


def is_gzip(path: Path) -> bool:
    """By the magic bytes; by the suffix when the file cannot be opened."""
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == b"\x1f\x8b"
    except OSError:
        return path.suffix == ".gz"


def numbered_lines(path: Path, what: str, where: str = "check the path", text_hint: str = "") -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a plain or gzip text file (UTF-8, a BOM is dropped).

    ``what`` names the file in messages (``'BEDPE file'``), ``where`` says how to fix a missing
    file, ``text_hint`` what to give instead of a binary one.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{what} {path} not found; {where}")
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as handle:
            yield from enumerate(handle, start=1)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputFileError(f"{what} {path} is truncated or not valid gzip ({exc}); copy or download it again") from None
    except UnicodeDecodeError as exc:
        hint = f"; {text_hint}" if text_hint else ""
        raise InputFileError(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start}){hint}") from None
    except OSError as exc:
        raise InputFileError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
