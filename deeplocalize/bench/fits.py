"""One variant of one program, fitted for every tool: who gets a fit of
their own, who watches whose fit, and how a fit is measured.

`run_variant` is what the worker calls per seed and variant (see
`deeplocalize.bench.worker` for the policy in words): DeepLocalize's fit
with the other tools watching it through stand-in models, a plain fit
where the overhead needs one (or where we stopped our fit early), and an
exact fit for a watched verdict that asks for one.

Example:
    >>> recs = run_variant(module, tools.Context(keras, "buggy", 0, case_id="gol_nn"))
    >>> sorted({r.tool for r in recs})[:3]
    ['autotrainer', 'deepdiagnosis', 'deeplocalize']
"""

from __future__ import annotations

import dataclasses
import gc
import math
import time

from deeplocalize.bench import tools as tools_mod
from deeplocalize.bench import watch
from deeplocalize.bench.record import RunRecord
from deeplocalize.vocab.metrics import accuracy_key


def _last_metrics(history) -> dict:
    out = {}
    for key, values in (getattr(history, "history", None) or {}).items():
        if values:
            try:
                out[key] = float(values[-1])
            except (TypeError, ValueError):
                pass
    return out


def fit(module, ctx, attach) -> dict:
    """Build the program afresh, attach callbacks (``attach(ctx) -> (callbacks,
    counter, watchers)``) and ``fit`` it. Returns the measured basics."""
    keras = ctx.keras
    program = module.build(ctx.variant, seed=ctx.seed)
    ctx.program = program
    tool_cbs, counter, watchers = attach(ctx)
    fit_kwargs = dict(program.get("fit") or {})
    fit_kwargs["verbose"] = 0
    user_callbacks = list(fit_kwargs.pop("callbacks", None) or [])
    epochs = int(fit_kwargs.get("epochs", 1))
    clock = watch.epoch_clock(keras, watchers)
    callbacks = user_callbacks + list(tool_cbs) + [w.keras_callback() for w in watchers] + [clock]
    start, cpu = time.perf_counter(), time.process_time()
    history = program["model"].fit(program["x"], program.get("y"), callbacks=callbacks, **fit_kwargs)
    wall = time.perf_counter() - start - sum(w.seconds for w in watchers)
    cpu = time.process_time() - cpu - sum(w.cpu_seconds for w in watchers)
    epochs_run = len(clock.epoch_ends)
    steps_per_epoch = (getattr(history, "params", None) or {}).get("steps")
    if counter is not None:
        steps_run = counter.steps
    else:
        steps_run = epochs_run * steps_per_epoch if steps_per_epoch else None
    per_step, basis = watch.per_step_time(clock, steps_per_epoch, steps_run, wall)
    per_step_cpu = watch.per_step_cpu(clock, steps_per_epoch, steps_run, cpu)
    metrics = _last_metrics(history)
    losses = (getattr(history, "history", None) or {}).get("loss", [])
    nonfinite = any(v is not None and not math.isfinite(float(v)) for v in losses)
    if counter is not None and counter.first_nonfinite_step is not None:
        nonfinite = True
    return dict(
        wall_s=wall, per_step_s=per_step, per_step_cpu_s=per_step_cpu, timing_basis=basis, epochs_planned=epochs,
        epochs_run=epochs_run,
        steps_per_epoch=steps_per_epoch, steps_run=steps_run,
        stopped_early=bool(getattr(program["model"], "stop_training", False)) or epochs_run < epochs,
        nonfinite_loss=nonfinite, final=metrics, history_keys=sorted(metrics), clock=clock,
    )


def _basics(got: dict) -> dict:
    return {k: v for k, v in got.items() if k != "clock"}


def run_own(module, ctx, tool, watched=()) -> list[RunRecord]:
    """A fresh fit of the program with one tool's callbacks: its record, then
    one per tool read from the same fit (`tools.followers`), then one per
    ``watched`` tool looking on (as in `run_shared`, but on this tool's fit)."""
    rec = RunRecord(ctx.case_id, ctx.seed, ctx.variant, tool.name, mode="separate")
    if tool.needs_accuracy and ctx.acc_key is None:
        return [rec.update(status="n/a", error="the model logs no accuracy metric")]
    made, watchers = {}, {}

    def attach(c):
        made["cbs"] = tool.make(c)
        made["counter"] = watch.step_counter(c.keras) if tool.counts_steps else None
        watchers.update({t.name: _watcher(t, c) for t in watched})
        untimed = [watch.untimed(c.keras, made["cbs"], watchers.values())] if watched else []
        return untimed + made["cbs"] + ([made["counter"]] if made["counter"] else []), made["counter"], \
            list(watchers.values())

    ctx.module, ctx._repair = module, None
    got = None
    try:
        got = fit(module, ctx, attach)
        rec.update(**_basics(got))
        if tool.read is not None:
            tool.read(ctx, made["cbs"], rec, made["counter"])
    except Exception as exc:
        rec.fail(exc)
    failed = RuntimeError(f"the {tool.name} fit it watched failed: {rec.error}") if got is None else None
    return [rec] + _followers(ctx, tool, rec, made) + _watched_records(ctx, watched, watchers, got, failed,
                                                                         host=tool.name)


def _followers(ctx, tool, rec, made) -> list[RunRecord]:
    recs = []
    for follower in tools_mod.followers(tool.name):
        other = dataclasses.replace(rec, tool=follower.name, details={}, diagnoser_modes=None, report=None,
                                    trace=None, verification_s=None, verified_fix=None)
        if rec.status == "ok":
            try:
                follower.read(ctx, made["cbs"], other, made["counter"])
            except Exception as exc:
                other.fail(exc)
        recs.append(other)
    return recs


def _watcher(tool, ctx):
    return watch.NanEpochWatch() if tool.watch == "nan_epochs" else watch.ProxyWatch(_maker(tool, ctx),
                                                                                        lazy=tool.needs_accuracy)


def run_shared(module, ctx, watched) -> list[RunRecord]:
    """The plain fit, with ``watched`` tools looking on. Returns the plain
    record first, then one per watched tool (``needs_exact_run`` when the
    tool asks for its own fit to get its exact step)."""
    plain = RunRecord(ctx.case_id, ctx.seed, ctx.variant, "plain", mode="separate")
    watchers = {}

    def attach(c):
        watchers.update({t.name: _watcher(t, c) for t in watched})
        return [], None, list(watchers.values())

    got = failed = None
    try:
        got = fit(module, ctx, attach)
        plain.update(**_basics(got))
    except Exception as exc:
        failed = exc
        plain.fail(exc)
    return [plain] + _watched_records(ctx, watched, watchers, got, failed)


def _watched_records(ctx, watched, watchers, got, failed, host: str | None = None) -> list[RunRecord]:
    """One record per ``watched`` tool from the fit ``got`` it looked on at
    (``host``: the tool whose fit it was; None: the plain fit), or ``failed``."""
    recs = []
    for tool in watched:
        rec = RunRecord(ctx.case_id, ctx.seed, ctx.variant, tool.name, mode="shared")
        if host is not None:
            rec.details["fit"] = host
        if failed is not None:
            rec.fail(failed)
        else:
            try:
                _read_watched(ctx, tool, watchers[tool.name], rec, _basics(got), got["clock"],
                              got["steps_per_epoch"])
            except Exception as exc:
                rec.fail(exc)
        recs.append(rec)
    return recs


def _maker(tool, ctx):
    def make(keys):
        if keys is not None and tool.needs_accuracy:
            ctx.acc_key = accuracy_key(list(keys))
            if ctx.acc_key is None:
                return []
        return tool.make(ctx)
    return make


def _read_watched(ctx, tool, w, rec, basics, clock, spe) -> None:
    if w.error is not None:
        rec.update(status="error", error=w.error, traceback=getattr(w, "traceback", None))
        return
    if tool.needs_accuracy:
        rec.monitor = ctx.acc_key
        if ctx.acc_key is None:
            rec.update(status="n/a", error="the model logs no accuracy metric")
            return
    epoch = w.fired_epoch
    rec.flagged = epoch is not None
    last_epoch = epoch if epoch is not None else basics["epochs_run"] - 1
    rec.epochs_run = last_epoch + 1
    rec.epochs_planned = basics["epochs_planned"]
    rec.steps_per_epoch = spe
    rec.steps_run = (last_epoch + 1) * spe if spe else None
    rec.stopped_early = epoch is not None and last_epoch + 1 < basics["epochs_planned"]
    rec.stop_step = (rec.steps_run - 1) if (epoch is not None and rec.steps_run) else None
    ends = clock.epoch_ends
    rec.wall_s = (ends[last_epoch] - clock.start) if ends and clock.start is not None else basics["wall_s"]
    rec.wall_estimated = True
    rec.tool_s = w.seconds
    rec.nonfinite_loss = basics["nonfinite_loss"]
    if tool.rerun_when_fired and epoch is not None:
        rec.needs_exact_run = True
    if tool.read is not None and tool.reads_when_watching:
        tool.read(ctx, w.inner or [], rec, None)


def run_variant(module, ctx, mode: str = "shared") -> list[RunRecord]:
    """Every tool on one variant of the program, for one seed."""
    keras = ctx.keras

    def clear():
        try:
            keras.backend.clear_session()
        except Exception:
            pass
        gc.collect()  # a worker runs many cases: each fit starts from the same small heap

    fitted, skipped = _runnable([t for t in tools_mod.fitted_tools() if t.name != "plain"], ctx)
    if mode == "shared":
        watched = [t for t in fitted if t.watch]
        own = [t for t in fitted if not t.watch]
        # The overhead is timed on the first seed's fixed (or healthy) program, against its
        # plain fit (see scoring.overhead); everywhere else the watchers look on at our fit,
        # which changes nothing in training unless we stop it.
        timed = ctx.variant != "buggy" and ctx.first_seed
        host = None if timed else next((t for t in own if t.group == "ours"), None)
        recs, watched_done = [], False
        if host is not None:
            own.remove(host)
            got = run_own(module, ctx, host, watched=watched)
            clear()
            ours, seen = got[:len(got) - len(watched)], got[len(got) - len(watched):]
            recs += ours
            watched_done = ours[0].status == "ok" and not ours[0].stopped_early
            if watched_done:
                recs += seen + [RunRecord(ctx.case_id, ctx.seed, ctx.variant, "plain", status="n/a",
                                          error=f"not fitted: the other tools watched the {host.name} fit, "
                                                "which ran to its end")]
        if not watched_done:
            recs = run_shared(module, ctx, watched) + recs
            clear()
        for tool in own:
            recs += run_own(module, ctx, tool)
            clear()
        for i, rec in enumerate(recs):
            tool = tools_mod.TOOLS[rec.tool]
            if rec.needs_exact_run and tool.rerun_when_fired:
                recs[i] = run_own(module, ctx, tool)[0]
                clear()
        return recs + skipped
    plain = run_own(module, ctx, tools_mod.TOOLS["plain"])[0]
    clear()
    ctx.acc_key = accuracy_key(plain.history_keys) if plain.status == "ok" else "accuracy"
    recs = [plain]
    for tool in fitted:
        recs += run_own(module, ctx, tool)
        clear()
    return recs + skipped


def _runnable(tools, ctx) -> tuple[list, list[RunRecord]]:
    """The tools that run on this process's Keras backend, and an ``n/a``
    record (with the reason) for each one that cannot, and for its followers."""
    backend = ctx.keras.backend.backend()
    runnable, skipped = [], []
    for tool in tools:
        why = tools_mod.unavailable(tool, backend)
        if why is None:
            runnable.append(tool)
            continue
        for t in [tool] + tools_mod.followers(tool.name):
            skipped.append(RunRecord(ctx.case_id, ctx.seed, ctx.variant, t.name, status="n/a", error=why))
    return runnable, skipped
