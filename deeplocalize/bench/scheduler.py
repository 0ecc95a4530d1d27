"""The scheduler: ``jobs`` worker processes, each running case after case.

Each worker (`deeplocalize.bench.worker`, ``--serve``) imports Keras once and
gets OpenMP/TensorFlow thread counts set so that parallel jobs share the
cores instead of fighting over them; each case gets a wall-clock timeout,
after which its worker is killed and replaced. A crash, an exception or a timeout is
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
import select
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
    """One case and one seed (``seed=None``: every seed of ``seeds`` in one job): its
    arguments for the worker, its output and log files, its clock."""

    def __init__(self, case: CaseInfo, seeds, workdir: Path, reports_dir, traces_dir, baselines: str = "shared",
                 backend: str = "tensorflow", seed: int | None = None):
        self.case = case
        name = safe_name(case.module) + (f"_seed{seed}" if seed is not None else "")
        self.out = workdir / f"{name}.jsonl"
        self.log = workdir / f"{name}.stderr"
        self.out.unlink(missing_ok=True)  # the worker appends; start from nothing
        self.log.unlink(missing_ok=True)
        run_seeds = [seed] if seed is not None else list(seeds)
        self.args = ["--case", case.path, "--case-id", case.id, "--seeds", ",".join(str(s) for s in run_seeds),
                     "--first-seed", str(list(seeds)[0]),
                     "--out", str(self.out), "--baselines", baselines, "--variants", ",".join(case.variants),
                     "--backend", backend, "--log", str(self.log)]
        if reports_dir:
            self.args += ["--reports", str(reports_dir)]
        if traces_dir:
            self.args += ["--traces", str(traces_dir)]
        self.seed = seed
        self.start = None

    def finish(self, returncode=0, timed_out: bool = False) -> dict:
        wall = time.perf_counter() - self.start
        lines = []
        if self.out.exists():
            for line in self.out.read_text(encoding="utf-8").splitlines():
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # a line cut short by a kill
        stderr_tail = self.log.read_text(encoding="utf-8", errors="replace")[-3000:] if self.log.exists() else ""
        return collect(self.case, lines, returncode=returncode, timed_out=timed_out, wall_s=wall,
                       stderr_tail=stderr_tail)


class _Server:
    """A long-lived worker process (`worker.serve`) that runs cases one after
    another, so Keras and TensorFlow are imported once per server, not per case."""

    def __init__(self, jobs: int, backend: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deeplocalize.bench.worker", "--serve", "--backend", backend],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=worker_env(jobs, backend), start_new_session=True, cwd=str(repo_root()))
        self.job: _Job | None = None

    def assign(self, job: _Job) -> None:
        self.job = job
        job.start = time.perf_counter()
        self.proc.stdin.write(json.dumps(job.args) + "\n")
        self.proc.stdin.flush()

    def finished(self) -> bool:
        """Whether the current case is done (the server said so, or it died)."""
        if self.proc.poll() is not None:
            return True
        ready, _, _ = select.select([self.proc.stdout], [], [], 0)
        return bool(ready) and self.proc.stdout.readline().strip() == "done"

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:
            self.kill()


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
    """Run every case on ``jobs`` worker servers, one case at a time each, on
    the Keras ``backend``. With several seeds each case and seed is a job of its
    own (seed by seed, so the per-case ``timeout`` holds one seed and the
    servers stay evenly loaded). A server that crashes or runs past ``timeout``
    on a job is replaced by a fresh one for the next. ``progress(result)`` is
    called as each job finishes. Returns the raw results (one per job) in case
    order, then seed order."""
    jobs = max(1, int(jobs))
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="dlbench-")
        workdir = Path(tmp.name)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    seeds = list(seeds)
    order = [None] if len(seeds) == 1 else seeds  # None: the one seed runs in the case's job
    pending = [(case, seed) for seed in order for case in cases]
    servers: list[_Server] = []
    results: dict[tuple, dict] = {}

    def done(job, result):
        results[(job.case.module, job.seed)] = result
        if progress is not None:
            progress(result)

    try:
        while pending or servers:
            # an idle server that died is replaced; a busy one's case is collected below first
            servers = [sv for sv in servers if sv.job is not None or sv.proc.poll() is None]
            idle = [sv for sv in servers if sv.job is None]
            while pending and not idle and len(servers) < jobs:
                idle.append(_Server(jobs, backend))
                servers.append(idle[-1])
            for sv in idle:
                if pending:
                    case, seed = pending.pop(0)
                    sv.assign(_Job(case, seeds, workdir, reports_dir, traces_dir, baselines, backend, seed=seed))
            if not pending and not any(sv.job for sv in servers):
                break
            time.sleep(0.2)
            for sv in servers:
                job = sv.job
                if job is None:
                    continue
                if sv.proc.poll() is None and time.perf_counter() - job.start > timeout:
                    sv.kill()
                    sv.job = None
                    done(job, job.finish(sv.proc.returncode, timed_out=True))
                elif sv.finished():
                    sv.job = None
                    died = sv.proc.poll() is not None
                    done(job, job.finish(sv.proc.returncode if died else 0))
    finally:
        for sv in servers:
            if sv.job is not None:  # interrupted: leave no stray workers behind
                sv.kill()
            else:
                sv.close()
        if tmp is not None:
            tmp.cleanup()
    return [results[(c.module, s)] for c in cases for s in order if (c.module, s) in results]
