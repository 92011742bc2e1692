"""epizoo-tinycnn: registers the TinyCNN model with epizoo through the ``register_models`` hook."""

from epizoo.hookspecs import hookimpl
from epizoo.zoo import ModelCard, ModelSpec, TrainingRecipe

from epizoo_tinycnn.model import TinyCNN

__version__ = "0.1.0"

SPEC = ModelSpec(
    name="tinycnn",
    aliases=("tiny-cnn",),
    factory=TinyCNN,
    input_encoding="onehot",
    enhancer_length=3000,
    promoter_length=2000,
    default_hparams={"filters": 32, "kernel_size": 9, "hidden": 16, "dropout": 0.2},
    tiny_hparams={"enhancer_length": 200, "promoter_length": 150, "filters": 8, "hidden": 8},
    published_parameters=3425,
    recipe=TrainingRecipe(
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=64,
        epochs=10,
        early_stopping_patience=3,
        augmentation_shifts=20,
        notes="A plain recipe for a tutorial model: Adam, early stopping on validation AUROC.",
    ),
    card=ModelCard(
        title="TinyCNN: a one-hot CNN written for the epizoo plugin tutorial",
        authors="The epizoo authors",
        citation="Not published: the example model of docs/writing-a-plugin.md",
        licence="MIT",
        notes="A teaching example and a weak baseline, not a published model.",
    ),
)


@hookimpl
def register_models(register):
    register(SPEC)
