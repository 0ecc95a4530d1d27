"""Evaluation of the neuron-level methods on real data (no network needed).

Trains an MLP and a small CNN on the 10,000 real MNIST digits (first 8,000 for training)
and an MLP on scikit-learn's digits, localizes with every method x measure over the whole
data set, synthesizes from the same correctly classified seeds, and reports per row:

* ``FDR``: fault detection rate, the share of synthesized inputs that are misclassified;
* ``FDR random``: the same synthesis driven by random neurons (same count per layer);
* mean L-inf / L2 distance to the seed;
* ``corr(cov, fail)``: Pearson (point-biserial) correlation over the data set between
  the share of selected neurons an input activates and whether it fails, and
  ``P(fail | covered)`` for inputs covering every selected layer (base rate in the header).

    python -m deeplocalize.neurons.evaluate --seeds 50 --out neurons_eval.md
    python -m deeplocalize.bench neurons ...       # same arguments

>>> main(["--models", "digits-mlp", "--seeds", "10", "--out", "eval.md"])   # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import deepsensor as ds
from .api import correct_seeds, synthesize
from .data import load_digits, load_mnist
from .measures import rank, top_k
from .paths import coverage, path_spectra
from .spectra import activity, count, neuron_table
from .synthesis import random_selection

MODELS = ("mnist-mlp", "mnist-cnn", "digits-mlp")
PLAN = {
    "deepfault": ("tarantula", "ochiai", "dstar"),
    "npsbfl-ga": ("tarantula", "ochiai", "barinel"),
    "npsbfl-mga": ("tarantula", "ochiai", "barinel"),
    "deepsensor": ("shapley",),
}


def build(name: str, epochs: int | None = None, seed: int = 0):
    """Train one evaluation model; returns (model, x, y, seconds spent training).

    >>> model, x, y, secs = build("digits-mlp")   # doctest: +SKIP
    """
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    if name.startswith("mnist"):
        x, y = load_mnist()
        n_train = 8000
    else:
        x, y = load_digits()
        n_train = 1200
    if name.endswith("mlp"):
        x = x.reshape(len(x), -1)
        width = 50 if name.startswith("mnist") else 32
        layers = [keras.Input(x.shape[1:])] + [L.Dense(width, activation="relu") for _ in range(3)]
        epochs = epochs or (5 if name.startswith("mnist") else 40)
    else:
        layers = [keras.Input(x.shape[1:]), L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(),
                  L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                  L.Dense(32, activation="relu")]
        epochs = epochs or 3
    model = keras.Sequential(layers + [L.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x[:n_train], y[:n_train], epochs=epochs, batch_size=64, verbose=0)
    return model, x, y, time.perf_counter() - t0


def _synth_row(model, seeds, labels, selection, method, distance, predict):
    t0 = time.perf_counter()
    new = synthesize(model, seeds, selection, method, distance=distance)
    fdr = float(np.mean(predict(new) != labels))
    d = (new - seeds).reshape(len(seeds), -1)
    return fdr, np.abs(d).max(1).mean(), np.sqrt((d ** 2).sum(1)).mean(), time.perf_counter() - t0


def evaluate_model(name: str, *, n_seeds: int = 50, k_global: int = 10, k_layer: int = 5,
                   distances=(0.1,), methods=tuple(PLAN), epochs: int | None = None,
                   shapley_inputs: int = 32, seed: int = 0, log=print):
    """All rows for one model, plus a dict of facts (accuracy, timings).

    >>> rows, facts = evaluate_model("digits-mlp", n_seeds=10)   # doctest: +SKIP
    """
    model, x, y, t_train = build(name, epochs, seed)
    t_all = time.perf_counter()
    active, _, probs = activity(model, x)
    predict = lambda z: np.concatenate([np.asarray(model(z[i:i + 512], training=False)).argmax(1)
                                        for i in range(0, len(z), 512)])
    failed = probs.argmax(1) != y
    table = neuron_table(model)
    idx = correct_seeds(model, x, y, n_seeds, seed)
    seeds, labels = x[idx], y[idx]
    facts = {"model": name, "accuracy": 1 - failed.mean(), "neurons": len(table),
             "train_s": t_train, "seeds": len(idx)}
    rows = []
    for method in methods:
        t0 = time.perf_counter()
        if method == "deepfault":
            spec = table.assign(**count(active, failed))
        elif method.startswith("npsbfl"):
            spec = path_spectra(model, x, y) if "path_spec" not in facts else facts["path_spec"]
            facts["path_spec"] = spec
        else:
            sub = np.random.default_rng(seed).permutation(len(x))[:shapley_inputs]
            shap = ds.shapley_values(model, x[sub], y[sub], n_permutations=8, seed=seed)
        t_loc = time.perf_counter() - t0
        for measure in PLAN[method]:
            if method == "deepfault":
                sel = top_k(rank(spec, measure), k_global)
            elif method.startswith("npsbfl"):
                sel = top_k(rank(spec[spec["candidate"]], measure), k_layer, per_layer=True)
            else:
                sel = ds.excitable_neurons(shap, k_global)
            rnd = random_selection(table, sel, seed + 1)
            if method == "deepsensor":
                rnd = rnd.assign(scale=shap["scale"].to_numpy()[rnd.index.to_numpy()])
            share, covered = coverage(active, table, sel)
            corr = float(np.corrcoef(share, failed)[0, 1]) if share.std() > 0 else float("nan")
            share_r, _ = coverage(active, table, rnd)
            corr_r = float(np.corrcoef(share_r, failed)[0, 1]) if share_r.std() > 0 else float("nan")
            for distance in distances:
                fdr, linf, l2, t_syn = _synth_row(model, seeds, labels, sel, method, distance, predict)
                fdr_r, *_ = _synth_row(model, seeds, labels, rnd, method, distance, predict)
                rows.append({"model": name, "method": method, "measure": measure, "neurons": len(sel),
                             "d": distance, "FDR": fdr, "FDR random": fdr_r, "L-inf": linf, "L2": l2,
                             "corr(cov, fail)": corr, "corr random": corr_r,
                             "P(fail|covered)": failed[covered].mean() if covered.any() else float("nan"),
                             "localize s": t_loc, "synth s": t_syn})
                log(f"  {name} {method:10s} {measure:9s} d={distance} FDR={fdr:.2f} random={fdr_r:.2f} "
                    f"corr={corr:+.2f} ({t_loc:.1f}s + {t_syn:.1f}s)")
    facts.pop("path_spec", None)
    facts["analysis_s"] = time.perf_counter() - t_all
    return rows, facts


def markdown(rows: pd.DataFrame, facts: list, args) -> str:
    """Render the results as a markdown report.

    >>> print(markdown(pd.DataFrame(), [], None))   # doctest: +SKIP
    """
    out = ["## Neuron-level fault localization: evaluation", ""]
    if args is not None:
        out.append(f"Seeds per model: {args.seeds} correctly classified inputs; L-inf bound d = "
                   f"{args.distance}; k = {args.k} (DeepFault, DeepSensor, global) / "
                   f"{args.k_layer} per layer (NP-SBFL).")
        out.append("")
    out += ["| model | accuracy | hidden neurons | failure rate | train s | analysis s |",
            "|---|---|---|---|---|---|"]
    for f in facts:
        out.append(f"| {f['model']} | {f['accuracy']:.3f} | {f['neurons']} | {1 - f['accuracy']:.3f} | "
                   f"{f['train_s']:.1f} | {f['analysis_s']:.1f} |")
    out.append("")
    cols = ["model", "method", "measure", "neurons", "d", "FDR", "FDR random", "L-inf", "L2",
            "corr(cov, fail)", "corr random", "P(fail|covered)", "localize s", "synth s"]
    out.append("| " + " | ".join(cols) + " |")
    out.append("|" + "---|" * len(cols))
    for _, r in rows.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if c in ("FDR", "FDR random", "P(fail|covered)"):
                cells.append("n/a" if pd.isna(v) else f"{100 * v:.1f}%")
            elif c in ("localize s", "synth s"):
                cells.append(f"{v:.2f}")
            elif c == "d":
                cells.append(f"{v:g}")
            elif isinstance(v, float):
                cells.append("n/a" if np.isnan(v) else f"{v:.3f}")
            else:
                cells.append(str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def parser() -> argparse.ArgumentParser:
    """Arguments of the evaluation (see ``--help``)."""
    p = argparse.ArgumentParser(prog="python -m deeplocalize.neurons.evaluate",
                                description="Evaluate DeepFault, NP-SBFL-GA/MGA and DeepSensor on real digits.")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
    p.add_argument("--methods", default=",".join(PLAN), help=f"comma list of {', '.join(PLAN)}")
    p.add_argument("--seeds", type=int, default=50, help="correctly classified seeds per model")
    p.add_argument("--k", type=int, default=10, help="neurons for DeepFault / DeepSensor")
    p.add_argument("--k-layer", type=int, default=5, help="pathway neurons per layer for NP-SBFL")
    p.add_argument("--distance", default="0.1,0.3", help="comma list of L-inf bounds d")
    p.add_argument("--epochs", type=int, default=None, help="override training epochs")
    p.add_argument("--shapley-inputs", type=int, default=32, help="inputs for DeepSensor's Shapley values")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="markdown file to write (also printed)")
    p.add_argument("--csv", default=None, help="also write the rows as CSV")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; returns 0 on success, 2 on bad arguments."""
    args = parser().parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in models if m not in MODELS] + [m for m in methods if m not in PLAN]
    if bad:
        print(f"error: unknown model/method {bad}; models: {', '.join(MODELS)}; methods: "
              f"{', '.join(PLAN)}", file=sys.stderr)
        return 2
    try:
        distances = tuple(float(d) for d in str(args.distance).split(","))
    except ValueError:
        print(f"error: --distance must be numbers separated by commas, got {args.distance!r}", file=sys.stderr)
        return 2
    rows, facts = [], []
    for name in models:
        print(f"[{name}]", flush=True)
        r, f = evaluate_model(name, n_seeds=args.seeds, k_global=args.k, k_layer=args.k_layer,
                              distances=distances, methods=methods, epochs=args.epochs,
                              shapley_inputs=args.shapley_inputs, seed=args.seed,
                              log=lambda s: print(s, flush=True))
        rows += r
        facts.append(f)
    df = pd.DataFrame(rows)
    text = markdown(df, facts, args)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if args.csv:
        df.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
