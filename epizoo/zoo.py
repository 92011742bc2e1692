"""The model contract: what a model plugin registers through the ``register_models`` hook.

Two kinds of model exist:

* ``kind="torch"``: ``factory(**hparams)`` returns a ``torch.nn.Module`` whose
  ``forward(enhancer, promoter)`` takes the encoded inputs named by ``input_encoding`` and
  returns logits of shape ``(batch,)``, with no sigmoid inside. Models that embed k-mers accept a
  ``pretrained_embedding`` hparam (a ``(4097, 100)`` array or None for random init) and
  report which one they used in ``module.embedding_source`` ('dna2vec' for any given matrix, or
  'random'; the trainer records where a given matrix came from: epizoo.training.embedding).
* ``kind="sklearn"``: ``factory(**hparams)`` returns a scikit-learn estimator with
  ``fit``/``predict_proba``; ``features(enhancer_codes, promoter_codes, distance)`` turns int8
  code arrays and distances (numpy) into its feature matrix. A distance is in bp, or
  ``epizoo.coords.TRANS_DISTANCE`` (-1) for a pair across contigs, which has no distance: a
  model that uses distances gives such pairs an explicit rule (the distance baseline: an
  ``is_trans`` column and a log distance farther than any contig), never ``log(1 + |-1|)``.

Every hparams dict may hold ``enhancer_length`` and ``promoter_length``; the loader cuts windows
of these lengths (centred) out of the stored windows.

``inputs`` says what a pair model reads. The default, ``("sequence",)``, is the contract above.
A model of epigenomic signals declares ``("signals",)``: torch ``forward(signals=, distance=)``
with ``signals`` of shape ``(batch, marks, regions)`` (mean signal per bp over the enhancer, the
promoter and the window between them), scikit-learn ``features(signals, distance)``; one of both
declares ``("sequence", "signals")`` and takes ``forward(enhancer, promoter, signals=, distance=)``.
A model of the pair fields alone (the distance baseline) declares ``()``: it runs on any store, and
a scikit-learn one gets zero-width code arrays.
Signals models see only pairs that have signal values. A torch model may define
``training_loss(inputs, labels, cell_line)`` to replace the trainer's BCE (multi-task losses,
noise copies); ``inputs`` is the dict of its forward's arguments by name. Hyperparameters named
``signal_marks``, ``signal_regions`` or ``n_cell_lines`` are filled from the store
(:mod:`epizoo.model_inputs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class TrainingRecipe:
    """The reference training protocol of a model, from its paper and code.

    The trainer (:mod:`epizoo.training`) follows it; options such as ``--epochs`` and ``--lr`` override
    single fields.

    Attributes:
        optimizer: ``adam``, ``nadam``, ``rmsprop`` or ``sgd``.
        learning_rate: the optimizer's step size.
        batch_size: training pairs per step.
        epochs: passes over the training side (fewer when early stopping ends the run).
        early_stopping_patience: epochs without validation improvement before stopping; None: off.
        monitor: the validation quantity that chooses the checkpoint and stops early: ``auroc`` or
            ``loss``.
        validation_fraction: the share of the training side held out for validation when the split
            names no validation chromosome.
        augmentation_shifts: training positives are seen at this many shifted windows; 0 or 1: none.
        shift_step: bp between two shifted windows.
        weight_decay: the optimizer's L2 penalty.
        epsilon: the optimizer's eps (Adam, NAdam, RMSprop; SGD has none): PyTorch's 1e-8 by default,
            Keras's 1e-7 for models ported from Keras.
        max_train_pairs: train on at most this many pairs (stratified, seeded); None: all.
        notes: free text on where the recipe comes from or departs from the paper.
    """

    optimizer: str = "adam"  # 'adam', 'nadam', 'rmsprop', 'sgd'
    learning_rate: float = 1e-3
    batch_size: int = 64
    epochs: int = 15
    early_stopping_patience: int | None = None  # epochs without validation improvement; None: off
    monitor: str = "auroc"  # validation quantity for checkpoint choice and early stopping: 'auroc' or 'loss'
    validation_fraction: float = 0.05  # of the training side, when the split gives no validation chromosome
    augmentation_shifts: int = 20  # training positives seen at this many shifted windows; 0/1: none
    shift_step: int = 50
    weight_decay: float = 0.0
    # The optimizer's eps (Adam, NAdam, RMSprop; SGD has none). PyTorch's default is 1e-8; Keras's
    # is 1e-7 (K.epsilon()), which models ported from Keras keep. Keras adds it to sqrt(v) before
    # the bias correction (the Adam paper's "epsilon hat"), PyTorch after: the same value, a slightly
    # larger effective eps in Keras over the first few hundred steps.
    epsilon: float = 1e-8
    max_train_pairs: int | None = None  # train on at most this many pairs (stratified, seeded); None: all
    notes: str = ""


@dataclass(frozen=True)
class ModelCard:
    """Provenance of a model, shown by ``epizoo models`` and in ``docs/models.md``.

    Attributes:
        title: the model's title (a published model's paper title, or what an epizoo model is).
        authors: who made the model, as cited.
        citation: the reference (journal, year, DOI).
        licence: the licence the model's code is under (e.g. ``MIT``).
        upstream_repository: the URL of the authors' code, if any.
        upstream_commit: the commit of ``upstream_repository`` the port was checked against.
        paper_deviations: where the upstream code differs from the paper.
        port_deviations: where epizoo differs from the upstream code, and why.
        notes: anything else a user of the model should know.
    """

    title: str
    authors: str
    citation: str
    licence: str
    upstream_repository: str = ""
    upstream_commit: str = ""
    paper_deviations: str = ""  # where the upstream code differs from the paper
    port_deviations: str = ""  # where epizoo differs from the upstream code, and why
    notes: str = ""


TASKS = ("pair", "contact-map")


@dataclass(frozen=True)
class ModelSpec:
    """A model as a plugin registers it (the ``register_models`` hook); the contract is the module's text.

    Attributes:
        name: the model's name in ``--models`` and ``epizoo models``.
        factory: ``factory(**hparams)`` builds the model: a torch module or a scikit-learn estimator.
        card: where the model comes from (:class:`ModelCard`).
        recipe: how it is trained (:class:`TrainingRecipe`).
        input_encoding: the encoder of its sequence inputs (``kmer6``, ``onehot``, ``codes``); ``''``
            for a scikit-learn model, which takes ``features``.
        kind: ``torch`` or ``sklearn``.
        aliases: other names that select the model.
        enhancer_length: the enhancer window in bp (default 3000), also an hparam.
        promoter_length: the promoter window in bp (default 2000), also an hparam.
        default_hparams: the hyperparameters of the published model.
        tiny_hparams: the CPU-test size, merged over ``default_hparams``.
        demo_hparams: the demo size (same architecture, narrower), merged over ``default_hparams``.
        demo_recipe: :class:`TrainingRecipe` fields changed at demo size.
        published_parameters: trainable parameters at default settings, checked by a test; None:
            unchecked.
        uses_pretrained_embedding: True: the trainer passes dna2vec 6-mer vectors as
            ``pretrained_embedding``; False: the model trains its own.
        features: for ``kind="sklearn"``, the function that turns codes (or signals) and distances into
            the feature matrix; None for torch models.
        task: ``pair`` (a score per enhancer-promoter pair) or ``contact-map``.
        tracks: for contact-map models, the track marks read from the genome layer, in channel order.
        inputs: what a pair model reads from the store: ``sequence`` and/or ``signals``, or nothing.

    Raises:
        ValueError: a ``task`` or ``inputs`` outside those above (a plugin author's mistake, found
            when the spec is made).
    """

    name: str
    factory: Callable[..., Any]
    card: ModelCard
    recipe: TrainingRecipe
    input_encoding: str = "kmer6"  # an encoder name: 'kmer6', 'onehot', 'codes'; '' for sklearn
    kind: str = "torch"  # 'torch' or 'sklearn'
    aliases: tuple[str, ...] = ()
    enhancer_length: int = 3000
    promoter_length: int = 2000
    default_hparams: dict[str, Any] = field(default_factory=dict)
    tiny_hparams: dict[str, Any] = field(default_factory=dict)  # CPU-test size, merged over defaults
    # The demo size: the same architecture, narrower, with windows that cover the synthetic grammar's
    # central 300 bp, so that whether it learns shows on a CPU in minutes. Merged over defaults.
    demo_hparams: dict[str, Any] = field(default_factory=dict)
    # TrainingRecipe fields changed at demo size; the demo's budget (epochs, pairs, shifts) is the same for all
    demo_recipe: dict[str, Any] = field(default_factory=dict)
    published_parameters: int | None = None  # trainable parameters at default settings, for the test
    uses_pretrained_embedding: bool = False  # True: the trainer passes dna2vec 6-mer vectors, else trained ones (training.embedding)
    features: Callable[..., Any] | None = None  # sklearn kind only
    # What the model predicts: 'pair' (a score per enhancer-promoter pair, the contract above) or
    # 'contact-map' (forward(x (B, C, L) float) -> (map (B, N, N), aux logits or None); x is one-hot
    # A,C,G,T,N then the ``tracks`` read from the store's genome layer; see docs/plugins.md).
    task: str = "pair"
    tracks: tuple[str, ...] = ()  # contact-map models: the track marks they read, in channel order
    # What a pair model reads from the store: 'sequence' windows and/or per-pair epigenomic 'signals'
    # (epizoo.model_inputs says how each becomes the model's arguments).
    inputs: tuple[str, ...] = ("sequence",)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"model {self.name!r}: task must be one of {', '.join(TASKS)}, not {self.task!r}")
        if any(i not in ("sequence", "signals") for i in self.inputs):
            raise ValueError(f"model {self.name!r}: inputs must be 'sequence' and/or 'signals' (or none), not {self.inputs!r}")

    @property
    def is_contact_map(self) -> bool:
        """Whether the model predicts contact maps (trained on a genome layer) rather than pair scores.

        Returns:
            True for ``task="contact-map"``, False for a pair model.
        """
        return self.task == "contact-map"

    def reads(self, what: str) -> bool:
        """Whether a pair model reads ``what`` ('sequence' or 'signals') from the store.

        Args:
            what: ``sequence`` or ``signals``.

        Returns:
            True if ``what`` is one of the model's :attr:`inputs`.
        """
        return what in self.inputs

    def hparams(self, tiny: bool = False, demo: bool = False, **overrides: Any) -> dict[str, Any]:
        """Default (or tiny, or demo) hyperparameters with ``overrides`` applied.

        Args:
            tiny: merge :attr:`tiny_hparams` over the defaults (the CPU-test size); wins over ``demo``.
            demo: merge :attr:`demo_hparams` over the defaults (the demo size).
            **overrides: hyperparameters applied last.

        Returns:
            A new dict: ``enhancer_length`` and ``promoter_length`` (pair models), then
            :attr:`default_hparams`, the tiny or demo ones, and ``overrides``.
        """
        merged = {"enhancer_length": self.enhancer_length, "promoter_length": self.promoter_length} if self.task == "pair" else {}
        merged.update(self.default_hparams)
        if tiny:
            merged.update(self.tiny_hparams)
        elif demo:
            merged.update(self.demo_hparams)
        merged.update(overrides)
        return merged

    def build(self, tiny: bool = False, demo: bool = False, **overrides: Any) -> Any:
        """The model itself: :attr:`factory` called with :meth:`hparams`.

        Args:
            tiny: the CPU-test size.
            demo: the demo size.
            **overrides: hyperparameters applied last.

        Returns:
            A new, untrained torch module or scikit-learn estimator.
        """
        return self.factory(**self.hparams(tiny=tiny, demo=demo, **overrides))
