"""Every third-party module that epizoo imports is a declared dependency in pyproject.toml."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOSTS = {"pytest"}  # epizoo.testing is a pytest plugin: pytest imports it, so pytest is present


def _imported_top_level_modules() -> set[str]:
    modules = set()
    for path in (ROOT / "epizoo").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "epizoo"}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = set()
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
        names.add(re.sub(r"[-_.]+", "-", name).lower())
    return names


def test_every_imported_module_is_declared():
    distributions = packages_distributions()
    declared = _declared()
    undeclared = {}
    for module in sorted(_imported_top_level_modules() - HOSTS):
        owners = {re.sub(r"[-_.]+", "-", d).lower() for d in distributions.get(module, [module])}
        if not owners & declared:
            undeclared[module] = sorted(owners)
    assert undeclared == {}, f"imported but not in pyproject.toml dependencies: {undeclared}"
