"""LOCO-EPI (Tahir, Khan, Davie, Yamanaka, Ashraf; Applied Intelligence 2025): a hybrid in its spirit.

The paper's architecture is not public; only its abstract is: a "hybrid multi-branch neural
network" with one deep branch and one branch of "traditional k-mer features derived from the
nucleotide sequence", fused. This module is epizoo's design under those constraints, reasoned in
docs/model-notes/locoepi.md:

* deep branch, per element (EPI-DLMH-like): dna2vec 6-mer embedding -> Conv1d(same) + ReLU ->
  MaxPool -> BN -> Dropout -> BiGRU -> attention pooling;
* k-mer branch: canonical k-mer spectra (k = 1..6) of enhancer and promoter, counted inside the
  model from the same 6-mer ids -> BN -> MLP;
* fusion: concat [enhancer, promoter, k-mer vector] -> BN -> Dropout -> Dense + ReLU -> Dense(1).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from epizoo.errors import EpizooError
from epizoo.hookspecs import hookimpl
from epizoo.nn import EmbeddedConv1d
from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe
from epizoo_zoo.layers import (
    KMER_VOCABULARY,
    AttLayer,
    DualEmbedding,
    conv_output_length,
    glorot_init_,
    keras_batchnorm1d,
)

ID_K = 6  # the input ids are 6-mers; shorter k-mers are their prefixes


def canonical_kmer_table(sizes: tuple[int, ...]) -> tuple[torch.Tensor, int]:
    """(len(sizes), 4097) column of each 6-mer id's k-mer prefix in the concatenated canonical spectrum.

    Id 0 (a 6-mer with N, or padding) maps to one extra column past the end, dropped after counting.
    """
    if not sizes or any(not 1 <= k <= ID_K for k in sizes):
        raise EpizooError(f"kmer_sizes must be values in 1..{ID_K} (the input ids are 6-mers), got {sizes}")
    table, offset = np.empty((len(sizes), KMER_VOCABULARY), dtype=np.int64), 0
    for row, k in enumerate(sizes):
        columns, classes = {}, []
        for kmer in itertools.product(range(4), repeat=k):
            key = min(kmer, tuple(3 - base for base in reversed(kmer)))  # strand-agnostic class
            classes.append(columns.setdefault(key, len(columns)))
        prefix = np.arange(4**ID_K) // 4 ** (ID_K - k)  # base-4 id of each 6-mer's first k bases
        table[row, 1:] = offset + np.asarray(classes)[prefix]
        offset += len(columns)
    table[:, 0] = offset
    return torch.from_numpy(table), offset


class KmerSpectrum(nn.Module):
    """Per-sequence canonical k-mer frequencies from 6-mer ids (B, L) -> (B, columns); no weights."""

    def __init__(self, sizes: tuple[int, ...]):
        super().__init__()
        table, self.columns = canonical_kmer_table(tuple(sizes))
        self.register_buffer("table", table, persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        columns = self.table[:, ids].permute(1, 0, 2).flatten(1)  # (B, len(sizes) * L)
        counts = torch.zeros(ids.shape[0], self.columns + 1, device=ids.device)
        counts.scatter_add_(1, columns, torch.ones_like(columns, dtype=counts.dtype))
        valid = (ids > 0).sum(dim=1, keepdim=True).clamp(min=1)  # every k counts the same windows
        return counts[:, : self.columns] / valid


class ElementEncoder(nn.Module):
    """Embedding + Conv + pool + BN + Dropout -> BiGRU -> attention: one element's (B, L) ids -> (B, 2 * gru_units)."""

    def __init__(self, embedding_dim, filters, kernel, pool, gru_units, attention_dim):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(embedding_dim, filters, kernel, padding="same"),
            nn.ReLU(),
            nn.MaxPool1d(pool),
            keras_batchnorm1d(filters),
            nn.Dropout(0.5),
        )
        self.kmer_conv = EmbeddedConv1d()  # the embedding and conv[0] ('same'), a table lookup on CPU (epizoo.nn)
        self.gru = nn.GRU(filters, gru_units, bidirectional=True, batch_first=True)
        self.attention = AttLayer(2 * gru_units, attention_dim)

    def forward(self, ids: torch.Tensor, embedding: nn.Embedding) -> torch.Tensor:
        convolved = self.conv[1:](self.kmer_conv(ids, embedding, self.conv[0]))
        states, _ = self.gru(convolved.transpose(1, 2))
        return self.attention(states)


class LOCOEPI(nn.Module):
    def __init__(
        self,
        enhancer_length: int = 3000,
        promoter_length: int = 2000,
        embedding_dim: int = 100,
        filters: int = 64,
        enhancer_kernel: int = 61,
        enhancer_pool: int = 30,
        promoter_kernel: int = 41,
        promoter_pool: int = 20,
        gru_units: int = 50,
        attention_dim: int = 50,
        kmer_sizes: tuple[int, ...] = (1, 2, 3, 4, 5, 6),
        kmer_hidden: int = 256,
        kmer_out: int = 64,
        fusion_hidden: int = 64,
        branches: str = "both",
        pretrained_embedding: np.ndarray | None = None,
    ):
        super().__init__()
        if branches not in ("both", "deep", "kmer"):
            raise EpizooError(f"branches must be 'both', 'deep' or 'kmer' (an ablation), not {branches!r}")
        conv_output_length(enhancer_length, enhancer_kernel, enhancer_pool, same=True, what="enhancer")
        conv_output_length(promoter_length, promoter_kernel, promoter_pool, same=True, what="promoter")
        self.branches = branches
        fused = 0
        if branches != "kmer":
            self.embedding = DualEmbedding(pretrained_embedding, dim=embedding_dim)
            shared = (embedding_dim, filters)
            self.enhancer_encoder = ElementEncoder(*shared, enhancer_kernel, enhancer_pool, gru_units, attention_dim)
            self.promoter_encoder = ElementEncoder(*shared, promoter_kernel, promoter_pool, gru_units, attention_dim)
            fused += 4 * gru_units
        self.embedding_source = self.embedding.source if branches != "kmer" else "none"
        if branches != "deep":
            self.spectrum = KmerSpectrum(kmer_sizes)
            self.kmer_mlp = nn.Sequential(
                keras_batchnorm1d(2 * self.spectrum.columns),  # learnt standardisation: scales differ by 4^k
                nn.Linear(2 * self.spectrum.columns, kmer_hidden),
                nn.ReLU(),
                nn.Dropout(0.5),
                nn.Linear(kmer_hidden, kmer_out),
                nn.ReLU(),
            )
            fused += kmer_out
        self.fusion = nn.Sequential(
            keras_batchnorm1d(fused),
            nn.Dropout(0.5),
            nn.Linear(fused, fusion_hidden),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(fusion_hidden, 1),
        )
        glorot_init_(self)  # AttLayer and embeddings keep their own init

    def forward(self, enhancer: torch.Tensor, promoter: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.branches != "kmer":
            parts += [
                self.enhancer_encoder(enhancer, self.embedding.enhancer),
                self.promoter_encoder(promoter, self.embedding.promoter),
            ]
        if self.branches != "deep":
            spectra = torch.cat([self.spectrum(enhancer), self.spectrum(promoter)], dim=1)
            parts.append(self.kmer_mlp(spectra))
        return self.fusion(torch.cat(parts, dim=1)).squeeze(1)


CARD = ModelCard(
    title="LOCO-EPI (epizoo design): dna2vec CNN-BiGRU-attention branch fused with a k-mer spectrum branch",
    authors="Muhammad Tahir, Shehroz S. Khan, James Davie, Soichiro Yamanaka, Ahmed Ashraf (paper); architecture by epizoo",
    citation=(
        "Tahir M, Khan SS, Davie J, Yamanaka S, Ashraf A. LOCO-EPI: Leave-one-chromosome-out (LOCO) as a "
        "benchmarking paradigm for deep learning based prediction of enhancer-promoter interactions. "
        "Applied Intelligence 55:71 (2025). doi:10.1007/s10489-024-05848-6; arXiv:2504.00306"
    ),
    licence="MIT (this design); no upstream code",
    upstream_repository="",
    upstream_commit="",
    paper_deviations=(
        "No code or architecture was published; only the abstract could be read. It fixes: a hybrid "
        "multi-branch network, one deep-network branch, one branch of traditional k-mer features of the "
        "nucleotide sequence, the two fused. Unknown, so chosen here: k values, feature dimension, layer "
        "sizes, the deep branch's design, loss, optimiser, epochs."
    ),
    port_deviations=(
        "Everything below is epizoo's choice, reasoned in docs/model-notes/locoepi.md. Deep branch: "
        "EPI-DLMH's per-element encoder (dna2vec 6-mer embedding, trainable; Conv1d 64 filters, same "
        "padding, kernel 61/41 (EPI-DLMH: 60/40; odd so 'same' pads symmetrically) and pool 30/20 for "
        "enhancer/promoter; BN, Dropout 0.5; BiGRU 50; attention pooling 50), concatenated [e, p] "
        "without EPI-DLMH's matching heuristic. k-mer branch: "
        "canonical (reverse-complement pooled) k-mer frequencies for k = 1..6 of each element, counted "
        "inside the model from the same 6-mer ids (a k-mer is a 6-mer's prefix, so the last 6 - k k-mers "
        "of a window are not counted), 2 x 2,772 columns -> BatchNorm -> Dense 256 -> ReLU -> Dropout "
        "0.5 -> Dense 64 -> ReLU. Fusion: concat (264) -> BN -> Dropout 0.5 -> Dense 64 -> ReLU -> "
        "Dropout 0.5 -> Dense 1 (logit; trained with BCE-with-logits). Keras-style init (glorot "
        "uniform, zero bias, BN momentum 0.01 / eps 1e-3). Option branches='deep'|'kmer' drops a branch, "
        "for the ablation the paper's claim calls for. "
        "On CPU the first convolution over the embedded 6-mers is computed as a table lookup (epizoo.nn): "
        "the same math to float32 rounding, several times faster to train; elsewhere embedding + Conv1d."
    ),
    notes=(
        "3,016,993 trainable parameters at the defaults (no published figure exists): embeddings "
        "819,400, enhancer encoder 430,492, promoter encoder 302,492, k-mer branch 1,447,056, fusion "
        "17,553. EPI-DynFusion's Table 6 "
        "reports its own LOCO-EPI re-implementation at AUROC 0.565-0.608 (mean over 23 chromosomes), "
        "below EPI-Trans; LOCO-EPI's own numbers were not retrievable."
    ),
)

SPEC = ModelSpec(
    name="loco-epi",
    aliases=("locoepi", "LOCO-EPI"),
    factory=LOCOEPI,
    card=CARD,
    recipe=TrainingRecipe(
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=64,
        epochs=20,
        early_stopping_patience=5,
        validation_fraction=0.05,
        augmentation_shifts=20,
        shift_step=50,
        notes=(
            "Not published; chosen as the shared dna2vec-model protocol (Adam 1e-3, batch 64, 20x "
            "shifted positives, 5% validation) with early stopping, as under LOCO a held-out validation "
            "chromosome is the only guard against over-fitting."
        ),
    ),
    input_encoding="kmer6",
    enhancer_length=3000,
    promoter_length=2000,
    tiny_hparams={
        "enhancer_length": 300,
        "promoter_length": 200,
        "filters": 8,
        "gru_units": 4,
        "attention_dim": 4,
        "kmer_hidden": 16,
        "kmer_out": 8,
        "fusion_hidden": 8,
    },
    demo_hparams={"enhancer_length": 400, "promoter_length": 400, "filters": 32, "gru_units": 16, "attention_dim": 16, "kmer_hidden": 64, "kmer_out": 16, "fusion_hidden": 32},
    published_parameters=None,
    uses_pretrained_embedding=True,
)


@hookimpl
def register_models(register):
    register(SPEC)
