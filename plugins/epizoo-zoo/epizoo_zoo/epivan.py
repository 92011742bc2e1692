"""EPIVAN (Hong et al., Bioinformatics 2020): dna2vec 6-mers -> Conv+MaxPool per branch ->
concatenation along time -> BatchNorm, Dropout -> BiGRU -> attention pooling -> Dense.

A port of ``model.py`` of hzy95/EPIVAN (Keras 2); see the card for what differs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from epizoo.hookspecs import hookimpl
from epizoo.nn import EmbeddedConv1d
from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe
from epizoo_zoo.layers import EMBEDDING_DIM, AttLayer, DualEmbedding, conv_output_length, glorot_init_, keras_batchnorm1d


class EPIVAN(nn.Module):
    def __init__(
        self,
        enhancer_length: int = 3000,
        promoter_length: int = 2000,
        filters: int = 64,
        kernel: int = 40,
        pool: int = 20,
        gru_units: int = 50,
        attention_dim: int = 50,
        dropout: float = 0.5,
        pretrained_embedding: np.ndarray | None = None,
    ):
        super().__init__()
        # Fails early, with a clear message, when a window is too short for the conv/pool.
        conv_output_length(enhancer_length, kernel, pool, what="enhancer")
        conv_output_length(promoter_length, kernel, pool, what="promoter")
        self.embedding = DualEmbedding(pretrained_embedding)
        self.embedding_source = self.embedding.source
        self.enhancer_conv = nn.Sequential(nn.Conv1d(EMBEDDING_DIM, filters, kernel), nn.ReLU(), nn.MaxPool1d(pool))
        self.promoter_conv = nn.Sequential(nn.Conv1d(EMBEDDING_DIM, filters, kernel), nn.ReLU(), nn.MaxPool1d(pool))
        # The first conv of each branch over the embedded ids, computed as a table lookup on CPU (epizoo.nn).
        self.enhancer_kmer_conv, self.promoter_kmer_conv = EmbeddedConv1d(), EmbeddedConv1d()
        self.merge = nn.Sequential(keras_batchnorm1d(filters), nn.Dropout(dropout))
        self.gru = nn.GRU(filters, gru_units, batch_first=True, bidirectional=True)
        self.attention = AttLayer(2 * gru_units, attention_dim)
        self.output = nn.Linear(2 * gru_units, 1)
        glorot_init_(self)

    def forward(self, enhancer: torch.Tensor, promoter: torch.Tensor) -> torch.Tensor:
        e = self.enhancer_conv[1:](self.enhancer_kmer_conv(enhancer, self.embedding.enhancer, self.enhancer_conv[0]))
        p = self.promoter_conv[1:](self.promoter_kmer_conv(promoter, self.embedding.promoter, self.promoter_conv[0]))
        merged = self.merge(torch.cat([e, p], dim=2))  # along time
        states, _ = self.gru(merged.transpose(1, 2))
        return self.output(self.attention(states)).squeeze(1)


SPEC = ModelSpec(
    name="epivan",
    aliases=("EPIVAN", "epi-van"),
    factory=EPIVAN,
    input_encoding="kmer6",
    enhancer_length=3000,
    promoter_length=2000,
    default_hparams={},
    tiny_hparams={"enhancer_length": 600, "promoter_length": 400, "filters": 16, "gru_units": 8, "attention_dim": 8},
    demo_hparams={"enhancer_length": 400, "promoter_length": 400, "filters": 32, "gru_units": 16, "attention_dim": 16},
    published_parameters=1_371_657,
    uses_pretrained_embedding=True,
    recipe=TrainingRecipe(
        optimizer="adam",
        learning_rate=1e-3,
        epsilon=1e-7,  # Keras 2's Adam default (K.epsilon()); PyTorch's is 1e-8
        batch_size=64,
        epochs=15,
        early_stopping_patience=None,
        validation_fraction=0.05,
        augmentation_shifts=20,
        shift_step=50,
        notes=(
            "Upstream train.py: binary cross-entropy, Keras 'adam' (lr 1e-3), 15 epochs, batch 64, a 5% stratified "
            "validation split, weights saved every epoch with validation AUROC/AUPR printed and the epoch picked by "
            "hand; no early stopping. epizoo's trainer keeps the epoch with the best validation AUROC, which is the "
            "automatic form of that choice. Class balance comes only from 20x shifted copies of training positives."
        ),
    ),
    card=ModelCard(
        title="EPIVAN: enhancer-promoter interactions from pre-trained DNA vectors and attention",
        authors="Zengyan Hong, Xiangxiang Zeng, Leyi Wei, Xiangrong Liu",
        citation=(
            "Hong Z, Zeng X, Wei L, Liu X. Identifying enhancer-promoter interactions with neural network based on "
            "pre-trained DNA vectors and attention mechanism. Bioinformatics 36(4), 15 Feb 2020."
        ),
        licence="none stated upstream; the epizoo port is MIT",
        upstream_repository="https://github.com/hzy95/EPIVAN",
        upstream_commit="dd9a6d6278b194c39414c5228bc432aeee79b6e9",
        paper_deviations=(
            "None known; only the paper's abstract was checked (pre-trained DNA vectors, one-dimensional convolution, "
            "GRU, attention), which the code matches. Model selection across epochs is manual in the released scripts."
        ),
        port_deviations=(
            "Returns logits and is trained with BCE-with-logits, the same model as the published final sigmoid with "
            "binary cross-entropy. The GRU is PyTorch's (reset gate after the recurrent matmul, logistic sigmoid, two "
            "biases per gate: +300 parameters, 1,371,657 trainable instead of Keras' 1,371,357) where Keras <=2.2 used "
            "reset_after=False with hard_sigmoid. The attention layer is initialised from a normal(std 0.05) without Keras' "
            "fixed seed 10. Keras initialisation otherwise "
            "reproduced: glorot-uniform Conv/Dense/GRU kernels, orthogonal recurrent kernels, zero biases, BatchNorm "
            "momentum 0.01 (Keras 0.99) and eps 1e-3; random embeddings (no dna2vec matrix given) are uniform(-0.05, 0.05). "
            "On CPU the first convolution over the embedded 6-mers is computed as a table lookup (epizoo.nn): "
            "the same math to float32 rounding, several times faster to train; elsewhere embedding + Conv1d."
        ),
        notes=(
            "Both embedding tables (4097x100) start from the same dna2vec 6-mer vectors and stay trainable; they are "
            "819,400 of the parameters. Upstream variants (general, retrained 'EPIVAN-best', transfer) are training "
            "protocols over the same architecture."
        ),
    ),
)


@hookimpl
def register_models(register):
    register(SPEC)
