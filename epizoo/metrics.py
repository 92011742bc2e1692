"""Default plugin: the metrics a benchmark reports for every test side.

Every metric is ``function(labels, scores) -> float`` with scores as probabilities. The registered
threshold metrics use 0.5, as the published evaluation scripts do; most models' scores are not
calibrated to it, so ``bench`` also records F1 and MCC at a threshold chosen on each fold's
validation side (:func:`best_f1_threshold`, :func:`at_threshold`). Ranking metrics are undefined
when the test side holds one class only; they return NaN instead of raising, and the runner
skips such folds before scoring anyway.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

from epizoo.hookspecs import hookimpl
from epizoo.plugins import get_metrics

THRESHOLD = 0.5


def _arrays(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(labels, dtype=np.int64).ravel(), np.asarray(scores, dtype=np.float64).ravel()


def _both_classes(labels: np.ndarray) -> bool:
    return labels.size > 0 and 0 < labels.sum() < labels.size


def auroc(labels, scores) -> float:
    y, s = _arrays(labels, scores)
    return float(skm.roc_auc_score(y, s)) if _both_classes(y) else math.nan


def aupr(labels, scores) -> float:
    """Average precision (the step-wise area under the PR curve), as the papers report it."""
    y, s = _arrays(labels, scores)
    return float(skm.average_precision_score(y, s)) if _both_classes(y) else math.nan


def positive_rate(labels, scores) -> float:
    """The AUPR of a random classifier: the fraction of positives on the test side."""
    y, _ = _arrays(labels, scores)
    return float(y.mean()) if y.size else math.nan


def aupr_ratio(labels, scores) -> float:
    """AUPR over the positive rate: how many times better than chance (1.0 = chance)."""
    rate = positive_rate(labels, scores)
    return aupr(labels, scores) / rate if rate and not math.isnan(rate) else math.nan


def _predicted(scores: np.ndarray) -> np.ndarray:
    return (scores >= THRESHOLD).astype(np.int64)


def f1(labels, scores) -> float:
    y, s = _arrays(labels, scores)
    return float(skm.f1_score(y, _predicted(s), zero_division=0.0))


def mcc(labels, scores) -> float:
    y, s = _arrays(labels, scores)
    return float(skm.matthews_corrcoef(y, _predicted(s))) if y.size else math.nan


def precision(labels, scores) -> float:
    y, s = _arrays(labels, scores)
    return float(skm.precision_score(y, _predicted(s), zero_division=0.0))


def recall(labels, scores) -> float:
    y, s = _arrays(labels, scores)
    return float(skm.recall_score(y, _predicted(s), zero_division=0.0))


PRECISION_AT_RECALL = 0.7  # the operating point of the ENCODE-rE2G / CRISPRi enhancer-gene benchmarks


def precision_at_recall(labels, scores, recall: float = PRECISION_AT_RECALL) -> float:
    """Precision at the highest threshold whose recall reaches ``recall``: the precision a user gets
    when keeping enough top-scored pairs to recover that share of the true interactions."""
    y, s = _arrays(labels, scores)
    if not _both_classes(y):
        return math.nan
    order = np.argsort(-s, kind="stable")
    hits = np.cumsum(y[order])
    ends = np.r_[np.flatnonzero(np.diff(s[order])), s.size - 1]  # the last pair of each group of tied scores
    reached = ends[hits[ends] >= recall * hits[-1]][0]
    return float(hits[reached] / (reached + 1))


def precision_at_70_recall(labels, scores) -> float:
    return precision_at_recall(labels, scores, PRECISION_AT_RECALL)


def best_f1_threshold(labels, scores) -> float:
    """The score threshold (predict positive at ``score >= threshold``) of the highest F1 on these
    pairs: chosen on a validation side, then applied to the test side. NaN with one class."""
    y, s = _arrays(labels, scores)
    if not _both_classes(y):
        return math.nan
    precision_, recall_, thresholds = skm.precision_recall_curve(y, s)
    f1s = 2 * precision_[:-1] * recall_[:-1] / np.maximum(precision_[:-1] + recall_[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1s))])


def at_threshold(labels, scores, threshold: float) -> dict[str, float]:
    """F1, MCC, precision and recall at ``threshold`` (all NaN when the threshold is NaN)."""
    y, s = _arrays(labels, scores)
    if threshold is None or math.isnan(threshold) or not y.size:
        return dict.fromkeys(("f1", "mcc", "precision", "recall"), math.nan)
    predicted = (s >= threshold).astype(np.int64)
    return {
        "f1": float(skm.f1_score(y, predicted, zero_division=0.0)),
        "mcc": float(skm.matthews_corrcoef(y, predicted)),
        "precision": float(skm.precision_score(y, predicted, zero_division=0.0)),
        "recall": float(skm.recall_score(y, predicted, zero_division=0.0)),
    }


def n_pos(labels, scores) -> float:
    return float(np.count_nonzero(_arrays(labels, scores)[0] == 1))


def n_neg(labels, scores) -> float:
    return float(np.count_nonzero(_arrays(labels, scores)[0] == 0))


BUILTIN = {
    "auroc": (auroc, "Area under the ROC curve."),
    "aupr": (aupr, "Area under the precision-recall curve (average precision)."),
    "positive_rate": (positive_rate, "Fraction of positives on the test side: the AUPR of chance."),
    "aupr_ratio": (aupr_ratio, "AUPR divided by the test positive rate (1.0 = chance)."),
    "f1": (f1, "F1 score at threshold 0.5."),
    "mcc": (mcc, "Matthews correlation coefficient at threshold 0.5."),
    "precision": (precision, "Precision at threshold 0.5."),
    "precision_at_70_recall": (precision_at_70_recall, "Precision at the highest threshold whose recall reaches 70% (ENCODE-rE2G's operating point)."),
    "recall": (recall, "Recall at threshold 0.5."),
    "n_pos": (n_pos, "Number of positive test pairs."),
    "n_neg": (n_neg, "Number of negative test pairs."),
}


@hookimpl
def register_metrics(register):
    for name, (function, description) in BUILTIN.items():
        register(name, function, description)


def score_all(labels, scores) -> dict[str, float]:
    """Every registered metric (built-in and from plugins) of one test side."""
    return {name: item.function(labels, scores) for name, item in get_metrics().items()}
