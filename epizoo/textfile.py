"""Reading a user's text file (plain or gzip) line by line, with one clear line for what goes wrong."""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from pathlib import Path
from typing import Iterable, Iterator

from epizoo.errors import InputFileError


def is_gzip(path: Path) -> bool:
    """By the magic bytes; by the suffix when the file cannot be opened."""
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == b"\x1f\x8b"
    except OSError:
        return path.suffix == ".gz"


def refuse_special_file(path: str | os.PathLike, what: str) -> None:
    """One line when ``path`` is a pipe, a socket or a device (``/dev/stdin``, a named pipe, a process
    substitution such as ``<(zcat x.gz)``): epizoo's readers may read an input twice (to sniff its
    format, to index it), which a stream cannot give. Nothing there, a regular file or a folder passes
    (the caller says what is wrong with those)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return
    kind = "a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device, not a file"
    raise InputFileError(
        f"{what} {path} is {kind}; epizoo may read an input more than once, so write it to a file first "
        f"(e.g. `zcat pairs.bedpe.gz > pairs.bedpe`) and pass that"
    )


def refuse_special_files(options: dict[str, str | os.PathLike | Iterable[str | os.PathLike] | None]) -> None:
    """:func:`refuse_special_file` for every path a command's options name (``{"--bedpe": path,
    "--regions": (path, ...)}``); values that are not paths there (a catalog name) pass."""
    for flag, value in options.items():
        values = [value] if isinstance(value, (str, os.PathLike)) else list(value or ())
        for path in values:
            refuse_special_file(path, flag)


def numbered_lines(path: Path, what: str, where: str = "check the path", text_hint: str = "") -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a plain or gzip text file (UTF-8, a BOM is dropped).

    ``what`` names the file in messages (``'BEDPE file'``), ``where`` says how to fix a missing
    file, ``text_hint`` what to give instead of a binary one.
    """
    path = Path(path)
    if not path.is_file():
        refuse_special_file(path, what)
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
