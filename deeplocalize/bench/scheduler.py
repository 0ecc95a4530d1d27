"""The scheduler: one worker process per case, at most ``jobs`` at a time.

Each worker (`deeplocalize.bench.worker`) gets a wall-clock timeout and
OpenMP/TensorFlow thread counts set so that parallel jobs share the cores
instead of fighting over them. A crash, an exception or a timeout is
recorded with its error; it never stops the other cases, and the runs a
case finished before it hung are kept. The parent never imports Keras.

Example:
    >>> results = run_cases(cases_mod.select(cases_mod.discover(), ["gol_nn"]), jobs=1)
    >>> results[0]["status"], len(results[0]["runs"])
    ('ok', 18)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deeplocalize.bench.cases import CaseInfo, repo_root
from deeplocalize.bench.record import RunRecord
from deeplocalize.bench.tools import TOOLS
from deeplocalize.bench.worker import safe_name


def worker_env(jobs: int, backend: str = "tensorflow") -> dict:
    """Environment of a worker: the Keras ``backend``, a share of the cores
    each, quiet TensorFlow."""
    cores = os.cpu_count() or 1
    threads = str(max(1, cores // max(1, jobs)))
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        env[var] = threads
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONWARNINGS"] = "ignore"
    env["PYTHONHASHSEED"] = "0"
    env["KERAS_BACKEND"] = backend
    root = str(repo_root())
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class _Job:
    def __init__(self, case: CaseInfo, seeds, workdir: Path, jobs: int, reports_dir, traces_dir,
                 baselines: str = "shared", backend: str = "tensorflow"):
        self.case = case
        self.out = workdir / f"{safe_name(case.module)}.jsonl"
        self.log = workdir / f"{safe_name(case.module)}.stderr"
        self.out.unlink(missing_ok=True)  # the worker appends; start from nothing
        cmd = [sys.executable, "-m", "deeplocalize.bench.worker", "--case", case.path,
               "--case-id", case.id, "--seeds", ",".join(str(s) for s in seeds), "--out", str(self.out),
               "--baselines", baselines, "--variants", ",".join(case.variants), "--backend", backend]
        if reports_dir:
            cmd += ["--reports", str(reports_dir)]
        if traces_dir:
            cmd += ["--traces", str(traces_dir)]
        self._log_file = open(self.log, "wb")
        self.start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log_file,
                                     env=worker_env(jobs, backend), start_new_session=True, cwd=str(repo_root()))
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
    runs = [RunRecord.from_dict(ln) for ln in lines if ln.get("type") == "run"]
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
        failed = [r for r in runs if r.status == "error" and TOOLS[r.tool].group != "peer"]
        if failed:
            status = "crashed"
            error = f"{failed[0].variant}/{failed[0].tool} seed {failed[0].seed}: {failed[0].error}"
    result = {"case": case.to_dict(), "case_info": info, "status": status, "error": error, "runs": runs,
              "wall_s": wall_s, "cpu_s": cpu, "returncode": returncode}
    if module_error is not None:
        result["traceback"] = module_error.get("traceback")
    elif status != "ok" and stderr_tail:
        result["stderr_tail"] = stderr_tail
    return result


def run_cases(cases: list[CaseInfo], seeds=(0,), jobs: int = 1, timeout: float = 600.0,
              reports_dir=None, traces_dir=None, progress=None, workdir=None,
              baselines: str = "shared", backend: str = "tensorflow") -> list[dict]:
    """Run every case in its own process, ``jobs`` at a time, on the Keras
    ``backend``. ``progress(result)`` is called as each case finishes. Returns
    the raw results in case order."""
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
                running.append(_Job(pending.pop(0), seeds, workdir, jobs, reports_dir, traces_dir, baselines,
                                    backend))
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
