"""Interpretation as EPI-DynFusion's authors did it (§6), with the field's libraries.

:func:`explain` runs the steps, each in its own module:

1. :mod:`~epizoo.explain.select`: the pairs the model predicts positive with probability above a
   threshold (all of a store's pairs, or one side of a bench run's fold), capped deterministically;
2. :mod:`~epizoo.explain.ism`: per-base importance, by a sliding N mask (ISM; scored in batches by
   tangermeme) or by gradient x input (captum); :mod:`~epizoo.explain.deeplift`: DeepLIFT/SHAP
   contributions, hypothetical ones too (tangermeme);
3. :mod:`~epizoo.explain.segments`: high-importance segments, clustered on 3-mer frequencies (Ward);
   with DeepLIFT, :mod:`~epizoo.explain.seqlets`: TF-MoDISco's seqlets and patterns (modisco-lite);
4. :mod:`~epizoo.explain.motifs`: a PWM per cluster from its aligned segments (or the pattern's),
   matched to JASPAR (pyjaspar) by TOMTOM (memelite);
5. :mod:`~epizoo.explain.outputs`: bedGraph tracks, a cluster table, logos (logomaker), one pair's
   plot and a JSON summary, in a folder renamed into place at the end.

docs/explain.md describes the rules and where they depart from the paper.
"""

from __future__ import annotations

import sys
import time
import types
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from epizoo import __version__, console
from epizoo.checkpoint import load_checkpoint_model, model_windows
from epizoo.devices import resolve_device
from epizoo.errors import EpizooError
from epizoo.explain import motifs, outputs, segments, select, seqlets
from epizoo.explain.motifs import consensus
from epizoo.extras import check, require
from epizoo.plugins import get_encoder
from epizoo.zoo import ModelSpec

__all__ = ["ExplainSettings", "explain"]

MIN_SITES = 3  # a cluster needs this many segments for a motif


@dataclass
class ExplainSettings:
    """The knobs of :func:`explain`; the CLI's options of the same names."""

    method: str = "ism"  # ism, gradient or deeplift
    min_probability: float = 0.95
    max_pairs: int = 200
    mask_width: int = 6
    mask_step: int = 3
    segment_width: int = 20
    segments_per_element: int = 3
    min_importance: float = 0.2  # a segment's peak: at least this fraction of the pair's largest importance
    clusters: int = 8  # per element kind
    top_motifs: int = 4  # per element kind: logos drawn for the largest clusters
    motif_width: int = 10
    jaspar_release: str = "JASPAR2024"
    jaspar_tax_group: str = "vertebrates"
    motifs: str | None = None  # a MEME file of extra target motifs
    batch_size: int = 256
    max_q: float = 0.05  # a nearest motif above this TOMTOM q-value is "no match"
    shuffles: int = 20  # deeplift: dinucleotide-shuffled references per element
    seqlet_window: int = 21  # deeplift: TF-MoDISco's sliding window (its flank: half of it)
    min_seqlets: int = 20  # deeplift: seqlets a TF-MoDISco metacluster and pattern need at least

    def check(self) -> None:
        """One clear line for a setting out of range."""
        if self.method not in ("ism", "gradient", "deeplift"):
            raise EpizooError(f"--method {self.method!r}: use ism, gradient or deeplift")
        if not 0 <= self.min_probability < 1:
            raise EpizooError(f"--min-probability {self.min_probability:g} must be from 0 to below 1")
        if not 0 <= self.min_importance <= 1:
            raise EpizooError(f"--min-importance {self.min_importance:g} must be a fraction from 0 to 1")
        for name in ("max_pairs", "mask_width", "mask_step", "segment_width", "segments_per_element", "clusters", "motif_width", "batch_size",
                     "shuffles", "seqlet_window", "min_seqlets"):
            if getattr(self, name) < 1:
                raise EpizooError(f"--{name.replace('_', '-')} must be at least 1")
        if not 0 < self.max_q <= 1:
            raise EpizooError(f"--max-q {self.max_q:g} must be a q-value above 0 and at most 1")
        if self.motif_width > self.segment_width:
            raise EpizooError(f"--motif-width {self.motif_width} must not exceed --segment-width {self.segment_width}")


def explain(
    store: str,
    out: str | Path,
    *,
    checkpoint: str | Path | None = None,
    run: str | Path | None = None,
    model: str | None = None,
    cell_line: str | None = None,
    fold: str | None = None,
    side: str | None = None,
    settings: ExplainSettings | None = None,
    device: str = "cpu",
    force: bool = False,
    progress: bool = False,
    command: str = "",
) -> dict[str, Any]:
    """Explain a model's confident positive pairs of ``store`` and write the results into folder ``out``.

    The model: ``checkpoint`` (a checkpoint folder), or ``run`` with ``model`` (and ``cell_line`` /
    ``fold`` when the run has several). ``side``: ``all`` pairs of the store (the default with a
    checkpoint) or the ``test`` (default with a run), ``train`` or ``valid`` side of the fold.
    Returns the JSON summary written as ``summary.json``.

    This is ``epizoo explain`` from Python; it needs the ``explain`` extra.

    Args:
        store: the path of a store of pairs with sequence.
        out: the folder to write (tracks, ``clusters.tsv``, ``pairs.tsv``, logos, ``pair.png``,
            ``summary.json``); it is written beside and renamed into place at the end.
        checkpoint: a checkpoint folder; or give ``run`` and ``model`` instead.
        run: a bench run directory to take the checkpoint from.
        model: the model's checkpoint in ``run``.
        cell_line: the cell line's checkpoint in ``run``, when it has several.
        fold: the fold's checkpoint in ``run``, when it has several.
        side: ``all``, ``test``, ``train`` or ``valid`` (defaults above).
        settings: the method and its knobs (:class:`ExplainSettings`; default: its defaults, ISM).
        device: ``cpu`` (default), ``auto``, ``cuda`` or ``cuda:N``.
        force: replace an earlier explain output at ``out``.
        progress: show a progress bar on stderr.
        command: the command line recorded in the summary.

    Returns:
        The summary: the model, checkpoint, fold, store, side and device, pair and segment counts,
        clusters and motifs, the settings, the files written, the epizoo version, the command and the
        seconds spent on importance.

    Raises:
        MissingExtraError: a package of the ``explain`` extra is not installed.
        InputFileError: ``out`` exists without ``force``, is not an earlier explain output, holds an
            input, or cannot be written.
        StoreError: ``store`` is missing, damaged or holds no pairs.
        EmptyResultError: no pairs to explain (none on the side, or none above the threshold).
        EpizooError: a setting out of range, a bad choice of checkpoint or ``side``, or a model that is
            not a torch model of a pair's two sequences.
    """
    from epizoo.explain import ism  # lazy: imports torch
    from epizoo.inference import choose_checkpoint  # lazy: imports torch and scikit-learn

    check("explain", needed_for="epizoo explain")  # every package of the extra, before the (slow) work
    settings = settings or ExplainSettings()
    settings.check()
    out = Path(out)
    inputs = [p for p in (store, checkpoint, run) if p is not None]  # never replaced by -o, whatever --force says
    outputs.check_out(out, force, inputs)  # before the (slow) work
    side = side or ("test" if run else "all")
    folder = choose_checkpoint(checkpoint, run, model, cell_line, fold)  # predict's rules, and its one-line errors
    target = str(resolve_device(device))
    network, spec, description = load_checkpoint_model(folder, device=target)
    if spec.kind != "torch" or tuple(spec.inputs) != ("sequence",) or spec.is_contact_map:
        raise EpizooError(f"{spec.name} is not a torch model of a pair's two sequences; explain masks and differentiates those only")
    lengths = model_windows(spec, description)  # the checkpoint's windows, resolved as predict resolves them
    if settings.mask_width > min(lengths.values()):
        raise EpizooError(f"--mask-width {settings.mask_width} is longer than the model's windows ({lengths['enhancer']}, {lengths['promoter']} bp)")
    targets = _targets(settings)  # a bad --motifs or --jaspar-release fails before the slow part
    chosen = select.choose_pairs(network, spec, description, store, lengths, checkpoint=folder, side=side,
                                 min_probability=settings.min_probability, max_pairs=settings.max_pairs,
                                 device=target, batch_size=settings.batch_size)
    encoding = description.get("input_encoding") or spec.input_encoding
    notes: list[str] = []  # deeplift: what was rewritten for its rules, and tangermeme's convergence warnings
    if settings.method == "deeplift":
        from epizoo.explain import deeplift  # lazy: imports torch

        attribute, notes = deeplift.attributer(network, encoding, settings.shuffles, settings.batch_size, target)
    else:
        attribute = ism.explainer(network, get_encoder(encoding).function, encoding, settings.method, settings.mask_width,
                                  settings.mask_step, settings.batch_size, target)
    importances, began = [], time.perf_counter()
    with console.progress(progress) as bar:
        task = bar.add_task(f"{settings.method} {spec.name}", total=chosen.pairs.size, status="")
        for i in range(chosen.pairs.size):
            importances.append(attribute(chosen.codes["enhancer"][i], chosen.codes["promoter"][i]))
            bar.advance(task)
    seconds = time.perf_counter() - began
    found, discovery = (_modisco_motifs if settings.method == "deeplift" else _motifs)(chosen, importances, settings, targets)
    with outputs.staged_folder(out, force, inputs) as scratch:
        summary = _write(scratch, chosen, importances, found, settings, spec, description, folder, store, side, target)
        summary.update(epizoo_version=__version__, command=command, seconds_importance=round(seconds, 3),
                       seconds_per_pair=round(seconds / chosen.pairs.size, 4),
                       **({"attribution_notes": notes} if notes else {}), **({"modisco": discovery} if discovery else {}))
        outputs.write_json(scratch / "summary.json", summary)
    return summary


def _targets(settings: ExplainSettings) -> list:
    targets = motifs.jaspar_targets(settings.jaspar_release, tax_group=settings.jaspar_tax_group or None)
    if settings.motifs:
        targets += motifs.meme_targets(settings.motifs)
    return targets


@dataclass
class Cluster:
    name: str  # E1, E2 ... / P1 ...: by size within its element kind
    kind: str
    segments: list
    pwm: np.ndarray | None
    matches: dict  # "jaspar" (and "user" with --motifs) -> motifs.Match


def _motifs(chosen, importances, settings: ExplainSettings, targets: list) -> tuple[list[Cluster], dict]:
    """Segments of every pair, their clusters per element kind, a PWM per cluster and its best match.

    For ISM and gradient x input, which give one score per base: neither gives the hypothetical
    contributions (one per base and letter) that TF-MoDISco needs, so these segments are clustered
    here on their 3-mer frequencies, as the paper did."""
    every = []
    for i, importance in enumerate(importances):
        codes = {kind: chosen.codes[kind][i] for kind in ("enhancer", "promoter")}
        every += segments.pair_segments(int(chosen.pairs[i]), codes, importance.tracks, settings.segment_width,
                                        settings.min_importance, settings.segments_per_element)
    clusters = []
    for kind in ("enhancer", "promoter"):
        groups = segments.cluster([s for s in every if s.kind == kind], settings.clusters)
        for rank, group in enumerate(groups, 1):
            pwm = motifs.align_pwm([s.codes for s in group], settings.motif_width)[0] if len(group) >= MIN_SITES else None
            clusters.append(Cluster(f"{kind[0].upper()}{rank}", kind, group, pwm, {}))
    _match(clusters, targets, settings.max_q)
    return clusters, {}


def _modisco_motifs(chosen, importances, settings: ExplainSettings, targets: list) -> tuple[list[Cluster], dict]:
    """DeepLIFT: TF-MoDISco's patterns per element kind (:mod:`~epizoo.explain.seqlets`), each a cluster
    of seqlets with the pattern's PWM, and its best match; with modisco's counts."""
    clusters, counts = [], {}
    for kind in ("enhancer", "promoter"):
        codes = np.stack([chosen.codes[kind][i] for i in range(chosen.pairs.size)])
        hypothetical = np.stack([imp.hypothetical[kind] for imp in importances])
        found, counts[kind] = seqlets.clusters(kind, chosen.pairs, codes, hypothetical, window=settings.seqlet_window,
                                               min_seqlets=settings.min_seqlets)
        for rank, (group, pwm) in enumerate(found, 1):
            clusters.append(Cluster(f"{kind[0].upper()}{rank}", kind, group, pwm, {}))
    _match(clusters, targets, settings.max_q)
    return clusters, counts


def _match(clusters: list[Cluster], targets: list, max_q: float) -> None:
    with_pwm = [c for c in clusters if c.pwm is not None]
    for cluster, matches in zip(with_pwm, motifs.best_matches([c.pwm for c in with_pwm], targets, max_q=max_q)):
        cluster.matches = matches


MATCH_COLUMNS = {"jaspar": "jaspar", "user": "motif"}  # column prefix of each group of targets


def _cluster_table(clusters: list[Cluster], logos: dict[str, str], with_user: bool):
    import pandas as pd

    totals = {kind: sum(len(c.segments) for c in clusters if c.kind == kind) for kind in ("enhancer", "promoter")}
    rows = []
    for c in clusters:
        row = {
            "cluster": c.name, "element": c.kind, "n_segments": len(c.segments),
            "share": round(len(c.segments) / max(totals[c.kind], 1), 4),
            "mean_peak_importance": float(np.mean([s.score for s in c.segments])),
            "consensus": consensus(c.pwm) if c.pwm is not None else "",
        }
        for group, prefix in MATCH_COLUMNS.items():
            if group == "user" and not with_user:
                continue
            m = c.matches.get(group)
            row.update({
                f"{prefix}_id": m.target.id if m else "", f"{prefix}_name": m.target.name if m else "",
                f"{prefix}_strand": m.strand if m else "", f"{prefix}_p_value": m.p_value if m else np.nan,
                f"{prefix}_q_value": m.q_value if m else np.nan,
                f"{prefix}_match": (m.target.name if m.significant else "no match") if m else "",
            })
        row["logo"] = logos.get(c.name, "")
        rows.append(row)
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["cluster", "element", "n_segments", "consensus"])


def _pair_table(chosen, importances):
    import pandas as pd

    columns = {"pair": chosen.pairs, "label": chosen.labels.astype(int), "probability": chosen.probabilities}
    for kind in ("enhancer", "promoter"):
        length = len(chosen.codes[kind][0])
        columns[f"{kind}_contig"] = chosen.contigs[kind]
        columns[f"{kind}_start"] = chosen.starts[kind]
        columns[f"{kind}_end"] = chosen.starts[kind] + length
        columns[f"{kind}_max_importance"] = [float(imp.tracks[kind].max()) for imp in importances]
    return pd.DataFrame(columns)


def _match_caption(match, max_q: float) -> str | None:
    """A logo's JASPAR line: the match, or "no match" with the nearest target when its q-value is too high."""
    if match is None:
        return None
    if match.significant:
        return f"best JASPAR match {match.target.id} {match.target.name} (q = {match.q_value:.2g})"
    return f"no JASPAR match at q <= {max_q:g} (nearest {match.target.id} {match.target.name}, q = {match.q_value:.2g})"


def _write(folder: Path, chosen, importances, clusters, settings, spec: ModelSpec, description, checkpoint, store, side, device) -> dict[str, Any]:
    write_meme = require("memelite.io", "explain").write_meme

    tracks, track_notes = outputs.write_tracks(folder, chosen, importances, settings.method, store)
    logos = {}
    (folder / "motifs").mkdir()
    for kind in ("enhancer", "promoter"):
        top = [c for c in clusters if c.kind == kind and c.pwm is not None][: settings.top_motifs]
        for c in top:
            name = f"motifs/{c.name}.png"
            match = c.matches.get("jaspar")
            match_pwm = None
            if match is not None:  # drawn in the orientation that matched
                match_pwm = match.target.pwm[::-1, ::-1] if match.strand == "-" else match.target.pwm
            outputs.motif_png(folder / name, f"{c.name}: {len(c.segments)} {kind} segments, {consensus(c.pwm)}", c.pwm,
                              _match_caption(match, settings.max_q), match_pwm if match is not None and match.significant else None)
            logos[c.name] = name
    _cluster_table(clusters, logos, bool(settings.motifs)).to_csv(folder / "clusters.tsv", sep="\t", index=False, float_format="%.4g")
    _pair_table(chosen, importances).to_csv(folder / "pairs.tsv", sep="\t", index=False, float_format="%.6g")
    with_pwm = {f"{c.name} {consensus(c.pwm)}": c.pwm for c in clusters if c.pwm is not None}
    if with_pwm:
        write_meme(str(folder / "motifs.meme"), with_pwm)
    best = int(np.argmax(chosen.probabilities))
    one = {kind: int(chosen.starts[kind][best]) for kind in ("enhancer", "promoter")}
    where = {kind: str(chosen.contigs[kind][best]) for kind in ("enhancer", "promoter")}
    outputs.pair_png(folder / "pair.png", f"pair {chosen.pairs[best]} (p = {chosen.probabilities[best]:.3f}), {spec.name}",
                     importances[best], one, where, settings.method)
    return {
        "model": spec.name, "checkpoint": str(checkpoint), "fold": description.get("fold"), "store": str(store),
        "side": side, "device": device, "pairs_scored": chosen.candidates, "pairs_above_threshold": chosen.above,
        "pairs_used": int(chosen.pairs.size), "segments": sum(len(c.segments) for c in clusters),
        "clusters": len(clusters), "motifs": len(with_pwm), "pair_plotted": int(chosen.pairs[best]),
        **({"track_notes": track_notes} if track_notes else {}),
        "settings": asdict(settings), "files": ["summary.json", "clusters.tsv", "pairs.tsv", "pair.png", *tracks,
                                                *sorted(logos.values()), *(["motifs.meme"] if with_pwm else [])],
    }


class _CallableModule(types.ModuleType):
    """``epizoo.explain(...)`` calls :func:`explain` even after this package is imported, when the
    name ``epizoo.explain`` becomes the package rather than the lazily exported function."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return explain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
