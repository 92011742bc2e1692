"""A benchmark's configuration (:class:`BenchConfig`) and its unit of work (:class:`Task`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from epizoo.training.trainer import TrainOptions

CROSS_SPLITS = ("cross-cell-line", "cross-cell-line-strict")
# Splits that choose their own train and test cell lines (split options train= and test=): each
# test cell line is a report column "TRAIN+LINES -> TEST", and metrics are also pooled over folds.
MULTI_CELL_SPLITS = ("transepi",)
# Splits that share elements between sides by design (pair-level random; cross-cell-line without
# strict, where one element is measured in several cell lines): their leakage report is recorded
# and a warning printed instead of refusing the fold. Every other split is checked strictly.
LEAKY_SPLITS = ("random", "cross-cell-line")
# Settings that change how a run executes but not what it computes: a resume may change them.
EXECUTION_KEYS = ("workers", "scheduler", "device", "threads", "num_workers", "progress", "command")
# Where the store and the run are: a run directory may be moved or copied, and the store with it.
# The store is identified by its content instead (``store_identity``).
LOCATION_KEYS = ("store", "out")
# Training regimes (epizoo.bench.regimes): one model per cell line and fold; one per fold on every
# selected cell line; that one fine-tuned per cell line. A run of ``specific`` alone is as before.
REGIMES = ("specific", "gen", "best")
# Positive controls (--control): the same models on the same store under a split that rewards
# memorisation, beside the chosen split. Their tasks carry the control's name as their regime, so
# each is a report column of its own (``SYN-A (random split: leaks)``).
CONTROLS = {"random": "random-split"}
CONTROL_LABELS = {"random-split": "random split: leaks"}


@dataclass
class BenchConfig:
    store: str
    out: str
    models: list[str]
    split: str = "loco"
    split_options: dict[str, Any] = field(default_factory=dict)
    cell_lines: list[str] | None = None
    folds: list[str] | None = None
    tiny: bool = False
    demo: bool = False
    epochs: int | None = None
    batch_size: int | None = None
    max_pairs: int | None = None
    budget: float | None = None  # wall-clock minutes per task
    lr: float | None = None
    precision: str = "auto"
    balance: str = "augment"
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    num_workers: int = 0
    workers: int | None = None
    scheduler: str | None = None
    progress: bool = True
    command: str = ""
    store_identity: str = ""  # the store's creation time and sequence hash: resuming on a rebuilt store is refused
    regime: list[str] = field(default_factory=lambda: ["specific"])  # see REGIMES
    controls: list[str] = field(default_factory=list)  # see CONTROLS
    signal_pairs_only: bool = False  # every model trains and is scored on the pairs with signal values only

    def train_options(self, device: str | None = None, threads: int | None = None) -> TrainOptions:
        return TrainOptions(
            tiny=self.tiny, demo=self.demo, epochs=self.epochs, batch_size=self.batch_size, max_pairs=self.max_pairs,
            budget_minutes=self.budget, lr=self.lr, precision=self.precision, balance=self.balance, device=device or self.device,
            threads=threads or self.threads, seed=self.seed, num_workers=self.num_workers,
        )

    def defining(self) -> dict[str, Any]:
        """The settings that decide the results: two runs with equal ones are the same run."""
        return _defining(asdict(self))


def _defining(settings: dict[str, Any]) -> dict[str, Any]:
    # ``specific`` alone and no controls are left out, so runs made before they existed resume as the same run.
    return {
        key: value for key, value in settings.items()
        if key not in EXECUTION_KEYS + LOCATION_KEYS and not (key == "regime" and value in (["specific"], None))
        and not (key in ("controls", "signal_pairs_only") and not value)
    }


@dataclass
class Task:
    model: str
    cell_line: str  # the test cell line
    train_cell_line: str  # the training cell line(s): the same one except for cross-cell-line splits
    fold: str
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    regime: str = "specific"
    # gen: each scored cell line's test pairs (``test`` is their union); best: the key of the gen
    # task whose weights it starts from
    tests: dict[str, np.ndarray] = field(default_factory=dict)
    after: str | None = None

    @property
    def group(self) -> str:
        """The cell-line level of the output paths: ``K562``, ``GM12878-to-K562`` or ``K562@best``."""
        return group_name(self.cell_line, self.train_cell_line, self.regime)

    @property
    def key(self) -> str:
        return f"{self.model}/{self.group}/{safe_name(self.fold)}"


def group_name(cell_line: str, train_cell_line: str, regime: str = "specific") -> str:
    """The folder of a cell line's outputs: ``K562``, ``GM12878-to-K562``; ``K562@gen`` for
    another regime (``GM12878+K562@gen`` for the gen model itself)."""
    if regime != "specific":
        return f"{safe_name(cell_line)}@{regime}"
    if str(train_cell_line) == str(cell_line):
        return safe_name(cell_line)
    return f"{safe_name(train_cell_line)}-to-{safe_name(cell_line)}"


def safe_name(text: str) -> str:
    """A name usable as one path component."""
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in str(text)) or "_"
