"""Streaming batches from a store, training a model on a fold, and checkpoints."""

from epizoo.training.checkpoint import load_checkpoint, save_checkpoint
from epizoo.training.loader import PairBatches, augmented_items, make_loader, plain_items
from epizoo.training.trainer import Sides, TrainOptions, TrainResult, train_fold

__all__ = [
    "PairBatches",
    "Sides",
    "TrainOptions",
    "TrainResult",
    "augmented_items",
    "load_checkpoint",
    "make_loader",
    "plain_items",
    "save_checkpoint",
    "train_fold",
]
