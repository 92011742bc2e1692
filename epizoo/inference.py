"""Using a trained model: rebuild it from its checkpoint (:func:`load_model`) and score a store's pairs.

A checkpoint stands alone: :mod:`epizoo.checkpoint` writes it, reads it and rebuilds its model
(the model's name, kind, encoder, window lengths, full hyperparameters, plugin version, the store's
provenance, the split and the fold); :func:`load_model` wraps what it rebuilds with the windows and
encoder it was trained with.

The scores :func:`predict_pairs` gives are the bench's: the same loader, encoder and windows, the
model in eval mode, the sigmoid of its logits (or ``predict_proba`` of a scikit-learn estimator).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from epizoo import __version__, console
from epizoo.bench.rundir import RunDirectory
from epizoo.bench.task import _prediction_table
from epizoo.browser_formats import output_format as chosen_format, render
from epizoo.checkpoint import Checkpoint, load_checkpoint_model, model_windows, store_identity
from epizoo.contact.pairs import SCORE_NOTE, predict_contact_pairs
from epizoo.datasets.base import DatasetRequest
from epizoo.devices import resolve_device, resolve_precision
from epizoo.errors import EmptyResultError, EpizooError, InputFileError
from epizoo.files import write_text
from epizoo.model_inputs import (
    SIGNALS,
    measured_pairs,
    require_layers,
    sklearn_features,
    sklearn_probabilities,
    torch_logits,
)
from epizoo.plugins import get_dataset, get_encoder
from epizoo.sources.genome import open_sequence_source
from epizoo.store.build import build_store, prepare_pairs
from epizoo.store.integrity import verify_before_reading_all
from epizoo.store.io import open_store, require_pairs
from epizoo.training.loader import PairBatches, make_loader, plain_items, to_device
from epizoo.training.trainer import TrainOptions, _features
from epizoo.zoo import ModelSpec

PREDICT_BATCH = 256  # eval mode: the batch size does not change a score


@dataclass(frozen=True)
class LoadedModel:
    """A checkpoint's model with everything that scores it as the bench did (:func:`load_model`).

    Attributes:
        model: the torch module (eval mode, on ``device``) or the fitted scikit-learn estimator.
        spec: its :class:`~epizoo.zoo.ModelSpec`.
        windows: ``{"enhancer": bp, "promoter": bp}``, the lengths it was trained on (the
            checkpoint's, not the spec's defaults; empty for a model that reads no sequence).
        encoder: the function that turns int8 codes into its input (None for a scikit-learn model,
            which takes ``spec.features``).
        description: the ``checkpoint.json``.
        device: the device given to :func:`load_model`, where a torch model is and scores.

    It unpacks as ``model, spec = load_model(path)``, the pair load_model returned before, so that
    code written then keeps working; new code reads the attributes.
    """

    model: Any
    spec: ModelSpec
    windows: dict[str, int]
    encoder: Callable[[Any], Any] | None
    description: dict[str, Any]
    device: str = "cpu"

    def __iter__(self):
        return iter((self.model, self.spec))

    def score(self, enhancer_codes: np.ndarray, promoter_codes: np.ndarray, distance: np.ndarray | None = None) -> np.ndarray:
        """Probabilities of pairs given their int8 code windows ``(pairs, bp)``, cut to :attr:`windows`
        (``ds.epizoo.codes(kind, elements, length=loaded.windows[kind])``) and distances in bp.

        Args:
            enhancer_codes: int8 codes, ``(pairs, windows["enhancer"])`` or one window.
            promoter_codes: int8 codes, ``(pairs, windows["promoter"])`` or one window.
            distance: each pair's distance in bp (``epizoo.coords.TRANS_DISTANCE`` across contigs);
                default: 0 for every pair (only a model that reads distances minds).

        Returns:
            One probability per pair, in the order given.

        Raises:
            EpizooError: windows of another length than the model was trained on, or a model of
                signals (score those with :func:`predict_pairs`).
        """
        _check_widths(self, enhancer_codes, promoter_codes)
        enhancer, promoter = np.atleast_2d(enhancer_codes), np.atleast_2d(promoter_codes)
        distance = np.zeros(len(enhancer), np.int64) if distance is None else np.atleast_1d(np.asarray(distance))
        return pair_scorer(self.model, self.spec, self.description, self.device)(enhancer, promoter, distance)


def _check_widths(loaded: LoadedModel, enhancer: np.ndarray, promoter: np.ndarray) -> None:
    """Windows of another length give scores with no error but no meaning: refuse them in one line."""
    if loaded.spec.reads(SIGNALS):
        raise EpizooError(f"{loaded.spec.name} reads epigenomic signals: score it with epizoo.predict_pairs(loaded, store, pairs)")
    for kind, codes in (("enhancer", enhancer), ("promoter", promoter)):
        want = loaded.windows.get(kind)
        if want is not None and np.shape(codes)[-1] != want:
            raise EpizooError(
                f"{loaded.spec.name} was trained on {want}-bp {kind} windows, not {np.shape(codes)[-1]}: "
                f"cut them with ds.epizoo.codes('{kind}', elements, length=loaded.windows['{kind}'])"
            )


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """The trained model of a checkpoint folder (or its ``checkpoint.json``) as a :class:`LoadedModel`.

    A torch model comes back in eval mode on ``device``; a scikit-learn model as its fitted
    estimator (a pickle: load only checkpoints you trust). A checkpoint of a newer format, of a
    model that is not installed, or whose weights do not fit the installed model raises an
    :class:`~epizoo.errors.EpizooError` with one line that says so.

    Args:
        path: a checkpoint folder (``RUN/checkpoints/MODEL/CELL/FOLD``) or its ``checkpoint.json``.
        device: where a torch model goes (``cpu``, ``cuda``, ``cuda:N``).

    Returns:
        A :class:`LoadedModel`: the model with the windows and encoder it was trained with; score
        it with :func:`predict_pairs` (a store's pairs) or :meth:`LoadedModel.score` (windows).

    Raises:
        EpizooError: a damaged or edited checkpoint (its manifest), a newer format, a model that
            is not installed, or weights that do not fit it.
    """
    checkpoint = Checkpoint.read(path)
    spec = checkpoint.spec
    windows = dict(checkpoint.windows) if spec.reads("sequence") and not spec.is_contact_map else {}
    encoder = None
    if spec.kind == "torch":
        encoder = get_encoder(checkpoint.encoder).function
    return LoadedModel(checkpoint.build(device), spec, windows, encoder, checkpoint.description, str(device))


# ---- scoring ----------------------------------------------------------------------------------
def _torch_probabilities(model: Any, spec: ModelSpec, batch: dict, encode: Any, use_bf16: bool) -> Any:
    """Sigmoid of the model's logits for one batch (tensors already on the model's device), called as
    the trainer calls it (:func:`epizoo.model_inputs.torch_logits`)."""
    import torch

    with torch.autocast(batch["distance"].device.type, dtype=torch.bfloat16, enabled=use_bf16):
        return torch.sigmoid(torch_logits(model, spec, batch, encode))


def pair_scorer(model: Any, spec: ModelSpec, description: dict[str, Any], device: str = "cpu", precision: str = "auto") -> Any:
    """A function ``(enhancer_codes, promoter_codes, distance) -> probabilities`` (numpy in and out) that
    scores windows already cut to :func:`model_windows` as :func:`predict_pairs` does."""
    if spec.kind == "sklearn":
        return lambda enhancer, promoter, distance: sklearn_probabilities(
            model, sklearn_features(spec, {"enhancer": enhancer, "promoter": promoter, "distance": distance}))
    import torch

    target = resolve_device(device)
    use_bf16 = resolve_precision(precision, target) == "bf16"
    encode = get_encoder(description.get("input_encoding") or spec.input_encoding).function
    model = model.to(target).eval()

    def score(enhancer: np.ndarray, promoter: np.ndarray, distance: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            batch = {name: torch.from_numpy(np.ascontiguousarray(values)).to(target)
                     for name, values in (("enhancer", enhancer), ("promoter", promoter), ("distance", distance))}
            return _torch_probabilities(model, spec, batch, encode, use_bf16).cpu().numpy()

    return score


def predict_pairs(loaded: Any, *args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``predict_pairs(loaded, store, pairs=None, device=None, batch_size=256, precision="auto")``:
    (pairs, labels, probabilities) of ``pairs`` (default: all) of the store at path ``store``, in pair
    order, scored as the bench scores them (the windows, encoder and loader of :func:`load_model`'s
    :class:`LoadedModel`; device: the one it was loaded on).

    Args:
        loaded: what :func:`load_model` returned.
        store: the path of a store that holds what the model reads (sequence and/or signals).
        pairs: pair indices (default: every pair).

        device: where to score (default: the device it was loaded on).
        batch_size: pairs per batch (default 256; it does not change a score).
        precision: ``auto``, ``fp32`` or ``bf16`` (:func:`epizoo.devices.resolve_precision`).

    Returns:
        ``(pairs, labels, probabilities)``, sorted by pair. A model of signals scores the pairs
        with every signal value only: compare the returned ``pairs`` with those asked for.

    Raises:
        StoreError: ``store`` is not a store of pairs (a genome-only store, a missing or damaged one).

    The form before :class:`LoadedModel`, ``predict_pairs(model, spec, description, store, pairs, ...)``,
    is :func:`score_pairs` and still accepted.
    """
    if not isinstance(loaded, LoadedModel):
        return score_pairs(loaded, *args, **kwargs)
    return _predict_loaded(loaded, *args, **kwargs)


def _predict_loaded(
    loaded: LoadedModel, store: str | Path, pairs: Any = None, device: str | None = None,
    batch_size: int = PREDICT_BATCH, precision: str = "auto",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if pairs is None:
        import zarr

        group = zarr.open_group(str(store), mode="r")
        require_pairs(group.attrs, store)
        pairs = np.arange(group["pair_label"].shape[0], dtype=np.int64)
    return score_pairs(loaded.model, loaded.spec, loaded.description, str(store), pairs, device or loaded.device, batch_size, precision)


def scorable_pairs(spec: ModelSpec, store: str | Path, pairs: np.ndarray) -> np.ndarray:
    """The pairs among ``pairs`` the model can score: for a model of signals, those with every signal value."""
    import zarr

    pairs = np.asarray(pairs, dtype=np.int64)
    return measured_pairs(zarr.open_group(str(store), mode="r"), pairs) if spec.reads(SIGNALS) else pairs


def score_pairs(
    model: Any,
    spec: ModelSpec,
    description: dict[str, Any],
    store: str,
    pairs: np.ndarray,
    device: str = "cpu",
    batch_size: int = PREDICT_BATCH,
    precision: str = "auto",
    on_batch: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pairs, labels, probabilities) of ``pairs`` of ``store``, in pair order, as the bench scores them.
    ``on_batch(n)`` is told each batch's pair count as it is scored (a progress bar)."""
    import torch

    pairs = np.sort(np.asarray(pairs, dtype=np.int64))
    windows = model_windows(spec, description)
    hparams = {"enhancer_length": windows["enhancer"], "promoter_length": windows["promoter"]}
    if pairs.size == 0:
        return pairs, np.empty(0, np.float32), np.empty(0, np.float32)
    if spec.is_contact_map:  # scored from its predicted maps
        return predict_contact_pairs(model, spec, description, store, pairs, device=resolve_device(device))[:3]
    if spec.reads(SIGNALS):  # scored where every signal value is known, as the bench scores them
        pairs = scorable_pairs(spec, store, pairs)
        if pairs.size == 0:
            return pairs, np.empty(0, np.float32), np.empty(0, np.float32)
    if spec.kind == "sklearn":
        out_pairs, labels, features = _features(spec, store, pairs, hparams, TrainOptions(device="cpu"))
        scores = sklearn_probabilities(model, features)
        if on_batch is not None:
            on_batch(out_pairs.size)
        return out_pairs, labels, scores

    target = resolve_device(device)
    use_bf16 = resolve_precision(precision, target) == "bf16"
    encode = get_encoder(description.get("input_encoding") or spec.input_encoding).function
    model = model.to(target).eval()
    dataset = PairBatches(store, plain_items(pairs), batch_size, int(hparams["enhancer_length"]), int(hparams["promoter_length"]),
                          inputs=tuple(spec.inputs))
    out_pairs, out_labels, out_scores = [], [], []
    with torch.no_grad():
        for batch in make_loader(dataset, 0, target):
            batch = to_device(batch, target)
            out_scores.append(_torch_probabilities(model, spec, batch, encode, use_bf16).cpu().numpy())
            out_labels.append(batch["label"].cpu().numpy())
            out_pairs.append(batch["pair"].cpu().numpy())
            if on_batch is not None:
                on_batch(len(out_pairs[-1]))
    found_pairs, labels, scores = (np.concatenate(x) for x in (out_pairs, out_labels, out_scores))
    order = np.argsort(found_pairs, kind="stable")
    return found_pairs[order], labels[order], scores[order]


@contextmanager
def scoring_progress(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr over ``total`` pairs (scored, rate, time left); a no-op when disabled.
    A model of signals leaves the pairs without signal values unscored: the bar then ends short."""
    with console.progress(enabled) as bar:
        task = bar.add_task("scoring pairs", total=total, status="")
        yield lambda n: bar.advance(task, n)


# ---- a run's checkpoints and fold sides ------------------------------------------------------------
def choose_checkpoint(checkpoint: str | Path | None = None, run: str | Path | None = None, model: str | None = None,
                      cell_line: str | None = None, fold: str | None = None) -> Path:
    """The checkpoint folder that ``--checkpoint``, or ``--run --model [--cell-line] [--fold]``, names
    (the rules of ``predict``, ``scan`` and ``explain``, with their one-line errors)."""
    if checkpoint and run:
        raise EpizooError("give --checkpoint CKPT or --run RUN (with --model and --fold), not both")
    if not checkpoint and not run:
        raise EpizooError("say which model to use: --checkpoint CKPT, or --run RUN --model M --fold F")
    if checkpoint and any((model, cell_line, fold)):
        raise EpizooError("--model, --cell-line and --fold choose a checkpoint of --run; with --checkpoint leave them out")
    if run and not model:
        raise EpizooError("--run needs --model M (and --fold F when the run has several folds)")
    if checkpoint:
        return Path(checkpoint)
    return RunDirectory(run).find_checkpoint(model, cell_line, fold)


def fold_sides(checkpoint: str | Path, store: str) -> dict[str, np.ndarray]:
    """The train, valid and test pairs of the checkpoint's fold, as the bench recorded them beside it
    (``sides.npz``), never planned again. ``store`` must be the store the checkpoint was trained on."""
    recorded = Checkpoint.read(checkpoint)
    if not recorded.fold.get("name"):
        raise InputFileError(f"checkpoint {recorded.folder} records no fold; a fold's sides need a checkpoint written by epizoo bench")
    sides = recorded.sides()
    if sides is None:
        raise InputFileError(
            f"checkpoint {recorded.folder} records no fold sides (sides.npz; an older epizoo wrote it): run epizoo bench "
            "again to score its test side, or score every pair of a store"
        )
    if recorded.store_identity and recorded.store_identity != store_identity(open_store(store).attrs):
        raise InputFileError(f"{store} is not the store checkpoint {recorded.folder} was trained on (another creation time or "
                             "sequence); give the run's store")
    return sides


# ---- the predict command's work ------------------------------------------------------------------
def write_predictions(
    checkpoint: str | Path,
    store: str,
    out: str | Path,
    *,
    pairs: str = "all",
    device: str = "auto",
    batch_size: int = PREDICT_BATCH,
    precision: str = "auto",
    command: str = "",
    tracks_of: str | None = None,
    progress: bool = False,
    output_format: str | None = None,
) -> dict[str, Any]:
    """Score ``store``'s pairs (``all``, or the ``test`` side of the checkpoint's fold: :func:`fold_sides`) with
    the model of ``checkpoint`` and write the bench's prediction table to ``out`` (renamed into place),
    or BEDPE or UCSC interact (``output_format``, else from the suffix: :mod:`epizoo.browser_formats`).
    A contact-map model scores each pair by its predicted contact (:mod:`epizoo.contact.pairs`),
    reading the tracks of the pair's cell line, else of ``tracks_of``.

    This is ``epizoo predict --checkpoint CKPT --store STORE -o OUT`` from Python.

    Args:
        checkpoint: a checkpoint folder (``RUN/checkpoints/MODEL/CELL/FOLD``) or its ``checkpoint.json``.
        store: the path of a store of pairs that holds what the model reads.
        out: the table to write (TSV, or BEDPE / interact by ``output_format`` or suffix).
        pairs: ``all`` (default) or ``test``, the test side of the checkpoint's fold (the store
            must be the one it was trained on).
        device: ``auto`` (a GPU if there is one), ``cpu``, ``cuda`` or ``cuda:N``.
        batch_size: pairs per batch (it does not change a score).
        precision: ``auto``, ``fp32`` or ``bf16``.
        command: the command line recorded in the table's header.
        tracks_of: a contact-map model's fallback cell line for tracks.
        progress: show a progress bar on stderr.
        output_format: ``tsv``, ``bedpe`` or ``interact``; None: from ``out``'s suffix.

    Returns:
        ``{"model": name, "pairs": pairs scored, "out": path, "note": text}``; the note says which
        pairs were left unscored (a model of signals), empty if none.

    Raises:
        InputFileError: ``out`` is a folder or cannot be written, or the checkpoint has no recorded
            fold sides or another store (``pairs="test"``).
        StoreError: ``store`` is missing, damaged or holds no pairs.
        EmptyResultError: no pairs to score.
        EpizooError: a bad ``pairs``, ``device``, ``precision`` or ``output_format``, a store that lacks
            what the model reads, or a checkpoint that cannot be loaded (see :func:`load_model`).
    """
    import platform

    import torch

    out = Path(out)
    if out.is_dir():
        raise InputFileError(f"-o {out} is a folder; give the path of the TSV to write")
    kind = chosen_format(out, output_format)
    if pairs not in ("all", "test"):
        raise EpizooError(f"--pairs {pairs!r}: use all or test")
    target = str(resolve_device(device))
    ds = open_store(store)
    require_pairs(ds, store)
    model, spec, description = load_checkpoint_model(checkpoint, device=target)
    if not spec.is_contact_map:
        require_layers(spec, ds, store)
    verify_before_reading_all(store)  # a same-size garbage chunk is one line here, not a codec error
    chosen = fold_sides(checkpoint, store)["test"] if pairs == "test" else np.arange(ds.sizes["pairs"], dtype=np.int64)
    if chosen.size == 0:
        raise EmptyResultError(f"{store} has no pairs to score")
    note = ""
    if spec.is_contact_map:
        found, labels, scores, unscored = predict_contact_pairs(model, spec, description, ds, chosen, tracks_of, target)
        note = "".join(f"# {line}\n" for line in (SCORE_NOTE, unscored) if line)
    else:
        with scoring_progress(progress, chosen.size) as advance:
            found, labels, scores = score_pairs(model, spec, description, store, chosen, target, batch_size, precision, advance)
        if found.size < chosen.size:
            note = (f"# {chosen.size - found.size:,} of the {chosen.size:,} pairs have no signal values (or no window "
                    f"between their elements) and were not scored: {spec.name} reads signals\n")
    table = _prediction_table(ds, found, labels, scores)
    fold = description.get("fold") or {}
    header = (
        f"# epizoo {__version__}; torch {torch.__version__}; python {platform.python_version()}\n"
        f"# command: {command}\n"
        f"# model {spec.name}; checkpoint of cell line {fold.get('cell_line', '?')} (trained on "
        f"{fold.get('train_cell_line', '?')}), fold {fold.get('name', '?')}; pairs: {pairs}\n{note}"
    )
    try:
        write_text(out, render(table, kind, header))
    except OSError as exc:
        raise InputFileError(f"cannot write -o {out} ({exc.strerror or exc}); choose a writable path") from None
    return {"model": spec.name, "pairs": int(found.size), "out": str(out), "note": note.replace("# ", "").strip()}


# ---- the predict command on a user's BEDPE --------------------------------------------------------


def _rows_to_pairs(ds: Any, rows: Any) -> np.ndarray:
    """The store pair holding each row of the pair table ``rows`` (same intervals and cell line), -1 where none."""
    import pandas as pd

    contigs = np.asarray(ds["contig_id"].values, dtype=object)
    columns = {}
    for kind in ("enhancer", "promoter"):
        element = ds[f"pair_{kind}"].values
        columns[f"{kind}_contig"] = contigs[ds[f"{kind}_contig"].values[element]]
        columns[f"{kind}_start"] = ds[f"{kind}_start"].values[element].astype(np.int64)
        columns[f"{kind}_end"] = ds[f"{kind}_end"].values[element].astype(np.int64)
    columns["cell_line"] = np.asarray(ds["cell_line_id"].values, dtype=object)[ds["pair_cell_line"].values]
    key = list(columns)
    stored = pd.DataFrame(columns).astype({"enhancer_contig": str, "promoter_contig": str, "cell_line": str})
    stored["_pair"] = np.arange(len(stored), dtype=np.int64)
    stored = stored.drop_duplicates(key, keep="first")
    wanted = rows[key].astype({"enhancer_contig": str, "promoter_contig": str, "cell_line": str}).reset_index(drop=True)
    joined = wanted.merge(stored, on=key, how="left", sort=False)
    return joined["_pair"].fillna(-1).to_numpy(np.int64)


def write_bedpe_predictions(
    checkpoint: str | Path,
    bedpe: str | Path,
    out: str | Path,
    *,
    genome: str | Path | None = None,
    regions: list[str | Path] | None = None,
    device: str = "auto",
    batch_size: int = PREDICT_BATCH,
    precision: str = "auto",
    command: str = "",
    progress: bool = False,
    output_format: str | None = None,
) -> dict[str, Any]:
    """Score every pair of a user's BEDPE with the model of ``checkpoint`` and write ``out``.

    The pairs go through ``epizoo build-store --dataset bedpe``'s own reader and builder into a
    temporary store (windows: the model's lengths; no generated negatives; a BEDPE without a label
    column is accepted, its pairs labelled 1), which is removed afterwards. ``out`` holds one row per
    BEDPE pair, in the file's order, named by its ``name`` column: BEDPE (``chrom1 start1 end1 chrom2
    start2 end2 name score strand1 strand2`` then more) when it ends in ``.bedpe``, UCSC interact with
    ``output_format="interact"`` (sorted by position), else the bench's prediction table (``pair`` is
    then the pair's 0-based position among the BEDPE's pairs). It is renamed into place.
    """
    import platform
    import tempfile

    import torch

    out = Path(out)
    if out.is_dir():
        raise InputFileError(f"-o {out} is a folder; give the path of the TSV or BEDPE to write")
    kind = chosen_format(out, output_format)
    if not genome and not regions:
        raise InputFileError("--bedpe needs the sequence of its pairs: --genome FASTA (whole genome) or --regions FASTA (pre-extracted)")
    source = open_sequence_source(genome=genome, regions=list(regions or ()) or None)
    target = str(resolve_device(device))
    model, spec, description = load_checkpoint_model(checkpoint, device=target)
    if spec.is_contact_map:
        raise EpizooError(f"{spec.name} is a contact-map model: it scores the pairs of a STORE with a genome layer, not a --bedpe")
    if "signals" in spec.inputs:
        raise EpizooError(f"{spec.name} reads epigenomic signals, which a --bedpe and a FASTA do not hold; build a store with "
                          "build-store --bedpe ... --signals ..., then predict on that STORE")
    windows = model_windows(spec, description)
    dataset = get_dataset("bedpe")
    loaded, source = prepare_pairs(dataset, DatasetRequest(path=str(bedpe)), source, for_prediction=True)
    rows = loaded.pairs  # one row per BEDPE pair, in the file's order
    with tempfile.TemporaryDirectory(prefix="epizoo-predict-") as scratch:
        store = str(Path(scratch) / "pairs.zarr")
        build_store(
            loaded, store, sequence=source, enhancer_window=windows["enhancer"], promoter_window=windows["promoter"],
            command=command, dataset=dataset.name, progress=False, check_drops=False,  # a pair without sequence is refused below
        )
        ds = open_store(store)
        chosen = _rows_to_pairs(ds, rows)
        missing = np.flatnonzero(chosen < 0)
        if missing.size:
            first = rows.iloc[int(missing[0])]
            raise InputFileError(
                f"{missing.size} of the {len(rows)} pairs of {bedpe} have no sequence in {source.name} (the first: "
                f"{first['enhancer_contig']}:{first['enhancer_start']}-{first['enhancer_end']} with "
                f"{first['promoter_contig']}:{first['promoter_start']}-{first['promoter_end']}); give a source that covers every pair"
            )
        with scoring_progress(progress, np.unique(chosen).size) as advance:
            found, _labels, scores = score_pairs(model, spec, description, store, np.unique(chosen), target, batch_size, precision, advance)
        score_of = np.empty(ds.sizes["pairs"], dtype=np.float64)
        score_of[found] = scores
        per_row = score_of[chosen]
        table = _prediction_table(ds, chosen, rows["label"].to_numpy(), per_row)
        ds.close()
    table["pair"] = np.arange(len(rows), dtype=np.int64)
    table["pair_name"] = rows["pair_name"].to_numpy(dtype=object)
    fold = description.get("fold") or {}
    header = (
        f"# epizoo {__version__}; torch {torch.__version__}; python {platform.python_version()}\n"
        f"# command: {command}\n"
        f"# model {spec.name}; checkpoint of cell line {fold.get('cell_line', '?')} (trained on "
        f"{fold.get('train_cell_line', '?')}), fold {fold.get('name', '?')}; pairs: {Path(bedpe).name}\n"
    )
    try:
        write_text(out, render(table, kind, header))
    except OSError as exc:
        raise InputFileError(f"cannot write -o {out} ({exc.strerror or exc}); choose a writable path") from None
    return {"model": spec.name, "pairs": len(rows), "out": str(out)}
