"""The check pipeline, defined once and free of Keras: record, check, decide.

A `Monitor` grows the `Trace` row by row and runs the checks when they are
due: the model checks at the start, the first-batch checks on the first
row, the localization of the first NaN/Inf, the trend checks every
``check_every`` rows after ``warmup_steps`` and at epoch ends, and a final
re-check that drops provisional trend findings the whole run did not
confirm. It also decides when training should stop. The callback feeds it
from Keras's hooks; `deeplocalize.diagnosis.analyze` replays a saved trace
through it.

Example:
    >>> m = Monitor(load_config(), halt="error")
    >>> m.begin(layers, meta); m.check_model()
    >>> m.record(layer_row, {"step": 0, "loss": 2.3})
    >>> m.finish(); [f.kind for f in m.findings]
    ['loss_not_decreasing']
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from deeplocalize.checks import numerical, preflight, progress, trends
from deeplocalize.findings import Finding
from deeplocalize.trace import Trace, TraceRecorder
from deeplocalize.vocab import TREND_KINDS

HALT_MODES = ("error", "warning", "never")


class Monitor:
    """Records a run and keeps its findings, each once, with the step it started.

    ``on_error`` is called with each new error finding (the callback prints
    it). ``fault_source`` (optional) returns the statistics the graph kept
    for its first non-finite step, ``(layer_row, columns)`` or None, and
    ``clear_fault`` forgets them; without them a non-finite row is judged on
    its own.

    Example:
        >>> m = Monitor.replay(Trace.load("run.npz"), load_config())
        >>> [f.kind for f in m.findings]
        ['nan']
    """

    def __init__(self, config: dict, halt: str = "error", on_error: Callable[[Finding], None] | None = None):
        if halt not in HALT_MODES:
            raise ValueError(f"halt must be one of {HALT_MODES}, got {halt!r}.")
        self.config = config
        self.halt = halt
        self.on_error = on_error
        self.fault_source: Callable[[], tuple | None] | None = None
        self.clear_fault: Callable[[], None] | None = None
        self.recorder: TraceRecorder | None = None
        self.stopped = False
        self.dirty = True  # findings or trace changed since the last diagnosis
        self._findings: dict[tuple, Finding] = {}
        self._nonfinite_seen = False
        self._last_trend_row = -(10**9)

    # ---- what it holds -------------------------------------------------------------
    @property
    def trace(self) -> Trace:
        """Everything recorded so far."""
        return Trace() if self.recorder is None else self.recorder.trace

    @property
    def findings(self) -> list[Finding]:
        """Every symptom found so far, each once, in the order found."""
        return list(self._findings.values())

    @property
    def n_steps(self) -> int:
        return 0 if self.recorder is None else self.recorder.n_steps

    # ---- feeding -----------------------------------------------------------------
    @property
    def nonfinite_seen(self) -> bool:
        """Whether the first NaN/Inf was found (it is localized once)."""
        return self._nonfinite_seen

    def begin(self, layers, meta: dict) -> None:
        """Start recording a model with ``layers`` (`LayerInfo`s) and ``meta``
        (`model_facts`). Until `finish`, the trace's ``meta["ended"]`` is False:
        a run whose ``fit`` stopped with an exception never says "healthy"."""
        self.recorder = TraceRecorder(layers, meta={**meta, "ended": False})

    def check_model(self) -> None:
        """The checks of the compiled model, before any step."""
        for finding in preflight.check_model(self.recorder.meta, self.recorder.trace.layers, self.config):
            self.add(finding)

    def record(self, layer_row: np.ndarray, columns: dict, nonfinite: bool = True) -> None:
        """Append one recorded step; ``nonfinite`` says whether its sentinel
        saw a NaN/Inf (then the row is checked and the fault localized)."""
        rec = self.recorder
        rec.append(layer_row, columns)
        row = rec.n_steps - 1
        self.dirty = True
        trace = rec.trace
        if not self._nonfinite_seen and nonfinite and numerical.has_nonfinite(trace, row):
            self.check_fault()
        if row == 0:
            for finding in preflight.check_first_batch(trace, self.config):
                if finding.evidence.get("refines") is not None:
                    self._findings.pop((finding.kind, finding.evidence["refines"], None), None)
                self.add(finding)

    def checks_due(self) -> None:
        """Run the trend checks when ``check_every`` rows have come since the
        last run and the warm-up is over."""
        row = self.n_steps - 1
        if row < 0:
            return
        step = int(self.recorder.trace.column("step")[-1])
        if step + 1 >= self.config["warmup_steps"] and row - self._last_trend_row >= self.config["check_every"]:
            self._last_trend_row = row
            for finding in trends.run_all(self.recorder.trace, self.config, final=False):
                self.add(finding)

    def end_epoch(self, numbers: dict) -> None:
        """Note an epoch's logs and run the trend checks if enough rows came."""
        self.recorder.epochs.append(numbers)
        row = self.recorder.n_steps - 1
        if row - self._last_trend_row >= self.config["check_every"]:  # many tiny epochs: not every one
            self._last_trend_row = row
            for finding in trends.run_all(self.trace, self.config, final=False, epoch_end=True):
                self.add(finding)
        self.dirty = True

    def check_fault(self) -> None:
        """Localize the first NaN/Inf, from the statistics kept for it (see
        ``fault_source``) or, without a source, from the last row."""
        if self._nonfinite_seen or self.recorder is None:
            return
        rec = self.recorder
        if self.fault_source is None:
            trace, row = rec.trace, rec.n_steps - 1
        else:
            got = self.fault_source()
            if got is None:
                return
            layer_row, columns = got
            steps = rec.trace.column("step")
            if not steps.size or steps[-1] < columns["step"]:
                rec.append(layer_row, columns)
                trace, row = rec.trace, rec.n_steps - 1
            else:  # already past it: judge that one row on its own
                trace = Trace(layers=rec.trace.layers, layer_stats=layer_row[None],
                              steps={k: np.array([v]) for k, v in columns.items()}, meta=rec.meta)
                row = 0
        finding = numerical.check_nonfinite(trace, row)
        if finding is None:
            if self.clear_fault is not None:
                self.clear_fault()
            return
        self._nonfinite_seen = True
        self.add(finding)

    def finish(self, steps_run: int | None = None) -> None:
        """The final re-check over the whole run (of ``steps_run`` steps, when known).

        Trend symptoms seen mid-run are provisional: the whole run decides
        (a slow start that recovered is not a bug), but a finding keeps the
        step where it first appeared. Ones that stopped training stay.
        """
        if self.recorder is None:
            return
        self.recorder.meta["ended"] = True
        if self.recorder.n_steps == 0:
            return
        if steps_run is not None:
            self.recorder.meta["steps_run"] = int(steps_run)
        final = {_key(f): f for f in trends.run_all(self.trace, self.config, final=True)}
        for key, f in list(self._findings.items()):
            if f.kind not in TREND_KINDS or self.stopped:
                continue
            if key not in final:
                del self._findings[key]
            else:
                latest = final.pop(key)
                f.severity, f.message, f.evidence = latest.severity, latest.message, latest.evidence
        ended = [] if self.stopped else progress.run_final(self.trace, self.config)
        for finding in list(final.values()) + ended:
            self.add(finding)
        self.dirty = True

    # ---- findings and the halt decision ------------------------------------------------
    def add(self, finding: Finding) -> None:
        """Keep ``finding`` unless one of its kind, layer and tensor is kept."""
        key = _key(finding)
        if key in self._findings:
            return
        self._findings[key] = finding
        self.dirty = True
        if self.on_error is not None and finding.severity == "error":
            self.on_error(finding)

    def note_failure(self, exc: BaseException) -> None:
        """Record that watching stopped after an internal error."""
        self._findings[("internal_error", None, None)] = Finding(
            kind="internal_error", severity="info",
            message=f"deeplocalize stopped after an internal error: {exc!r}",
            step=self.recorder.n_steps if self.recorder else None,
        )

    def should_halt(self) -> bool:
        """True once, when a finding first calls for stopping training (per
        ``halt``; a finding can opt out with ``evidence["stop"] = False``)."""
        if self.halt == "never" or self.stopped:
            return False
        stop_on = ("error",) if self.halt == "error" else ("error", "warning")
        if any(f.severity in stop_on and f.evidence.get("stop", True) for f in self._findings.values()):
            self.stopped = True
            return True
        return False

    # ---- offline -------------------------------------------------------------------------
    @classmethod
    def replay(cls, trace: Trace, config: dict) -> "Monitor":
        """Feed a saved trace through a monitor, row by row, and finish.

        The trend checks run once, at the end, over the whole run (a saved
        trace has no training left to stop).

        Example:
            >>> [f.kind for f in Monitor.replay(trace, load_config()).findings]
            ['invalid_labels']
        """
        monitor = cls(config, halt="never")
        monitor.begin(trace.layers, trace.meta)
        monitor.check_model()
        for row in range(trace.n_steps):
            monitor.record(trace.layer_stats[row], {k: v[row] for k, v in trace.steps.items()})
        monitor.recorder.epochs[:] = trace.epochs
        monitor.finish()
        return monitor


def _key(finding: Finding) -> tuple:
    return (finding.kind, finding.layer, finding.detail)
