"""epizoo as an installed library: the catalogs are package data, a missing extra is one line that
names it, the extras' packages load lazily, and ``python -m epizoo`` is the CLI."""

from __future__ import annotations

import fnmatch
import importlib
import importlib.resources
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from epizoo import catalog, extras
from epizoo.errors import EpizooError

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = {"bengi", "dna2vec", "targetfinder", "transepi-features"}


def run_python(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_catalogs_are_package_data_found_through_importlib_resources():
    folder = importlib.resources.files("epizoo").joinpath("catalogs")
    assert folder.is_dir()
    assert {f.name for f in folder.iterdir()} >= {f"{name}.yaml" for name in CATALOGS}
    assert str(catalog.catalogs_dir()) == str(folder)
    assert CATALOGS <= set(catalog.list_catalogs())
    assert catalog.load_catalog("dna2vec").files  # read through the traversable, not a source-tree path
    assert not (ROOT / "catalogs").exists(), "the catalogs live in the package, epizoo/catalogs"


def test_the_wheel_carries_every_catalog_file():
    """pyproject's package-data globs cover every file of epizoo/catalogs, so a wheel has them."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["epizoo"]
    package = ROOT / "epizoo"
    files = [p.relative_to(package).as_posix() for p in (package / "catalogs").iterdir() if p.is_file()]
    left_out = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert files and left_out == []


def test_a_missing_extra_is_one_line_naming_it(monkeypatch):
    real = importlib.import_module

    def without_pybigwig(name, *args, **kwargs):
        if name.split(".")[0] == "pyBigWig":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", without_pybigwig)
    with pytest.raises(EpizooError) as raised:
        extras.require("pyBigWig", "signals", needed_for="bigWig tracks")
    message = str(raised.value)
    assert "\n" not in message
    assert "pyBigWig" in message and "pip install 'epizoo[signals]'" in message
    assert isinstance(raised.value, ImportError)  # code that falls back on ImportError still does


def test_the_extra_defaults_to_the_one_listed_for_the_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "logomaker", None)  # `import logomaker` now fails
    with pytest.raises(extras.MissingExtraError, match=r"pip install 'epizoo\[explain\]'"):
        extras.require("logomaker")


def test_a_command_that_needs_a_missing_extra_says_so_in_one_line(tmp_path):
    """build-store with bigWig tracks, pyBigWig blocked: exit 1, one line, no traceback."""
    (tmp_path / "a.bw").write_bytes(b"")
    (tmp_path / "tracks.yaml").write_text("SYN-A:\n  CTCF: a.bw\n")
    code = "import sys; sys.modules['pyBigWig'] = None\nfrom epizoo.cli import main\nsys.argv[0] = 'epizoo'\nmain()"
    result = run_python(code, "build-store", "--dataset", "synthetic", "--option", "n_pairs=200", "--option", "cell_lines=1",
                        "--signals", str(tmp_path / "tracks.yaml"), "--out", str(tmp_path / "s.zarr"), "--no-progress")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'epizoo[signals]'" in lines[0], result.stderr


def test_epizoo_and_the_zoo_import_without_any_extra():
    """Every module of epizoo and of the zoo imports with the extras' packages blocked, and the zoo
    still registers: the heavy imports are inside the functions that need them."""
    code = (
        "import sys, pkgutil, importlib\n"
        "from epizoo.extras import EXTRAS\n"
        "for module in EXTRAS: sys.modules[module] = None\n"
        "import epizoo, epizoo_zoo\n"
        "for package in (epizoo, epizoo_zoo):\n"
        "    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if not info.name.endswith('__main__'):\n"
        "            importlib.import_module(info.name)\n"
        "from epizoo import plugins\n"
        "assert {'epizoo-cnn', 'epivan', 'targetfinder-xgb'} <= set(plugins.get_models()), sorted(plugins.get_models())\n"
        "assert not plugins.load_errors, plugins.load_errors\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]


def test_python_dash_m_epizoo_is_the_cli(tmp_path):
    result = subprocess.run([sys.executable, "-m", "epizoo", "--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "build-store" in result.stdout and "bench" in result.stdout
    version = subprocess.run([sys.executable, "-m", "epizoo", "--version"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert version.returncode == 0 and "0.1.0" in version.stdout


def test_explain_checks_its_extra_before_any_work(monkeypatch, tmp_path):
    import epizoo.explain

    monkeypatch.setitem(sys.modules, "tangermeme", None)  # its import fails ...
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tangermeme" else real(name, *a))  # ... and it is not found
    with pytest.raises(extras.MissingExtraError, match=r"tangermeme \(for epizoo explain\).*pip install 'epizoo\[explain\]'"):
        epizoo.explain.explain(tmp_path / "missing.zarr", checkpoint=tmp_path / "missing", out=tmp_path / "out")
