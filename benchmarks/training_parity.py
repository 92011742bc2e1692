"""Training parity: EPI-DynFusion's own model class and a loop of its published recipe, beside
epizoo's trainer, on the very same pairs.

The upstream repository (zhangao-clude/EPI-DynFusion) releases the model (src/test/model_torch.py),
its CBAM layer and an evaluation script (src/test/test.py), but no training script: the recipe
comes from the paper (section 3.1): NAdam, lr 1e-3, batch 64, BCE on the model's sigmoid output,
early stopping when the loss has not fallen for 5 epochs. So the "upstream" side here is the
upstream ``EPI_DynFusion`` class, imported from the checkout as it is, fed the upstream k-mer
tokenisation (the checkout's own ``sentence2word`` plus the Keras Tokenizer's index, see
``upstream_tokens``) and trained by a plain PyTorch loop of that recipe that shares nothing with
epizoo. The "epizoo" side is ``epizoo.training.trainer.train_fold`` with the epizoo port.

Both sides get:

* the same fold (``epizoo.bench.plan`` of the store, e.g. LOCO chr1 or the random pair split),
  capped to the same stratified subsets of training, validation and test pairs (fixed across seeds);
* the same windows (epizoo's demo windows, 400/300 bp, centred) and the same dna2vec start;
* the same architecture: the upstream class takes no widths (its constructor uses ``emb_dim`` for
  the conv filters and hard-codes 10 heads, feed-forward 256, kernels 80/61, pools 15/10), so the
  epizoo port runs at those widths too (its defaults), only the windows are the demo's;
* the same recipe: NAdam lr 1e-3, batch 64, ``--epochs`` epochs, early stopping and checkpoint
  choice on the validation loss with patience 5, no shifted copies (epizoo's demo recipe; the
  upstream augmentation is an R data-preparation step, not part of training).

It records, per side and seed, the training loss and validation AUROC/loss of every epoch and the
test AUROC of the kept weights, then writes ``runs/*.json``, ``parity.tsv``, ``parity.json`` and
``parity.md`` (mean ± SD over seeds) under ``--out``. Runs already in ``--out`` are kept, so two
invocations (say, one per split) can share an output folder and the tables cover both.

Example (about 1.5 CPU minutes per side and seed at the defaults)::

    export EPIZOO_DATA_DIR=path/to/data     # where epizoo finds the dna2vec vectors
    epizoo build-store --dataset synthetic --option cell_lines=1 --option n_contigs=4 \\
        --option n_pairs=13000 --out syn.zarr --force
    python benchmarks/training_parity.py --upstream $UPSTREAM --store syn.zarr --split loco \\
        --fold chr1 --seeds 0 1 2 --out parity
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import itertools
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ENHANCER, PROMOTER = 400, 300  # epizoo's demo windows (ModelSpec.hparams(demo=True))
MODEL = "epi-dynfusion"


# ---- the upstream checkout -------------------------------------------------------------------
@contextlib.contextmanager
def _cwd(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def upstream_model_class(checkout: Path):
    """``EPI_DynFusion`` from src/test/model_torch.py; it loads ``embedding_matrix.npy`` from the
    working directory at import time, so it is imported from its own folder."""
    folder = checkout / "src" / "test"
    if not (folder / "model_torch.py").is_file():
        sys.exit(f"{folder / 'model_torch.py'} not found: --upstream must be an EPI-DynFusion checkout")
    sys.path.insert(0, str(folder))
    with _cwd(folder):
        import model_torch  # noqa: PLC0415  (the upstream module)
    return model_torch.EPI_DynFusion, folder / "embedding_matrix.npy"


def upstream_sentence2word(checkout: Path):
    """The checkout's ``sentence2word`` (src/sequence_processing.py). The module runs its whole
    preprocessing at import and needs Keras, so only that function's definition is executed."""
    source = (checkout / "src" / "sequence_processing.py").read_text()
    tree = ast.parse(source)
    wanted = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "sentence2word"]
    namespace: dict = {}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), "sequence_processing.py", "exec"), namespace)
    return namespace["sentence2word"]


def keras_word_index() -> dict[str, int]:
    """What ``get_tokenizer()`` builds: Keras ``Tokenizer.fit_on_texts`` on the 4,096 6-mers in
    ``itertools.product('acgt')`` order gives every word count 1, so the stable sort by count keeps
    that order and the index is 1 + rank; the script then adds ``null`` -> 0."""
    index = {"".join(word): rank + 1 for rank, word in enumerate(itertools.product("acgt", repeat=6))}
    index["null"] = 0
    return index


def upstream_tokens(sequences: list[str], max_len: int, sentence2word, index: dict[str, int]) -> np.ndarray:
    """``sentence2num``: words -> ``texts_to_sequences`` (lower-cased, unknown words dropped) ->
    ``pad_sequences(maxlen)`` with Keras's defaults (``padding='pre'``, ``truncating='pre'``, 0)."""
    out = np.zeros((len(sequences), max_len), dtype=np.int64)
    for row, sentence in enumerate(sentence2word(sequences)):
        ids = [index[w] for w in sentence.lower().split() if w in index][-max_len:]
        if ids:
            out[row, max_len - len(ids):] = ids
    return out


# ---- the pairs --------------------------------------------------------------------------------
def fold_sides(store: str, split: str, fold: str | None):
    from epizoo import open_store
    from epizoo.bench.config import BenchConfig
    from epizoo.bench.plan import plan

    ds = open_store(store)
    config = BenchConfig(store=store, out=os.devnull, models=[MODEL], split=split, folds=[fold] if fold and split == "loco" else None)
    tasks, _, _ = plan(ds, config, warn=lambda message: print(message, file=sys.stderr))
    chosen = [t for t in tasks if fold is None or t.fold == fold] or tasks
    task = chosen[0]
    return task.fold, task.train, task.valid, task.test, np.asarray(ds["pair_label"].values).astype(np.float32)


def cap(pairs: np.ndarray, labels: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    from epizoo.training.trainer import _stratified_sample

    if size is None or pairs.size <= size:
        return np.sort(pairs)
    return _stratified_sample(pairs, labels[pairs], size, np.random.default_rng([seed, 2024]))


def export(store: str, pairs: np.ndarray, sentence2word, index) -> dict[str, np.ndarray]:
    """The pairs' centred windows as upstream token ids, checked against epizoo's ``kmer6``."""
    from epizoo.encoders import kmer6
    from epizoo.training.loader import PairBatches, plain_items

    parts: dict[str, list[np.ndarray]] = {"enhancer": [], "promoter": [], "label": [], "pair": []}
    for batch in PairBatches(store, plain_items(pairs), 512, ENHANCER, PROMOTER):
        for kind, length in (("enhancer", ENHANCER), ("promoter", PROMOTER)):
            codes = batch[kind].numpy()
            text = ["".join("ACGTN"[c] for c in row) for row in codes]
            ids = upstream_tokens(text, length, sentence2word, index)
            ours = kmer6(batch[kind]).numpy()
            if not np.array_equal(ids, ours):
                raise SystemExit(f"{kind} tokens differ between the upstream tokenisation and epizoo's kmer6")
            parts[kind].append(ids)
        parts["label"].append(batch["label"].numpy())
        parts["pair"].append(batch["pair"].numpy())
    out = {k: np.concatenate(v) for k, v in parts.items()}
    order = np.argsort(out["pair"], kind="stable")
    return {k: v[order] for k, v in out.items()}


# ---- the same function? ----------------------------------------------------------------------
# The upstream parameter names and the port's, in the order the upstream module defines them.
UPSTREAM_TO_EPIZOO = (
    ("weight_transformer", "transformer_weight"), ("weight_gru", "gru_weight"), ("embedding_en.", "embedding.enhancer."),
    ("embedding_pr.", "embedding.promoter."), ("enhancer_conv_layer.", "enhancer_conv."), ("promoter_conv_layer.", "promoter_conv."),
    ("bn2.", "merge.0."), ("encoder.", "transformer."), ("cbam_layer.mlp.", "cbam.channel_mlp."), ("cbam_layer.conv.", "cbam.spatial."),
    ("bn1.", "head.0."), ("merger_dense.", "head.1."), ("bn.", "head.3."), ("output_layer.", "head.5."),
)


def _epizoo_name(name: str) -> str:
    for upstream, ours in UPSTREAM_TO_EPIZOO:
        if name.startswith(upstream):
            return ours + name[len(upstream):]
    return name


def forward_check(model_class, data: dict[str, np.ndarray], pairs: int = 32) -> dict:
    """Copy a freshly initialised upstream model (with random BatchNorm statistics) into the epizoo
    port and compare their eval-mode probabilities on the first ``pairs`` pairs of ``data``."""
    from epizoo.plugins import get_model

    torch.manual_seed(0)
    upstream = model_class(ENHANCER, PROMOTER, 4097, 100)
    state = {}
    for name, value in upstream.state_dict().items():
        if name.endswith("running_mean"):
            value = 0.1 * torch.randn_like(value)
        elif name.endswith("running_var"):
            value = 0.5 + torch.rand_like(value)
        state[name] = value
    upstream.load_state_dict(state)
    spec = get_model(MODEL)
    ours = spec.factory(**spec.hparams(enhancer_length=ENHANCER, promoter_length=PROMOTER))
    ours.load_state_dict({_epizoo_name(k): v.float() if v.is_floating_point() else v for k, v in state.items()})
    upstream.eval()
    ours.eval()
    e, p = torch.from_numpy(data["enhancer"][:pairs]), torch.from_numpy(data["promoter"][:pairs])
    with torch.no_grad():
        a, b = upstream(e, p).reshape(-1), torch.sigmoid(ours(e, p))
    return {"pairs": int(a.numel()), "max_abs_difference": float((a - b).abs().max()),
            "parameters": {"upstream": sum(x.numel() for x in upstream.parameters()), "epizoo": sum(x.numel() for x in ours.parameters())}}


# ---- the two training loops -------------------------------------------------------------------
def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score  # what the upstream test.py scores with

    return float(roc_auc_score(labels, scores))


def _bce(labels: np.ndarray, probabilities: np.ndarray) -> float:
    p = np.clip(probabilities.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


@torch.no_grad()
def _predict(model, data: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
    from torch.utils.data import DataLoader, TensorDataset

    model.eval()
    loader = DataLoader(TensorDataset(torch.from_numpy(data["enhancer"]), torch.from_numpy(data["promoter"])), batch_size=batch_size)
    return np.concatenate([model(e, p).cpu().numpy().reshape(-1) for e, p in loader])


def train_upstream(model_class, data, seed: int, epochs: int, patience: int, lr: float, batch: int) -> dict:
    """The upstream class and the paper's recipe in a plain loop (the repository has no training script)."""
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(seed)
    np.random.seed(seed)
    model = model_class(ENHANCER, PROMOTER, 4097, 100)
    optimizer = torch.optim.NAdam(model.parameters(), lr=lr)
    criterion = torch.nn.BCELoss()
    train = data["train"]
    dataset = TensorDataset(torch.from_numpy(train["enhancer"]), torch.from_numpy(train["promoter"]), torch.from_numpy(train["label"]))
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(seed))
    history, best, best_state, waited = [], math.inf, None, 0
    for epoch in range(1, epochs + 1):
        started = time.process_time()
        model.train()
        losses = []
        for e, p, y in loader:
            if len(y) < 2:
                continue  # BatchNorm cannot train on one pair (epizoo's trainer skips it too)
            loss = criterion(model(e, p).reshape(-1), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        valid = _predict(model, data["valid"], batch)
        record = {
            "epoch": epoch, "loss": float(np.mean(losses)), "valid_auroc": _auroc(data["valid"]["label"], valid),
            "valid_loss": _bce(data["valid"]["label"], valid), "cpu_seconds": time.process_time() - started,
        }
        history.append(record)
        print(f"  upstream epoch {epoch}: {json.dumps({k: round(v, 4) for k, v in record.items()})}", flush=True)
        if record["valid_loss"] < best:
            best, best_state, waited, best_epoch = record["valid_loss"], copy.deepcopy(model.state_dict()), 0, epoch
        else:
            waited += 1
            if waited >= patience:
                break
    model.load_state_dict(best_state)
    test = _predict(model, data["test"], 32)  # test.py scores in batches of 32
    return {"history": history, "best_epoch": best_epoch, "test_auroc": _auroc(data["test"]["label"], test)}


def train_epizoo(store: str, sides, seed: int, epochs: int, patience: int, lr: float, batch: int, threads: int) -> dict:
    from epizoo.metrics import auroc
    from epizoo.plugins import get_model
    from epizoo.training.trainer import Sides, TrainOptions, train_fold

    spec = get_model(MODEL)
    # The upstream class's widths are the port's defaults; only the windows are the demo's.
    recipe = replace(spec.recipe, optimizer="nadam", learning_rate=lr, batch_size=batch, epochs=epochs,
                     early_stopping_patience=patience, monitor="loss", augmentation_shifts=0)
    spec = replace(spec, enhancer_length=ENHANCER, promoter_length=PROMOTER, recipe=recipe)
    options = TrainOptions(seed=seed, threads=threads, device="cpu", precision="fp32")

    def on_epoch(record):
        print(f"  epizoo epoch {record['epoch']}: {json.dumps({k: round(v, 4) for k, v in record.items()})}", flush=True)

    result = train_fold(spec, store, Sides(*sides), options, on_epoch=on_epoch)
    history = [{k: r[k] for k in ("epoch", "loss", "valid_auroc", "valid_loss", "cpu_seconds")} for r in result.history]
    return {
        "history": history, "best_epoch": result.summary["best_epoch"], "embedding_source": result.summary["embedding_source"],
        "test_auroc": float(auroc(result.test_labels, result.test_scores)),
    }


# ---- tables -----------------------------------------------------------------------------------
def _ms(values) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def write_tables(out: Path) -> str:
    runs = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    rows = []
    for run in runs:
        for h in run["history"]:
            rows.append({"split": run["split"], "fold": run["fold"], "side": run["side"], "seed": run["seed"], **h, "test_auroc": ""})
        rows.append({"split": run["split"], "fold": run["fold"], "side": run["side"], "seed": run["seed"], "epoch": "test",
                     "loss": "", "valid_auroc": "", "valid_loss": "", "cpu_seconds": "", "test_auroc": run["test_auroc"]})
    columns = ["split", "fold", "side", "seed", "epoch", "loss", "valid_auroc", "valid_loss", "cpu_seconds", "test_auroc"]
    (out / "parity.tsv").write_text(
        "\t".join(columns) + "\n" + "".join("\t".join(str(r[c]) for c in columns) + "\n" for r in rows)
    )
    (out / "parity.json").write_text(json.dumps(runs, indent=1))
    lines = []
    for split, fold in dict.fromkeys((r["split"], r["fold"]) for r in runs):
        mine = [r for r in runs if r["split"] == split and r["fold"] == fold]
        by_side = {side: [r for r in mine if r["side"] == side] for side in ("upstream", "epizoo")}
        seeds = {side: sorted(r["seed"] for r in rs) for side, rs in by_side.items()}
        lines += [f"**{split} {fold}** (seeds: upstream {seeds['upstream']}, epizoo {seeds['epizoo']}; mean ± SD over seeds)", "",
                  "| epoch | upstream training loss | epizoo training loss | upstream validation AUROC | epizoo validation AUROC |",
                  "|---:|---:|---:|---:|---:|"]
        last = max((len(r["history"]) for r in mine), default=0)
        for epoch in range(1, last + 1):
            cells = []
            for key in ("loss", "valid_auroc"):
                for side in ("upstream", "epizoo"):
                    cells.append(_ms([h[key] for r in by_side[side] for h in r["history"] if h["epoch"] == epoch]))
            lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
        lines.append("| **test AUROC** (kept weights) | | | " + " | ".join(
            f"**{_ms([r['test_auroc'] for r in by_side[side]])}**" for side in ("upstream", "epizoo")) + " |")
        lines.append("| kept epoch (per seed) | | | " + " | ".join(
            ", ".join(str(r["best_epoch"]) for r in sorted(by_side[side], key=lambda r: r["seed"])) for side in ("upstream", "epizoo")) + " |")
        lines.append("")
    text = "\n".join(lines)
    (out / "parity.md").write_text(text)
    return text


# ---- main -------------------------------------------------------------------------------------
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, type=Path, help="a checkout of zhangao-clude/EPI-DynFusion")
    parser.add_argument("--store", required=True, help="an epizoo store (e.g. the synthetic store of make demo)")
    parser.add_argument("--split", default="loco", help="an epizoo split: loco (default) or random")
    parser.add_argument("--fold", default="chr1", help="the fold of that split (LOCO: the test chromosome); the first if absent")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5, help="the paper's 30 is out of a CPU's reach (default 5)")
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-pairs", type=int, default=600, help="stratified cap of the training pairs (same for all seeds)")
    parser.add_argument("--valid-pairs", type=int, default=300)
    parser.add_argument("--test-pairs", type=int, default=600)
    parser.add_argument("--sides", default="upstream,epizoo")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--check-only", action="store_true", help="export and compare the two forward passes, train nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from epizoo.encoders import dna2vec_unavailable_reason, dna2vec_vectors

    model_class, upstream_matrix = upstream_model_class(args.upstream.resolve())
    vectors = dna2vec_vectors()
    if vectors is None:
        sys.exit(f"epizoo has no dna2vec vectors ({dna2vec_unavailable_reason()}); set EPIZOO_DATA_DIR. "
                 "The upstream side starts from them, so the epizoo side must too.")
    if not np.array_equal(vectors, np.load(upstream_matrix).astype(vectors.dtype)):
        sys.exit("epizoo's dna2vec vectors differ from the upstream checkout's embedding_matrix.npy")
    sentence2word, index = upstream_sentence2word(args.upstream.resolve()), keras_word_index()

    fold, train, valid, test, labels = fold_sides(args.store, args.split, args.fold)
    sides = (cap(train, labels, args.train_pairs, 0), cap(valid, labels, args.valid_pairs, 1), cap(test, labels, args.test_pairs, 2))
    data = {name: export(args.store, pairs, sentence2word, index) for name, pairs in zip(("train", "valid", "test"), sides)}
    runs = args.out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(  # upstream's npz layout (X_en_tra, X_pr_tra, y_tra; _val; _tes)
        args.out / f"pairs-{args.split}-{fold}.npz",
        **{f"{key}_{suffix}": data[name][field] for name, suffix in (("train", "tra"), ("valid", "val"), ("test", "tes"))
           for key, field in (("X_en", "enhancer"), ("X_pr", "promoter"), ("y", "label"), ("pair", "pair"))},
    )
    print(f"{args.split} {fold}: " + ", ".join(f"{n} {d['label'].size} pairs ({int(d['label'].sum())} positive)" for n, d in data.items())
          + "; tokens identical to epizoo's kmer6", flush=True)
    check = forward_check(model_class, data["test"])
    (args.out / "forward-check.json").write_text(json.dumps(check, indent=1))
    print(f"forward check (upstream weights copied into the port, eval mode): {json.dumps(check)}", flush=True)
    if args.check_only:
        return

    for seed in args.seeds:
        for side in args.sides.split(","):
            print(f"{side}, seed {seed}", flush=True)
            started = time.monotonic()
            if side == "upstream":
                result = train_upstream(model_class, data, seed, args.epochs, args.patience, args.lr, args.batch_size)
            elif side == "epizoo":
                result = train_epizoo(args.store, sides, seed, args.epochs, args.patience, args.lr, args.batch_size, args.threads)
            else:
                sys.exit(f"unknown side {side!r}")
            result.update(split=args.split, fold=fold, side=side, seed=seed, wall_seconds=time.monotonic() - started,
                          n_pairs={n: int(d["label"].size) for n, d in data.items()}, windows=[ENHANCER, PROMOTER],
                          epochs=args.epochs, torch=torch.__version__)
            print(f"  test AUROC {result['test_auroc']:.4f} (kept epoch {result['best_epoch']})", flush=True)
            (runs / f"{args.split}-{fold}-{side}-seed{seed}.json").write_text(json.dumps(result, indent=1))
            print(write_tables(args.out), flush=True)


if __name__ == "__main__":
    main()
