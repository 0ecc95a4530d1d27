"""CLI: ``python -m deeplocalize.neurons MODEL.keras --data DATA --method M --out DIR``.

Writes DIR/suspicious.csv (neurons or pathway), DIR/synthesized.npz (x, seeds, y, predicted)
and DIR/grid.png for image inputs, and prints a one-line summary.

>>> main(["model.keras", "--data", "digits", "--method", "deepfault", "--out", "out"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .api import METHODS, run
from .data import load_data, save_grid


def parser() -> argparse.ArgumentParser:
    """The argument parser (see ``--help``)."""
    p = argparse.ArgumentParser(prog="python -m deeplocalize.neurons",
                                description="Neuron-level fault localization and input synthesis.")
    p.add_argument("model", help="a trained Keras model file (.keras or .h5)")
    p.add_argument("--data", required=True,
                   help="an .npz with arrays x (floats in [0,1] or uint8) and y (labels or one-hot), "
                        "or the keyword mnist (benchmark/data/mnist-t10k) or digits (scikit-learn)")
    p.add_argument("--method", choices=METHODS, default="deepfault")
    p.add_argument("--measure", default=None,
                   help="tarantula|ochiai|dstar|barinel (deepsensor: shapley); default per method")
    p.add_argument("--k", type=int, default=None,
                   help="neurons to select (global for deepfault/deepsensor, per layer for npsbfl)")
    p.add_argument("--seeds", type=int, default=20, help="correctly classified seeds to synthesize from")
    p.add_argument("--distance", type=float, default=0.1, help="L-infinity bound d (<= 0: none)")
    p.add_argument("--step-size", type=float, default=1.0, help="gradient step (deepfault, npsbfl-ga)")
    p.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (npsbfl-mga)")
    p.add_argument("--star", type=float, default=3.0, help="DStar exponent")
    p.add_argument("--max-inputs", type=int, default=None, help="use only the first N inputs")
    p.add_argument("--random-control", action="store_true", help="use k random neurons instead")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="neurons-out", help="output folder")
    return p


def main(argv=None) -> int:
    """Run the CLI; returns the exit status (2 on a usage or data error)."""
    args = parser().parse_args(argv)
    try:
        import keras

        path = Path(args.model)
        if not path.exists():
            raise FileNotFoundError(f"Model file {path} not found.")
        model = keras.saving.load_model(path, compile=False)
        x, y = load_data(args.data, model.input_shape[1:])
        if args.max_inputs:
            x, y = x[: args.max_inputs], y[: args.max_inputs]
        t0 = time.perf_counter()
        res = run(model, x, y, method=args.method, measure=args.measure, k=args.k,
                  n_seeds=args.seeds, distance=args.distance if args.distance > 0 else None,
                  step_size=args.step_size, lr=args.lr, star=args.star,
                  random_control=args.random_control, seed=args.seed)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res.neurons.to_csv(out / "suspicious.csv", index=False)
    np.savez_compressed(out / "synthesized.npz", x=res.synthesized, seeds=res.seeds, y=res.labels,
                        predicted=res.predicted)
    grid = save_grid(res.seeds, res.synthesized, out / "grid.png", res.labels, res.predicted)
    dist = res.distances
    summary = {"method": res.method, "measure": res.measure, "neurons": len(res.neurons),
               "seeds": len(res.seeds), "fault_detection_rate": round(res.fault_detection_rate, 4),
               "mean_linf": round(float(dist["linf"].mean()), 4), "mean_l2": round(float(dist["l2"].mean()), 4),
               "seconds": round(time.perf_counter() - t0, 2), "grid": grid}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
