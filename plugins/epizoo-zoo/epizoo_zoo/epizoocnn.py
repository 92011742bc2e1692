"""epizoo-cnn: epizoo's own reference model, a position-invariant CNN with an explicit interaction.

Per element: one-hot DNA -> Conv1d scanning both strands -> ReLU -> global max over positions and
strands -> BatchNorm: each filter reports whether its motif occurs anywhere in the window. Then the
pair: [e, p, (U e) * (V p)] -> MLP -> logit, where the low-rank bilinear term lets "motif i in the
enhancer AND motif j in the promoter" be one feature, which is what an interaction grammar is.

It exists so that a benchmark can tell a failing model from a failing pipeline: it learns a
sequence grammar under leave-one-chromosome-out in a CPU minute (docs/results.md).
"""

from __future__ import annotations

import torch
from torch import nn

from epizoo.errors import EpizooError
from epizoo.hookspecs import hookimpl
from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe


class MotifScanner(nn.Module):
    """One-hot ``(B, 4, L)`` -> ``(B, filters)``: the best match of each filter anywhere, on either strand."""

    def __init__(self, filters: int, kernel: int, both_strands: bool):
        super().__init__()
        self.conv = nn.Conv1d(4, filters, kernel)
        self.both_strands = both_strands
        self.norm = nn.BatchNorm1d(filters)

    def forward(self, onehot: torch.Tensor) -> torch.Tensor:
        if self.both_strands:
            # A,C,G,T = channels 0..3, so the reverse complement flips both the channels and the positions.
            onehot = torch.cat([onehot, onehot.flip(1, 2)], dim=2)
        return self.norm(torch.relu(self.conv(onehot)).amax(dim=2))


class EpizooCNN(nn.Module):
    def __init__(
        self,
        enhancer_length: int = 2000,
        promoter_length: int = 1000,
        filters: int = 64,
        kernel: int = 15,
        rank: int = 32,
        hidden: int = 64,
        dropout: float = 0.2,
        both_strands: bool = True,
    ):
        super().__init__()
        for what, length in (("enhancer", enhancer_length), ("promoter", promoter_length)):
            if length < kernel:
                raise EpizooError(f"{what} length {length} is shorter than the kernel ({kernel}); use at least {kernel}")
        self.enhancer = MotifScanner(filters, kernel, both_strands)
        self.promoter = MotifScanner(filters, kernel, both_strands)
        self.enhancer_factor = nn.Linear(filters, rank, bias=False)
        self.promoter_factor = nn.Linear(filters, rank, bias=False)
        self.head = nn.Sequential(
            nn.Linear(2 * filters + rank, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def forward(self, enhancer: torch.Tensor, promoter: torch.Tensor) -> torch.Tensor:
        e, p = self.enhancer(enhancer), self.promoter(promoter)
        interaction = self.enhancer_factor(e) * self.promoter_factor(p)
        return self.head(torch.cat([e, p, interaction], dim=1)).squeeze(1)


CARD = ModelCard(
    title="epizoo-cnn: a position-invariant motif CNN with a low-rank enhancer x promoter interaction",
    authors="the epizoo developers",
    citation="epizoo's reference model; no paper. Cite epizoo.",
    licence="MIT",
    paper_deviations="Not a published model: epizoo's design, described in its module docstring and here.",
    port_deviations=(
        "Per element: one-hot -> Conv1d (64 filters of width 15) over the window and its reverse complement -> "
        "ReLU -> global max over positions and both strands -> BatchNorm. Pair: [e, p, (U e) * (V p)] with "
        "U, V of rank 32 -> Linear 64 -> ReLU -> Dropout 0.2 -> Linear 1 (a logit). PyTorch default init."
    ),
    notes=(
        "Why it is here: the published architectures, trained at small sizes on CPU, tend to memorise elements "
        "rather than learn a grammar, and a benchmark whose models all sit at AUROC 0.5 looks exactly like a "
        "broken one. epizoo-cnn is the control: on the synthetic grammar it reaches the oracle AUROC under "
        "leave-one-chromosome-out within a CPU minute, so a published model at 0.5 on the same folds is that "
        "model's result, not the pipeline's. Global max pooling makes it blind to where a motif sits; the "
        "bilinear term makes 'enhancer motif i with promoter motif j' one feature."
    ),
)

SPEC = ModelSpec(
    name="epizoo-cnn",
    aliases=("epizoocnn", "reference-cnn"),
    factory=EpizooCNN,
    card=CARD,
    recipe=TrainingRecipe(
        optimizer="adam",
        learning_rate=5e-3,
        batch_size=32,
        epochs=8,
        early_stopping_patience=2,
        validation_fraction=0.05,
        augmentation_shifts=0,
        notes=(
            "epizoo's recipe: Adam lr 5e-3, batch 32, at most 8 epochs, early stopping after 2 epochs without a "
            "better validation AUROC. No shift augmentation: global max pooling is already shift-invariant."
        ),
    ),
    input_encoding="onehot",
    enhancer_length=2000,
    promoter_length=1000,
    tiny_hparams={"enhancer_length": 400, "promoter_length": 400, "filters": 16, "rank": 8, "hidden": 16},
    demo_hparams={"enhancer_length": 400, "promoter_length": 400},  # the layers of the default size
    published_parameters=None,
)


@hookimpl
def register_models(register):
    register(SPEC)
