"""Describe registered models: summaries for ``epizoo models`` and the generated ``docs/models.md``.

Regenerate the docs with ``python -m epizoo.docs_gen > docs/models.md`` (a test checks that the
committed file equals this output). The parameter column is the model's ``published_parameters``
(trainable parameters at default settings, which the zoo tests check against a real build), so
generating the docs builds no model.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from epizoo import plugins
from epizoo.zoo import ModelSpec


def _callable_name(function: Any) -> str | None:
    if function is None:
        return None
    return f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', repr(function))}"


def recipe_summary(recipe: Any, kind: str = "torch") -> str:
    """One line, e.g. ``adam lr 0.001 eps 1e-07, batch 64, 15 epochs, 20x shifts``."""
    if kind == "sklearn":
        return "scikit-learn fit on the training side"
    eps = "" if recipe.optimizer == "sgd" else f" eps {recipe.epsilon:g}"
    parts = [f"{recipe.optimizer} lr {recipe.learning_rate:g}{eps}", f"batch {recipe.batch_size}", f"{recipe.epochs} epochs"]
    if recipe.early_stopping_patience:
        parts.append(f"patience {recipe.early_stopping_patience} on validation {recipe.monitor}")
    if recipe.augmentation_shifts > 1:
        parts.append(f"{recipe.augmentation_shifts}x shifts")
    if recipe.weight_decay:
        parts.append(f"weight decay {recipe.weight_decay:g}")
    return ", ".join(parts)


def card_summary(card: Any) -> str:
    """First author's surname, year and licence, e.g. ``Hong et al. 2020; licence: MIT``."""
    authors = card.authors.replace("et al.", ",").strip(" ,")
    surname = authors.split(",")[0].split()[-1] if authors else "?"
    more = " et al." if "," in card.authors or "et al." in card.authors else ""
    year = re.search(r"\b(19|20)\d\d\b", card.citation)
    licence = card.licence.split(";")[0].strip() or "?"
    return f"{surname}{more}{' ' + year.group(0) if year else ''}; licence: {licence}"


_counts: dict[tuple[str, int, bool], int] = {}  # (name, id of factory, tiny) -> count, per process


def _count(spec: ModelSpec, tiny: bool) -> int:
    import torch

    try:  # the meta device allocates no memory, so even large models count in a moment
        with torch.device("meta"):
            model = spec.build(tiny=tiny)
    except Exception:
        model = spec.build(tiny=tiny)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_parameters(spec: ModelSpec, tiny: bool = False) -> int | None:
    """Trainable parameters of a freshly built torch model (None for scikit-learn models)."""
    if spec.kind != "torch":
        return None
    key = (spec.name, id(spec.factory), tiny)
    if key not in _counts:
        _counts[key] = _count(spec, tiny)
    return _counts[key]


def model_record(spec: ModelSpec, parameters: int | None = None) -> dict[str, Any]:
    """The whole spec as JSON-ready data (callables by their import path)."""
    record = {
        "name": spec.name,
        "aliases": list(spec.aliases),
        "kind": spec.kind,
        "input_encoding": spec.input_encoding,
        "task": spec.task,
        "tracks": list(getattr(spec, "tracks", ())),
        "inputs": list(_reads(spec)),
        "reads": reads_text(spec),
        "windows": windows_text(spec, "{}/{}"),
        "enhancer_length": spec.enhancer_length,
        "promoter_length": spec.promoter_length,
        "published_parameters": spec.published_parameters,
        "uses_pretrained_embedding": spec.uses_pretrained_embedding,
        "factory": _callable_name(spec.factory),
        "features": _callable_name(spec.features),
        "default_hparams": spec.default_hparams,
        "tiny_hparams": spec.tiny_hparams,
        "demo_hparams": spec.demo_hparams,
        "demo_recipe": spec.demo_recipe,
        "recipe": dataclasses.asdict(spec.recipe),
        "recipe_summary": recipe_summary(spec.recipe, spec.kind),
        "card": dataclasses.asdict(spec.card),
        "card_summary": card_summary(spec.card),
    }
    if parameters is not None:
        record["parameters"] = parameters
    return record


def _cell(text: Any) -> str:
    """Markdown-table-safe text: one line, pipes escaped."""
    if text is None or text == "":
        return "—"
    return " ".join(str(text).split()).replace("|", "\\|")


def _upstream(card: Any) -> str:
    if not card.upstream_repository:
        return "—"
    commit = f"@{card.upstream_commit[:12]}" if card.upstream_commit else ""
    return f"{card.upstream_repository}{commit}"


def _parameters(spec: ModelSpec) -> str:
    if spec.kind != "torch":
        return "n/a (scikit-learn)"
    return f"{spec.published_parameters:,}" if spec.published_parameters else "—"


def _demo(spec: ModelSpec) -> str:
    """The demo size: what ``--demo`` changes from the defaults (the trainer's demo recipe applies too)."""
    if not spec.demo_hparams and not spec.demo_recipe:
        return ""
    parts = [", ".join(f"{key} {value}" for key, value in spec.demo_hparams.items())]
    if spec.demo_recipe:
        parts.append("recipe: " + ", ".join(f"{key} {value}" for key, value in spec.demo_recipe.items()))
    return "; ".join(part for part in parts if part)


def _deviations(card: Any) -> str:
    parts = [f"Paper vs code: {card.paper_deviations}" if card.paper_deviations else "",
             f"Port: {card.port_deviations}" if card.port_deviations else ""]
    return " ".join(part for part in parts if part)


def _reads(spec: ModelSpec) -> tuple[str, ...]:
    return tuple(spec.inputs)


def reads_text(spec: ModelSpec) -> str:
    """What the model reads, from its spec: ``genome`` (a contact-map model: one-hot sequence and its
    tracks from the genome layer), ``sequence`` (a torch model's encoder in brackets), ``signals``, or
    ``distance`` (the pair fields alone, ``inputs=()``)."""
    if spec.is_contact_map:
        return f"genome ({' + '.join(('sequence', *spec.tracks))})"
    parts = [f"sequence ({spec.input_encoding})" if part == "sequence" and spec.kind == "torch" else part for part in _reads(spec)]
    return " + ".join(parts) or "distance"


def windows_text(spec: ModelSpec, template: str) -> str:
    """The enhancer/promoter windows of a model that reads sequence windows; '—' for any other (its
    ``enhancer_length``/``promoter_length`` are the dataclass defaults, which it never reads)."""
    if spec.is_contact_map or "sequence" not in _reads(spec):
        return "—"
    return template.format(spec.enhancer_length, spec.promoter_length)


def card_windows(spec: ModelSpec, template: str = "enhancer {} bp, promoter {} bp") -> str:
    """A card's windows: a contact-map model's genome window, else :func:`windows_text`."""
    if spec.is_contact_map:
        return f"window {spec.hparams().get('window_length', 0):,} bp, {spec.hparams().get('n_bins', 0)} bins (contact map)"
    return windows_text(spec, template)


SUMMARY_COLUMNS = ("name", "aliases", "kind", "input", "lengths (enh/prom)", "parameters", "recipe")


def render_models_markdown(models: dict[str, Any]) -> str:
    """The text of ``docs/models.md``: a summary table, then one card table per model."""
    lines = [
        "# Models",
        "",
        "<!-- Generated by `python -m epizoo.docs_gen > docs/models.md`; do not edit by hand. -->",
        "",
        "Every model registered through the `register_models` hook of the installed plugins. "
        "Parameters are trainable parameters at default settings; lengths are the enhancer and "
        "promoter windows in bp. `epizoo models --json` prints the same specs in full.",
        "",
        "| " + " | ".join(SUMMARY_COLUMNS) + " |",
        "|" + "---|" * len(SUMMARY_COLUMNS),
    ]
    for spec in sorted(models.values(), key=lambda s: s.name):
        row = (
            f"[{spec.name}](#{_anchor(spec.name)})",
            ", ".join(spec.aliases),
            spec.kind,
            reads_text(spec),
            card_windows(spec, "{}/{}"),
            _parameters(spec),
            recipe_summary(spec.recipe, spec.kind),
        )
        lines.append("| " + " | ".join(_cell(value) for value in row) + " |")
    for spec in sorted(models.values(), key=lambda s: s.name):
        lines += ["", *_card_section(spec)]
    return "\n".join(lines) + "\n"


def _anchor(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum() or ch in "-_ ").replace(" ", "-")


def _card_section(spec: ModelSpec) -> list[str]:
    card = spec.card
    fields = (
        ("title", card.title),
        ("aliases", ", ".join(spec.aliases)),
        ("authors", card.authors),
        ("citation", card.citation),
        ("licence", card.licence),
        ("upstream", _upstream(card)),
        ("input", f"{reads_text(spec)}; {spec.kind}"),
        ("lengths", card_windows(spec)),
        ("parameters", _parameters(spec)),
        ("recipe", recipe_summary(spec.recipe, spec.kind)),
        ("recipe notes", spec.recipe.notes),
        ("demo size (`--demo`)", _demo(spec)),
        ("deviations", _deviations(card)),
        ("notes", card.notes),
    )
    return [f"## {spec.name}", "", "| field | value |", "|---|---|", *(f"| {key} | {_cell(value)} |" for key, value in fields)]


def main() -> None:
    print(render_models_markdown(plugins.get_models()), end="")


if __name__ == "__main__":
    main()
