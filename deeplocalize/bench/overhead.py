"""Overhead of the callback, and of the other ways to watch a run: the same ``fit``
with and without each, side by side (settings: `overhead_tools.SETTINGS`).

Each model is timed in one process (after one warm-up fit of each, so tracing
is excluded) in rounds of four fits: plain, with the callback, with the
callback, plain. Each round gives one ratio, with both settings timed close
together and in both orders, so a burst of load from elsewhere on a shared
machine moves the two sides alike; the median over rounds is reported, with
its spread. The same ratio in CPU time of the process (all threads) is
reported beside it: other load on the machine moves it much less than wall
time. Run: ``python -m deeplocalize.bench overhead``.

Example:
    >>> rows = measure(models=["mlp"], repeats=3)
    >>> rows[0]["ratio"]
    1.03
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from deeplocalize.bench.machine import print_table


def _data(kind: str, n: int, rng):
    """Inputs and learnable labels, so every timed model learns and a healthy
    run stays healthy (random labels would look like a bug and set off
    verification, which is timed elsewhere): for images the class says where
    a bright square sits on the noise; otherwise it is the largest of ten
    fixed random projections of the input (of its mean over time for
    sequences)."""
    if kind == "image":
        y = rng.integers(0, 10, size=n)
        x = 0.3 * rng.random((n, 28, 28, 1), dtype=np.float32)
        corners = [(r, c) for r in (2, 11, 19) for c in (2, 11, 19)] + [(7, 15)]
        for k, (r, c) in enumerate(corners):
            x[y == k, r:r + 7, c:c + 7, :] += 0.7
        return x, y.astype("int64")
    if kind == "sequence":
        x = rng.normal(size=(n, 20, 8)).astype(np.float32)
        features = x.mean(axis=1)
    else:
        x = rng.normal(size=(n, 64)).astype(np.float32)
        features = x
    projection = rng.normal(size=(features.shape[1], 10))
    y = np.argmax(features @ projection, axis=1).astype("int64")
    return x, y


def build(name: str):
    """One of the timed model shapes: mlp, cnn, lstm, wide."""
    import keras
    from keras import layers

    if name == "mlp":
        model = keras.Sequential([keras.Input((64,)), layers.Dense(128, activation="relu"),
                                  layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
        kind = "dense"
    elif name == "cnn":
        model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(16, 3, activation="relu"),
                                  layers.MaxPooling2D(), layers.Conv2D(32, 3, activation="relu"),
                                  layers.MaxPooling2D(), layers.Flatten(), layers.Dropout(0.25),
                                  layers.Dense(10, activation="softmax")])
        kind = "image"
    elif name == "lstm":
        model = keras.Sequential([keras.Input((20, 8)), layers.LSTM(32), layers.Dense(10, activation="softmax")])
        kind = "sequence"
    elif name == "wide":
        model = keras.Sequential([keras.Input((64,)), layers.Dense(1024, activation="relu"),
                                  layers.BatchNormalization(), layers.Dense(1024, activation="relu"),
                                  layers.Dense(10, activation="softmax")])
        kind = "dense"
    else:
        raise ValueError(f"Unknown model {name!r}; choose from mlp, cnn, lstm, wide.")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, kind


def _time_fit(model, x, y, callbacks, epochs, batch_size) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of one fit."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, callbacks=callbacks, verbose=0, shuffle=False)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(models=("mlp", "cnn", "lstm", "wide"), repeats: int = 7, n: int = 8192,
            batch_size: int = 32, epochs: int = 2, seed: int = 0, tools=("deeplocalize",)) -> list[dict]:
    """Time each model with and without each setting of ``tools`` (names in
    `overhead_tools.SETTINGS`: ours, TensorBoard, check_numerics, the per-batch
    probe, the peers); one row per model and setting."""
    import keras

    from deeplocalize.bench import overhead_tools

    settings = [overhead_tools.SETTINGS[t] for t in tools]
    skipped = {s.name: s.missing() for s in settings if s.missing()}
    settings = [s for s in settings if s.name not in skipped]
    rows = [{"model": m, "tool": name, "label": overhead_tools.SETTINGS[name].label, "skipped": why}
            for name, why in skipped.items() for m in models]
    rng = np.random.default_rng(seed)
    for name in models:
        keras.utils.set_random_seed(seed)
        model, kind = build(name)
        x, y = _data(kind, n, rng)
        _time_fit(model, x, y, [], 1, batch_size)  # warm up: tracing is not timed
        for setting in settings:
            own = build(name)[0] if setting.own_model else model

            verified = []  # timed DeepLocalize fits whose end-of-training verification ran

            def timed(own=own, setting=setting, eps=epochs):
                if setting.enter:
                    setting.enter()
                try:
                    callbacks = setting.make(own, x, y, batch_size)
                    result = _time_fit(own, x, y, callbacks, eps, batch_size)
                finally:
                    if setting.leave:
                        setting.leave()
                verified.extend(cb.diagnosis.verification is not None for cb in callbacks if hasattr(cb, "verify"))
                return result

            timed(eps=1)
            plain, probed, ratios, cpu_ratios = [], [], [], []
            for _ in range(repeats):
                p1, q1, q2 = _time_fit(model, x, y, [], epochs, batch_size), timed(), timed()
                p2 = _time_fit(model, x, y, [], epochs, batch_size)
                plain += [p1[0], p2[0]]
                probed += [q1[0], q2[0]]
                ratios.append((q1[0] + q2[0]) / (p1[0] + p2[0]))
                cpu_ratios.append((q1[1] + q2[1]) / (p1[1] + p2[1]))
            overhead_tools.cleanup()
            quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
            rows.append({"model": name, "tool": setting.name, "label": setting.label,
                         "steps": epochs * -(-n // batch_size), "plain_s": statistics.median(plain),
                         "with_callback_s": statistics.median(probed), "ratio": statistics.median(ratios),
                         "ratio_q1": quartiles[0], "ratio_q3": quartiles[2],
                         "cpu_ratio": statistics.median(cpu_ratios),
                         "verified_runs": f"{sum(verified)}/{len(verified)}" if verified else None})
    return rows


def format_table(rows: list[dict]) -> str:
    """A Markdown table of the rows, with the median and worst ratio of each setting."""
    lines = ["| model | steps | setting | plain (s) | with it (s) | ratio | middle half of rounds | CPU-time ratio |",
             "|---|---|---|---|---|---|---|---|"]
    skipped = {(r["label"], r["skipped"]) for r in rows if r.get("skipped")}
    rows = [r for r in rows if not r.get("skipped")]
    for r in rows:
        lines.append(f"| {r['model']} | {r['steps']} | {r.get('label', r.get('tool', 'DeepLocalize'))} "
                     f"| {r['plain_s']:.2f} | {r['with_callback_s']:.2f} "
                     f"| {r['ratio']:.3f} | {r['ratio_q1']:.3f}-{r['ratio_q3']:.3f} | {r['cpu_ratio']:.3f} |")
    lines.append("")
    by_tool: dict[str, list[dict]] = {}
    for r in rows:
        by_tool.setdefault(r.get("label", r.get("tool", "DeepLocalize")), []).append(r)
    for label, rs in by_tool.items():
        ratios, cpu = [r["ratio"] for r in rs], [r["cpu_ratio"] for r in rs]
        lines.append(f"{label}: median ratio {statistics.median(ratios):.3f}, worst {max(ratios):.3f}; "
                     f"CPU time: median {statistics.median(cpu):.3f}, worst {max(cpu):.3f}")
    for label, why in sorted(skipped):
        lines.append(f"{label}: not measured ({why})")
    ran = [f"{r['model']} {r['verified_runs']}" for r in rows if r.get("verified_runs")]
    if ran:
        lines.append("Timed DeepLocalize fits whose end-of-training verification ran (verify='auto' is on; on "
                     "these healthy models it should not trigger): " + ", ".join(ran))
    lines.append("(our budget: median <= 1.05, worst <= 1.15)")
    return "\n".join(lines)


def _all_settings() -> list[str]:
    from deeplocalize.bench import overhead_tools

    return list(overhead_tools.SETTINGS)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deeplocalize.bench overhead",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="mlp,cnn,lstm,wide", help="comma-separated: mlp,cnn,lstm,wide")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per model (4 fits each)")
    parser.add_argument("--samples", type=int, default=8192, help="training samples per fit")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per fit")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default=None, help="also write the table to this Markdown file")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default=None,
                        help="the Keras backend to time (default: the one Keras picked, KERAS_BACKEND)")
    parser.add_argument("--tools", default=",".join(_all_settings()),
                        help="comma-separated settings timed beside the plain fit (default: all: "
                             + ",".join(_all_settings()) + ")")
    args = parser.parse_args(argv)
    import keras

    if args.backend and keras.backend.backend() != args.backend:  # Keras picks it at import: a fresh process
        import os
        import subprocess
        import sys

        rest = [a for a in (argv if argv is not None else sys.argv[2:]) if not a.startswith("--backend")]
        rest = [a for a in rest if a != args.backend]
        env = {**os.environ, "KERAS_BACKEND": args.backend}
        return subprocess.run([sys.executable, "-m", "deeplocalize.bench", "overhead", *rest], env=env).returncode
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in _all_settings()]
    if unknown:
        parser.error(f"unknown --tools {', '.join(unknown)}; choose from {', '.join(_all_settings())}")
    rows = measure(models=[m.strip() for m in args.models.split(",") if m.strip()],
                   repeats=args.repeats, n=args.samples, batch_size=args.batch_size, epochs=args.epochs,
                   tools=tools)
    print_table(format_table(rows), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
