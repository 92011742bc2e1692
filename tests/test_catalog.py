"""Catalogs: YAML provenance, the cache layout, hash checks, offline errors and real downloads."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from epizoo import catalog
from epizoo.errors import InputFileError, UnknownNameError


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(catalog.DATA_DIR_ENV, str(folder))
    monkeypatch.setattr(catalog, "RETRY_DELAYS", (0.0, 0.0))  # retries without waiting
    return folder


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local HTTP server standing in for raw.githubusercontent.com; yields its root folder."""
    root = tmp_path / "upstream"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(catalog.BASE_URL_ENV, f"http://127.0.0.1:{httpd.server_address[1]}")
    yield root
    httpd.shutdown()
    httpd.server_close()


def publish(root: Path, entry: catalog.CatalogFile, content: bytes) -> None:
    target = root / entry.repository / entry.commit / entry.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)


def test_catalogs_carry_provenance():
    assert {"targetfinder", "bengi", "dna2vec"} <= set(catalog.list_catalogs())
    for name in catalog.list_catalogs():
        cat = catalog.load_catalog(name)
        assert cat.citation and cat.licence and cat.genome_build and len(cat.commit) == 40
        for entry in cat.files.values():
            assert entry.url == f"https://raw.githubusercontent.com/{entry.repository}/{entry.commit}/{entry.path}"
            assert bool(entry.sha256) != bool(entry.git_blob_sha1)
    dna2vec = catalog.load_catalog("dna2vec")
    assert {"embedding_matrix", "nearest_neighbors", "w2v"} <= set(dna2vec.files)
    assert dna2vec.file("w2v").git_blob_sha1 == "60fe3929c102bf77d4022e54168df14eab146800"
    assert dna2vec.file("embedding_matrix").repository == "hzy95/EPIVAN"


def test_unknown_names_are_clear():
    with pytest.raises(UnknownNameError, match="known: .*targetfinder"):
        catalog.load_catalog("nope")
    with pytest.raises(UnknownNameError, match="no file 'nope'"):
        catalog.fetch("targetfinder", "nope")


def test_shared_data_is_a_prefilled_cache(shared_data, monkeypatch):
    monkeypatch.setenv(catalog.DATA_DIR_ENV, str(shared_data))
    path = catalog.fetch("targetfinder", "GM12878")
    assert path == shared_data / "shwhalen-targetfinder/paper/targetfinder/GM12878/output-ep/predictions-gbm.csv"
    assert catalog.fetch("dna2vec", "embedding_matrix").name == "embedding_matrix.npy"
    # every sha256 entry present in the shared folder agrees with its checksum list
    sums = dict(reversed(line.split(None, 1)) for line in (shared_data / "SHA256SUMS").read_text().splitlines())
    for name in catalog.list_catalogs():
        for entry in catalog.load_catalog(name).files.values():
            relative = f"./{entry.repository.replace('/', '-')}/{entry.path}"
            if entry.sha256:
                assert sums[relative] == entry.sha256, relative


def test_a_corrupted_cached_copy_is_refused(shared_data, cache):
    entry = catalog.load_catalog("targetfinder").file("NHEK")
    entry.local_path.parent.mkdir(parents=True)
    original = (shared_data / "shwhalen-targetfinder" / entry.path).read_bytes()
    entry.local_path.write_bytes(original[:-10] + b"0,0,0,0\n\n")
    with pytest.raises(InputFileError, match="does not match the catalog .*sha256") as info:
        catalog.fetch("targetfinder", "NHEK")
    assert str(entry.local_path) in str(info.value) and entry.url in str(info.value)


def test_offline_and_missing_names_the_url_and_the_target(cache, monkeypatch):
    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("no network")

    monkeypatch.setattr(requests, "get", offline)
    entry = catalog.load_catalog("dna2vec").file("w2v")
    with pytest.raises(InputFileError) as info:
        catalog.fetch("dna2vec", "w2v")
    message = str(info.value)
    assert entry.url in message and str(entry.local_path) in message and "\n" not in message
    assert not entry.local_path.exists()


def test_a_failed_download_logs_nothing_before_the_error(cache, monkeypatch):
    """pooch's "Downloading data from ..." line must not precede our one-line error."""
    import logging

    import pooch

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("no network")

    monkeypatch.setattr(requests, "get", offline)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    pooch.get_logger().addHandler(handler)
    try:
        with pytest.raises(InputFileError):
            catalog.fetch("dna2vec", "w2v")
    finally:
        pooch.get_logger().removeHandler(handler)
    assert [r.getMessage() for r in records] == []


def test_download_and_verify_sha256(shared_data, cache, server):
    entry = catalog.load_catalog("dna2vec").file("nearest_neighbors")
    content = (shared_data / "pnpnpn-dna2vec" / entry.path).read_bytes()
    publish(server, entry, content)
    path = catalog.fetch("dna2vec", "nearest_neighbors")
    assert path == cache / "pnpnpn-dna2vec" / entry.path
    assert path.read_bytes() == content
    assert catalog.fetch("dna2vec", "nearest_neighbors") == path  # second call: from the cache


def test_download_with_a_wrong_sha256_leaves_nothing(cache, server):
    entry = catalog.load_catalog("targetfinder").file("HUVEC")
    publish(server, entry, b"enhancer_name,promoter_name,label,prediction\n")
    with pytest.raises(InputFileError, match="does not match the catalog"):
        catalog.fetch("targetfinder", "HUVEC")
    assert not entry.local_path.exists()


def test_download_and_verify_git_blob(cache, server):
    content = b"a file known upstream only by its git blob id\n"
    blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
    entry = catalog.CatalogFile("x", "owner/repo", "0" * 40, "dir/file.txt", git_blob_sha1=blob)
    publish(server, entry, content)
    assert catalog.fetch_file(entry).read_bytes() == content
    assert catalog.git_blob_sha1(entry.local_path) == blob

    wrong = catalog.CatalogFile("y", "owner/repo", "0" * 40, "dir/other.txt", git_blob_sha1=blob)
    publish(server, wrong, content + b"tampered")
    with pytest.raises(InputFileError, match="git blob sha1"):
        catalog.fetch_file(wrong)
    assert not wrong.local_path.exists()


def test_git_blob_id_matches_git(tmp_path):
    """The blob id of an empty file is git's well-known e69de29...; a real file's is git hash-object's."""
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert catalog.git_blob_sha1(empty) == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    catalog_yaml = catalog.catalogs_dir() / "bengi.yaml"
    expected = subprocess.run(["git", "hash-object", str(catalog_yaml)], capture_output=True, text=True, check=True)
    assert catalog.git_blob_sha1(catalog_yaml) == expected.stdout.strip()


def test_missing_catalog_folder_is_clear(monkeypatch, tmp_path):
    fake = tmp_path / "pkg" / "epizoo"
    fake.mkdir(parents=True)
    monkeypatch.setattr(catalog, "_package_files", lambda: fake)
    with pytest.raises(InputFileError, match="catalog folder .* not found in the epizoo package"):
        catalog.list_catalogs()
    shutil.rmtree(tmp_path / "pkg")


def test_a_transient_failure_is_retried_and_a_lasting_one_is_one_line(cache, server, monkeypatch):
    import pooch

    content = b"retried\n"
    entry = catalog.CatalogFile("x", "owner/repo", "0" * 40, "dir/retried.txt", sha256=hashlib.sha256(content).hexdigest())
    publish(server, entry, content)
    real, calls = pooch.retrieve, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) < 3:
            raise requests.exceptions.ConnectionError("reset by peer")
        return real(*args, **kwargs)

    monkeypatch.setattr(pooch, "retrieve", flaky)
    assert catalog.fetch_file(entry).read_bytes() == content and len(calls) == 3

    calls.clear()
    lasting = catalog.CatalogFile("y", "owner/repo", "0" * 40, "dir/never.txt", sha256="0" * 64)

    def down(*args, **kwargs):
        calls.append(1)
        raise requests.exceptions.ConnectionError("down")

    monkeypatch.setattr(pooch, "retrieve", down)
    with pytest.raises(InputFileError, match="after 3 attempt") as info:
        catalog.fetch_file(lasting)
    assert len(calls) == 3 and "\n" not in str(info.value) and not lasting.local_path.exists()

    calls.clear()
    missing = catalog.CatalogFile("z", "owner/repo", "0" * 40, "dir/absent.txt", sha256="0" * 64)
    monkeypatch.setattr(pooch, "retrieve", real)
    with pytest.raises(InputFileError, match="HTTPError, after 1 attempt"):  # a 404 is not retried
        catalog.fetch_file(missing)


def test_two_processes_download_one_file_once(cache, server, monkeypatch):
    """The second caller waits on the lock, then finds the file in the cache."""
    import time

    import pooch

    content = b"downloaded once\n"
    entry = catalog.CatalogFile("x", "owner/repo", "0" * 40, "dir/once.txt", sha256=hashlib.sha256(content).hexdigest())
    publish(server, entry, content)
    real, calls = pooch.retrieve, []

    def slow(*args, **kwargs):
        calls.append(1)
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(pooch, "retrieve", slow)
    results = []
    threads = [threading.Thread(target=lambda: results.append(catalog.fetch_file(entry))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and results == [entry.local_path, entry.local_path]
    assert entry.local_path.read_bytes() == content
