"""How much of a synthetic contact map is there to learn beyond the distance decay?

    .venv/bin/python benchmarks/synthetic_contact_headroom.py [--option site_spacing=12000 ...]

Builds the synthetic genome layer in memory (``n_pairs=60 n_contigs=4 cell_lines=2`` plus the
``--option``s), cuts tiny-ChromNet windows (16 bins of 2 kb, every 4 bins) from chr1 (training)
and chrX (test) of each cell line, and scores on the test windows, in log(1 + contact) space:

* the distance-decay baseline fitted on the training windows;
* the rule's own expectation (``SyntheticGenomeLayer.expected_band``, no Poisson noise): the best
  any model can do from the tracks and the sequence.

When the two are level, no model can beat the baseline on these maps.
"""

from __future__ import annotations

import argparse

import numpy as np

from epizoo.contact.metrics import DistanceDecay, score_maps
from epizoo.datasets.base import DatasetRequest
from epizoo.datasets.synthetic import simulate

BIN, N_BINS, STEP = 2000, 16, 4


class _Settings:
    bin_size, diagonals = BIN, N_BINS


def _square(band: np.ndarray, start: int) -> np.ndarray:
    """The N x N map of bins start..start+N from a band [bin, diagonal]."""
    square = np.zeros((N_BINS, N_BINS))
    for d in range(N_BINS):
        rows = np.arange(N_BINS - d)
        square[rows, rows + d] = square[rows + d, rows] = band[start + rows, d]
    return square


def windows(layer, cell: str, contig: str, expected: bool = False) -> np.ndarray:
    band = layer.expected_band(cell, contig, BIN, N_BINS) if expected else layer.contact_band(cell, contig, 0, 10**9, _Settings)
    return np.log1p(np.array([_square(band, start) for start in range(0, band.shape[0] - N_BINS, STEP)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="a synthetic option")
    args = parser.parse_args()
    options = {"n_pairs": 60, "n_contigs": 4, "cell_lines": 2, "genome": "true", **dict(o.split("=", 1) for o in args.option)}
    layer = simulate(DatasetRequest(options=options)).genome_layer
    train = np.concatenate([windows(layer, cell, "chr1") for cell in layer.cells])
    test = np.concatenate([windows(layer, cell, "chrX") for cell in layer.cells])
    truth = np.concatenate([windows(layer, cell, "chrX", expected=True) for cell in layer.cells])
    for name, maps in (("distance decay", DistanceDecay().fit(train).predict(len(test))), ("the rule's expectation", truth)):
        scores = score_maps(maps, test)
        print(f"{name:>24}: map r {scores['map_pearson']:.3f}, per-diagonal r {scores['diagonal_pearson']:.3f}, "
              f"insulation r {scores['insulation_pearson']:.3f}, MSE {scores['mse']:.3f} ({scores['n_windows']} windows)")


if __name__ == "__main__":
    main()
