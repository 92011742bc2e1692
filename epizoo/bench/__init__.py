"""Benchmarks: run models over folds into a run directory (:mod:`.runner`), then report (:mod:`.report`)."""

from epizoo.bench.runner import BenchConfig, bench

__all__ = ["BenchConfig", "bench"]
