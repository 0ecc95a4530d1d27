"""Evaluation of DeepFault and NP-SBFL (GA, MGA) against random neurons, on local MNIST.

``python -m deeplocalize.bench neurons`` (the bounded evaluation): every selection is
synthesized inside the L-inf ball d = 0.1 under four localizations (spectra per class or
pooled; active = value > 0 or value above the neuron's mean), each against 19 random
selections of the same shape. ``--reproduce``: the references' localization, synthesized
under the reference setting and bounded, beside the published figures.

Per row: FDR (i) = share of synthesized inputs misclassified; FDR (ii) = share of the
misclassified ones that activate the selected path in every selected layer; each with the
random draws' mean, sd, 5-95% range and the one-sided rank p-value (``control.py``).

Example:
    >>> main(["--models", "lenet1", "--draws", "4", "--out", "eval.md"])   # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

from . import zoo
from .protocol import MEASURES, REFERENCE_LOCALIZATION, Analysis, Localization, evaluate_row
from .report import markdown

VARIANTS = (Localization("class", "zero"), Localization("pooled", "zero"),
            Localization("class", "mean"), Localization("pooled", "mean"))
DEFAULT_MODELS = {True: ("mlp5x30", "lenet1", "lenet4", "lenet5"), False: ("mlp5x30", "lenet1", "lenet5")}
#: Barinel and Tarantula are both increasing in af/as, so they rank (and tie) neurons identically
SAME_RANKING = {"barinel": "tarantula"}


def plan(reproduce: bool, methods=tuple(MEASURES)):
    """The (method, measure, setting, localization) rows of one model.

    Example:
        >>> len(plan(True)), len(plan(False))
        (18, 36)
    """
    out = []
    for method in methods:
        for measure in MEASURES[method]:
            if reproduce:
                out += [(method, measure, s, REFERENCE_LOCALIZATION[method]) for s in ("reference", "bounded")]
            else:
                out += [(method, measure, "bounded", loc) for loc in VARIANTS]
    return out


def evaluate(models, *, reproduce: bool = False, draws: int = 19, n_seeds: int = 50, k: int = 5,
             epochs: int | None = None, methods=tuple(MEASURES), n_inputs: int | None = None,
             distance: float = 0.1, seed: int = 0, log=print):
    """Rows (DataFrame) and per-model facts (list of dicts) for ``models``.

    Example:
        >>> rows, facts = evaluate(["lenet1"], draws=4, n_seeds=20, epochs=1)   # doctest: +SKIP
    """
    rows, facts = [], []
    for name in models:
        model, x, y, t_train = zoo.build(name, epochs, seed, n_inputs)
        t0 = time.perf_counter()
        analysis = Analysis(model, x, y, n_seeds=n_seeds, seed=seed)
        t_an = time.perf_counter() - t0
        done = {}
        for method, measure, setting, loc in plan(reproduce, methods):
            t1 = time.perf_counter()
            twin = done.get((method, SAME_RANKING.get(measure), setting, loc))
            if twin is not None:  # identical ranking, so identical selection and synthesis
                row = dict(twin, measure=measure)
            else:
                row = evaluate_row(analysis, method, measure, setting, loc, k_global=k, k_layer=k,
                                   draws=draws, distance=distance, seed=seed)
            row.update(model=name, seconds=time.perf_counter() - t1)
            done[(method, measure, setting, loc)] = row
            rows.append(row)
            log(f"  {name} {method:10s} {measure:9s} {setting:9s} {loc.label:11s} "
                f"FDR(i) {row['FDR(i)']:.2f} vs {row['FDR(i) random']:.2f} (p {row['FDR(i) p']:.2f})  "
                f"FDR(ii) {row['FDR(ii)']:.2f} vs {row['FDR(ii) random']:.2f}  {row['seconds']:.1f}s")
        facts.append({"model": name, "accuracy": float(1 - analysis.failed.mean()),
                      "neurons": len(analysis.table), "train_s": t_train,
                      "analysis_s": t_an, "total_s": time.perf_counter() - t0})
        log(f"[{name}] accuracy {facts[-1]['accuracy']:.3f}, train {t_train:.0f}s, "
            f"rows {facts[-1]['total_s']:.0f}s")
    return pd.DataFrame(rows), facts


def parser() -> argparse.ArgumentParser:
    """Arguments of the evaluation (see ``--help``)."""
    p = argparse.ArgumentParser(prog="python -m deeplocalize.bench neurons",
                                description="DeepFault and NP-SBFL on the reference models (MNIST), "
                                            "against random neurons.")
    p.add_argument("--reproduce", action="store_true",
                   help="the references' setting (GA up to 3*d, MGA unbounded) beside the bounded one")
    p.add_argument("--models", default=None, help=f"comma list of {', '.join(zoo.MODELS)} (default: "
                   f"{','.join(DEFAULT_MODELS[True])} with --reproduce, else {','.join(DEFAULT_MODELS[False])})")
    p.add_argument("--methods", default=",".join(MEASURES), help=f"comma list of {', '.join(MEASURES)}")
    p.add_argument("--draws", type=int, default=19, help="random selections per row (19: smallest p 0.05)")
    p.add_argument("--seeds", type=int, default=50, help="correctly classified seeds per row")
    p.add_argument("--k", type=int, default=5, help="neurons (DeepFault, global) / per layer (NP-SBFL)")
    p.add_argument("--distance", type=float, default=0.1, help="d: the per-step clip and the ball's radius")
    p.add_argument("--epochs", type=int, default=None, help="override training epochs")
    p.add_argument("--inputs", type=int, default=None, help="use only the first N MNIST digits (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="markdown file to write (also printed)")
    p.add_argument("--csv", default=None, help="also write the rows as CSV")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; returns 0 on success, 2 on bad arguments."""
    args = parser().parse_args(argv)
    models = [m.strip() for m in (args.models or ",".join(DEFAULT_MODELS[args.reproduce])).split(",")
              if m.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in models if m not in zoo.MODELS] + [m for m in methods if m not in MEASURES]
    if bad or args.draws < 1 or args.seeds < 10 or args.k < 1 or args.distance <= 0:
        print(f"error: unknown model/method {bad} (models: {', '.join(zoo.MODELS)}; methods: "
              f"{', '.join(MEASURES)}), or --draws < 1, --seeds < 10, --k < 1", file=sys.stderr)
        return 2
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    rows, facts = evaluate(models, reproduce=args.reproduce, draws=args.draws, n_seeds=args.seeds,
                           k=args.k, epochs=args.epochs, methods=methods, n_inputs=args.inputs,
                           distance=args.distance, seed=args.seed, log=lambda s: print(s, flush=True))
    run = {"reproduce": args.reproduce, "draws": args.draws, "seeds": args.seeds, "k": args.k,
           "d": args.distance, "wall_s": time.perf_counter() - t0, "load": (load0, os.getloadavg()[0]), "cpus": os.cpu_count()}
    text = markdown(rows, facts, run)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if args.csv:
        rows.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
