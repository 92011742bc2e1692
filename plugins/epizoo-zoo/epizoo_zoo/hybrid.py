"""epizoo-hybrid: epizoo-cnn's sequence encoder with the pair's epigenomic signals and distance
joined before its head.

It is :class:`epizoo_zoo.epizoocnn.EpizooCNN` (motif scanners and low-rank interaction, the same
modules under the same names, so every epizoo-cnn weight but the head's loads into it) whose head reads
``[e, p, (U e) * (V p), standardised log signals, log10 distance, is_trans]``. What it adds over
epizoo-cnn is what the marks tell beyond the motifs; over chromnet-pair, what the sequence tells.
"""

from __future__ import annotations

import torch
from torch import nn

from epizoo.hookspecs import hookimpl
from epizoo.zoo import ModelCard, ModelSpec
from epizoo_zoo.epizoocnn import SPEC as CNN_SPEC
from epizoo_zoo.epizoocnn import EpizooCNN
from epizoo_zoo.signals import DEFAULT_SIGNAL_MARKS, SIGNAL_REGIONS, SignalScaler, check_signal_hparams, distance_tensor

DISTANCE_COLUMNS = 2


class EpizooHybrid(EpizooCNN):
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
        signal_marks=DEFAULT_SIGNAL_MARKS,
        signal_regions=SIGNAL_REGIONS,
    ):
        super().__init__(enhancer_length, promoter_length, filters, kernel, rank, hidden, dropout, both_strands)
        marks, regions = check_signal_hparams(signal_marks, signal_regions)
        self.scaler = SignalScaler(len(marks), len(regions))
        joined = 2 * filters + rank + len(marks) * len(regions) + DISTANCE_COLUMNS
        self.head = nn.Sequential(nn.Linear(joined, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, enhancer: torch.Tensor, promoter: torch.Tensor, signals: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
        e, p = self.enhancer(enhancer), self.promoter(promoter)
        interaction = self.enhancer_factor(e) * self.promoter_factor(p)
        scaled = self.scaler(signals)
        pair = [e, p, interaction, scaled, distance_tensor(distance, scaled.dtype)]
        return self.head(torch.cat(pair, dim=1)).squeeze(1)


CARD = ModelCard(
    title="epizoo-hybrid: epizoo-cnn's motif encoder with epigenomic signals and distance before the head",
    authors="the epizoo developers",
    citation="epizoo's model; no paper. Cite epizoo.",
    licence="MIT",
    paper_deviations="Not a published model: epizoo-cnn (see its card) extended with the store's signals.",
    port_deviations=(
        "Sequence: epizoo-cnn's modules, imported, not copied (motif scanners of 64 filters of width 15 over both "
        "strands with global max and BatchNorm; rank-32 enhancer x promoter product). Signals: log1p of each mark's "
        "mean signal over the enhancer, the promoter and the window, each column standardised by a BatchNorm "
        "without affine weights (running statistics at test; chromnet-pair's scaler) and clipped to +-8 sd; "
        "distance as log10(distance + 1) and is_trans (a trans pair: 9, the distance baseline's rule). Head: "
        "[e, p, (U e)*(V p), signals, distance] -> Linear 64 -> ReLU -> Dropout 0.2 -> Linear 1 (a logit). The "
        "sequence modules keep epizoo-cnn's names, so a trained epizoo-cnn's weights, all but its head's, load "
        "(load_state_dict with strict=False) for a warm start."
    ),
    notes=(
        "The question it answers: do sequence and marks together beat either alone (epizoo-cnn; chromnet-pair, "
        "targetfinder)? Training recipe and window lengths are epizoo-cnn's."
    ),
)

SPEC = ModelSpec(
    name="epizoo-hybrid",
    aliases=("hybrid",),
    inputs=("sequence", "signals"),
    factory=EpizooHybrid,
    card=CARD,
    recipe=CNN_SPEC.recipe,
    input_encoding="onehot",
    enhancer_length=CNN_SPEC.enhancer_length,
    promoter_length=CNN_SPEC.promoter_length,
    default_hparams={"signal_marks": DEFAULT_SIGNAL_MARKS, "signal_regions": SIGNAL_REGIONS},
    tiny_hparams=CNN_SPEC.tiny_hparams,
    demo_hparams=CNN_SPEC.demo_hparams,
    demo_recipe=CNN_SPEC.demo_recipe,
)


@hookimpl
def register_models(register):
    register(SPEC)
