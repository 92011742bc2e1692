"""Metrics: values against hand-computed cases, undefined cases, and the registry."""

from __future__ import annotations

import math

import pytest

from epizoo import metrics
from epizoo.plugins import get_metrics

LABELS = [1, 0, 1, 0, 0, 1]
SCORES = [0.9, 0.8, 0.7, 0.3, 0.2, 0.1]


def test_ranking_metrics_by_hand():
    # positive/negative pairs ranked right: (0.9 > all 3 negatives) + (0.7 > 0.3, 0.2) + none for 0.1 = 5 of 9
    assert metrics.auroc(LABELS, SCORES) == pytest.approx(5 / 9)
    # average precision: precision at each positive's rank (1/1, 2/3, 3/6), averaged
    assert metrics.aupr(LABELS, SCORES) == pytest.approx((1 + 2 / 3 + 0.5) / 3)
    assert metrics.positive_rate(LABELS, SCORES) == pytest.approx(0.5)
    assert metrics.aupr_ratio(LABELS, SCORES) == pytest.approx((1 + 2 / 3 + 0.5) / 3 / 0.5)
    assert metrics.auroc([0, 1], [0.1, 0.9]) == 1.0


def test_threshold_metrics_at_one_half():
    # predicted positive: 0.9, 0.8, 0.7 -> TP 2, FP 1, FN 1, TN 2
    assert metrics.precision(LABELS, SCORES) == pytest.approx(2 / 3)
    assert metrics.recall(LABELS, SCORES) == pytest.approx(2 / 3)
    assert metrics.f1(LABELS, SCORES) == pytest.approx(2 / 3)
    assert metrics.mcc(LABELS, SCORES) == pytest.approx((2 * 2 - 1 * 1) / math.sqrt(3 * 3 * 3 * 3))
    assert metrics.n_pos(LABELS, SCORES) == 3 and metrics.n_neg(LABELS, SCORES) == 3


def test_one_class_gives_nan_not_an_error():
    assert math.isnan(metrics.auroc([1, 1], [0.2, 0.4]))
    assert math.isnan(metrics.aupr([0, 0], [0.2, 0.4]))
    assert metrics.precision([0, 0], [0.2, 0.4]) == 0.0


def test_registry_holds_every_reported_metric():
    names = set(get_metrics())
    assert {"auroc", "aupr", "positive_rate", "aupr_ratio", "f1", "mcc", "precision", "recall", "n_pos", "n_neg"} <= names
    scored = metrics.score_all(LABELS, SCORES)
    assert scored["auroc"] == pytest.approx(5 / 9) and set(scored) == names
