"""EPI-Mind (Ni et al. 2022): per branch dna2vec 6-mers -> Conv+MaxPool -> a 4-stack Transformer
encoder (MHA and FFN weights shared across stacks) -> global max pooling, then [e*p, |e-p|] ->
Dense(50, ReLU) -> Dense(1).

A port of ``src/models.py`` and ``src/transfomer.py`` of NWAFUniyu/EPI-Mind (tf.keras); see the card.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from epizoo.hookspecs import hookimpl
from epizoo.nn import EmbeddedConv1d
from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe
from epizoo_zoo.layers import (
    EMBEDDING_DIM,
    DualEmbedding,
    KerasTransformerEncoder,
    conv_output_length,
    glorot_init_,
)


class _Branch(nn.Module):
    """One element's path: Conv -> ReLU -> MaxPool -> Transformer -> max over time."""

    def __init__(self, filters: int, kernel: int, pool: int, transformer: dict):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(EMBEDDING_DIM, filters, kernel), nn.ReLU(), nn.MaxPool1d(pool))
        self.kmer_conv = EmbeddedConv1d()  # the embedding and conv[0], a table lookup on CPU (epizoo.nn)
        self.transformer = KerasTransformerEncoder(filters, **transformer)

    def forward(self, ids: torch.Tensor, embedding: nn.Embedding) -> torch.Tensor:
        convolved = self.conv[1:](self.kmer_conv(ids, embedding, self.conv[0]))
        tokens = self.transformer(convolved.transpose(1, 2))
        return tokens.amax(dim=1)


class EPIMind(nn.Module):
    def __init__(
        self,
        enhancer_length: int = 3000,
        promoter_length: int = 2000,
        filters: int = 72,
        kernel: int = 36,
        pool: int = 20,
        heads: int = 8,
        feedforward: int = 256,
        stacks: int = 4,
        share_stack_weights: bool = True,
        transformer_dropout: float = 0.1,
        inference_dropout: bool = False,
        dense_units: int = 50,
        pretrained_embedding: np.ndarray | None = None,
    ):
        super().__init__()
        conv_output_length(enhancer_length, kernel, pool, what="enhancer")
        conv_output_length(promoter_length, kernel, pool, what="promoter")
        self.embedding = DualEmbedding(pretrained_embedding)
        self.embedding_source = self.embedding.source
        transformer = {
            "heads": heads,
            "ff_dim": feedforward,
            "stacks": stacks,
            "dropout": transformer_dropout,
            "share_weights": share_stack_weights,
            "inference_dropout": inference_dropout,
        }
        self.enhancer_branch = _Branch(filters, kernel, pool, transformer)
        self.promoter_branch = _Branch(filters, kernel, pool, transformer)
        self.head = nn.Sequential(nn.Linear(2 * filters, dense_units), nn.ReLU(), nn.Linear(dense_units, 1))
        glorot_init_(self)

    def forward(self, enhancer: torch.Tensor, promoter: torch.Tensor) -> torch.Tensor:
        e = self.enhancer_branch(enhancer, self.embedding.enhancer)
        p = self.promoter_branch(promoter, self.embedding.promoter)
        return self.head(torch.cat([e * p, (e - p).abs()], dim=1)).squeeze(1)


SPEC = ModelSpec(
    name="epi-mind",
    aliases=("mind", "EPI-Mind"),
    factory=EPIMind,
    input_encoding="kmer6",
    enhancer_length=3000,
    promoter_length=2000,
    default_hparams={},
    tiny_hparams={
        "enhancer_length": 600,
        "promoter_length": 400,
        "filters": 16,
        "heads": 4,
        "feedforward": 32,
        "stacks": 2,
        "dense_units": 8,
    },
    demo_hparams={"enhancer_length": 400, "promoter_length": 400, "filters": 32, "heads": 4, "feedforward": 64, "dense_units": 32},
    published_parameters=1_453_037,
    uses_pretrained_embedding=True,
    recipe=TrainingRecipe(
        optimizer="adam",
        learning_rate=1e-3,
        epsilon=1e-7,  # tf.keras Adam default (K.epsilon()); PyTorch's is 1e-8
        batch_size=64,
        epochs=15,
        early_stopping_patience=None,
        validation_fraction=0.05,
        augmentation_shifts=20,
        shift_step=50,
        notes=(
            "Upstream src/train.py: binary cross-entropy, 'adam' (lr 1e-3), 15 epochs, batch 64, a 5% stratified "
            "validation split, validation AUROC/AUPR printed and weights saved every epoch; no early stopping. "
            "epizoo's trainer keeps the epoch with the best validation AUROC. Class balance comes only from 20x "
            "shifted copies of training positives."
        ),
    ),
    card=ModelCard(
        title="EPI-Mind: a Transformer model of enhancer-promoter interactions",
        authors="Ni et al. (full author list not verified)",
        citation=(
            "Ni et al. (2022), EPI-Mind (reported as Interdisciplinary Sciences: Computational Life Sciences, 2022, "
            "'EPI-Mind: Identifying Enhancer-Promoter Interactions Based on Transformer Mechanism'). The exact "
            "title, journal, volume and author list were not verified here; the upstream README gives the reference."
        ),
        licence="none stated in the upstream files read; the epizoo port is MIT",
        upstream_repository="https://github.com/NWAFUniyu/EPI-Mind",
        upstream_commit="c10172cf306a696d448c417d5fc1d8aa410a24d8",
        paper_deviations=(
            "The paper text was not read; the port follows the code. In the code one attention and one feed-forward "
            "layer are built once and reused by all 4 encoder stacks (only the LayerNorms are per stack), so the "
            "stacks share weights (1,453,037 parameters; 1,769,501 if they did not: share_stack_weights=False). "
            "Conv1D is 72 filters of width 36 (comments show it was changed from 64/40). The tf.keras K.dropout "
            "calls (after the positional encoding and on attention probabilities) ignore the learning phase, so the "
            "published model is also stochastic at prediction time."
        ),
        port_deviations=(
            "Returns logits and is trained with BCE-with-logits, the same model as the published final sigmoid with "
            "binary cross-entropy. Default inference_dropout=False: the positional and attention dropout act in "
            "training only, so evaluation is deterministic and reproducible; inference_dropout=True restores the "
            "always-on K.dropout of the code. Keras initialisation reproduced: glorot-uniform Conv/Dense/Q/K/V "
            "kernels, zero Conv/Dense biases, U(-0.05, 0.05) feed-forward biases as the custom layer's 'uniform' initialiser; the custom Transformer is kept exactly (sinusoidal positional encoding, bias-free "
            "Q/K/V, no output projection, scores scaled by sqrt(head dim), post-LN with eps 1e-8); random embeddings "
            "(no dna2vec matrix) are uniform(-0.05, 0.05). "
            "On CPU the first convolution over the embedded 6-mers is computed as a table lookup (epizoo.nn): "
            "the same math to float32 rounding, several times faster to train; elsewhere embedding + Conv1d."
        ),
        notes="Both embedding tables (4097x100) start from the same dna2vec 6-mer vectors and stay trainable.",
    ),
)


@hookimpl
def register_models(register):
    register(SPEC)
