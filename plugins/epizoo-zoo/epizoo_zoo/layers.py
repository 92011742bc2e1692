"""Building blocks shared by the zoo's ports of Keras models.

The published EPI models were written in Keras; these pieces reproduce the Keras defaults that
PyTorch does not share (BatchNorm momentum/eps, glorot/orthogonal initialisation) and the custom
layers the models define (the attention pooling of EPIVAN/EPI-DLMH, the hand-written Transformer
of EPI-Mind/EPI-Trans). Tensors are channels-last ``(batch, time, channels)`` unless stated.

Public API (kept small and stable; other model modules import it):
``keras_batchnorm1d``, ``glorot_init_``, ``AttLayer``,
``DualEmbedding``, ``KerasTransformerEncoder``, ``conv_output_length``, ``KMER_VOCABULARY``,
``EMBEDDING_DIM``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from epizoo.errors import EpizooError

KMER_VOCABULARY = 4097  # 4**6 6-mers + id 0 for a k-mer with N and for padding
EMBEDDING_DIM = 100  # the dna2vec vectors


def keras_batchnorm1d(num_features: int) -> nn.BatchNorm1d:
    """BatchNorm1d with Keras defaults: Keras momentum 0.99 is PyTorch momentum 0.01; eps 1e-3."""
    return nn.BatchNorm1d(num_features, momentum=0.01, eps=1e-3)


def _init_recurrent_(rnn: nn.RNNBase) -> None:
    """Keras recurrent defaults: glorot-uniform kernel, orthogonal recurrent kernel, zero bias."""
    for name, weight in rnn.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(weight)
        elif name.startswith("weight_hh"):
            nn.init.orthogonal_(weight)  # like Keras on its (units, gates*units) kernel, transposed
        elif name.startswith("bias"):
            nn.init.zeros_(weight)
            if isinstance(rnn, nn.LSTM) and name.startswith("bias_ih"):
                hidden = rnn.hidden_size
                nn.init.ones_(weight[hidden : 2 * hidden])  # Keras unit_forget_bias: forget gate bias 1


def glorot_init_(module: nn.Module) -> nn.Module:
    """Give every Conv/Linear/GRU/LSTM inside ``module`` the Keras default initialisation.

    Conv and Dense: glorot-uniform weights and zero biases (PyTorch defaults to kaiming with
    non-zero biases). GRU/LSTM: glorot-uniform input weights, orthogonal recurrent weights, zero
    biases (LSTM forget gate 1). Embeddings, norms and custom layers keep their own init, and so
    does every module inside one that sets ``keeps_own_init`` (it initialised itself already).
    """
    for layer in _modules_to_initialise(module):
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.GRU, nn.LSTM)):
            _init_recurrent_(layer)
    return module


def _modules_to_initialise(module: nn.Module) -> list[nn.Module]:
    """``module``'s submodules, less those inside a submodule that ``keeps_own_init``."""
    kept = {id(inner) for outer in module.modules() if outer is not module and getattr(outer, "keeps_own_init", False)
            for inner in outer.modules()}
    return [layer for layer in module.modules() if id(layer) not in kept]


def conv_output_length(length: int, kernel: int, pool: int, same: bool = False, what: str = "input") -> int:
    """Time steps left after a Conv1D (valid unless ``same``) and a MaxPooling1D of ``pool``.

    Raises EpizooError when nothing would be left, so a too-short window fails at build time.
    """
    after_conv = length if same else length - kernel + 1
    if after_conv // pool < 1:
        shortest = pool if same else kernel + pool - 1
        raise EpizooError(
            f"{what} length {length} is too short for a kernel of {kernel} and a pool of {pool}; use at least {shortest}"
        )
    return after_conv // pool


class AttLayer(nn.Module):
    """Additive attention pooling of EPIVAN/EPI-DLMH: ``(batch, time, dim) -> (batch, dim)``.

    u_t = tanh(x_t W + b), a = softmax_t(u_t . u), output = sum_t a_t x_t. Keras initialised
    W, b and u from RandomNormal(std 0.05).
    """

    def __init__(self, input_dim: int, attention_dim: int = 50):
        super().__init__()
        self.W = nn.Parameter(torch.empty(input_dim, attention_dim))
        self.b = nn.Parameter(torch.empty(attention_dim))
        self.u = nn.Parameter(torch.empty(attention_dim, 1))
        for weight in (self.W, self.b, self.u):
            nn.init.normal_(weight, std=0.05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = (torch.tanh(x @ self.W + self.b) @ self.u).squeeze(-1)
        weights = torch.softmax(scores, dim=1)
        return torch.einsum("bt,btd->bd", weights, x)


class DualEmbedding(nn.Module):
    """Separate, trainable enhancer and promoter k-mer embeddings, as every dna2vec model has.

    ``pretrained`` (a ``(vocabulary, dim)`` array, e.g. dna2vec) starts both tables from the same
    vectors; None gives the Keras default uniform(-0.05, 0.05). ``source`` says which.
    """

    def __init__(self, pretrained: np.ndarray | None = None, vocabulary: int = KMER_VOCABULARY, dim: int = EMBEDDING_DIM):
        super().__init__()
        self.enhancer = nn.Embedding(vocabulary, dim)
        self.promoter = nn.Embedding(vocabulary, dim)
        if pretrained is None:
            self.source = "random"
            for table in (self.enhancer, self.promoter):
                nn.init.uniform_(table.weight, -0.05, 0.05)
        else:
            self.source = "dna2vec"
            vectors = self._as_tensor(pretrained, vocabulary, dim)
            with torch.no_grad():
                self.enhancer.weight.copy_(vectors)
                self.promoter.weight.copy_(vectors)

    @staticmethod
    def _as_tensor(pretrained: np.ndarray, vocabulary: int, dim: int) -> torch.Tensor:
        vectors = torch.as_tensor(np.asarray(pretrained), dtype=torch.float32)
        if tuple(vectors.shape) != (vocabulary, dim):
            raise EpizooError(
                f"pretrained_embedding has shape {tuple(vectors.shape)}, expected ({vocabulary}, {dim}); "
                "pass the dna2vec 6-mer matrix or leave pretrained_embedding unset"
            )
        return vectors

    def forward(self, enhancer: torch.Tensor, promoter: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """int64 ids ``(batch, length)`` -> channels-first vectors ``(batch, dim, length)`` for Conv1d."""
        return self.enhancer(enhancer).transpose(1, 2), self.promoter(promoter).transpose(1, 2)


def sinusoidal_encoding(length: int, dim: int) -> torch.Tensor:
    """The fixed sin/cos positional encoding of Vaswani et al.: sin on even, cos on odd channels."""
    position = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    rate = torch.pow(10000.0, -(torch.arange(dim, dtype=torch.float64) // 2) * 2 / dim)
    angles = position * rate
    angles[:, 0::2] = torch.sin(angles[:, 0::2])
    angles[:, 1::2] = torch.cos(angles[:, 1::2])
    return angles.float()


class _SelfAttention(nn.Module):
    """The custom MHA: bias-free Q/K/V projections, heads concatenated back, no output projection."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise EpizooError(f"model dimension {dim} is not divisible by {heads} heads; change filters or heads")
        self.heads = heads
        self.dropout = dropout
        self.query = nn.Linear(dim, dim, bias=False)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, dim = x.shape
        return x.view(batch, time, self.heads, dim // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, dropout_active: bool) -> torch.Tensor:
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        # Scaled by sqrt(head_dim), no mask; dropout acts on the attention probabilities.
        if dropout_active and self.dropout > 0 and x.device.type == "cpu":
            # The same computation written out: on CPU, SDPA with dropout takes its math path, which adds
            # three passes over the (heads, T, T) scores (a 'safe softmax' for masks this layer never has).
            scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
            out = F.dropout(torch.softmax(scores, dim=-1), self.dropout, training=True) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if dropout_active else 0.0)
        return out.transpose(1, 2).reshape(x.shape)


class KerasTransformerEncoder(nn.Module):
    """The hand-written Keras Transformer encoder of EPI-Mind and EPI-Trans.

    Sinusoidal positional encoding is added and dropped out, then ``stacks`` post-LN blocks
    x = LN(x + MHA(x)); x = LN(x + FFN(x)) with LayerNorm eps 1e-8. ``share_weights`` reuses one
    MHA and one FFN in every stack (EPI-Mind's code builds them once, outside its stack loop);
    the LayerNorms are always per stack. ``inference_dropout`` keeps the positional and
    attention dropout on in eval mode, as the upstream ``K.dropout`` calls do.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        ff_dim: int,
        stacks: int = 1,
        dropout: float = 0.1,
        share_weights: bool = False,
        inference_dropout: bool = False,
    ):
        super().__init__()
        self.dropout = dropout
        self.inference_dropout = inference_dropout
        distinct = 1 if share_weights else stacks
        self.attention = nn.ModuleList(_SelfAttention(dim, heads, dropout) for _ in range(distinct))
        self.feedforward = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, ff_dim), nn.ReLU(), nn.Linear(ff_dim, dim)) for _ in range(distinct)
        )
        self.attention_norms = nn.ModuleList(nn.LayerNorm(dim, eps=1e-8) for _ in range(stacks))
        self.feedforward_norms = nn.ModuleList(nn.LayerNorm(dim, eps=1e-8) for _ in range(stacks))
        self._position_cache: torch.Tensor | None = None
        glorot_init_(self)
        self.keeps_own_init = True  # a model's glorot_init_ must not zero the feed-forward biases set below
        for block in self.feedforward:  # the upstream FFN biases are add_weight(initializer='uniform'): U(-0.05, 0.05)
            for layer in (block[0], block[2]):
                nn.init.uniform_(layer.bias, -0.05, 0.05)

    def _positions(self, x: torch.Tensor) -> torch.Tensor:
        """The positional table for ``x``, cached so it is not rebuilt and copied to the device each step."""
        table = self._position_cache
        if table is None or table.shape != x.shape[1:] or table.device != x.device or table.dtype != x.dtype:
            table = sinusoidal_encoding(x.shape[1], x.shape[2]).to(x.device, x.dtype)
            self._position_cache = table  # a plain attribute: not a parameter, not in the state dict
        return table

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dropout_active = self.training or self.inference_dropout
        x = x + self._positions(x)
        x = F.dropout(x, self.dropout, training=dropout_active)
        for stack, (attention_norm, feedforward_norm) in enumerate(zip(self.attention_norms, self.feedforward_norms)):
            block = stack % len(self.attention)  # 0 for every stack when weights are shared
            x = attention_norm(x + self.attention[block](x, dropout_active))
            x = feedforward_norm(x + self.feedforward[block](x))
        return x
