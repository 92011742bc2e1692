"""EPI-DynFusion (Zhang, Jia, Sun, Wei; Front. Genet. 2025): the authors' PyTorch model.

dna2vec 6-mer embeddings -> per-branch Conv+MaxPool -> concatenation along length -> Transformer
encoder -> BiGRU on the Transformer output -> sigmoid-weighted scalar fusion of the two -> CBAM ->
global max -> MLP head. The paper's variants (parallel streams, positional encoding, balanced
fusion weights) are options, off by default, because the released code does not use them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from epizoo.errors import EpizooError
from epizoo.hookspecs import hookimpl
from epizoo.nn import EmbeddedConv1d
from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe
from epizoo_zoo.layers import DualEmbedding, conv_output_length, sinusoidal_encoding

class CBAM1d(nn.Module):
    """Convolutional block attention on (B, C, L): channel gate, then spatial gate."""

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: int = 9):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.channel_mlp = nn.Sequential(
            nn.Conv1d(channels, hidden, 1, bias=False),
            nn.ReLU(),
            nn.Conv1d(hidden, channels, 1, bias=False),
        )
        self.spatial = nn.Conv1d(2, 1, spatial_kernel, padding=spatial_kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled_max = x.amax(dim=2, keepdim=True)
        pooled_mean = x.mean(dim=2, keepdim=True)
        x = x * torch.sigmoid(self.channel_mlp(pooled_max) + self.channel_mlp(pooled_mean))
        per_position = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(per_position))


class EPIDynFusion(nn.Module):
    def __init__(
        self,
        enhancer_length: int = 3000,
        promoter_length: int = 2000,
        embedding_dim: int = 100,
        filters: int = 100,
        enhancer_kernel: int = 80,
        enhancer_pool: int = 15,
        promoter_kernel: int = 61,
        promoter_pool: int = 10,
        heads: int = 10,
        feedforward: int = 256,
        gru_layers: int = 2,
        cbam_reduction: int = 16,
        cbam_kernel: int = 9,
        streams: str = "sequential",
        positional_encoding: bool = False,
        fusion_init: str = "randn",
        pretrained_embedding: np.ndarray | None = None,
    ):
        super().__init__()
        if streams not in ("sequential", "parallel"):
            raise EpizooError(f"streams must be 'sequential' (the code) or 'parallel' (the paper), not {streams!r}")
        if fusion_init not in ("randn", "balanced"):
            raise EpizooError(f"fusion_init must be 'randn' (the code) or 'balanced' (the paper), not {fusion_init!r}")
        if filters % heads or filters % 2:
            raise EpizooError(f"filters ({filters}) must be even and divisible by heads ({heads})")
        tokens = conv_output_length(
            enhancer_length, enhancer_kernel, enhancer_pool, what="enhancer"
        ) + conv_output_length(promoter_length, promoter_kernel, promoter_pool, what="promoter")
        self.streams = streams
        self.embedding = DualEmbedding(pretrained_embedding, dim=embedding_dim)
        self.embedding_source = self.embedding.source
        self.enhancer_conv = nn.Sequential(
            nn.Conv1d(embedding_dim, filters, enhancer_kernel), nn.ReLU(), nn.MaxPool1d(enhancer_pool)
        )
        self.promoter_conv = nn.Sequential(
            nn.Conv1d(embedding_dim, filters, promoter_kernel), nn.ReLU(), nn.MaxPool1d(promoter_pool)
        )
        # The first conv of each branch over the embedded ids, computed as a table lookup on CPU (epizoo.nn).
        self.enhancer_kmer_conv, self.promoter_kmer_conv = EmbeddedConv1d(), EmbeddedConv1d()
        self.merge = nn.Sequential(nn.BatchNorm1d(filters), nn.Dropout(0.5))
        # A buffer, not a parameter: the paper's encoding is fixed, and the trainable count stays the code's.
        table = sinusoidal_encoding(tokens, filters) if positional_encoding else torch.zeros(0)
        self.register_buffer("position_table", table, persistent=False)
        layer = nn.TransformerEncoderLayer(filters, heads, feedforward, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.gru = nn.GRU(filters, filters // 2, num_layers=gru_layers, bidirectional=True, batch_first=True)
        # The code draws the fusion scalars from randn; 'balanced' starts both gates at sigmoid(0) = 0.5.
        make = torch.randn if fusion_init == "randn" else torch.zeros
        self.transformer_weight = nn.Parameter(make(1))
        self.gru_weight = nn.Parameter(make(1))
        self.cbam = CBAM1d(filters, cbam_reduction, cbam_kernel)
        self.head = nn.Sequential(
            nn.BatchNorm1d(filters),
            nn.Linear(filters, filters),
            nn.ReLU(),
            nn.BatchNorm1d(filters),
            nn.Dropout(0.5),
            nn.Linear(filters, 1),
        )

    def forward(self, enhancer: torch.Tensor, promoter: torch.Tensor) -> torch.Tensor:
        e = self.enhancer_conv[1:](self.enhancer_kmer_conv(enhancer, self.embedding.enhancer, self.enhancer_conv[0]))
        p = self.promoter_conv[1:](self.promoter_kmer_conv(promoter, self.embedding.promoter, self.promoter_conv[0]))
        tokens = self.merge(torch.cat([e, p], dim=2)).transpose(1, 2)  # (B, T, C)
        if self.position_table.numel():
            tokens = tokens + self.position_table
        h_trf = self.transformer(tokens)
        h_gru, _ = self.gru(tokens if self.streams == "parallel" else h_trf)
        fused = torch.sigmoid(self.transformer_weight) * h_trf + torch.sigmoid(self.gru_weight) * h_gru
        attended = self.cbam(fused.transpose(1, 2))
        return self.head(attended.amax(dim=2)).squeeze(1)


CARD = ModelCard(
    title="EPI-DynFusion: Transformer and BiGRU with dynamic fusion and CBAM on dna2vec 6-mers",
    authors="Ao Zhang, Jianhua Jia, Mingwei Sun, Xin Wei",
    citation=(
        "Zhang A, Jia J, Sun M, Wei X. EPI-DynFusion: enhancer-promoter interaction prediction model "
        "based on sequence features and dynamic fusion mechanisms. Frontiers in Genetics 16:1614222 "
        "(2025). doi:10.3389/fgene.2025.1614222"
    ),
    licence="none stated in the upstream repository",
    upstream_repository="https://github.com/zhangao-clude/EPI-DynFusion",
    upstream_commit="3455f435e1138c959dbf721bccf198e79dce5b1d",
    paper_deviations=(
        "The code (followed by default) differs from the paper: (1) no positional encoding, though the "
        "paper lists one (option positional_encoding=True adds a fixed sinusoidal table); (2) the BiGRU "
        "reads the Transformer output, where the paper draws parallel Transformer and BiGRU streams "
        "(option streams='parallel'); (3) the fusion scalars start from randn, where the paper says "
        "balanced values (option fusion_init='balanced' starts both at 0, i.e. gates of 0.5); (4) the "
        "head is BN -> FC -> ReLU -> BN -> Dropout, where the paper says FC -> BN -> ReLU -> Dropout; "
        "(5) the code declares num_filters = 72 (a leftover from EPI-Trans) but uses 100 filters, as "
        "the paper does. The training script is not released: optimizer, learning rate, epochs, batch "
        "size and early stopping come from the paper (section 3.1)."
    ),
    port_deviations=(
        "epizoo returns logits and trains with BCE-with-logits instead of sigmoid + BCELoss: the same "
        "model, numerically safer. The dna2vec matrix is cast to float32 (the code keeps the embedding "
        "in float64 and casts its output). The Transformer runs batch-first, which is the same "
        "computation as the code's sequence-first layout. Random-embedding runs (no dna2vec matrix "
        "available) start from uniform(-0.05, 0.05), the zoo's shared random init. "
        "On CPU the first convolution over the embedded 6-mers is computed as a table lookup (epizoo.nn): "
        "the same math to float32 rounding, several times faster to train; elsewhere embedding + Conv1d."
    ),
    notes=(
        "Default trainable parameters: 2,425,177 (embeddings 819,400, conv_E 800,100, conv_P 610,100, "
        "Transformer 92,356, BiGRU 91,200, CBAM 1,218, BN + head 10,801, fusion 2). Published variants "
        "-spe (per cell line), -gen (all cell lines) and -best (-gen fine-tuned per cell line) are "
        "training protocols, not architectures."
    ),
)

SPEC = ModelSpec(
    name="epi-dynfusion",
    aliases=("dynfusion", "EPI-DynFusion"),
    factory=EPIDynFusion,
    card=CARD,
    recipe=TrainingRecipe(
        optimizer="nadam",
        learning_rate=1e-3,
        batch_size=64,
        epochs=30,
        early_stopping_patience=5,
        monitor="loss",  # the paper stops when the loss has not decreased for 5 epochs
        validation_fraction=0.05,
        augmentation_shifts=20,
        shift_step=50,
        notes="Paper section 3.1 (Optuna-tuned); early stopping on validation loss, patience 5.",
    ),
    input_encoding="kmer6",
    enhancer_length=3000,
    promoter_length=2000,
    default_hparams={"streams": "sequential", "positional_encoding": False, "fusion_init": "randn"},
    tiny_hparams={
        "enhancer_length": 300,
        "promoter_length": 200,
        "filters": 16,
        "heads": 4,
        "feedforward": 32,
    },
    demo_hparams={"enhancer_length": 400, "promoter_length": 300, "filters": 32, "heads": 4, "feedforward": 64},
    published_parameters=2_425_177,
    uses_pretrained_embedding=True,
)


@hookimpl
def register_models(register):
    register(SPEC)
