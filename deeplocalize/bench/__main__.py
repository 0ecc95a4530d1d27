"""``python -m deeplocalize.bench``: the 40-case benchmark and the healthy suite,
DeepLocalize beside Keras's callbacks and the re-implemented peers (UMLAUT,
AUTOTRAINER, DeepDiagnosis), with the peers' published results.

Commands:
    python -m deeplocalize.bench [run] [--cases IDS_OR_GLOBS] [--jobs N] [--seeds 0,1,2]
                                 [--quick] [--healthy | --no-healthy] [--out DIR] [--timeout S]
                                 [--reports] [--traces] [--baselines shared|separate]
                                 [--backend tensorflow|jax|torch]
    python -m deeplocalize.bench overhead [...]   the callback's overhead study
    python -m deeplocalize.bench overhead --fresh [...]   first fits, each arm in a fresh process
    python -m deeplocalize.bench neurons [...]    the neuron-localization evaluation
    python -m deeplocalize.bench trials CASE [--variant fixed] [--verify auto]   one program's trials

Example:
    python -m deeplocalize.bench --quick --jobs 2
    python -m deeplocalize.bench --cases 'so_5*,gol_nn' --seeds 0,1 --reports
    python -m deeplocalize.bench --quick --backend jax --no-healthy
"""

from __future__ import annotations

import argparse
import datetime as _dt
import subprocess
import sys
import time
from pathlib import Path

from deeplocalize.bench.machine import load_average

SUBCOMMANDS = ("run", "overhead", "neurons", "trials")
BACKENDS = ("tensorflow", "jax", "torch")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m deeplocalize.bench",
        description="Run the benchmark cases, buggy and fixed, with DeepLocalize and Keras's callbacks; "
                    "score detection, false alarms, localization and root cause. Subcommands: run "
                    "(default), overhead, neurons, trials.")
    p.add_argument("--cases", action="append", default=None,
                   help="case ids, module names or globs, comma-separated (repeatable); default: all")
    p.add_argument("--jobs", type=int, default=1, help="cases run in parallel processes (default 1)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--quick", action="store_true", help="a representative subset that runs in a few minutes")
    p.add_argument("--healthy", dest="healthy", action="store_true", default=None,
                   help="also run the healthy programs (benchmark/healthy/); the default without --cases "
                        "(--quick: its healthy subset)")
    p.add_argument("--no-healthy", dest="healthy", action="store_false", help="leave the healthy programs out")
    p.add_argument("--out", default="bench-results", help="output folder (default bench-results/)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per case before it is killed (default 600)")
    p.add_argument("--reports", action="store_true",
                   help="also save an HTML report of each case's DeepLocalize buggy run")
    p.add_argument("--traces", action="store_true", help="also save each buggy DeepLocalize trace (.npz)")
    p.add_argument("--baselines", choices=("shared", "separate"), default="shared",
                   help="shared (default): the EarlyStopping baselines watch the plain run through a proxy and "
                        "TerminateOnNaN gets its own run only when the loss went NaN/Inf (2-3 fits per variant); "
                        "separate: one fit per Keras baseline (5 fits per variant)")
    p.add_argument("--backend", choices=BACKENDS, default="tensorflow",
                   help="the Keras backend every case runs on (KERAS_BACKEND of each case process; default "
                        "tensorflow); a tool that cannot run on it is recorded n/a with the reason")
    p.add_argument("--cases-dir", default=None, help=argparse.SUPPRESS)
    p.add_argument("--ground-truth-dir", default=None, help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _git_commit(root: Path) -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except Exception:
        return None


def run(argv=None) -> int:
    from deeplocalize.bench import cases as cases_mod
    from deeplocalize.bench import markdown, published, results, scheduler, scoring

    args = _parser().parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        print(f"--seeds must be comma-separated integers, not {args.seeds!r}", file=sys.stderr)
        return 2
    if not seeds or args.jobs < 1 or args.timeout <= 0:
        print("--seeds needs at least one seed; --jobs and --timeout must be positive", file=sys.stderr)
        return 2
    root = cases_mod.repo_root()
    cdir = Path(args.cases_dir) if args.cases_dir else cases_mod.cases_dir(root)
    gdir = Path(args.ground_truth_dir) if args.ground_truth_dir else cases_mod.ground_truth_dir(root)
    found = cases_mod.discover(cdir)
    try:
        chosen = cases_mod.select(found, args.cases, quick=args.quick)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if not chosen:
        print(f"No cases to run in {cdir}.", file=sys.stderr)
        return 2
    with_healthy = args.healthy if args.healthy is not None else not args.cases
    if with_healthy and not args.cases_dir:
        healthy = cases_mod.discover(healthy=True)
        chosen = chosen + (cases_mod.select(healthy, quick=True) if args.quick else healthy)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    reports_dir = out / "reports" if args.reports else None
    traces_dir = out / "traces" if args.traces else None
    published_dl = cases_mod.load_published(cases_mod.published_path(root))

    start = time.perf_counter()
    raw = _run_with_progress(scheduler, chosen, seeds, args, reports_dir, traces_dir, out)
    duration = time.perf_counter() - start

    ground_truth = {c.id: cases_mod.load_ground_truth(c.id, gdir) for c in chosen if c.kind == "case"}
    deepfd = published.load_deepfd()
    rows = results.make_rows(raw, ground_truth, published_dl, deepfd)
    for row in rows:
        if row.get("kind") != "healthy" and ground_truth.get(row["id"]) is None and row["status"] == "ok":
            row["error"] = "no ground truth file"
    totals = scoring.totals(rows)
    meta = results.meta_info({
        "argv": list(argv) if argv is not None else sys.argv[1:], "seeds": seeds, "jobs": args.jobs,
        "quick": args.quick, "baselines": args.baselines, "backend": args.backend, "timeout_s": args.timeout, "cases_dir": str(cdir), "duration_s": duration,
        "date": _dt.datetime.now().isoformat(timespec="seconds"), "commit": _git_commit(root),
        "published_source": str(cases_mod.published_path(root)),
        "published_deepfd_source": str(published.deepfd_path(root)),
        "load_end": load_average(),
    })
    filtered = bool(args.cases) or args.quick
    missing = [] if filtered else sorted(set(published_dl) - {c.id for c in found})
    results.write_csv(rows, out / "results.csv")
    results.write_json(rows, totals, meta, out / "results.json")
    (out / "results.md").write_text(markdown.markdown(rows, totals, meta, published_dl, deepfd, missing, out),
                                    encoding="utf-8")
    pub_same = scoring.published_totals(published_dl, sorted({r["id"] for r in rows}))
    print(markdown.totals_text(totals, pub_same))
    cpu = sum(r.get("cpu_s") or 0.0 for r in raw)
    print(f"{len(chosen)} cases on the {args.backend} backend in {duration:.0f} s (case processes used {cpu:.0f} s of CPU); "
          f"results in {out}/results.{{md,csv,json}}")
    return 0


def _run_with_progress(scheduler, chosen, seeds, args, reports_dir, traces_dir, out):
    workdir = out / "logs"
    kwargs = dict(seeds=seeds, jobs=args.jobs, timeout=args.timeout, reports_dir=reports_dir,
                  traces_dir=traces_dir, workdir=workdir, baselines=args.baselines, backend=args.backend)
    if args.no_progress:
        return scheduler.run_cases(chosen, **kwargs)
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    except ImportError:  # rich is a dependency, but never fail for a progress bar
        return scheduler.run_cases(chosen, **kwargs)
    with Progress(TextColumn("[bold]benchmark"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), transient=False) as progress:
        task = progress.add_task("", total=len(chosen) * len(seeds))  # one job per case and seed

        def tick(res):
            note = res["case"]["id"] + ("" if res["status"] == "ok" else f" ({res['status']})")
            progress.update(task, advance=1, description=note)

        return scheduler.run_cases(chosen, progress=tick, **kwargs)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "overhead":
        from deeplocalize.bench import first_fit, overhead

        if "--fresh" in argv[1:]:  # each arm in a fresh process, tracing included
            return first_fit.main([a for a in argv[1:] if a != "--fresh"]) or 0
        return overhead.main(argv[1:]) or 0
    if argv and argv[0] == "neurons":
        from deeplocalize.neurons import evaluate

        return evaluate.main(argv[1:]) or 0
    if argv and argv[0] == "trials":
        from deeplocalize.bench import trials

        return trials.main(argv[1:]) or 0
    if argv and argv[0] == "run":
        argv = argv[1:]
    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
