"""The worker: one benchmark case, every tool, every seed, in this process.

``python -m deeplocalize.bench.worker --case PATH --case-id ID --out FILE [--backend B]``
sets ``KERAS_BACKEND`` (before anything imports Keras), imports the case
module and, per seed and variant, fits the program (`fits.run_variant`):

- ``shared`` (default): one plain fit watched by every tool whose table row
  allows it (`tools.Tool.watch`), then one fit per tool that needs its own
  (DeepLocalize), plus an exact fit for a watched verdict that asks for one
  (TerminateOnNaN when it fired). The plain fit is needed only to time the
  overhead (the first seed's fixed or healthy program): elsewhere the
  watchers look on at DeepLocalize's own fit (it changes nothing in
  training), and get the plain fit only when DeepLocalize stopped it early;
- ``separate``: one fit per tool.

A tool that cannot run on the backend (`tools.unavailable`) gets an ``n/a``
record with the reason instead of a fit.

Each finished run is one JSON line (`record.RunRecord.to_dict`). A crash is
recorded with its error and never stops the other runs. The worker never
reads the ground truth: scoring happens in the parent.

``python -m deeplocalize.bench.worker --serve --backend B`` runs case after
case, one line of those arguments (a JSON list) per case on stdin (`serve`).

Example:
    python -m deeplocalize.bench.worker --case benchmark/cases/gh_gol_nn.py --case-id gol_nn \
        --seeds 0 --out /tmp/gol_nn.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import time
import traceback
from pathlib import Path

from deeplocalize.bench import tools as tools_mod
from deeplocalize.bench.fits import run_variant
from deeplocalize.findings import jsonable as _jsonable

VARIANTS = ("buggy", "fixed")
BACKENDS = ("tensorflow", "jax", "torch")


def _setup_keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    try:
        if keras.backend.backend() != "tensorflow":
            raise ImportError  # leave TensorFlow unimported on the other backends
        import tensorflow as tf

        threads = int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0") or 0)
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(
                int(os.environ.get("TF_NUM_INTEROP_THREADS", "1") or 1))
    except Exception:
        pass
    try:
        keras.config.disable_interactive_logging()
    except Exception:
        pass
    return keras


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def work(args) -> int:
    """Run one case (see the module docstring); records go to ``args.out``."""
    cpu_start = time.process_time()
    out = open(args.out, "a", encoding="utf-8")

    def emit(obj):
        out.write(json.dumps(_jsonable(obj), default=str) + "\n")
        out.flush()

    import warnings

    warnings.filterwarnings("ignore")
    from deeplocalize.bench.cases import load_module

    try:
        module = load_module(args.case)
        if not callable(getattr(module, "build", None)):
            raise AttributeError("the case module has no build(variant, seed) function")
    except BaseException as exc:  # noqa: BLE001 -- a broken module is a result, not a harness failure
        emit({"type": "module_error", "error": f"{type(exc).__name__}: {exc}",
              "traceback": traceback.format_exc()[-4000:]})
        return 0
    case = getattr(module, "CASE", {}) or {}
    emit({"type": "case", "case": {k: case.get(k) for k in ("id", "source", "title")}})
    keras = _setup_keras()
    if args.backend and keras.backend.backend() != args.backend:
        emit({"type": "module_error", "error": f"Keras runs on {keras.backend.backend()}, not the requested "
              f"{args.backend}: something imported keras before KERAS_BACKEND was set"})
        return 0
    variants = [v for v in args.variants.split(",") if v]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    first = args.first_seed if args.first_seed is not None else seeds[0]
    for seed in seeds:
        for variant in variants:
            ctx = tools_mod.Context(keras, variant, seed, case_id=args.case_id, first_seed=seed == first)
            if variant == "buggy" and ctx.first_seed:
                if args.reports:
                    ctx.report_path = str(Path(args.reports) / f"{safe_name(args.case_id)}_seed{seed}.html")
                if args.traces:
                    ctx.trace_path = str(Path(args.traces) / f"{safe_name(args.case_id)}_seed{seed}_buggy.npz")
            for rec in run_variant(module, ctx, args.baselines):
                emit({"type": "run", **rec.to_dict()})
    emit({"type": "done", "cpu_s": time.process_time() - cpu_start, "backend": keras.backend.backend()})
    out.close()
    return 0


def serve(parser) -> int:
    """Run cases one after another, one line of worker arguments (a JSON list)
    per case on stdin; each case's stderr goes to its ``--log`` file and
    ``done`` is written to stdout when it finished. Keras and TensorFlow are
    imported once for all of them (the harness's ``--jobs`` servers)."""
    import sys

    reply = os.dup(1)  # the harness reads only "done" lines here: a case's prints go to its log
    for line in sys.stdin:
        if not line.strip():
            continue
        args = parser.parse_args(json.loads(line))
        log = open(args.log or os.devnull, "ab", buffering=0)
        saved = os.dup(1), os.dup(2)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            work(args)
        except BaseException:  # noqa: BLE001 -- recorded in the case's log; the next case still runs
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, old in zip((1, 2), saved):
                os.dup2(old, fd)
                os.close(old)
            log.close()
        os.write(reply, b"done\n")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deeplocalize.bench.worker",
                                     description="Worker: run one benchmark case (used by the harness).")
    parser.add_argument("--case", required=True, help="path of the case module")
    parser.add_argument("--case-id", required=True)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--first-seed", type=int, default=None,
                        help="the run's first seed (default: the first of --seeds); only it times the overhead, "
                             "runs verify='always', writes reports and repairs the program")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="buggy,fixed (a healthy program: healthy)")
    parser.add_argument("--out", required=True, help="JSON-lines file to append run records to")
    parser.add_argument("--reports", default=None, help="folder for HTML reports of the buggy runs")
    parser.add_argument("--traces", default=None, help="folder for the traces of the buggy runs")
    parser.add_argument("--baselines", choices=("shared", "separate"), default="shared")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="the Keras backend (set as KERAS_BACKEND before keras is imported; default: "
                             "KERAS_BACKEND as it is)")
    parser.add_argument("--log", default=None, help=argparse.SUPPRESS)  # --serve: the case's stderr file
    if argv is None:
        import sys

        argv = sys.argv[1:]
    if argv[:1] == ["--serve"]:
        backend = argv[argv.index("--backend") + 1] if "--backend" in argv else None
        if backend:
            os.environ["KERAS_BACKEND"] = backend
        return serve(parser)
    args = parser.parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    return work(args)


if __name__ == "__main__":
    raise SystemExit(main())
