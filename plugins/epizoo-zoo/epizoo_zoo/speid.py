"""SPEID (Singh, Yang, Póczos, Ma; Quant. Biol. 2019): one-hot CNN + BiLSTM, ported from Keras 1.

Per branch Conv1D(40) [+ReLU] -> MaxPool(20); the two are concatenated along time, then
BN -> Dropout -> BiLSTM -> BN -> Dropout -> Flatten -> Dense -> BN -> ReLU -> Dropout -> Dense(1)
-> BatchNorm(1). The logit is that last BatchNorm's output (the Keras model applies the sigmoid
after it). The upstream code carries three size settings; they are the ``preset`` hparam.
"""

from __future__ import annotations

import torch
from torch import nn

from epizoo.errors import EpizooError
from epizoo.hookspecs import hookimpl
from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe
from epizoo_zoo.layers import conv_output_length, glorot_init_, keras_batchnorm1d

PRESETS = {
    # pairwise/build_small_model.py, the model SPEID's basic_training.py trains
    "basic": {"kernels": 200, "conv_relu": True, "conv_l2": 1e-5, "lstm_units": 50, "dense_units": 800},
    # pairwise/frozen_model/build_model.py, used by retraining_model3.py (ReLU commented out there)
    "frozen": {"kernels": 1024, "conv_relu": False, "conv_l2": 1e-6, "lstm_units": 100, "dense_units": 1000},
    # EPI-DLMH model.py:get_speid, the SPEID baseline of the EPI-DLMH paper
    "epi-dlmh": {"kernels": 1024, "conv_relu": True, "conv_l2": 1e-5, "lstm_units": 512, "dense_units": 800},
}
DENSE_L2 = 1e-6  # the first Dense layer's L2 in every preset (and in SIMCNN)


def resolve_preset(preset: str, **sizes) -> dict:
    """The preset's sizes with every size given explicitly (not None) taking precedence."""
    if preset not in PRESETS:
        raise EpizooError(f"unknown SPEID preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return {**PRESETS[preset], **{key: value for key, value in sizes.items() if value is not None}}


def keras_head(features: int, dense_units: int) -> nn.Sequential:
    """Dense -> BN -> ReLU -> Dropout(0.5) -> Dense(1) -> BN(1): the shared SPEID/SIMCNN head."""
    return nn.Sequential(
        nn.Linear(features, dense_units),
        keras_batchnorm1d(dense_units),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(dense_units, 1),
        keras_batchnorm1d(1),  # kept: the published models normalise the logit before the sigmoid
    )


def l2_penalty(weighted: list[tuple[float, torch.Tensor]]) -> torch.Tensor:
    """Keras ``l2(lambda)`` regularisers: sum of lambda * ||W||^2, to be added to the loss."""
    return sum(coefficient * weight.pow(2).sum() for coefficient, weight in weighted)


class SPEID(nn.Module):
    def __init__(
        self,
        enhancer_length: int = 3000,
        promoter_length: int = 2000,
        preset: str = "basic",
        kernels: int | None = None,
        conv_relu: bool | None = None,
        conv_l2: float | None = None,
        lstm_units: int | None = None,
        dense_units: int | None = None,
        kernel_size: int = 40,
        pool: int = 20,
    ):
        super().__init__()
        sizes = resolve_preset(
            preset, kernels=kernels, conv_relu=conv_relu, conv_l2=conv_l2, lstm_units=lstm_units, dense_units=dense_units
        )
        tokens = conv_output_length(enhancer_length, kernel_size, pool, what="enhancer") + conv_output_length(
            promoter_length, kernel_size, pool, what="promoter"
        )
        self.conv_l2 = sizes["conv_l2"]
        self.enhancer_conv = self._branch(sizes["kernels"], kernel_size, pool, sizes["conv_relu"])
        self.promoter_conv = self._branch(sizes["kernels"], kernel_size, pool, sizes["conv_relu"])
        self.merge = nn.Sequential(keras_batchnorm1d(sizes["kernels"]), nn.Dropout(0.25))
        self.lstm = nn.LSTM(sizes["kernels"], sizes["lstm_units"], bidirectional=True, batch_first=True)
        self.after_lstm = nn.Sequential(keras_batchnorm1d(2 * sizes["lstm_units"]), nn.Dropout(0.5))
        self.head = keras_head(tokens * 2 * sizes["lstm_units"], sizes["dense_units"])
        glorot_init_(self)

    @staticmethod
    def _branch(kernels: int, kernel_size: int, pool: int, relu: bool) -> nn.Sequential:
        layers = [nn.Conv1d(4, kernels, kernel_size)] + ([nn.ReLU()] if relu else []) + [nn.MaxPool1d(pool)]
        return nn.Sequential(*layers)

    def forward(self, enhancer: torch.Tensor, promoter: torch.Tensor) -> torch.Tensor:
        merged = self.merge(torch.cat([self.enhancer_conv(enhancer), self.promoter_conv(promoter)], dim=2))
        sequence, _ = self.lstm(merged.transpose(1, 2))  # (B, T, 2U)
        sequence = self.after_lstm(sequence.transpose(1, 2)).transpose(1, 2)
        return self.head(sequence.flatten(1)).squeeze(1)  # time-major flatten, as Keras Flatten

    def regularization_loss(self) -> torch.Tensor:
        """The Keras L2 terms (conv kernels and the first Dense kernel); add to the BCE loss."""
        convs = [(self.conv_l2, branch[0].weight) for branch in (self.enhancer_conv, self.promoter_conv)]
        return l2_penalty(convs + [(DENSE_L2, self.head[0].weight)])


CARD = ModelCard(
    title="SPEID: sequence-based enhancer-promoter interaction with a CNN and a bidirectional LSTM",
    authors="Shashank Singh, Yang Yang, Barnabás Póczos, Jian Ma",
    citation=(
        "Singh S, Yang Y, Póczos B, Ma J. Predicting enhancer-promoter interaction from genomic sequence "
        "with deep neural networks. Quantitative Biology 7(2):122-137 (2019). doi:10.1007/s40484-019-0154-0"
    ),
    licence="none stated in the upstream repository",
    upstream_repository="https://github.com/ma-compbio/SPEID",
    upstream_commit="edb9d9bffab131add3fad0f58f969f7cc3654100",
    paper_deviations=(
        "The code holds three inconsistent size settings (hparam preset): 'basic' (default) = "
        "pairwise/build_small_model.py, trained by basic_training.py: 200 kernels of 40 with ReLU, conv L2 "
        "1e-5, BiLSTM 50 units per direction, Dense 800 -> 19,849,003 trainable parameters; 'frozen' = "
        "pairwise/frozen_model/build_model.py: 1024 kernels without ReLU, conv L2 1e-6, LSTM 100, Dense 1000 "
        "-> 50,436,979; 'epi-dlmh' = EPI-DLMH's get_speid baseline: 1024 kernels with ReLU, LSTM 512, Dense "
        "800 -> 208,159,875. The code comments call 1024 kernels and 512 LSTM units the sizes SPEID 'used "
        "to be'; the paper's own sizes were not verified. retraining_model3.py adds a second stage (conv and "
        "LSTM frozen, 360 epochs on imbalanced data with class weights) and optional JASPAR kernel "
        "initialisation; neither is reproduced."
    ),
    port_deviations=(
        "epizoo returns the final BatchNorm(1) output as the logit and trains with BCE-with-logits: the "
        "same model as BN -> sigmoid -> BCE. The Keras L2 regularisers (conv kernels, first Dense kernel "
        "1e-6) are exposed as module.regularization_loss() for the trainer to add to the loss, not as "
        "weight decay. Keras 1 LSTMs use hard_sigmoid gates and one bias per gate; torch.nn.LSTM uses "
        "sigmoid and two biases (+4 x units parameters per direction), so the PyTorch count exceeds the "
        "Keras trainable count by 400 at the basic preset. Init follows Keras: glorot-uniform kernels, "
        "orthogonal recurrent kernels, zero biases, LSTM forget-gate bias 1; BatchNorm momentum 0.01 "
        "(Keras 0.99) and eps 1e-3. The final BatchNorm(1) needs more than one pair per training batch."
    ),
    notes="Input: one-hot (4, L). Training uses the augmented, balanced data with a shuffled order.",
)

SPEC = ModelSpec(
    name="speid",
    aliases=("SPEID",),
    factory=SPEID,
    card=CARD,
    recipe=TrainingRecipe(
        optimizer="adam",
        learning_rate=1e-5,
        batch_size=100,
        epochs=32,
        early_stopping_patience=None,
        augmentation_shifts=20,
        shift_step=50,
        notes=(
            "basic_training.py: Adam 1e-5, 32 epochs, batch 100, checkpoint every epoch; add "
            "model.regularization_loss() to the BCE loss for the Keras L2 terms."
        ),
    ),
    input_encoding="onehot",
    enhancer_length=3000,
    promoter_length=2000,
    default_hparams={"preset": "basic"},
    tiny_hparams={"enhancer_length": 400, "promoter_length": 300, "kernels": 16, "lstm_units": 8, "dense_units": 32},
    demo_hparams={"enhancer_length": 400, "promoter_length": 400, "kernels": 64, "lstm_units": 16, "dense_units": 64},
    demo_recipe={"learning_rate": 0.001},  # its published rate cannot move in a demo's 3 epochs
    published_parameters=19_849_003,
)


@hookimpl
def register_models(register):
    register(SPEC)
