"""Build the training corpus: run every base program and its mutants with the
callback attached, and save each run's Trace and label.

Layout of a corpus folder::

    DIR/traces/<run_id>.npz   the run's Trace
    DIR/labels/<run_id>.json  its label row (written last: a run is finished
                              exactly when its label exists, so a rerun skips it)
    DIR/labels.csv            all label rows (rewritten at the end of a build)

Run ids are ``<program>__<mutation>__s<seed>``; the unmutated base is mutation
``none`` and root cause ``healthy``.

Example:
    >>> build_corpus("learn-corpus", jobs=2, seeds=(0,), limit=20)
    >>> load_labels("learn-corpus").root_cause.value_counts()
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}

# The documented "did the mutant really hurt" criterion (see README): a mutant
# is effective when its normalised test score falls below the base's (same
# program, same seed) by more than max(EFFECTIVE_ABS, EFFECTIVE_REL * base),
# or when its loss became NaN/Inf. Other mutants are "equivalent" and are
# relabelled healthy.
EFFECTIVE_ABS = 0.05
EFFECTIVE_REL = 0.15


def plan(programs=None, seeds=(0,), mutations=None) -> list[dict]:
    """The runs of a corpus, in a fixed, well-mixed order.

    Each job is ``{"run_id", "program", "mutation", "seed"}``; bases come first
    (mutants are judged against them), the mutants follow in a seeded shuffle,
    so a ``limit`` still gives every program and root cause.

    Example:
        >>> jobs = plan(["iris_mlp"], seeds=(0,)); jobs[0]["mutation"]
        'none'
    """
    from deeplocalize.learn.mutations import MUTATIONS, applicable
    from deeplocalize.learn.programs import PROGRAMS, get_program

    programs = list(programs or PROGRAMS)
    bases, mutants = [], []
    for seed in seeds:
        for pid in programs:
            bases.append({"run_id": f"{pid}__none__s{seed}", "program": pid, "mutation": "none", "seed": seed})
            for m in applicable(get_program(pid)):
                if mutations is not None and m.name not in mutations:
                    continue
                mutants.append({"run_id": f"{pid}__{m.name}__s{seed}", "program": pid,
                                "mutation": m.name, "seed": seed})
    order = np.random.default_rng(0).permutation(len(mutants))
    return bases + [mutants[i] for i in order]


def run_one(job: dict, out_dir) -> dict:
    """Train one job with the callback attached; save its trace and label.

    Returns the label row. A run that crashes gets ``status="error"`` (and no
    trace), so it is not retried on resume.

    Example:
        >>> run_one({"run_id": "iris_mlp__none__s0", "program": "iris_mlp",
        ...          "mutation": "none", "seed": 0}, "learn-corpus")["status"]
        'ok'
    """
    import warnings

    warnings.filterwarnings("ignore")
    import keras

    from deeplocalize.callback import DeepLocalizeCallback
    from deeplocalize.learn.mutations import COMPONENT_OF, MUTATIONS
    from deeplocalize.learn.programs import get_program, materialize, score

    out_dir = Path(out_dir)
    prog = get_program(job["program"])
    row = dict(job)
    row.update(task=prog.task, root_cause="healthy", layer=None, layer_position=-1, n_layers=0,
               status="ok", error=None)
    t0 = time.time()
    try:
        if job["mutation"] != "none":
            m = MUTATIONS[job["mutation"]]
            prog, touched = m.apply(prog)
            row["root_cause"] = m.root_cause
            row["layer"] = touched
        keras.backend.clear_session()
        run = materialize(prog, seed=int(job["seed"]))
        cb = DeepLocalizeCallback(verbose=0, halt="never")
        with np.errstate(all="ignore"):
            run["model"].fit(run["x"], run["y"], callbacks=[cb], **run["fit"])
            row["score"] = score(prog, run["model"], run["x_test"], run["y_test"], run["n_classes"])
        trace = cb.trace
        if trace.n_steps == 0:
            raise RuntimeError("the callback recorded no step")
        trace.meta["learn_run_id"] = job["run_id"]
        (out_dir / "traces").mkdir(parents=True, exist_ok=True)
        trace.save(out_dir / "traces" / f"{job['run_id']}.npz")
        loss = trace.column("loss")
        row["nonfinite_loss"] = bool(np.any(~np.isfinite(loss)))
        row["final_loss"] = float(loss[-1]) if len(loss) else float("nan")
        row["n_steps"] = trace.n_steps
        row["n_layers"] = len(trace.layers)
        if row["layer"] in trace.layer_names:
            row["layer_position"] = trace.layer_index(row["layer"])
        elif row["root_cause"] in COMPONENT_OF and row["layer"] is None:
            row["layer"] = COMPONENT_OF[row["root_cause"]]
        row["rules_status"] = cb.diagnosis.status
    except Exception as exc:  # a mutant that cannot even run is not a training trace
        row["status"] = "error"
        row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    row["seconds"] = round(time.time() - t0, 2)
    (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "labels" / f".{job['run_id']}.json.tmp"
    tmp.write_text(json.dumps(row, default=_json_default))
    tmp.replace(out_dir / "labels" / f"{job['run_id']}.json")
    return row


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def _worker_init():
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.update(_THREAD_ENV)
    try:
        import tensorflow as tf

        tf.get_logger().setLevel(logging.ERROR)
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except Exception:
        pass


def _work(args):
    job, out_dir = args
    return run_one(job, out_dir)


def build_corpus(out_dir, jobs: int = 2, seeds=(0,), limit: int | None = None, programs=None,
                 mutations=None, progress: bool = True) -> dict:
    """Run the planned jobs not yet finished in ``out_dir``, ``jobs`` at a time.

    Resumable: a run whose label file exists is skipped. Returns counts
    ``{"planned", "skipped", "ran", "errors", "seconds"}``.

    Example:
        >>> build_corpus("/tmp/corpus", jobs=2, limit=3)["planned"]
        3
    """
    import multiprocessing as mp

    out_dir = Path(out_dir)
    (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    todo = plan(programs, seeds=seeds, mutations=mutations)
    if limit is not None:
        todo = todo[: int(limit)]
    done = {p.stem for p in (out_dir / "labels").glob("*.json")}
    pending = [j for j in todo if j["run_id"] not in done]
    stats = {"planned": len(todo), "skipped": len(todo) - len(pending), "ran": 0, "errors": 0}
    t0 = time.time()
    for k, v in _THREAD_ENV.items():  # inherited by the spawned workers before TF loads
        os.environ.setdefault(k, v)
    if pending:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("corpus"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[last]}"))
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task("runs", total=len(pending), last="")
            args = [(j, str(out_dir)) for j in pending]
            if jobs <= 1:
                _worker_init()
                results = map(_work, args)
                for row in results:
                    _count(stats, row)
                    bar.update(task, advance=1, last=row["run_id"])
            else:
                ctx = mp.get_context("spawn")
                with ctx.Pool(processes=jobs, initializer=_worker_init, maxtasksperchild=40) as pool:
                    for row in pool.imap_unordered(_work, args):
                        _count(stats, row)
                        bar.update(task, advance=1, last=row["run_id"])
    stats["seconds"] = round(time.time() - t0, 1)
    write_labels_csv(out_dir)
    meta_path = out_dir / "builds.jsonl"
    with open(meta_path, "a") as fh:
        fh.write(json.dumps({**stats, "jobs": jobs, "seeds": list(seeds), "limit": limit,
                             "finished": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
    return stats


def _count(stats, row):
    stats["ran"] += 1
    stats["errors"] += row.get("status") != "ok"


def write_labels_csv(out_dir) -> Path:
    """Gather every ``labels/*.json`` into ``labels.csv``.

    Example:
        >>> write_labels_csv("learn-corpus")
    """
    frame = load_labels(out_dir, effective_only=False)
    path = Path(out_dir) / "labels.csv"
    frame.to_csv(path, index=False)
    return path


def load_labels(out_dir, effective_only: bool = False):
    """All label rows of a corpus as a DataFrame, with ``effective`` and ``target`` added.

    ``target`` is the root cause for effective mutants, ``"healthy"`` for
    bases and equivalent mutants. With ``effective_only``, only successful
    runs whose label is a real fault are returned.

    Example:
        >>> labels = load_labels("learn-corpus", effective_only=True)
    """
    import pandas as pd

    rows = [json.loads(p.read_text()) for p in sorted(Path(out_dir, "labels").glob("*.json"))]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame[frame["status"] == "ok"].copy() if effective_only else frame
    base = frame[(frame["mutation"] == "none") & (frame["status"] == "ok")].set_index(["program", "seed"])["score"]
    keys = list(zip(frame["program"], frame["seed"]))
    frame["base_score"] = [float(base.get(k, np.nan)) for k in keys]
    drop = frame["base_score"] - frame["score"]
    margin = np.maximum(EFFECTIVE_ABS, EFFECTIVE_REL * frame["base_score"].abs())
    nonfinite = frame.get("nonfinite_loss", pd.Series(False, index=frame.index)).fillna(False).astype(bool)
    frame["effective"] = (frame["mutation"] != "none") & ((drop > margin) | nonfinite)
    frame["target"] = np.where(frame["effective"], frame["root_cause"], "healthy")
    if effective_only:
        frame = frame[frame["effective"]].copy()
    return frame.reset_index(drop=True)
