"""Upstream data files pinned to a commit and a hash, fetched with pooch.

A catalog is ``epizoo/catalogs/<name>.yaml`` (package data, read through ``importlib.resources``,
so an installed wheel has them): provenance (description, citation, licence, genome build,
cell lines, variants) and ``files``, each a path in an upstream GitHub repository with a sha256 or,
for files known only by their git blob id, a ``git_blob_sha1``. A file is cached at
``<data_dir>/<owner>-<repo>/<path>``, so a folder laid out that way (such as a shared copy of the
upstream files) works as a pre-filled cache. ``EPIZOO_DATA_DIR`` sets the cache folder and
``EPIZOO_CATALOG_BASE_URL`` the download host (default ``https://raw.githubusercontent.com``).

A download is retried after a transient failure (no connection, a timeout, HTTP 429 or 5xx), and
takes a lock (``.<name>.lock`` next to the file, ``fcntl.flock``) so that two processes needing the
same file download it once: the second waits, then finds the file in the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import importlib.resources.abc
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pooch
import requests
import yaml

from epizoo.errors import InputFileError, UnknownNameError

DATA_DIR_ENV = "EPIZOO_DATA_DIR"
BASE_URL_ENV = "EPIZOO_CATALOG_BASE_URL"
DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
RETRY_DELAYS = (1.0, 4.0)  # seconds before the second and third attempts
LOCK_TIMEOUT = 1800  # seconds to wait for another process downloading the same file

# pooch logs "Downloading data from ..." at INFO; a failed fetch must show only our one-line error
pooch.get_logger().setLevel("WARNING")


@dataclass(frozen=True)
class CatalogFile:
    key: str
    repository: str  # owner/name
    commit: str
    path: str
    sha256: str | None = None
    git_blob_sha1: str | None = None

    @property
    def url(self) -> str:
        base = os.environ.get(BASE_URL_ENV, DEFAULT_BASE_URL).rstrip("/")
        return f"{base}/{self.repository}/{self.commit}/{self.path}"

    @property
    def local_path(self) -> Path:
        return data_dir() / self.repository.replace("/", "-") / self.path


@dataclass(frozen=True)
class Catalog:
    name: str
    description: str
    citation: str
    licence: str
    genome_build: str
    repository: str
    commit: str
    cell_lines: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    files: dict[str, CatalogFile] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def file(self, key: str) -> CatalogFile:
        if key not in self.files:
            raise UnknownNameError(
                f"catalog {self.name!r} has no file {key!r} (known: {', '.join(sorted(self.files))})"
            )
        return self.files[key]

    def fetch(self, key: str) -> Path:
        return fetch_file(self.file(key))


def _package_files():
    """The installed ``epizoo`` package as an ``importlib.resources`` traversable."""
    return importlib.resources.files("epizoo")


def catalogs_dir() -> importlib.resources.abc.Traversable:
    """The ``catalogs`` folder of the installed package (package data: ``epizoo/catalogs/*.yaml``).

    A ``pathlib.Path`` for a package installed as files (a wheel, an editable checkout), else
    another ``importlib.resources`` traversable (a zipped package).
    """
    folder = _package_files().joinpath("catalogs")
    if not folder.is_dir():
        raise InputFileError(f"catalog folder {folder} not found in the epizoo package; reinstall epizoo (pip install epizoo)")
    return folder


def data_dir() -> Path:
    """Cache folder of upstream files: ``EPIZOO_DATA_DIR`` or the user cache of epizoo."""
    return Path(os.environ.get(DATA_DIR_ENV) or pooch.os_cache("epizoo"))


def list_catalogs() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in catalogs_dir().iterdir() if p.name.endswith(".yaml"))


REQUIRED_FIELDS = ("name", "description", "citation", "licence", "genome_build", "repository", "commit", "files")


def load_catalog(name: str) -> Catalog:
    """Read and check ``epizoo/catalogs/<name>.yaml``."""
    path = catalogs_dir() / f"{name}.yaml"
    if not path.is_file():
        raise UnknownNameError(f"unknown catalog {name!r} (known: {', '.join(list_catalogs())})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputFileError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    missing = [f for f in REQUIRED_FIELDS if f not in (raw or {})]
    if missing:
        raise InputFileError(f"{path}: missing field(s) {', '.join(missing)}")
    files = {key: _catalog_file(path, key, entry, raw) for key, entry in raw["files"].items()}
    known = set(REQUIRED_FIELDS) | {"cell_lines", "variants"}
    return Catalog(
        name=raw["name"],
        description=raw["description"],
        citation=raw["citation"],
        licence=raw["licence"],
        genome_build=raw["genome_build"],
        repository=raw["repository"],
        commit=raw["commit"],
        cell_lines=tuple(raw.get("cell_lines") or ()),
        variants=tuple(raw.get("variants") or ()),
        files=files,
        extra={k: v for k, v in raw.items() if k not in known},
    )


def _catalog_file(path: Path, key: str, entry: dict, raw: dict) -> CatalogFile:
    if not isinstance(entry, dict) or "path" not in entry:
        raise InputFileError(f"{path}: file {key!r} needs a 'path'")
    if not (entry.get("sha256") or entry.get("git_blob_sha1")):
        raise InputFileError(f"{path}: file {key!r} needs a 'sha256' or a 'git_blob_sha1'")
    return CatalogFile(
        key=key,
        repository=entry.get("repository", raw["repository"]),
        commit=entry.get("commit", raw["commit"]),
        path=entry["path"],
        sha256=entry.get("sha256"),
        git_blob_sha1=entry.get("git_blob_sha1"),
    )


def fetch(catalog_name: str, file_key: str) -> Path:
    """The local path of a catalog file, downloaded and verified on first use."""
    return load_catalog(catalog_name).fetch(file_key)


def git_blob_sha1(path: Path) -> str:
    """Git's object id of a file: ``sha1(b"blob <size>\\0" + content)``."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _mismatch(entry: CatalogFile, path: Path) -> str | None:
    """A description of how ``path`` differs from the catalog, or None when it matches."""
    if entry.sha256:
        actual = pooch.file_hash(str(path), alg="sha256")
        return None if actual == entry.sha256 else f"sha256 {actual}, expected {entry.sha256}"
    actual = git_blob_sha1(path)
    return None if actual == entry.git_blob_sha1 else f"git blob sha1 {actual}, expected {entry.git_blob_sha1}"


def fetch_file(entry: CatalogFile) -> Path:
    target = entry.local_path
    if not target.exists():
        with _download_lock(target):
            if not target.exists():  # another process may have fetched it while this one waited
                _download(entry, target)
    problem = _mismatch(entry, target)
    if problem:
        raise InputFileError(
            f"{target} does not match the catalog ({problem}); delete it and fetch again from {entry.url}"
        )
    return target


@contextlib.contextmanager
def _download_lock(target: Path):
    """Hold ``.<name>.lock`` next to ``target`` exclusively; wait for another holder (up to LOCK_TIMEOUT)."""
    import fcntl

    lock_path = target.parent / f".{target.name}.lock"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a+")
    except OSError as exc:
        raise InputFileError(f"cannot write {target} ({exc.strerror}); set {DATA_DIR_ENV} to a writable folder") from None
    with handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InputFileError(
                        f"another process has been downloading {target} for {LOCK_TIMEOUT // 60} minutes; "
                        f"wait for it, or remove {lock_path} if none is running"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _transient(exc: requests.exceptions.RequestException) -> bool:
    """Worth another attempt: no connection, a timeout, or the server busy (429, 5xx)."""
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return True
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status is not None and (status == 429 or status >= 500)


def _retrieve(entry: CatalogFile, target: Path, known_hash: str | None) -> None:
    """pooch.retrieve, tried again after a transient failure (len(RETRY_DELAYS) more times)."""
    for delay in (*RETRY_DELAYS, None):
        try:
            pooch.retrieve(entry.url, known_hash=known_hash, fname=target.name, path=target.parent, progressbar=False)
            return
        except requests.exceptions.RequestException as exc:
            if delay is None or not _transient(exc):
                raise
            time.sleep(delay)


def _download(entry: CatalogFile, target: Path) -> None:
    """Download to ``target`` (pooch writes a temporary file and moves it only when complete)."""
    known_hash = f"sha256:{entry.sha256}" if entry.sha256 else None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _retrieve(entry, target, known_hash)
    except requests.exceptions.RequestException as exc:
        raise InputFileError(
            f"cannot download {entry.url} ({type(exc).__name__}, after {len(RETRY_DELAYS) + 1 if _transient(exc) else 1} attempt(s)); "
            f"fetch it by hand and put it at {target}"
        ) from None
    except ValueError as exc:  # pooch: the downloaded file's hash is wrong (the file is removed)
        raise InputFileError(f"download of {entry.url} does not match the catalog: {exc}".replace("\n", " ")) from None
    except OSError as exc:
        raise InputFileError(f"cannot write {target} ({exc.strerror}); set {DATA_DIR_ENV} to a writable folder") from None
    if entry.git_blob_sha1 and git_blob_sha1(target) != entry.git_blob_sha1:
        actual = git_blob_sha1(target)
        target.unlink()
        raise InputFileError(
            f"download of {entry.url} does not match the catalog (git blob sha1 {actual}, "
            f"expected {entry.git_blob_sha1}); the file was removed"
        )
