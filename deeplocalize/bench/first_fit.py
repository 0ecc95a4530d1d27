"""First-fit overhead: what a fresh ``fit`` costs with each watching tool, tracing included.

The steady-state study (`overhead`) warms every path up first; a person
debugging a model mostly runs short, fresh fits instead. Here every arm (the
plain fit, our callback, ``TensorBoard(histogram_freq=1)``,
``tf.debugging.enable_check_numerics()``) runs in a process of its own: a new
model, ``compile``, one ``fit``, tracing and the tool's own start and end
included. Arms are interleaved within each round (in a rotated order), so a
burst of load from elsewhere moves them alike, and each round gives one ratio
per arm against the plain fit of the same round; the median over rounds is
reported. Two scopes: *fit* (from building the model to the end of ``fit``,
importing the tool included; the interpreter and Keras import left out) and
*process* (the whole child process, as the shell sees it). CPU time (all
threads) is steadier than wall time on a shared machine.

Run: ``python -m deeplocalize.bench overhead --fresh --steps 100,1000 --rounds 3``.

Example:
    >>> rows = measure(models=["mlp"], steps=[100], rounds=1)
    >>> rows[0]["tool"], rows[0]["cpu_ratio"] > 0
    ('deeplocalize', True)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from deeplocalize.bench.machine import load_average, print_table

ARMS = ("plain", "deeplocalize", "tensorboard", "check_numerics")
STEPS_PER_EPOCH = 250  # longer runs are several epochs of this many batches (the data stays small)


def plan(steps: int, batch_size: int) -> tuple[int, int]:
    """(samples, epochs) for a fit of ``steps`` batches.

    Example:
        >>> plan(1000, 32)
        (8000, 4)
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch size must be positive, got {steps} and {batch_size}.")
    per_epoch = min(steps, STEPS_PER_EPOCH)
    if steps % per_epoch:
        raise ValueError(f"steps must be under {STEPS_PER_EPOCH} or a multiple of it, got {steps}.")
    return per_epoch * batch_size, steps // per_epoch


def worker(model_name: str, arm: str, steps: int, batch_size: int, seed: int) -> dict:
    """One fresh fit in this process; its timings (run by `measure` in a child process)."""
    import keras
    import numpy as np

    from deeplocalize.bench import overhead_tools
    from deeplocalize.bench.overhead import _data, build

    setting = None if arm == "plain" else overhead_tools.SETTINGS[arm]
    if setting is not None and setting.missing():
        return {"skipped": setting.missing()}
    samples, epochs = plan(steps, batch_size)
    keras.utils.set_random_seed(seed)
    wall, cpu = time.perf_counter(), time.process_time()
    if setting is not None and setting.enter:
        setting.enter()
    try:
        model, kind = build(model_name)
        x, y = _data(kind, samples, np.random.default_rng(seed))
        data_wall, data_cpu = time.perf_counter(), time.process_time()
        callbacks = [] if setting is None else setting.make(model, x, y, batch_size)
        first = _first_batch_timer(keras)
        model.fit(x, y, epochs=epochs, batch_size=batch_size, callbacks=[first] + callbacks, verbose=0,
                  shuffle=False)
        data_wall, data_cpu = data_wall - wall, data_cpu - cpu  # making the data is no arm's cost
    finally:
        if setting is not None and setting.leave:
            setting.leave()
        overhead_tools.cleanup()
    return {"fit_wall": time.perf_counter() - wall - data_wall, "fit_cpu": time.process_time() - cpu - data_cpu,
            "first_batch_cpu": first.cpu}


def _first_batch_timer(keras):
    """A callback timing the first batch (tracing and the first step) in CPU seconds."""

    class FirstBatch(keras.callbacks.Callback):
        cpu = None
        _start = None

        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.process_time() if self.cpu is None else None

        def on_train_batch_end(self, batch, logs=None):
            if self._start is not None:
                self.cpu = time.process_time() - self._start

    return FirstBatch()


def _child(model_name, arm, steps, batch_size, seed, timeout) -> dict:
    """Run `worker` in a fresh interpreter; adds the whole process's wall and CPU time."""
    code = ("import json, sys; from deeplocalize.bench.first_fit import worker; "
            f"print('RESULT ' + json.dumps(worker({model_name!r}, {arm!r}, {steps}, {batch_size}, {seed})))")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{arm} on {model_name} ({steps} steps) failed: {' | '.join(tail)}")
    out = json.loads(lines[-1][len("RESULT "):])
    out.update(proc_wall=wall, proc_cpu=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return out


def measure(models=("mlp", "cnn", "lstm", "wide"), steps=(100, 1000), rounds: int = 3, batch_size: int = 32,
            tools=("deeplocalize", "tensorboard", "check_numerics"), seed: int = 0, timeout: float = 1800.0,
            progress=None) -> list[dict]:
    """Each arm in a fresh process, interleaved over ``rounds``; one row per
    model, length and tool, with median ratios against the plain fit."""
    arms = ["plain"] + [t for t in tools if t != "plain"]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise ValueError(f"Unknown tools {unknown}; choose from {', '.join(ARMS[1:])}.")
    for n in steps:
        plan(n, batch_size)
    runs: dict = {}
    for r in range(rounds):
        for name in models:
            for n in steps:
                order = arms[r % len(arms):] + arms[:r % len(arms)]
                for arm in order:
                    res = _child(name, arm, n, batch_size, seed + r, timeout)
                    runs.setdefault((name, n, arm), []).append(res)
                    if progress:
                        progress(f"round {r + 1}/{rounds} {name} {n} steps {arm}: "
                                 + ("skipped" if "skipped" in res else f"fit {res['fit_cpu']:.2f} s CPU"))
    rows = []
    for name in models:
        for n in steps:
            plain = runs[(name, n, "plain")]
            for arm in arms[1:]:
                got = runs[(name, n, arm)]
                row = {"model": name, "steps": n, "tool": arm, "rounds": rounds}
                if any("skipped" in g for g in got):
                    row["skipped"] = next(g["skipped"] for g in got if "skipped" in g)
                    rows.append(row)
                    continue
                for key in ("fit_cpu", "fit_wall", "proc_cpu", "proc_wall"):
                    row[key.replace("fit_", "ratio_fit_").replace("proc_", "ratio_proc_")] = statistics.median(
                        g[key] / p[key] for g, p in zip(got, plain))
                row.update(plain_fit_cpu=statistics.median(p["fit_cpu"] for p in plain),
                           plain_proc_cpu=statistics.median(p["proc_cpu"] for p in plain),
                           plain_first_cpu=statistics.median(p["first_batch_cpu"] for p in plain),
                           first_cpu=statistics.median(g["first_batch_cpu"] for g in got),
                           cpu_ratio=row["ratio_fit_cpu"])
                rows.append(row)
    return rows


LABELS = {"deeplocalize": "DeepLocalizeCallback()", "tensorboard": "TensorBoard(histogram_freq=1)",
          "check_numerics": "enable_check_numerics()"}


def format_table(rows: list[dict], load: str = "") -> str:
    """A Markdown table: per model and length, each tool's CPU and wall ratios."""
    lines = ["| model | steps | plain fit CPU (s) | tool | CPU ratio, fit | CPU ratio, process | wall ratio, fit "
             "| first batch CPU (s), plain → tool |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("skipped"):
            lines.append(f"| {r['model']} | {r['steps']} | | {LABELS[r['tool']]} | not measured: {r['skipped']} "
                         "| | | |")
            continue
        lines.append(f"| {r['model']} | {r['steps']} | {r['plain_fit_cpu']:.2f} | {LABELS[r['tool']]} "
                     f"| {r['ratio_fit_cpu']:.3f} | {r['ratio_proc_cpu']:.3f} | {r['ratio_fit_wall']:.3f} "
                     f"| {r['plain_first_cpu']:.2f} → {r['first_cpu']:.2f} |")
    lines.append("")
    for tool in dict.fromkeys(r["tool"] for r in rows):
        for n in dict.fromkeys(r["steps"] for r in rows):
            got = [r for r in rows if r["tool"] == tool and r["steps"] == n and not r.get("skipped")]
            if got:
                cpu = [r["ratio_fit_cpu"] for r in got]
                lines.append(f"{LABELS[tool]}, {n} steps: CPU ratio (fit) median {statistics.median(cpu):.3f}, "
                             f"worst {max(cpu):.3f} over {len(got)} models")
    if rows:
        lines.append(f"({rows[0]['rounds']} rounds, medians of per-round ratios; load average {load})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deeplocalize.bench overhead --fresh",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="mlp,cnn,lstm,wide", help="comma-separated: mlp,cnn,lstm,wide")
    parser.add_argument("--steps", default="100,1000,10000",
                        help=f"comma-separated run lengths in batches (under {STEPS_PER_EPOCH} or multiples of it)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (one process per arm each)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--tools", default="deeplocalize,tensorboard,check_numerics",
                        help="comma-separated tools timed beside the plain fit")
    parser.add_argument("--out", default=None, help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    try:
        steps = [int(s) for s in args.steps.split(",") if s.strip()]
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        tools = [t.strip() for t in args.tools.split(",") if t.strip()]
        if args.rounds < 1:
            raise ValueError("--rounds must be at least 1.")
        load_start = load_average("unknown")
        rows = measure(models=models, steps=steps, rounds=args.rounds, batch_size=args.batch_size, tools=tools,
                       progress=lambda line: print(line, file=sys.stderr, flush=True))
    except ValueError as exc:
        parser.error(str(exc))
    load = f"{load_start} at the start, {load_average('unknown')} at the end"
    print_table(format_table(rows, load=load), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
