"""Every third-party module that epizoo imports is a declared dependency in pyproject.toml: a
module imported when its module loads is a core dependency, one imported inside a function may come
with an extra, and one fetched through ``epizoo.extras.require(module, extra)`` is in that extra."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT / "epizoo", ROOT / "plugins" / "epizoo-zoo" / "epizoo_zoo")  # both ship in the wheel
OWN = {"epizoo", "epizoo_zoo"}
HOSTS = {"pytest"}  # epizoo.testing is a pytest plugin: pytest imports it, so pytest is present


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_normal(re.match(r"[A-Za-z0-9_.-]+", r).group(0)) for r in requirements}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _core() -> set[str]:
    return _names(_project()["dependencies"])


def _extras() -> dict[str, set[str]]:
    return {extra: _names(reqs) for extra, reqs in _project()["optional-dependencies"].items()}


def _imports(module_level: bool) -> set[str]:
    """Top-level third-party modules imported by epizoo: at module level only, or anywhere."""
    modules = set()
    for source in SOURCES:
        for path in source.rglob("*.py"):
            tree = ast.parse(path.read_text())
            nodes = tree.body if module_level else ast.walk(tree)
            for node in nodes:
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m not in OWN}


def _required() -> set[tuple[str, str]]:
    """(module, extra) of every ``require("module", "extra", ...)`` call."""
    calls = set()
    for source in SOURCES:
        for path in source.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "require"
                        and len(node.args) >= 2 and all(isinstance(a, ast.Constant) for a in node.args[:2])):
                    calls.add((node.args[0].value.split(".")[0], node.args[1].value))
    return calls


def _owners(module: str) -> set[str]:
    return {_normal(d) for d in packages_distributions().get(module, [module])}


def test_every_imported_module_is_declared():
    declared = _core().union(*_extras().values())
    undeclared = {m: sorted(_owners(m)) for m in sorted(_imports(module_level=False) - HOSTS) if not _owners(m) & declared}
    assert undeclared == {}, f"imported but not in pyproject.toml dependencies or extras: {undeclared}"


def test_modules_imported_at_load_time_are_core_dependencies():
    """An extra's package is imported inside the function that needs it, so `import epizoo` and the
    core commands work without it."""
    core = _core()
    not_core = {m: sorted(_owners(m)) for m in sorted(_imports(module_level=True) - HOSTS) if not _owners(m) & core}
    assert not_core == {}, f"imported when a module loads but only in an extra: {not_core}"


def test_required_modules_are_in_the_extra_they_name():
    from epizoo.extras import EXTRAS

    extras = _extras()
    calls = _required()
    assert calls, "no epizoo.extras.require call found"
    wrong = {(m, e) for m, e in calls if e not in extras or not _owners(m) & extras[e]}
    assert wrong == set(), f"require(module, extra) whose extra does not install the module: {sorted(wrong)}"
    for module, (distribution, extra) in EXTRAS.items():
        assert _normal(distribution) in extras[extra] or _owners(module) & extras[extra], (module, extra)
    assert extras["all"] == {"epizoo"} and set(_project()["optional-dependencies"]["all"][0].split("[")[1].rstrip("]").split(",")) == {
        "signals", "genome", "explain"}
