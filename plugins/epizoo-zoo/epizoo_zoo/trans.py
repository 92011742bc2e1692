"""EPI-Trans (Ahmed, Aly, Liu; BMC Bioinformatics 2024): per branch dna2vec 6-mers -> Conv+MaxPool
sized so both branches give 194 tokens -> concatenation along time (388 tokens) -> BatchNorm,
Dropout -> one Transformer encoder stack over the merged tokens -> global max pooling ->
Dense(50) -> BatchNorm -> ReLU -> Dense(1).

A port of ``model.py`` and ``transfomer.py`` of FMoonlightS/EPI-Trans (tf.keras); see the card.
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
    keras_batchnorm1d,
)


class EPITrans(nn.Module):
    def __init__(
        self,
        enhancer_length: int = 3000,
        promoter_length: int = 2000,
        filters: int = 72,
        enhancer_kernel: int = 80,
        enhancer_pool: int = 15,
        promoter_kernel: int = 61,
        promoter_pool: int = 10,
        heads: int = 9,
        feedforward: int = 256,
        stacks: int = 1,
        transformer_dropout: float = 0.1,
        inference_dropout: bool = False,
        dropout: float = 0.5,
        dense_units: int = 50,
        pretrained_embedding: np.ndarray | None = None,
    ):
        super().__init__()
        conv_output_length(enhancer_length, enhancer_kernel, enhancer_pool, what="enhancer")
        conv_output_length(promoter_length, promoter_kernel, promoter_pool, what="promoter")
        self.embedding = DualEmbedding(pretrained_embedding)
        self.embedding_source = self.embedding.source
        self.enhancer_conv = nn.Sequential(
            nn.Conv1d(EMBEDDING_DIM, filters, enhancer_kernel), nn.ReLU(), nn.MaxPool1d(enhancer_pool)
        )
        self.promoter_conv = nn.Sequential(
            nn.Conv1d(EMBEDDING_DIM, filters, promoter_kernel), nn.ReLU(), nn.MaxPool1d(promoter_pool)
        )
        # The first conv of each branch over the embedded ids, computed as a table lookup on CPU (epizoo.nn).
        self.enhancer_kmer_conv, self.promoter_kmer_conv = EmbeddedConv1d(), EmbeddedConv1d()
        self.merge = nn.Sequential(keras_batchnorm1d(filters), nn.Dropout(dropout))
        self.transformer = KerasTransformerEncoder(
            filters,
            heads,
            feedforward,
            stacks=stacks,
            dropout=transformer_dropout,
            inference_dropout=inference_dropout,
        )
        self.head = nn.Sequential(
            nn.Linear(filters, dense_units),
            keras_batchnorm1d(dense_units),
            nn.ReLU(),
            nn.Linear(dense_units, 1),
        )
        glorot_init_(self)

    def forward(self, enhancer: torch.Tensor, promoter: torch.Tensor) -> torch.Tensor:
        e = self.enhancer_conv[1:](self.enhancer_kmer_conv(enhancer, self.embedding.enhancer, self.enhancer_conv[0]))
        p = self.promoter_conv[1:](self.promoter_kmer_conv(promoter, self.embedding.promoter, self.promoter_conv[0]))
        merged = self.merge(torch.cat([e, p], dim=2))  # along time
        tokens = self.transformer(merged.transpose(1, 2))
        return self.head(tokens.amax(dim=1)).squeeze(1)


SPEC = ModelSpec(
    name="epi-trans",
    aliases=("trans", "EPI-Trans"),
    factory=EPITrans,
    input_encoding="kmer6",
    enhancer_length=3000,
    promoter_length=2000,
    default_hparams={},
    # 600 -> 521 -> 34 and 400 -> 340 -> 34 tokens: equal branches, as at full size (194 + 194).
    tiny_hparams={
        "enhancer_length": 600,
        "promoter_length": 400,
        "filters": 16,
        "heads": 4,
        "feedforward": 32,
        "dense_units": 8,
    },
    demo_hparams={"enhancer_length": 400, "promoter_length": 300, "filters": 32, "heads": 4, "feedforward": 64, "dense_units": 16},
    published_parameters=1_891_721,
    uses_pretrained_embedding=True,
    recipe=TrainingRecipe(
        optimizer="nadam",
        learning_rate=1e-3,
        epsilon=1e-7,  # tf.keras Nadam default (K.epsilon()); PyTorch's is 1e-8
        batch_size=64,
        epochs=20,
        early_stopping_patience=None,
        validation_fraction=0.05,
        augmentation_shifts=20,
        shift_step=50,
        notes=(
            "Upstream train.py: binary cross-entropy, Nadam (tf.keras default lr 1e-3), 20 epochs, batch 64, a 5% "
            "stratified validation split, checkpoints every 320 batches; no early stopping. epizoo's trainer keeps "
            "the epoch with the best validation AUROC. Class balance comes only from 20x shifted copies of training "
            "positives."
        ),
    ),
    card=ModelCard(
        title="EPI-Trans: a Transformer-based model for enhancer-promoter interaction prediction",
        authors="Fatma S. Ahmed, Saleh Aly, Xiangrong Liu",
        citation=(
            "Ahmed FS, Aly S, Liu X. EPI-Trans: an effective transformer-based deep learning model for enhancer "
            "promoter interaction prediction. BMC Bioinformatics 25, 2024. doi:10.1186/s12859-024-05784-9"
        ),
        licence="none stated in the upstream files read; the epizoo port is MIT",
        upstream_repository="https://github.com/FMoonlightS/EPI-Trans",
        upstream_commit="7651f3b19b88142a23433c40b6dcc7abe6e3972c",
        paper_deviations=(
            "The port follows the code: Conv1D 72 filters of width 80 (enhancer) and 61 (promoter), pools 15 and 10 "
            "so both branches give 194 tokens, one Transformer stack with 9 heads of dimension 8 over the 388 merged "
            "tokens. The tf.keras K.dropout calls (after the positional encoding and on attention probabilities) "
            "ignore the learning phase, so the published model is also stochastic at prediction time."
        ),
        port_deviations=(
            "Returns logits and is trained with BCE-with-logits, the same model as the published final sigmoid with "
            "binary cross-entropy. Default inference_dropout=False: the positional and attention dropout act in "
            "training only, so evaluation is deterministic and reproducible; inference_dropout=True restores the "
            "always-on K.dropout of the code. Keras initialisation reproduced: glorot-uniform Conv/Dense/Q/K/V "
            "kernels, zero Conv/Dense biases, U(-0.05, 0.05) feed-forward biases as the custom layer's 'uniform' initialiser, BatchNorm momentum 0.01 (Keras 0.99) and eps 1e-3; the custom Transformer is kept "
            "exactly (sinusoidal positional encoding, bias-free Q/K/V, no output projection, scores scaled by "
            "sqrt(head dim), post-LN with eps 1e-8); random embeddings (no dna2vec matrix) are uniform(-0.05, 0.05). "
            "On CPU the first convolution over the embedded 6-mers is computed as a table lookup (epizoo.nn): "
            "the same math to float32 rounding, several times faster to train; elsewhere embedding + Conv1d."
        ),
        notes=(
            "Both embedding tables (4097x100) start from the same dna2vec 6-mer vectors and stay trainable. Upstream "
            "'general' and 'best' models are training protocols over the same architecture (all cell lines, then "
            "fine-tuning per cell line)."
        ),
    ),
)


@hookimpl
def register_models(register):
    register(SPEC)
