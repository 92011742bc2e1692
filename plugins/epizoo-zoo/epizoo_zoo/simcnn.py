"""SIMCNN (Zhuang, Shen, Pan; Bioinformatics 2019): SPEID without the BiLSTM, one more conv layer.

Per branch Conv1D(1024, 40) + ReLU -> Conv1D(200, 20) + ReLU -> MaxPool(20); the branches are
concatenated along time, then BN -> Dropout(0.25) -> Flatten -> SPEID's dense head ending in
BatchNorm(1), whose output is the logit.
"""

from __future__ import annotations

import torch
from torch import nn

from epizoo.hookspecs import hookimpl
from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe
from epizoo_zoo.layers import conv_output_length, glorot_init_, keras_batchnorm1d
from epizoo_zoo.speid import DENSE_L2, keras_head, l2_penalty

CONV_L2 = 1e-5  # both conv layers, build_sim_model.py


def branch_length(length: int, first_kernel: int, second_kernel: int, pool: int, what: str) -> int:
    """Time steps after the two valid convolutions and the pool."""
    return conv_output_length(length - first_kernel + 1, second_kernel, pool, what=f"{what} (after the first conv)")


class SIMCNN(nn.Module):
    def __init__(
        self,
        enhancer_length: int = 3000,
        promoter_length: int = 2000,
        first_filters: int = 1024,
        first_kernel: int = 40,
        second_filters: int = 200,
        second_kernel: int = 20,
        pool: int = 20,
        dense_units: int = 800,
    ):
        super().__init__()
        tokens = branch_length(enhancer_length, first_kernel, second_kernel, pool, "enhancer") + branch_length(
            promoter_length, first_kernel, second_kernel, pool, "promoter"
        )
        shape = (first_filters, first_kernel, second_filters, second_kernel, pool)
        self.enhancer_conv = self._branch(*shape)
        self.promoter_conv = self._branch(*shape)
        self.merge = nn.Sequential(keras_batchnorm1d(second_filters), nn.Dropout(0.25))
        self.head = keras_head(tokens * second_filters, dense_units)
        glorot_init_(self)

    @staticmethod
    def _branch(first_filters, first_kernel, second_filters, second_kernel, pool) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv1d(4, first_filters, first_kernel),
            nn.ReLU(),
            nn.Conv1d(first_filters, second_filters, second_kernel),
            nn.ReLU(),
            nn.MaxPool1d(pool),
        )

    def forward(self, enhancer: torch.Tensor, promoter: torch.Tensor) -> torch.Tensor:
        merged = self.merge(torch.cat([self.enhancer_conv(enhancer), self.promoter_conv(promoter)], dim=2))
        # Keras flattens (time, channels) time-major; transpose so the Dense weights line up the same way.
        return self.head(merged.transpose(1, 2).flatten(1)).squeeze(1)

    def regularization_loss(self) -> torch.Tensor:
        """The Keras L2 terms (every conv kernel 1e-5, the first Dense kernel 1e-6); add to the loss."""
        convs = [
            (CONV_L2, layer.weight)
            for branch in (self.enhancer_conv, self.promoter_conv)
            for layer in branch
            if isinstance(layer, nn.Conv1d)
        ]
        return l2_penalty(convs + [(DENSE_L2, self.head[0].weight)])


CARD = ModelCard(
    title="SIMCNN: a simple two-layer CNN on one-hot enhancer and promoter sequence",
    authors="Zhong Zhuang, Xiaotong Shen, Wei Pan",
    citation=(
        "Zhuang Z, Shen X, Pan W. A simple convolutional neural network for prediction of "
        "enhancer-promoter interactions with DNA sequence data. Bioinformatics 35(17):2899-2906 (2019). "
        "doi:10.1093/bioinformatics/bty1050"
    ),
    licence="none stated in the upstream repository",
    upstream_repository="https://github.com/zzUMN/Combine-CNN-Enhancer-and-Promoters",
    upstream_commit="012871d8d57f173e78d5502195ea365efb4e2973",
    paper_deviations=(
        "Sizes follow Keras-Test/build_sim_model.py (1024 kernels of 40, 200 kernels of 20, pool 20, Dense "
        "800), which EPI-DLMH's get_simCNN reproduces exactly; the paper's own figure was not verified. The "
        "training scripts sample training/validation indices with replacement (np.random.randint); the "
        "transfer-learning variants (pre-training on other cell lines, frozen conv layers) are training "
        "protocols, not reproduced here."
    ),
    port_deviations=(
        "epizoo returns the final BatchNorm(1) output as the logit and trains with BCE-with-logits: the "
        "same model as BN -> sigmoid -> BCE. The Keras L2 regularisers (conv kernels 1e-5, first Dense "
        "kernel 1e-6) are exposed as module.regularization_loss() for the trainer to add to the loss. Init "
        "follows Keras (glorot-uniform, zero bias); BatchNorm momentum 0.01 (Keras 0.99), eps 1e-3. The "
        "final BatchNorm(1) needs more than one pair per training batch."
    ),
    notes="47,565,731 trainable parameters, 39.0M of them in the first Dense layer. Input: one-hot (4, L).",
)

SPEC = ModelSpec(
    name="simcnn",
    aliases=("SIMCNN", "sim-cnn"),
    factory=SIMCNN,
    card=CARD,
    recipe=TrainingRecipe(
        optimizer="adam",
        learning_rate=1e-5,
        batch_size=50,
        epochs=32,
        early_stopping_patience=None,
        augmentation_shifts=20,
        shift_step=50,
        notes="basic_training.py: Adam 1e-5, 32 epochs, batch 50; add model.regularization_loss() to the loss.",
    ),
    input_encoding="onehot",
    enhancer_length=3000,
    promoter_length=2000,
    tiny_hparams={
        "enhancer_length": 400,
        "promoter_length": 300,
        "first_filters": 16,
        "second_filters": 8,
        "dense_units": 32,
    },
    demo_hparams={"enhancer_length": 400, "promoter_length": 400, "first_filters": 64, "second_filters": 32, "dense_units": 64},
    demo_recipe={"learning_rate": 0.001},  # its published rate cannot move in a demo's 3 epochs
    published_parameters=47_565_731,
)


@hookimpl
def register_models(register):
    register(SPEC)
