"""Streaming batches from a store and training a model on a fold (checkpoints: :mod:`epizoo.checkpoint`)."""

from epizoo.training.loader import PairBatches, augmented_items, make_loader, plain_items
from epizoo.training.trainer import Sides, TrainOptions, TrainResult, train_fold

__all__ = [
    "PairBatches",
    "Sides",
    "TrainOptions",
    "TrainResult",
    "augmented_items",
    "make_loader",
    "plain_items",
    "train_fold",
]
