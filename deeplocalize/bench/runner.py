"""Running cases: every tool on the buggy and the fixed program, one process per case.

The parent (`run_cases`) starts one worker process per case
(``python -m deeplocalize.bench.runner --worker ...``), at most ``jobs`` at a
time, each with a wall-clock timeout, and with OpenMP/TensorFlow thread
counts set so that parallel jobs share the cores instead of fighting over
them. The worker imports the case module, and for each seed and variant runs
``fit`` once per tool on a freshly built program (`baselines.TOOLS`), writing
one JSON line per finished run. A crash, an exception or a timeout is
recorded with its error; it never stops the other cases, and the runs a case
finished before it hung are kept.

The worker never reads the ground truth: scoring happens in the parent.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from deeplocalize.bench.baselines import TOOLS
from deeplocalize.bench.cases import CaseInfo, repo_root

VARIANTS = ("buggy", "fixed")
DIAGNOSER_MODES = ("rules", "learned", "both")


# ---------------------------------------------------------------------------------------------
# worker side (inside the case's own process)
# ---------------------------------------------------------------------------------------------
def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan" / "inf": JSON has no literal for them
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _last_metrics(history) -> dict:
    out = {}
    for key, values in (getattr(history, "history", None) or {}).items():
        if values:
            try:
                out[key] = float(values[-1])
            except (TypeError, ValueError):
                pass
    return out


def _diagnosis_summary(d, n_findings: int = 5) -> dict:
    return {
        "status": d.status,
        "faulty_layer": d.faulty_layer,
        "root_cause": d.root_cause,
        "first_detection_step": d.first_detection_step,
        "stopped_training": bool(d.stopped_training),
        "findings": [
            {k: getattr(f, k, None) for k in ("kind", "layer", "root_cause", "severity", "step", "epoch",
                                                "detail", "message")}
            for f in d.findings[:n_findings]
        ],
        "n_findings": len(d.findings),
    }


def _rediagnose(cb) -> dict:
    """Root cause and layer of the same trace under each diagnoser mode (no retraining).
    A mode that cannot run (e.g. no trained classifier yet) is recorded with its error."""
    from deeplocalize.diagnosis import diagnose

    out = {}
    stopped = bool(getattr(cb.diagnosis, "stopped_training", False))
    for mode in DIAGNOSER_MODES:
        try:
            d = diagnose(cb.trace, copy.deepcopy(cb.findings), stopped_training=stopped, diagnoser=mode)
            out[mode] = {"status": d.status, "faulty_layer": d.faulty_layer, "root_cause": d.root_cause}
        except Exception as exc:  # the learned diagnoser may not exist yet
            out[mode] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def _fit(module, variant: str, seed: int, keras, tool_cbs: list, counter=None) -> dict:
    """Build the program afresh and ``fit`` it with ``tool_cbs`` (plus an epoch clock).
    Returns the measured basics and the objects the caller needs."""
    from deeplocalize.bench import baselines

    program = module.build(variant, seed=seed)
    model = program["model"]
    fit_kwargs = dict(program.get("fit") or {})
    fit_kwargs["verbose"] = 0
    user_callbacks = list(fit_kwargs.pop("callbacks", None) or [])
    epochs = int(fit_kwargs.get("epochs", 1))
    clock = baselines.epoch_clock(keras)
    callbacks = user_callbacks + list(tool_cbs) + [clock]
    start = time.perf_counter()
    history = model.fit(program["x"], program.get("y"), callbacks=callbacks, **fit_kwargs)
    wall = time.perf_counter() - start
    epochs_run = len(clock.epoch_ends)
    steps_per_epoch = (getattr(history, "params", None) or {}).get("steps")
    if counter is not None:
        steps_run = counter.steps
    else:
        steps_run = epochs_run * steps_per_epoch if steps_per_epoch else None
    per_step, basis = baselines.per_step_time(clock, steps_per_epoch, steps_run, wall)
    metrics = _last_metrics(history)
    losses = (getattr(history, "history", None) or {}).get("loss", [])
    nonfinite = any(v is not None and not math.isfinite(float(v)) for v in losses)
    if counter is not None and counter.first_nonfinite_step is not None:
        nonfinite = True
    basics = dict(
        wall_s=wall, per_step_s=per_step, timing_basis=basis, epochs_planned=epochs, epochs_run=epochs_run,
        steps_per_epoch=steps_per_epoch, steps_run=steps_run,
        stopped_early=bool(getattr(model, "stop_training", False)) or epochs_run < epochs,
        nonfinite_loss=nonfinite, final=metrics, history_keys=sorted(metrics),
    )
    return {"basics": basics, "model": model, "clock": clock, "history": history}


def _record(case_id, seed, variant, tool) -> dict:
    return {"case": case_id, "seed": seed, "variant": variant, "tool": tool, "status": "ok", "error": None}


def _error(rec: dict, exc: BaseException) -> dict:
    rec.update(status="error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-4000:])
    return rec


def run_one(module, case_id: str, variant: str, seed: int, tool: str, keras, acc_key=None,
            report_path: str | None = None, trace_path: str | None = None) -> dict:
    """Build the program afresh and ``fit`` it with one tool. Returns the run record."""
    from deeplocalize.bench import baselines

    rec = _record(case_id, seed, variant, tool)
    if tool == "es_accuracy" and acc_key is None:
        rec.update(status="n/a", error="the model logs no accuracy metric")
        return rec
    try:
        counter = cb = None
        if tool == "deeplocalize":
            from deeplocalize import DeepLocalizeCallback

            cb = DeepLocalizeCallback(verbose=0)
            counter = baselines.step_counter(keras)
            tool_cbs = [cb, counter]  # the counter runs after the detector, inside its timing
        elif tool == "plain":
            tool_cbs = []
        else:
            tool_cbs = baselines.make_callbacks(tool, keras, acc_key)
            if tool == "terminate_on_nan":
                counter = baselines.step_counter(keras)  # TerminateOnNaN has batch hooks already
                tool_cbs = tool_cbs + [counter]
        got = _fit(module, variant, seed, keras, tool_cbs, counter)
        basics = got["basics"]
        rec.update(basics)
        steps_run, stopped = basics["steps_run"], basics["stopped_early"]
        if tool == "deeplocalize":
            d = cb.diagnosis
            rec["flagged"] = d.status == "buggy"
            rec["stop_step"] = d.first_detection_step
            rec["diagnosis"] = _diagnosis_summary(d)
            if variant == "buggy":
                rec["diagnoser_modes"] = _rediagnose(cb)
                if trace_path:
                    try:
                        Path(trace_path).parent.mkdir(parents=True, exist_ok=True)
                        cb.trace.save(trace_path)
                        rec["trace"] = trace_path
                    except Exception as exc:
                        rec["trace_error"] = f"{type(exc).__name__}: {exc}"
                if report_path:
                    try:
                        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
                        d.save(report_path, trace=cb.trace)
                        rec["report"] = report_path
                    except Exception as exc:
                        rec["report_error"] = f"{type(exc).__name__}: {exc}"
        elif tool == "plain":
            rec["flagged"] = None
            rec["stop_step"] = None
        else:
            if tool == "terminate_on_nan":
                flagged = stopped or basics["nonfinite_loss"]
            else:
                flagged = stopped or int(getattr(tool_cbs[0], "stopped_epoch", 0) or 0) > 0
            rec["flagged"] = bool(flagged)
            rec["stop_step"] = None
            if flagged:
                if tool == "terminate_on_nan" and counter.first_nonfinite_step is not None:
                    rec["stop_step"] = counter.first_nonfinite_step
                elif steps_run:
                    rec["stop_step"] = steps_run - 1
        if tool == "es_accuracy":
            rec["monitor"] = acc_key
        rec["mode"] = "separate"
    except Exception as exc:
        _error(rec, exc)
    return _jsonable(rec)


def run_plain_shared(module, case_id: str, variant: str, seed: int, keras) -> list[dict]:
    """The plain run, with Keras's EarlyStopping baselines and TerminateOnNaN's
    decision replayed on it (`baselines.epoch_observer`). Returns the records of
    ``plain``, ``es_loss``, ``es_accuracy`` and ``terminate_on_nan``; the last
    has ``needs_exact_run`` when it fired (its exact step needs its own run)."""
    from deeplocalize.bench import baselines

    recs = {t: _record(case_id, seed, variant, t) for t in ("plain", "terminate_on_nan", "es_loss", "es_accuracy")}
    try:
        observer = baselines.epoch_observer(keras)
        got = _fit(module, variant, seed, keras, [observer])
    except Exception as exc:
        for rec in recs.values():
            _error(rec, exc)
        return [_jsonable(r) for r in recs.values()]
    basics, clock = got["basics"], got["clock"]
    recs["plain"].update(basics, flagged=None, stop_step=None, mode="separate")
    spe = basics["steps_per_epoch"]
    for tool in ("terminate_on_nan", "es_loss", "es_accuracy"):
        rec = recs[tool]
        rec["mode"] = "shared"
        if tool == "es_accuracy":
            rec["monitor"] = observer.acc_key
            if observer.acc_key is None:
                rec.update(status="n/a", error="the model logs no accuracy metric")
                continue
        epoch = observer.fired[tool]
        rec["flagged"] = epoch is not None
        last_epoch = epoch if epoch is not None else basics["epochs_run"] - 1
        rec["epochs_run"] = last_epoch + 1
        rec["steps_per_epoch"] = spe
        rec["steps_run"] = (last_epoch + 1) * spe if spe else None
        rec["stopped_early"] = epoch is not None and last_epoch + 1 < basics["epochs_planned"]
        rec["stop_step"] = (rec["steps_run"] - 1) if (epoch is not None and rec["steps_run"]) else None
        ends = clock.epoch_ends
        rec["wall_s"] = (ends[last_epoch] - clock.start) if ends and clock.start is not None else basics["wall_s"]
        rec["wall_estimated"] = True
        rec["nonfinite_loss"] = basics["nonfinite_loss"]
        if tool == "terminate_on_nan" and epoch is not None:
            rec["needs_exact_run"] = True
    return [_jsonable(r) for r in recs.values()]


def _worker(args) -> int:
    out = open(args.out, "a", encoding="utf-8")

    def emit(obj):
        out.write(json.dumps(_jsonable(obj)) + "\n")
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

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    try:
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

    case_id = args.case_id

    def clear():
        try:
            keras.backend.clear_session()
        except Exception:
            pass

    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        for variant in VARIANTS:
            report = trace = None
            if variant == "buggy":
                if args.reports:
                    report = str(Path(args.reports) / f"{_safe(case_id)}_seed{seed}.html")
                if args.traces:
                    trace = str(Path(args.traces) / f"{_safe(case_id)}_seed{seed}_buggy.npz")
            if args.baselines == "shared":
                recs = run_plain_shared(module, case_id, variant, seed, keras)
                clear()
                dl = run_one(module, case_id, variant, seed, "deeplocalize", keras,
                             report_path=report, trace_path=trace)
                clear()
                ton = next(r for r in recs if r["tool"] == "terminate_on_nan")
                if ton.get("needs_exact_run"):  # it fired: its own run stops at the NaN, so it is short
                    exact = run_one(module, case_id, variant, seed, "terminate_on_nan", keras)
                    clear()
                    recs = [exact if r["tool"] == "terminate_on_nan" else r for r in recs]
                for rec in recs[:1] + [dl] + recs[1:]:
                    emit({"type": "run", **rec})
                continue
            acc_key = None
            for tool in TOOLS:
                rec = run_one(module, case_id, variant, seed, tool, keras, acc_key=acc_key,
                              report_path=report if tool == "deeplocalize" else None,
                              trace_path=trace if tool == "deeplocalize" else None)
                if tool == "plain":
                    from deeplocalize.bench.baselines import accuracy_key

                    acc_key = accuracy_key(rec.get("history_keys") or []) if rec.get("status") == "ok" else "accuracy"
                emit({"type": "run", **rec})
                clear()
    emit({"type": "done", "cpu_s": time.process_time()})
    out.close()
    return 0


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


# ---------------------------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------------------------
def worker_env(jobs: int) -> dict:
    """Environment of a worker: a share of the cores each, quiet TensorFlow."""
    cores = os.cpu_count() or 1
    threads = str(max(1, cores // max(1, jobs)))
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        env[var] = threads
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONWARNINGS"] = "ignore"
    env["PYTHONHASHSEED"] = "0"
    root = str(repo_root())
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class _Job:
    def __init__(self, case: CaseInfo, seeds, workdir: Path, jobs: int, reports_dir, traces_dir,
                 baselines: str = "shared"):
        self.case = case
        self.out = workdir / f"{_safe(case.module)}.jsonl"
        self.log = workdir / f"{_safe(case.module)}.stderr"
        self.out.unlink(missing_ok=True)  # the worker appends; start from nothing
        cmd = [sys.executable, "-m", "deeplocalize.bench.runner", "--worker", "--case", case.path,
               "--case-id", case.id, "--seeds", ",".join(str(s) for s in seeds), "--out", str(self.out),
               "--baselines", baselines]
        if reports_dir:
            cmd += ["--reports", str(reports_dir)]
        if traces_dir:
            cmd += ["--traces", str(traces_dir)]
        self._log_file = open(self.log, "wb")
        self.start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log_file,
                                     env=worker_env(jobs), start_new_session=True, cwd=str(repo_root()))
        self.timed_out = False

    def kill(self):
        self.timed_out = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.proc.kill()
        self.proc.wait()

    def finish(self) -> dict:
        self._log_file.close()
        wall = time.perf_counter() - self.start
        lines = []
        if self.out.exists():
            for line in self.out.read_text(encoding="utf-8").splitlines():
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # a line cut short by a kill
        stderr_tail = self.log.read_text(encoding="utf-8", errors="replace")[-3000:] if self.log.exists() else ""
        return collect(self.case, lines, returncode=self.proc.returncode, timed_out=self.timed_out,
                       wall_s=wall, stderr_tail=stderr_tail)


def collect(case: CaseInfo, lines: list[dict], returncode, timed_out: bool, wall_s: float,
            stderr_tail: str = "") -> dict:
    """Turn a worker's output lines into the case's raw result:
    ``{"case", "status", "error", "runs": [...], "wall_s"}``.

    Status: ``ok``; ``crashed`` (the module failed to import, a run raised, or
    the process died); ``timeout`` (killed after the per-case limit)."""
    runs = [ln for ln in lines if ln.get("type") == "run"]
    for r in runs:
        r.pop("type", None)
    module_error = next((ln for ln in lines if ln.get("type") == "module_error"), None)
    done = any(ln.get("type") == "done" for ln in lines)
    info = next((ln["case"] for ln in lines if ln.get("type") == "case"), None) or {}
    cpu = next((ln.get("cpu_s") for ln in lines if ln.get("type") == "done"), None)
    status, error = "ok", None
    if timed_out:
        status, error = "timeout", f"timed out after {wall_s:.0f} s ({len(runs)} runs finished)"
    elif module_error is not None:
        status, error = "crashed", module_error["error"]
    elif not done:
        status = "crashed"
        last = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else ""
        error = f"worker exited with code {returncode} after {len(runs)} runs" + (f": {last}" if last else "")
    else:
        failed = [r for r in runs if r.get("status") == "error"]
        if failed:
            status = "crashed"
            error = f"{failed[0]['variant']}/{failed[0]['tool']} seed {failed[0]['seed']}: {failed[0]['error']}"
    result = {"case": case.to_dict(), "case_info": info, "status": status, "error": error, "runs": runs,
              "wall_s": wall_s, "cpu_s": cpu, "returncode": returncode}
    if module_error is not None:
        result["traceback"] = module_error.get("traceback")
    elif status != "ok" and stderr_tail:
        result["stderr_tail"] = stderr_tail
    return result


def run_cases(cases: list[CaseInfo], seeds=(0,), jobs: int = 1, timeout: float = 600.0,
              reports_dir=None, traces_dir=None, progress=None, workdir=None,
              baselines: str = "shared") -> list[dict]:
    """Run every case in its own process, ``jobs`` at a time. ``progress(result)``
    is called as each case finishes. Returns the raw results in case order."""
    jobs = max(1, int(jobs))
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="dlbench-")
        workdir = Path(tmp.name)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    pending = list(cases)
    running: list[_Job] = []
    results: dict[str, dict] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                running.append(_Job(pending.pop(0), seeds, workdir, jobs, reports_dir, traces_dir, baselines))
            time.sleep(0.2)
            for job in list(running):
                if job.proc.poll() is None and time.perf_counter() - job.start > timeout:
                    job.kill()
                if job.proc.poll() is not None:
                    running.remove(job)
                    res = job.finish()
                    results[job.case.module] = res
                    if progress is not None:
                        progress(res)
    finally:
        for job in running:  # interrupted: leave no stray workers behind
            job.kill()
        if tmp is not None:
            tmp.cleanup()
    return [results[c.module] for c in cases if c.module in results]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deeplocalize.bench.runner",
                                     description="Worker: run one benchmark case (used by the harness).")
    parser.add_argument("--worker", action="store_true", required=True)
    parser.add_argument("--case", required=True, help="path of the case module")
    parser.add_argument("--case-id", required=True)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out", required=True, help="JSON-lines file to append run records to")
    parser.add_argument("--reports", default=None, help="folder for HTML reports of the buggy runs")
    parser.add_argument("--traces", default=None, help="folder for the traces of the buggy runs")
    parser.add_argument("--baselines", choices=("shared", "separate"), default="shared")
    return _worker(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
