"""Building blocks for model plugins.

``EmbeddedConv1d`` computes the first layer of the dna2vec k-mer models — an ``nn.Embedding`` of
6-mer ids followed by an ``nn.Conv1d`` — without materialising the embedded sequence. The
convolution of embedded ids is a sum of table lookups::

    conv(E[ids])[b, :, t] = bias + sum_j T_j[ids[b, t + j]],    T_j = E @ W[:, :, j].T   (V, O)

so one step builds the tables ``T`` (one matrix product of the embedding ``E`` by the kernel
``W``, rebuilt in every forward so that gradients reach ``E``, ``W`` and the bias) and sums ``K``
gathered rows per output position. The backward pass is a gather too: the ids are sorted once and
every table row ``T_j[v]`` sums the output gradients at the positions where id ``v`` sits ``j``
before them. Padding positions are zero vectors in embedded space (not id 0, which is a real,
trainable row): the table gets one extra zero row and the ids are padded with its index.

Paths, chosen per layer with ``path`` or for a whole model with ``set_kmer_conv_path``:

* ``"plain"``: embedding, zero padding, ``Conv1d`` — the textbook computation;
* ``"lookup"``: the table lookup above; the same math to float32 rounding (sums in another order);
* ``"auto"`` (default): lookup on CPU, where the convolution was 80-90 % of a training step and
  the lookup is several times faster; plain on every other device, and for layers the lookup
  does not cover (a strided, dilated or grouped conv; an Embedding with padding_idx or max_norm).
  On CUDA the trade-off depends on the model and the precision (``benchmarks/train_speed.py
  --device cuda``: lookup 8x faster under bf16, up to 1.6x slower in fp32), so the trainer times
  both on the model at hand (:mod:`epizoo.training.probe`) and fixes what ``"auto"`` means with
  ``set_kmer_conv_auto``.

Under autocast the lookup runs in the autocast dtype, as the convolution would: the table is a
bf16 (or fp16) product of the cast embedding and kernel, accumulated in float32 and rounded once,
and the K rows of each output are summed in float32 (``embedding_bag``) and rounded once.

The layer owns no parameters: it is handed the model's existing ``nn.Embedding`` and
``nn.Conv1d`` at each call, so a model's ``state_dict`` keys and parameter count do not change.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from epizoo.errors import EpizooError

PATHS = ("auto", "plain", "lookup")


def resolve_path(path: str, device: torch.device, auto: str | None = None) -> str:
    """``"plain"`` or ``"lookup"`` for ``path`` on ``device``: ``"auto"`` is ``auto`` when one was
    measured (see ``set_kmer_conv_auto``), else lookup on CPU only."""
    if path not in PATHS:
        raise EpizooError(f"k-mer conv path must be one of {', '.join(PATHS)}, not {path!r}")
    if path == "auto":
        if auto is not None:
            return auto
        return "lookup" if torch.device(device).type == "cpu" else "plain"
    return path


def conv_padding(conv: nn.Conv1d, padding: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    """Zeros (left, right) before ``conv``: ``padding`` plus the conv's own (``"same"`` as PyTorch pads it)."""
    kernel = conv.kernel_size[0]
    if conv.padding == "same":
        own = ((kernel - 1) // 2, kernel - 1 - (kernel - 1) // 2)  # PyTorch: the extra zero on the right
    elif conv.padding == "valid":
        own = (0, 0)
    else:
        own = (conv.padding[0], conv.padding[0])
    return padding[0] + own[0], padding[1] + own[1]


def unsupported(embedding: nn.Embedding, conv: nn.Conv1d) -> str | None:
    """Why the lookup cannot compute this pair of layers, or None when it can."""
    if conv.stride != (1,) or conv.dilation != (1,) or conv.groups != 1 or conv.padding_mode != "zeros":
        return "the k-mer conv lookup needs a Conv1d with stride 1, dilation 1, one group and zero padding"
    if embedding.embedding_dim != conv.in_channels:
        return "the k-mer conv lookup needs an Embedding whose dim is the conv's in_channels"
    if embedding.max_norm is not None or embedding.padding_idx is not None or embedding.scale_grad_by_freq or embedding.sparse:
        return "the k-mer conv lookup needs a plain Embedding (no max_norm, padding_idx, scale_grad_by_freq or sparse)"
    return None


def plain_embedded_conv1d(ids: torch.Tensor, embedding: nn.Embedding, conv: nn.Conv1d, padding: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Embedding, zero padding (``padding`` on top of the conv's own), Conv1d: ``(B, L)`` -> ``(B, O, L')``."""
    vectors = embedding(ids).transpose(1, 2)
    if padding != (0, 0):
        vectors = F.pad(vectors, padding)
    return conv(vectors)


class _LookupConv(torch.autograd.Function):
    """out[b * L' + t] = bias + sum_j T[ids[b, t + j], j] with T = E @ W (V, K, O).

    Forward: one matrix product builds T, one ``embedding_bag`` sums K rows per output position.
    Backward: the table gradient is a gather too, not a scatter: the ids are sorted once, and row
    ``(j, v)`` of the gradient sums the output gradients at ``t = s - j`` over every position
    ``s`` that holds id ``v`` (one ``embedding_bag`` over the sorted positions, bags j-major). It
    is then contracted with ``W`` and ``E`` per kernel offset, for the gradients of ``E`` and ``W``.
    """

    @staticmethod
    def forward(ctx, vectors: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, ids: torch.Tensor) -> torch.Tensor:
        out_channels, channels, kernel = weight.shape
        batch, padded = ids.shape
        out_length = padded - kernel + 1
        ctx.save_for_backward(vectors, weight, ids)
        # T[v, j, o] = sum_c E[v, c] W[o, c, j]: one product, (V, K * O) read as V * K rows of O.
        table = vectors @ weight.permute(1, 2, 0).reshape(channels, kernel * out_channels)
        if bias is not None:  # every output sums exactly one row of T[:, 0]: the bias goes there
            table[:, :out_channels] += bias
        table = table.view(-1, out_channels)
        index = (ids * kernel).unfold(1, kernel, 1) + torch.arange(kernel, device=ids.device, dtype=ids.dtype)
        return F.embedding_bag(index.reshape(batch * out_length, kernel), table, mode="sum")

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        vectors, weight, ids = ctx.saved_tensors
        out_channels, channels, kernel = weight.shape
        vocabulary = vectors.shape[0]
        batch, padded = ids.shape
        out_length = padded - kernel + 1
        device = ids.device
        flat = ids.reshape(-1).long()
        order = torch.argsort(flat, stable=True)  # positions grouped by id; stable, so deterministic
        counts = torch.bincount(flat, minlength=vocabulary)
        starts = torch.cumsum(counts, 0) - counts
        # The output gradient with K - 1 zero rows each side, so that t = s - j always lands on a row.
        width = out_length + 2 * (kernel - 1)
        padded_grad = F.pad(grad.reshape(batch, out_length, out_channels), (0, 0, kernel - 1, kernel - 1))
        source = (order // padded) * width + order % padded + (kernel - 1)  # the row of t = s
        shifts = torch.arange(kernel, device=device).unsqueeze(1)
        members = (source.unsqueeze(0) - shifts).reshape(-1)  # bag (j, v): source - j over the positions of v
        offsets = (shifts * flat.numel() + starts.unsqueeze(0)).reshape(-1)
        table_grad = F.embedding_bag(members, padded_grad.reshape(-1, out_channels), offsets, mode="sum")
        table_grad = table_grad.view(kernel, vocabulary, out_channels)
        vectors_grad = weight_grad = bias_grad = None
        if ctx.needs_input_grad[2]:
            bias_grad = table_grad[0].sum(0)
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            if vectors.dtype in (torch.float32, torch.float64):
                # One product per kernel offset, read straight from the (K, V, O) gradient: faster in
                # float32 than transposing the gradient for two large products.
                if ctx.needs_input_grad[0]:
                    per_offset = weight.permute(2, 0, 1).contiguous()  # (K, O, C)
                    vectors_grad = torch.zeros_like(vectors)
                    for j in range(kernel):
                        vectors_grad.addmm_(table_grad[j], per_offset[j])
                if ctx.needs_input_grad[1]:
                    per_offset = torch.empty(kernel, channels, out_channels, device=device, dtype=weight.dtype)
                    for j in range(kernel):
                        torch.mm(vectors.t(), table_grad[j], out=per_offset[j])
                    weight_grad = per_offset.permute(2, 1, 0).contiguous()  # (O, C, K)
            else:
                # The gradient in the table's own layout (V, K * O): two products, each summing over the
                # offsets inside one matrix product (accumulated in float32 for bf16/fp16 too).
                by_id = table_grad.transpose(0, 1).reshape(vocabulary, kernel * out_channels)
                if ctx.needs_input_grad[0]:
                    vectors_grad = by_id @ weight.permute(2, 0, 1).reshape(kernel * out_channels, channels)
                if ctx.needs_input_grad[1]:
                    weight_grad = (vectors.t() @ by_id).view(channels, kernel, out_channels).permute(2, 0, 1).contiguous()
        return vectors_grad, weight_grad, bias_grad, None


def lookup_embedded_conv1d(
    ids: torch.Tensor,
    embedding: nn.Embedding,
    conv: nn.Conv1d,
    padding: tuple[int, int] = (0, 0),
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The same result as ``plain_embedded_conv1d``, computed as a table lookup (see the module doc).

    ``padding`` here is the whole padding (the conv's own is not added: see ``conv_padding``).
    ``dtype`` (e.g. the autocast dtype) is the one float32 parameters are cast to first.
    """
    reason = unsupported(embedding, conv)
    if reason:
        raise EpizooError(reason)
    weight, bias, vectors = conv.weight, conv.bias, embedding.weight
    if dtype is not None:
        weight, vectors = (x.to(dtype) if x.dtype == torch.float32 else x for x in (weight, vectors))
        bias = bias.to(dtype) if bias is not None and bias.dtype == torch.float32 else bias
    kernel = weight.shape[2]
    vocabulary = vectors.shape[0]
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocabulary):  # a gather would not notice
        raise EpizooError(f"k-mer ids must lie in 0..{vocabulary - 1}, got {int(ids.min())}..{int(ids.max())}")
    if padding != (0, 0):
        vectors = torch.cat([vectors, vectors.new_zeros(1, vectors.shape[1])])  # the index of a padding position
        ids = F.pad(ids, padding, value=vocabulary)
    if ids.shape[1] < kernel:
        raise EpizooError(f"a sequence of {ids.shape[1]} positions (padding included) is shorter than the kernel {kernel}")
    small = vectors.shape[0] * kernel < 2**31 and ids.numel() * kernel < 2**31
    out = _LookupConv.apply(vectors, weight, bias, ids.to(torch.int32 if small else torch.int64))
    return out.view(ids.shape[0], ids.shape[1] - kernel + 1, weight.shape[0]).transpose(1, 2)


def _autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The dtype autocast casts to on ``device``, or None outside autocast."""
    try:
        enabled = torch.is_autocast_enabled(device.type)
    except TypeError:  # torch < 2.4: no device argument
        if device.type == "cpu":
            return torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None
        return torch.get_autocast_gpu_dtype() if device.type == "cuda" and torch.is_autocast_enabled() else None
    except RuntimeError:  # a device type autocast does not know
        return None
    return torch.get_autocast_dtype(device.type) if enabled else None


def _autocast_off(device: torch.device):
    """Autocast disabled: the lookup casts its parameters itself, once."""
    try:
        return torch.autocast(device_type=device.type, enabled=False)
    except RuntimeError:  # a device type autocast does not know
        return contextlib.nullcontext()


def embedded_conv1d(
    ids: torch.Tensor,
    embedding: nn.Embedding,
    conv: nn.Conv1d,
    padding: tuple[int, int] = (0, 0),
    path: str = "auto",
    auto: str | None = None,
) -> torch.Tensor:
    """``conv`` over ``embedding(ids)`` with ``padding`` zeros (left, right) first: ``(B, L)`` ids -> ``(B, O, L')``.

    ``padding`` comes on top of the conv's own padding (e.g. Keras' uneven 'same' for even kernels
    is ``((k - 1) // 2, k // 2)`` before a conv without padding); padded positions are zero vectors.
    ``auto`` is what ``path="auto"`` means when it was measured (None: the device rule).
    """
    if resolve_path(path, ids.device, auto) == "plain" or (path == "auto" and unsupported(embedding, conv)):
        return plain_embedded_conv1d(ids, embedding, conv, padding)
    total = conv_padding(conv, padding)
    dtype = _autocast_dtype(ids.device)
    with _autocast_off(ids.device):
        return lookup_embedded_conv1d(ids, embedding, conv, total, dtype)


class EmbeddedConv1d(nn.Module):
    """``embedded_conv1d`` as a layer, so ``set_kmer_conv_path`` can find it in a model.

    It owns no parameters: ``forward(ids, embedding, conv)`` is handed the model's own modules.
    ``padding`` (left, right) zeros come before the conv, on top of the conv's own padding.
    """

    def __init__(self, padding: tuple[int, int] = (0, 0), path: str = "auto"):
        super().__init__()
        resolve_path(path, torch.device("cpu"))  # validates the name
        self.padding = (int(padding[0]), int(padding[1]))
        self.path = path
        self.auto: str | None = None  # what "auto" means here once measured (set_kmer_conv_auto)

    def forward(self, ids: torch.Tensor, embedding: nn.Embedding, conv: nn.Conv1d) -> torch.Tensor:
        return embedded_conv1d(ids, embedding, conv, self.padding, self.path, self.auto)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, path={self.path!r}" + (f", auto={self.auto!r}" if self.auto else "")


def set_kmer_conv_path(module: nn.Module, path: str) -> int:
    """Set ``path`` ("auto", "plain", "lookup") on every ``EmbeddedConv1d`` in ``module``; returns how many."""
    resolve_path(path, torch.device("cpu"))
    layers = [layer for layer in module.modules() if isinstance(layer, EmbeddedConv1d)]
    for layer in layers:
        layer.path = path
    return len(layers)


def auto_kmer_conv_layers(module: nn.Module) -> list[EmbeddedConv1d]:
    """The ``EmbeddedConv1d`` layers of ``module`` left to ``"auto"`` (a path set by hand is kept)."""
    return [layer for layer in module.modules() if isinstance(layer, EmbeddedConv1d) and layer.path == "auto"]


def set_kmer_conv_auto(module: nn.Module, choice: str | None) -> int:
    """Make ``"auto"`` mean ``choice`` ("plain", "lookup"; None: the device rule) in every auto layer.

    Unlike ``set_kmer_conv_path`` it keeps "auto"'s fallback: a layer the lookup cannot compute
    stays plain. Returns how many layers it set."""
    if choice is not None and choice not in PATHS[1:]:
        raise EpizooError(f"a measured k-mer conv path is plain or lookup, not {choice!r}")
    layers = auto_kmer_conv_layers(module)
    for layer in layers:
        layer.auto = choice
    return len(layers)
