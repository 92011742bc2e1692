"""Plugin system costs: loading plugins, filling the model registry, counting parameters.

Run: ``python benchmarks/bench_plugins.py`` (prints a Markdown table for docs/performance.md).
Each case runs in a fresh interpreter, so imports are counted as a user would pay them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

CASES = {
    "import epizoo.plugins": "import epizoo.plugins",
    "load default plugins only (EPIZOO_PLUGINS='')": "import os; os.environ['EPIZOO_PLUGINS'] = ''\n"
    "from epizoo import plugins; plugins.get_plugin_manager()",
    "load all plugins": "from epizoo import plugins; plugins.get_plugin_manager()",
    "load all plugins + every registry": "from epizoo import plugins; plugins.load_all()",
}

TIMED = """
import json, time
start = time.perf_counter()
{code}
print(json.dumps(time.perf_counter() - start))
"""

COUNT = """
import json, time
from epizoo import docs_gen, plugins
import torch
rows = []
specs = [s for s in plugins.get_models().values() if s.kind == "torch"]
with torch.device("meta"):
    specs[0].build()  # warm-up: torch's first-use costs are not the model's
for spec in sorted(plugins.get_models().values(), key=lambda s: s.name):
    if spec.kind != "torch":
        continue
    start = time.perf_counter()
    with torch.device("meta"):
        n = sum(p.numel() for p in spec.build().parameters() if p.requires_grad)
    meta = time.perf_counter() - start
    start = time.perf_counter()
    spec.build()
    real = time.perf_counter() - start
    rows.append((spec.name, n, meta, real))
print(json.dumps(rows))
"""


def run(code: str) -> object:
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def median_of(code: str, repeats: int = 3) -> float:
    times = sorted(run(TIMED.format(code=code)) for _ in range(repeats))
    return times[len(times) // 2]


def main() -> None:
    print("| case | seconds (median of 3, fresh process) |\n|---|---|")
    for name, code in CASES.items():
        print(f"| {name} | {median_of(code):.2f} |")
    print("\n| model | parameters | build on meta device (ms) | real build (ms) |\n|---|---|---|---|")
    for name, count, meta, real in run(COUNT):
        print(f"| {name} | {count:,} | {meta * 1000:.1f} | {real * 1000:.0f} |")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\n(total {time.perf_counter() - started:.0f} s)", file=sys.stderr)
