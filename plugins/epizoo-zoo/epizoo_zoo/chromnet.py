"""ChromNet (Wang et al., Adv. Sci. 2025): a contact map of a 2 Mb window from DNA, CTCF and ATAC.

A contact-map model (``task="contact-map"``, see docs/plugins.md): ``forward(x)`` takes
``(B, 5 + tracks, L)`` floats (one-hot A,C,G,T,N, then each track through
:func:`epizoo.contact.windows.transform_track`) and returns ``(map (B, N, N), cell-type logits)``.

Layers, from the upstream code (BinWangCSU/ChromNet; its ``ChromNet_model.py`` and the three
module files):

* encoder: 3 x [ConvBlock, max-pool 10 (ceil)] at 16, 32, 64 channels, then ConvBlock(128) and a
  max-pool to exactly ``n_bins`` bins (zero-padded to a multiple of ``n_bins``);
* an LSTM (128 -> 256) over the bins, whose states h make the pairwise map h_i * h_j
  (256 channels, N x N);
* a 2-D decoder: conv 3x3 to 128 channels, dilated residual blocks at 128, 64, 32, 16, 8 channels
  joined by 5x5 convs down and back up, with skip additions, and a 1x1 conv to the map;
* a cell-type classifier on the same pairwise map: two conv/BN/ReLU/max-pool(2) steps, flatten,
  Linear(64 * (N/4)^2 -> 256), ReLU, Linear(256 -> cell types).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from epizoo.errors import EpizooError
from epizoo.hookspecs import hookimpl
from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe

WINDOW = 2_097_152
BINS = 256
POOL = 10  # each of the three encoder stages max-pools by 10 (ceil mode)
ENCODER_CHANNELS = (16, 32, 64, 128)
LSTM_HIDDEN = 256
DECODER_HIDDEN = 128
SEQUENCE_CHANNELS = 5  # one-hot A, C, G, T, N


class ConvBlock(nn.Module):
    """Conv1d(k=3, same) + BN + ReLU, then a residual Conv1d(k=3) + BN added before a ReLU."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.scale = nn.Sequential(nn.Conv1d(channels_in, channels_out, 3, padding=1), nn.BatchNorm1d(channels_out), nn.ReLU())
        self.residual = nn.Sequential(nn.Conv1d(channels_out, channels_out, 3, padding=1), nn.BatchNorm1d(channels_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled = self.scale(x)
        return F.relu(scaled + self.residual(scaled))


def pool_to_bins(x: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Max-pool the last axis to exactly ``n_bins``: zero-pad to a multiple, kernel = stride = ceil(L / n_bins).

    Zero padding (not -inf) as upstream: the inputs are ReLU outputs, so a zero never wins over data."""
    patch = math.ceil(x.shape[-1] / n_bins)
    x = F.pad(x, (0, patch * n_bins - x.shape[-1]))
    return F.max_pool1d(x, patch, patch)


class Encoder(nn.Module):
    """(B, C, L) -> (B, 128, n_bins)."""

    def __init__(self, channels_in: int, n_bins: int):
        super().__init__()
        widths = (channels_in, *ENCODER_CHANNELS)
        self.stages = nn.ModuleList(ConvBlock(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.n_bins = n_bins

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages[:-1]:
            x = F.max_pool1d(stage(x), POOL, POOL, ceil_mode=True)
        return pool_to_bins(self.stages[-1](x), self.n_bins)


class PairwiseLSTM(nn.Module):
    """An LSTM over the bins; its states h give the pairwise map h_i * h_j as (B, hidden, N, N)."""

    def __init__(self, channels_in: int, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(channels_in, hidden, batch_first=True)
        for name, parameter in self.lstm.named_parameters():
            if "weight" in name:
                nn.init.xavier_uniform_(parameter)
            else:
                nn.init.zeros_(parameter)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(x.transpose(1, 2))  # zero initial state, as upstream passes explicitly
        return (states.unsqueeze(2) * states.unsqueeze(1)).permute(0, 3, 1, 2)


def conv_bn_relu(channels_in: int, channels_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, kernel, padding=kernel // 2), nn.BatchNorm2d(channels_out), nn.ReLU()
    )


class DilatedResBlock(nn.Module):
    """Two 3x3 convs with dilation 2 (each + BN), added to the input before a ReLU."""

    def __init__(self, channels: int, dilation: int = 2):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation), nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class Decoder(nn.Module):
    """The U-shaped (in channels; the map keeps its size) 2-D decoder: (B, 256, N, N) -> (B, N, N)."""

    def __init__(self, channels_in: int, hidden: int = DECODER_HIDDEN):
        super().__init__()
        widths = [hidden // 2**level for level in range(5)]  # 128, 64, 32, 16, 8
        self.start = conv_bn_relu(channels_in, hidden, 3)
        self.down_blocks = nn.ModuleList(DilatedResBlock(width) for width in widths)
        self.down = nn.ModuleList(conv_bn_relu(a, b, 5) for a, b in zip(widths[:-1], widths[1:]))
        self.up = nn.ModuleList(conv_bn_relu(b, a, 5) for a, b in zip(widths[:-1], widths[1:]))
        self.up_blocks = nn.ModuleList(DilatedResBlock(width) for width in widths[:-1])
        self.end = nn.Conv2d(hidden, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        x = self.down_blocks[0](self.start(x))
        for down, block in zip(self.down, self.down_blocks[1:]):
            skips.append(x)
            x = block(down(x))
        for up, block in zip(reversed(self.up), reversed(self.up_blocks)):
            x = block(up(x)) + skips.pop()  # upstream adds the skip after the block, before the next step
        return self.end(x).squeeze(1)


class CellTypeClassifier(nn.Module):
    def __init__(self, channels_in: int, n_bins: int, n_cell_types: int):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(channels_in, 128, 3), nn.MaxPool2d(2), conv_bn_relu(128, 64, 3), nn.MaxPool2d(2), nn.Flatten()
        )
        self.head = nn.Sequential(nn.Linear(64 * (n_bins // 4) ** 2, 256), nn.ReLU(), nn.Linear(256, n_cell_types))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def encoder_length(window_length: int) -> int:
    """Positions left after the three ceil-mode pools of 10."""
    length = window_length
    for _ in range(3):
        length = math.ceil(length / POOL)
    return length


class ChromNet(nn.Module):
    def __init__(
        self,
        window_length: int = WINDOW,
        n_bins: int = BINS,
        n_tracks: int = 2,
        n_cell_types: int = 3,
    ):
        super().__init__()
        if n_bins < 4 or n_bins % 4:
            raise EpizooError(f"ChromNet n_bins {n_bins}: the classifier halves the map twice; give a multiple of 4")
        if encoder_length(window_length) < n_bins:
            raise EpizooError(
                f"ChromNet window_length {window_length} leaves {encoder_length(window_length)} positions after the "
                f"encoder's pools, fewer than n_bins {n_bins}; give a window of at least {n_bins * POOL**3 - POOL**3 + 1} bp"
            )
        self.window_length, self.n_bins = window_length, n_bins
        self.encoder = Encoder(SEQUENCE_CHANNELS + n_tracks, n_bins)
        self.pairwise = PairwiseLSTM(ENCODER_CHANNELS[-1], LSTM_HIDDEN)
        self.decoder = Decoder(LSTM_HIDDEN)
        self.classifier = CellTypeClassifier(LSTM_HIDDEN, n_bins, n_cell_types)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = self.pairwise(self.encoder(x))
        return self.decoder(pairs), self.classifier(pairs)


SPEC = ModelSpec(
    name="chromnet",
    aliases=("ChromNet",),
    task="contact-map",
    tracks=("CTCF", "ATAC"),
    factory=ChromNet,
    input_encoding="onehot",
    enhancer_length=0,
    promoter_length=0,
    default_hparams={"window_length": WINDOW, "n_bins": BINS, "n_tracks": 2, "n_cell_types": 3},
    tiny_hparams={"window_length": 2**15, "n_bins": 16},
    published_parameters=69_601_628,
    recipe=TrainingRecipe(
        optimizer="adam",
        learning_rate=2e-4,
        batch_size=8,
        epochs=80,
        early_stopping_patience=80,
        monitor="loss",
        augmentation_shifts=0,
        notes=(
            "Upstream train_model.py: loss = MSE(map, log(1 + Hi-C resized to 256 x 256)) on samples whose cell type "
            "has Hi-C + cross-entropy(cell-type logits) on the real cell types (the noise copy is not classified); "
            "Adam lr 2e-4, weight decay 0; linear warm-up over 10 epochs then cosine annealing to epoch 80 (stepped "
            "per epoch); gradient clipping at norm 1; batch 8 (per GPU: upstream's defaults run 4 GPUs with DDP and do "
            "not split the batch, an effective 32); early stopping on the validation MSE (patience 80, so "
            "in effect the best of 80 epochs); seed 2077. Windows every 500 kb; chromosomes 1-16 train, 17-19 "
            "validation, 20-22 test. A training cell type '<cell>_noise' re-uses <cell>'s windows at a random shift "
            "with Gaussian noise (sigma 0.1) on each transformed track; its map target is multiplied by the Pearson "
            "correlation between the clean and noisy tracks. epizoo.contact.train implements this recipe."
        ),
    ),
    card=ModelCard(
        title="ChromNet: chromatin contact maps from DNA sequence and epigenomic tracks",
        authors="Wang et al. (Wang, Wang, Ding, Li, Li, Wang; given names not checked)",
        citation="Wang B, et al. ChromNet. Advanced Science 2025, doi 10.1002/advs.202508110.",
        licence="none stated upstream; the epizoo port is MIT",
        upstream_repository="https://github.com/BinWangCSU/ChromNet",
        upstream_commit="5ce4cbe575cb6c9aaa7a292a49d1880c6cee1cc5",
        paper_deviations=(
            "Upstream quirk: the data loader reads every cell type's Hi-C from the IMR90 folder, and the loss masks "
            "are hard-coded to label indices (MSE on 0 and 2 = IMR90 and IMR90_noise, classification on 0 and 1), so "
            "in the shipped setup K562 contributes only to the classification loss. train_model.py builds the "
            "classifier with 2 outputs (the noise copy has no class); the parameter count here (69,601,628) is with "
            "3. Its --celltype default is a missing-comma bug (one string 'IMR90K562IMR90_noise')."
        ),
        port_deviations=(
            "The one-hot channel order is epizoo's A,C,G,T,N where upstream's is A,T,C,G,N (weights trained upstream "
            "need their first conv's input channels permuted). Loss masks follow the store: MSE on every cell type "
            "with a contact map (and its noise copy), classification on every real cell type; the IMR90 quirk is "
            "available, off by default, as ContactOptions(contacts_from='IMR90') or `train-contacts --contacts-from "
            "IMR90` (every target from that cell line, MSE only on it and its noise copy). Targets are resized with torch's antialiased bilinear "
            "interpolation (skimage resize with anti-aliasing upstream: a Gaussian pre-filter then bilinear), so "
            "values differ slightly. The tiny size (window 32,768 bp, 16 bins) keeps every layer and width; only the "
            "window, the bins and so the classifier's first Linear shrink. Upstream's random reverse-complement "
            "augmentation is defined but never called, and is not ported."
        ),
        notes=(
            "A contact-map model: epizoo bench runs it on held-out maps, or beside pair models on a store with a genome layer; train it with "
            "epizoo.contact.train.train_contact_model or `epizoo train-contacts`. Parameters: encoder 99,312; "
            "LSTM 395,264; decoder 1,627,945; classifier 67,479,107 (its first Linear alone 67.1 M). Checked against the "
            "upstream modules at the tiny size (their final pooling and classifier Linear resized to match): with the "
            "same weights, maps and logits are identical (max abs difference 0) in eval and train mode."
        ),
    ),
)


@hookimpl
def register_models(register):
    register(SPEC)
