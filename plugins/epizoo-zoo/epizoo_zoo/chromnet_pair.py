"""chromnet-pair: ChromNet's training ideas (Wang et al., Adv. Sci. 2025) applied to pair scoring
from epigenomic signals.

ChromNet predicts a contact map and trains it jointly with a cell-type classifier on the same
representation, and adds a noise-perturbed copy of a training cell type. Here the contact map
becomes one logit per enhancer-promoter pair:

* signals ``(B, marks, regions)`` -> log1p -> per-column standardisation (:class:`SignalScaler`);
* one element encoder, shared by the enhancer, the promoter and the window (as ChromNet encodes
  every bin with one encoder): marks -> ``hidden`` -> ``hidden``, each Linear followed by a
  LayerNorm and a ReLU;
* the pair: ``[h_e * h_p, h_e, h_p, h_w, log10 distance, is_trans]`` -> Linear(``hidden``) ->
  LayerNorm -> ReLU -> Dropout; ``h_e * h_p`` is ChromNet's pairwise product h_i * h_j for one
  (enhancer, promoter) cell of the map;
* two heads on that shared representation: the interaction logit, and a cell-line classifier
  (Linear(``hidden``) -> ReLU -> Linear(``n_cell_lines``)).

:meth:`ChromNetPair.training_loss` is the multi-task loss with the noise copy; the trainer uses it
in place of its BCE. Evaluation calls the model and reads the interaction logit only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from epizoo.errors import EpizooError
from epizoo.hookspecs import hookimpl
from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe
from epizoo_zoo.signals import (
    DEFAULT_N_CELL_LINES,
    DEFAULT_SIGNAL_MARKS,
    SIGNAL_REGIONS,
    SignalScaler,
    check_signal_hparams,
    distance_tensor,
)

ELEMENT, PAIR, DISTANCE_COLUMNS = ("enhancer", "promoter", "window"), 4, 2


def _linear_block(width_in: int, width_out: int) -> list[nn.Module]:
    return [nn.Linear(width_in, width_out), nn.LayerNorm(width_out), nn.ReLU()]


def row_correlation(clean: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row of ``clean`` with the same row of ``noisy``: (B,)."""
    clean = clean - clean.mean(dim=1, keepdim=True)
    noisy = noisy - noisy.mean(dim=1, keepdim=True)
    return (clean * noisy).sum(1) / (clean.norm(dim=1) * noisy.norm(dim=1)).clamp(min=1e-12)


class ChromNetPair(nn.Module):
    def __init__(
        self,
        signal_marks=DEFAULT_SIGNAL_MARKS,
        signal_regions=SIGNAL_REGIONS,
        n_cell_lines: int = DEFAULT_N_CELL_LINES,
        hidden: int = 64,
        dropout: float = 0.1,
        cell_line_weight: float = 1.0,
        noise_sigma: float = 0.1,
        **window_lengths,
    ):
        super().__init__()
        marks, regions = check_signal_hparams(signal_marks, signal_regions)
        missing = [region for region in ELEMENT if region not in regions]
        if missing:
            raise EpizooError(f"chromnet-pair needs the signal regions {', '.join(ELEMENT)}; the store lacks {', '.join(missing)}")
        if int(n_cell_lines) < 1:
            raise EpizooError(f"n_cell_lines must be at least 1, not {n_cell_lines}")
        self.region_index = [regions.index(region) for region in ELEMENT]
        self.n_cell_lines, self.cell_line_weight, self.noise_sigma = int(n_cell_lines), float(cell_line_weight), float(noise_sigma)
        self.scaler = SignalScaler(len(marks), len(regions))
        self.element = nn.Sequential(*_linear_block(len(marks), hidden), *_linear_block(hidden, hidden))
        self.pair = nn.Sequential(*_linear_block(PAIR * hidden + DISTANCE_COLUMNS, hidden), nn.Dropout(dropout))
        self.interaction = nn.Linear(hidden, 1)
        self.cell_line = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, self.n_cell_lines))

    def representation(self, scaled: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
        """Standardised signals (B, M * R) and distances (B,) -> the shared pair representation (B, hidden)."""
        per_region = scaled.view(len(scaled), self.scaler.n_marks, self.scaler.n_regions).transpose(1, 2)
        enhancer, promoter, window = self.element(per_region[:, self.region_index]).unbind(1)
        joined = [enhancer * promoter, enhancer, promoter, window, distance_tensor(distance, scaled.dtype)]
        return self.pair(torch.cat(joined, dim=1))

    def forward(self, signals: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
        return self.interaction(self.representation(self.scaler(signals), distance)).squeeze(1)

    def training_loss(self, inputs: dict, labels: torch.Tensor, cell_line: torch.Tensor) -> torch.Tensor:
        """BCE(interaction) + ``cell_line_weight`` x CE(cell line), over the batch and its noise copy.

        The copy's standardised log signals get N(0, ``noise_sigma``) noise. Its pairs are types
        ``cell_line + n_cell_lines``: as in ChromNet's loss masks, the classifier is trained on the
        clean types only, and the copy enters the interaction loss with its BCE weighted by the
        correlation of its signals with the clean ones (ChromNet scales the copy's target by it).
        """
        if cell_line.numel() and (int(cell_line.min()) < 0 or int(cell_line.max()) >= self.n_cell_lines):
            raise EpizooError(
                f"cell-line codes outside 0..{self.n_cell_lines - 1}; build the model with the store's n_cell_lines"
            )
        scaled = self.scaler(inputs["signals"])  # batch statistics of the clean batch only
        noisy = scaled + self.noise_sigma * torch.randn_like(scaled)
        weight = torch.cat([torch.ones_like(labels), row_correlation(scaled, noisy).clamp(0, 1).detach().to(labels.dtype)])
        distance = inputs["distance"]
        shared = self.representation(torch.cat([scaled, noisy]), torch.cat([distance, distance]))
        logits = self.interaction(shared).squeeze(1)
        interaction = F.binary_cross_entropy_with_logits(logits, torch.cat([labels, labels]), weight=weight, reduction="sum") / weight.sum()
        types = torch.cat([cell_line, cell_line + self.n_cell_lines])
        classified = types < self.n_cell_lines  # the clean copy; the noise copy is not classified
        cell_line_loss = F.cross_entropy(self.cell_line(shared[classified]), types[classified])
        return interaction + self.cell_line_weight * cell_line_loss


CARD = ModelCard(
    title="chromnet-pair: ChromNet's multi-task and noise-copy training on pair signals",
    authors="the epizoo developers, after Wang, Wang, Ding, Li, Li, Wang (ChromNet)",
    citation=(
        "Ideas from: Wang B et al. ChromNet. Advanced Science (2025). doi:10.1002/advs.202508110. "
        "epizoo's adaptation to pairs; cite epizoo and ChromNet."
    ),
    licence="MIT",
    upstream_repository="https://github.com/BinWangCSU/ChromNet",
    upstream_commit="5ce4cbe575cb6c9aaa7a292a49d1880c6cee1cc5",
    paper_deviations=(
        "Not ChromNet (that is a contact-map model over 2 Mb of DNA, CTCF and ATAC): its training ideas on "
        "enhancer-promoter pairs scored from the store's per-region mean signals."
    ),
    port_deviations=(
        "Inputs: log1p of each mark's mean signal over the enhancer, the promoter and the window (ChromNet log-scales "
        "its tracks too), each (mark, region) column standardised by a BatchNorm without affine weights (running "
        "statistics at test, so a pair's score does not depend on its batch; standardised, because raw units differ "
        "by orders of magnitude between sources and regions) and clipped to +-8 sd; plus log10(distance + 1) and "
        "is_trans (a trans pair: log distance 9, the distance baseline's rule). Shared element encoder, as ChromNet "
        "encodes every bin with one encoder: marks -> 64 -> 64 (Linear, LayerNorm, ReLU each), applied to enhancer, "
        "promoter and window. Pair: [h_e*h_p (ChromNet's pairwise product), h_e, h_p, h_w, distance columns] -> "
        "Linear 64 -> LayerNorm -> ReLU -> Dropout 0.1. LayerNorm inside the network, not BatchNorm, so that the "
        "clean and noisy halves of a training batch do not share statistics. Heads on that representation: "
        "interaction logit (Linear 64 -> 1) and cell-line classifier (Linear 64 -> 64 -> ReLU -> n_cell_lines; "
        "ChromNet's is a conv stack on the whole map). Loss (training_loss) = BCE(interaction) + lambda x "
        "CrossEntropy(cell line), lambda = hparam cell_line_weight, default 1 (ChromNet adds its two losses with "
        "weight 1). Noise copy: every training batch is doubled by a copy whose standardised log signals get "
        "Gaussian noise, sigma = hparam noise_sigma = 0.1 (ChromNet's sigma on its log tracks; here in units of each "
        "column's sd, since raw log units are ~1e-3 for peak signal per bp and sigma 0.1 would drown them); "
        "distance is not perturbed (ChromNet perturbs only the epigenetic tracks). The copy's pairs are type "
        "cell_line + n_cell_lines. Classifier: trained on the clean types only, as ChromNet's mask (types 0 and 1, "
        "not the noise type) does, so n_cell_lines outputs; classifying the copy as a class of its own would reward "
        "features that detect noise, the opposite of the robustness the copy is for. Interaction: ChromNet "
        "multiplies the noisy copy's Hi-C target by the Pearson correlation r of clean and noisy tracks; scaling a "
        "binary label would turn noise into evidence against interaction (a positive's target r < 1, a negative's "
        "unchanged), so here the copy keeps its label and its BCE is weighted by r (clipped to [0, 1]): the more the "
        "noise changed a pair, the less it counts; clean pairs weigh 1; the loss is the weighted mean. ChromNet's "
        "shift augmentation, gradient clipping and warm-up/cosine schedule are left out."
    ),
    notes=(
        "What multi-task and noise-robust training add over a plain network on the same signals: compare with "
        "targetfinder and targetfinder-xgb, which see the same columns. The cell-line head makes the shared "
        "representation carry what distinguishes cell lines, the noise copy makes it robust to small changes of the "
        "signals (a different lab or pipeline); with one cell line in the store, the classifier term is zero."
    ),
)

SPEC = ModelSpec(
    name="chromnet-pair",
    aliases=("chromnetpair",),
    inputs=("signals",),
    factory=ChromNetPair,
    card=CARD,
    recipe=TrainingRecipe(
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=256,
        epochs=20,
        early_stopping_patience=3,
        monitor="auroc",
        validation_fraction=0.05,
        augmentation_shifts=0,
        notes=(
            "Adam lr 1e-3 (ChromNet: 2e-4 with warm-up, for a 70M-parameter conv net; this MLP has ~25k), batch 256, "
            "at most 20 epochs, early stopping after 3 epochs without a better validation AUROC. About 200 "
            "steps an epoch on 50k pairs: seconds on a CPU. No shift augmentation: a pair's signals do not shift."
        ),
    ),
    input_encoding="codes",  # never applied (no sequence is read); the trainer resolves one for every torch model
    default_hparams={
        "signal_marks": DEFAULT_SIGNAL_MARKS,
        "signal_regions": SIGNAL_REGIONS,
        "n_cell_lines": DEFAULT_N_CELL_LINES,
        "hidden": 64,
        "dropout": 0.1,
        "cell_line_weight": 1.0,
        "noise_sigma": 0.1,
    },
    tiny_hparams={"hidden": 16},
)


@hookimpl
def register_models(register):
    register(SPEC)
