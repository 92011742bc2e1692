"""The import rules of docs/architecture.md ("Layers"): no import cycle among epizoo's modules, and no
library module importing the command line. Imports inside functions count (they run too); those under
``if TYPE_CHECKING:`` do not (they never run)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _graph():
    grimp = pytest.importorskip("grimp", reason="import-linter (the test extra) is not installed: pip install -e '.[test]'")
    return grimp.build_graph("epizoo", include_external_packages=False, exclude_type_checking_imports=True)


def _find_cycle(graph) -> list[str] | None:
    """One import cycle among the graph's modules (its modules in order, the first repeated last), or None."""
    state: dict[str, str] = {}  # module -> "open" while on the path, "done" once explored
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if state.get(imported) == "open":
                return path[path.index(imported):] + [imported]
            if imported not in state and (cycle := visit(imported)):
                return cycle
        path.pop()
        state[module] = "done"
        return None

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_no_import_cycle_among_epizoo_modules():
    graph = _graph()
    cycle = _find_cycle(graph)
    if cycle:
        lines = []
        for importer, imported in zip(cycle, cycle[1:]):
            at = sorted({d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)})
            lines.append(f"  {importer} -> {imported} (line {', '.join(map(str, at))})")
        pytest.fail("import cycle (move what both need to a lower module):\n" + "\n".join(lines))


def test_no_library_module_imports_the_cli():
    graph = _graph()
    cli = {m for m in graph.modules if m == "epizoo.cli" or m.startswith("epizoo.cli.")}
    library = sorted(graph.modules - cli - {"epizoo.__main__"})
    offenders = [f"{m} -> {', '.join(sorted(graph.find_modules_directly_imported_by(m) & cli))}"
                 for m in library if graph.find_modules_directly_imported_by(m) & cli]
    assert not offenders, "library modules import epizoo.cli:\n" + "\n".join(offenders)


def test_the_import_contracts_hold():
    """`lint-imports` with the contracts of pyproject.toml ([tool.importlinter]), as CI runs it."""
    lint = shutil.which("lint-imports") or shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter (the test extra) is not installed: pip install -e '.[test]'")
    done = subprocess.run([lint, "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
