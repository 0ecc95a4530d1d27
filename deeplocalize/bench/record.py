"""The one record a benchmark run produces: what the worker measured and what the tool said.

A `RunRecord` is made in the worker (one per case, seed, variant and tool),
sent to the parent as a JSON line, read back with `RunRecord.from_dict` and
scored. Fields a tool does not fill stay ``None``; ``faulty_layer`` and
``root_cause`` are in our vocabulary (DESIGN.md), ``None`` meaning "not named".

Example:
    >>> rec = RunRecord(case="gol_nn", seed=0, variant="buggy", tool="umlaut", flagged=True,
    ...                 root_cause="data_preprocessing")
    >>> RunRecord.from_dict(rec.to_dict()) == rec
    True
"""

from __future__ import annotations

import dataclasses
import traceback as _tb
from dataclasses import dataclass, field

from deeplocalize.findings import jsonable as _jsonable


@dataclass
class RunRecord:
    """One ``fit`` of one program variant, seen by one tool."""

    case: str
    seed: int
    variant: str  # "buggy" | "fixed" | "healthy"
    tool: str
    status: str = "ok"  # "ok" | "error" | "n/a"
    error: str | None = None
    traceback: str | None = None
    mode: str | None = None  # "separate": its own fit; "shared": it watched the plain fit
    # the verdict, in our vocabulary
    flagged: bool | None = None
    stop_step: int | None = None
    faulty_layer: str | None = None
    root_cause: str | None = None
    symptom: str | None = None
    # what the fit measured
    wall_s: float | None = None
    wall_estimated: bool = False
    tool_s: float | None = None  # seconds spent inside a watching tool's own hooks
    per_step_s: float | None = None
    per_step_cpu_s: float | None = None  # process CPU time, same basis as per_step_s
    timing_basis: str | None = None
    epochs_planned: int | None = None
    epochs_run: int | None = None
    steps_per_epoch: int | None = None
    steps_run: int | None = None
    stopped_early: bool | None = None
    nonfinite_loss: bool | None = None
    final: dict = field(default_factory=dict)
    history_keys: list = field(default_factory=list)
    monitor: str | None = None
    needs_exact_run: bool = False
    # DeepLocalize only
    diagnosis: dict | None = None
    diagnoser_modes: dict | None = None
    report: str | None = None
    report_error: str | None = None
    trace: str | None = None
    trace_error: str | None = None
    # Reserved for DeepLocalize with verification (verify="auto" / "always"): the time the
    # verification took and the fix it verified, which the scorer will apply to the whole program.
    verification_s: float | None = None
    verified_fix: dict | None = None
    details: dict = field(default_factory=dict)  # anything else a tool reports (its own words)

    def to_dict(self) -> dict:
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "RunRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k != "type"}
        rec = cls(**known)
        if extra:
            rec.details = {**rec.details, **extra}
        return rec

    def fail(self, exc: BaseException) -> "RunRecord":
        """Mark the run as failed with ``exc`` (inside an ``except`` block)."""
        self.status, self.error = "error", f"{type(exc).__name__}: {exc}"
        self.traceback = _tb.format_exc()[-4000:]
        return self

    def update(self, **values) -> "RunRecord":
        for key, value in values.items():
            if not hasattr(self, key):
                raise AttributeError(f"RunRecord has no field {key!r}")
            setattr(self, key, value)
        return self

    @property
    def ok(self) -> bool:
        """The run finished and the tool gave a verdict."""
        return self.status == "ok" and self.flagged is not None
