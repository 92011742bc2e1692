"""EPI-DLMH (Min, Ye, Liu, Zeng; Brief. Bioinform. 2021): per branch dna2vec 6-mers -> Conv('same')
-> MaxPool -> BatchNorm -> Dropout -> BiGRU -> attention pooling, then the matching heuristic
[e, p, e-p, e*p] -> BatchNorm, Dropout -> Dense(64) -> BatchNorm, ReLU, Dropout -> Dense(1).

A port of ``get_model_max`` in ``model.py`` of xzenglab/EPI-DLMH (Keras 2); see the card.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from epizoo.hookspecs import hookimpl
from epizoo.nn import EmbeddedConv1d
from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe
from epizoo_zoo.layers import EMBEDDING_DIM, AttLayer, DualEmbedding, conv_output_length, glorot_init_, keras_batchnorm1d


class _Branch(nn.Module):
    """One element's path: Conv(same) -> ReLU -> MaxPool -> BatchNorm -> Dropout -> BiGRU -> AttLayer."""

    def __init__(self, filters: int, kernel: int, pool: int, gru_units: int, attention_dim: int, dropout: float):
        super().__init__()
        # Keras 'same': (k-1)//2 zeros on the left, the rest on the right (explicit, as k is even).
        same = ((kernel - 1) // 2, kernel // 2)
        # The embedding, padding and conv, computed as a table lookup on CPU (epizoo.nn); conv[0:2] describe it.
        self.kmer_conv = EmbeddedConv1d(padding=same)
        self.conv = nn.Sequential(
            nn.ConstantPad1d(same, 0.0),
            nn.Conv1d(EMBEDDING_DIM, filters, kernel),
            nn.ReLU(),
            nn.MaxPool1d(pool),
            keras_batchnorm1d(filters),
            nn.Dropout(dropout),
        )
        self.gru = nn.GRU(filters, gru_units, batch_first=True, bidirectional=True)
        self.attention = AttLayer(2 * gru_units, attention_dim)

    def forward(self, ids: torch.Tensor, embedding: nn.Embedding) -> torch.Tensor:
        convolved = self.kmer_conv(ids, embedding, self.conv[1])
        states, _ = self.gru(self.conv[2:](convolved).transpose(1, 2))
        return self.attention(states)


class EPIDLMH(nn.Module):
    def __init__(
        self,
        enhancer_length: int = 3000,
        promoter_length: int = 2000,
        filters: int = 64,
        enhancer_kernel: int = 60,
        enhancer_pool: int = 30,
        promoter_kernel: int = 40,
        promoter_pool: int = 20,
        gru_units: int = 50,
        attention_dim: int = 50,
        dense_units: int = 64,
        dropout: float = 0.5,
        pretrained_embedding: np.ndarray | None = None,
    ):
        super().__init__()
        conv_output_length(enhancer_length, enhancer_kernel, enhancer_pool, same=True, what="enhancer")
        conv_output_length(promoter_length, promoter_kernel, promoter_pool, same=True, what="promoter")
        self.embedding = DualEmbedding(pretrained_embedding)
        self.embedding_source = self.embedding.source
        self.enhancer_branch = _Branch(filters, enhancer_kernel, enhancer_pool, gru_units, attention_dim, dropout)
        self.promoter_branch = _Branch(filters, promoter_kernel, promoter_pool, gru_units, attention_dim, dropout)
        matched = 4 * 2 * gru_units  # [e, p, e-p, e*p]
        self.head = nn.Sequential(
            keras_batchnorm1d(matched),
            nn.Dropout(dropout),
            nn.Linear(matched, dense_units),
            keras_batchnorm1d(dense_units),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(dense_units, 1),
        )
        glorot_init_(self)

    def forward(self, enhancer: torch.Tensor, promoter: torch.Tensor) -> torch.Tensor:
        e = self.enhancer_branch(enhancer, self.embedding.enhancer)
        p = self.promoter_branch(promoter, self.embedding.promoter)
        matched = torch.cat([e, p, e - p, e * p], dim=1)  # signed difference, as in the code
        return self.head(matched).squeeze(1)


SPEC = ModelSpec(
    name="epi-dlmh",
    aliases=("dlmh", "EPI-DLMH"),
    factory=EPIDLMH,
    input_encoding="kmer6",
    enhancer_length=3000,
    promoter_length=2000,
    default_hparams={},
    tiny_hparams={
        "enhancer_length": 600,
        "promoter_length": 400,
        "filters": 16,
        "gru_units": 8,
        "attention_dim": 8,
        "dense_units": 16,
    },
    demo_hparams={"enhancer_length": 400, "promoter_length": 400, "filters": 32, "gru_units": 16, "attention_dim": 16, "dense_units": 32},
    demo_recipe={"learning_rate": 0.001},  # its published rate cannot move in a demo's 3 epochs
    published_parameters=1_566_241,
    uses_pretrained_embedding=True,
    recipe=TrainingRecipe(
        optimizer="adam",
        learning_rate=5e-6,
        epsilon=1e-7,  # Keras 2's Adam default (K.epsilon()); PyTorch's is 1e-8
        batch_size=32,
        epochs=90,
        early_stopping_patience=None,
        validation_fraction=0.05,
        augmentation_shifts=20,
        shift_step=50,
        notes=(
            "Upstream train_max.py: binary cross-entropy, Adam lr 5e-6, 90 epochs, batch 32, no validation split and "
            "no early stopping; test.py evaluates the last epoch's weights. epizoo's trainer still holds out a "
            "validation part (5% unless the split gives one) and keeps the epoch with the best validation AUROC. "
            "Class balance comes only from 20x shifted copies of training positives."
        ),
    ),
    card=ModelCard(
        title="EPI-DLMH: enhancer-promoter interactions by deep learning and matching heuristic",
        authors="Xiaoping Min, Congmin Ye, Xiangrong Liu, Xiangxiang Zeng",
        citation=(
            "Min X, Ye C, Liu X, Zeng X. Predicting enhancer-promoter interactions by deep learning and matching "
            "heuristic. Briefings in Bioinformatics 22(4), 2021."
        ),
        licence="none stated in the upstream files read; the epizoo port is MIT",
        upstream_repository="https://github.com/xzenglab/EPI-DLMH",
        upstream_commit="6b0715c0ab90e1a2b5973b367ca2fc7799c7b806",
        paper_deviations=(
            "The paper describes a two-layer CNN; the code has one Conv1D per branch followed by a BiGRU and "
            "attention. The released scripts are out of sync: train.py trains get_model (concatenation [e, p] only) "
            "while test.py builds get_model_max. epizoo takes get_model_max, the matching heuristic [e, p, e-p, e*p] "
            "the paper's title names; e-p is signed, not absolute."
        ),
        port_deviations=(
            "Returns logits and is trained with BCE-with-logits, the same model as the published final sigmoid with "
            "binary cross-entropy. The GRUs are PyTorch's (reset gate after the recurrent matmul, logistic sigmoid, two "
            "biases per gate: 1,566,241 trainable parameters instead of Keras' 1,565,641) where Keras <=2.2 used "
            "reset_after=False with hard_sigmoid. The attention layers are initialised from a normal(std 0.05) without "
            "Keras' fixed seed. Keras "
            "initialisation otherwise reproduced: glorot-uniform Conv/Dense/GRU kernels, orthogonal recurrent kernels, "
            "zero biases, BatchNorm momentum 0.01 (Keras 0.99) and eps 1e-3; Keras 'same' padding for the even "
            "kernels 60/40 is reproduced exactly ((k-1)//2 zeros left, the rest right); random embeddings (no dna2vec matrix) are uniform(-0.05, 0.05). "
            "On CPU the first convolution over the embedded 6-mers is computed as a table lookup (epizoo.nn): "
            "the same math to float32 rounding, several times faster to train; elsewhere embedding + Conv1d."
        ),
        notes=(
            "Both embedding tables (4097x100) start from the same dna2vec 6-mer vectors and stay trainable. The "
            "recipe's lr 5e-6 for 90 epochs is slow by design; shorten it only knowingly."
        ),
    ),
)


@hookimpl
def register_models(register):
    register(SPEC)
