"""Default plugin: the built-in datasets, registered through the ``register_datasets`` hook.

Readers are imported when a dataset is loaded, not when the plugin registers, so listing the
datasets stays cheap.
"""

from __future__ import annotations

import importlib

from epizoo.datasets.base import DatasetRequest, DatasetSpec, LoadedDataset
from epizoo.hookspecs import hookimpl


def _lazy(module: str, function: str):
    def load(request: DatasetRequest) -> LoadedDataset:
        return getattr(importlib.import_module(f"epizoo.datasets.{module}"), function)(request)

    load.__name__ = f"{module}.{function}"
    return load


@hookimpl
def register_datasets(register):
    register(
        DatasetSpec(
            name="synthetic",
            description="Offline seeded pairs with a planted motif-pair grammar and their own genome (tests, demos).",
            load=_lazy("synthetic", "simulate"),
            genome_build="synthetic",
        )
    )
    register(
        DatasetSpec(
            name="targetfinder",
            description="TargetFinder pairs (Whalen et al. 2016): HiCCUPS loops, distance-matched negatives, 6 cell lines.",
            load=_lazy("targetfinder", "load"),
            variants=("paper", "transepi"),
            default_variant="paper",
            catalog="targetfinder",
        )
    )
    register(
        DatasetSpec(
            name="bengi",
            description="BENGI enhancer-gene benchmark (Moore et al. 2020): Hi-C, CHi-C, ChIA-PET, eQTL, CRISPR; cv-groups.",
            load=_lazy("bengi", "load"),
            variants=("all-natural", "all-fixed", "ra-natural", "ra-fixed", "transepi"),
            default_variant="all-natural",
            catalog="bengi",
        )
    )
    register(
        DatasetSpec(
            name="bedpe",
            description="Your own pairs as BEDPE (--bedpe PATH); positives only need --negatives K.",
            load=_lazy("bedpe", "load"),
            genome_build="user",
        )
    )
