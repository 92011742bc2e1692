"""Score crosscell-xgb's ablations on a test cell line, after the recipe was chosen on validation.

Reads the report of ``crosscell_search.py`` (which never reads the test cell line) and scores, under
TransEPI's protocol (train on the training cell lines, test on the test cell line's pairs on each
held-out chromosome group; pooled AUROC and AUPR over the five folds):

* targetfinder-xgb's features and parameters under each normalisation (the effect of normalisation
  alone);
* every candidate the search tried, in order, beside its validation AUROC, then the chosen recipe.

Nothing here feeds back into a choice: it is the report's test-side table.

    python benchmarks/crosscell_ablation.py bengi-signals.zarr search.json --train GM12878,HeLa --test NHEK
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import zarr
from sklearn.metrics import average_precision_score, roc_auc_score

from epizoo.splits.folds import transepi
from epizoo.store.io import open_store
from epizoo_zoo.cell_line_norm import NORMALISATIONS
from epizoo_zoo.crosscell_xgb import CellLineNormalisedXGB, crosscell_features

TARGETFINDER_XGB = {"normalisation": "none", "feature_groups": (), "distance_form": "log", "n_estimators": 150,
                    "max_depth": 5, "learning_rate": 0.1, "subsample": 0.9, "colsample_bytree": 1.0, "min_child_weight": 10}


def pooled(store: str, train: str, test: str, candidate: dict, seed: int = 0) -> dict:
    group = zarr.open_group(store, mode="r")
    signals = group["pair_signal"][:]
    measured = np.isfinite(signals).all(axis=(1, 2))
    rows = crosscell_features(np.nan_to_num(signals), group["pair_distance"][:], group["pair_cell_line"][:])
    labels = group["pair_label"][:].astype(np.int64)
    scores, truth = [], []
    for fold in transepi(open_store(store), train=train.split(","), test=test.split(",")):
        fit_rows, test_rows = fold.train & measured, fold.test & measured
        model = CellLineNormalisedXGB(**candidate, n_jobs=1, random_state=seed).fit(rows[fit_rows], labels[fit_rows])
        scores.append(model.predict_proba(rows[test_rows])[:, 1])
        truth.append(labels[test_rows])
    truth, scores = np.concatenate(truth), np.concatenate(scores)
    return {"auroc": float(roc_auc_score(truth, scores)), "aupr": float(average_precision_score(truth, scores)), "pairs": int(truth.size)}


def tried_candidates(report: dict) -> list[dict]:
    """Every candidate the search tried, in order, with its number of trees and validation AUROC."""
    return [{**t["candidate"], "n_estimators": t["trees"], "validation_auroc": t["auroc"]} for t in report["tried"]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store")
    parser.add_argument("search", help="crosscell_search.py's JSON report")
    parser.add_argument("--train", default="GM12878,HeLa")
    parser.add_argument("--test", default="NHEK")
    args = parser.parse_args(argv)
    with open(args.search) as handle:
        report = json.load(handle)
    rows = [("targetfinder-xgb features", {**TARGETFINDER_XGB, "normalisation": n}) for n in NORMALISATIONS]
    rows += [(f"search candidate {i}", step) for i, step in enumerate(tried_candidates(report), start=1)]
    rows.append(("chosen", report["chosen"]))
    for name, candidate in rows:
        validation = candidate.pop("validation_auroc", None)
        result = pooled(args.store, args.train, args.test, candidate)
        print(json.dumps({"row": name, **result, "validation_auroc": validation, "candidate": candidate}, default=list), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
