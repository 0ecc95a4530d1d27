"""The result types: a `Finding` is one symptom, a `Diagnosis` is the verdict.

Both are plain data. They are produced by `deeplocalize.diagnosis` and
rendered by `deeplocalize.report`; neither computes anything.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deeplocalize.vocab import FINDING_KINDS, PRE_FLIGHT_KINDS, ROOT_CAUSES, kind_rank

SEVERITIES = ("error", "warning", "info")
_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


@dataclass
class Finding:
    """One symptom, where and when it started, and what to do about it.

    ``layer`` is a Keras layer name, or a component (``"loss"``,
    ``"optimizer"``, ``"data"``) when the fault is outside the layers.
    ``detail`` says which tensor for ``nan``/``inf`` (``loss``, ``activation``,
    ``output_gradient``, ``weight_gradient``, ``weight``). ``evidence`` holds
    the numbers the rule looked at, so a reader can check the verdict.

    Example:
        >>> f = Finding(kind="nan", layer="dense_1", severity="error", step=41,
        ...             epoch=0, detail="activation",
        ...             message="NaN in the output of layer 'dense_1' at step 41.")
        >>> f.to_dict()["kind"]
        'nan'
    """

    kind: str
    layer: str | None = None
    root_cause: str | None = None
    severity: str = "warning"
    step: int | None = None
    epoch: int | None = None
    message: str = ""
    suggestion: str = ""
    detail: str | None = None
    evidence: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in FINDING_KINDS:
            raise ValueError(f"Unknown finding kind {self.kind!r}; known: {FINDING_KINDS}.")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}.")
        if self.root_cause is not None and self.root_cause not in ROOT_CAUSES:
            raise ValueError(f"Unknown root cause {self.root_cause!r}; known: {ROOT_CAUSES}.")

    @property
    def names_its_cause(self) -> bool:
        """The check that found it named the root cause itself (not the
        diagnosis's decision table, which records ``root_cause_rule``).

        Example:
            >>> Finding("loss_activation_mismatch", root_cause="activation").names_its_cause
            True
        """
        return self.root_cause is not None and "root_cause_rule" not in self.evidence

    @property
    def read_directly(self) -> bool:
        """Its cause was read, not inferred: a pre-flight finding that named
        it (what the program says), or training_config named by a check that
        saw the run stop while still learning. Neither a guess of the learned
        diagnoser nor a fix that only trains faster overrules it.

        Example:
            >>> Finding("few_updates", root_cause="training_config").read_directly
            True
        """
        return self.names_its_cause and (self.kind in PRE_FLIGHT_KINDS or self.root_cause == "training_config")

    def to_dict(self) -> dict:
        """JSON-ready dict of every field."""
        return jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "Finding":
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})


@dataclass
class Diagnosis:
    """The verdict on a training run: healthy, buggy or unchecked; where, why, what to do.

    ``status`` is ``"buggy"`` exactly when a finding has severity error or
    warning; otherwise ``"unchecked"`` when the callback could not watch the
    run (``coverage["stopped"]`` says why, ``coverage["checked"]`` what it
    still checked), else ``"healthy"``. ``coverage`` also lists the
    statistics that were not watched on this run and why (e.g. a backend
    watched from outside the train step). ``findings`` is sorted most
    important first.

    Example:
        >>> d = cb.diagnosis
        >>> d.status, d.faulty_layer, d.root_cause
        ('buggy', 'dense_2', 'activation')
        >>> d.save("report.json")
    """

    findings: list[Finding] = field(default_factory=list)
    faulty_layer: str | None = None
    root_cause: str | None = None
    suggestion: str = ""
    stopped_training: bool = False
    steps_seen: int = 0
    relevance: dict = field(default_factory=dict)
    model_name: str | None = None
    trace_path: str | None = None
    coverage: dict = field(default_factory=dict)
    verification: object = None  # a deeplocalize.verify.Verification, when candidate fixes were tried
    _context: dict = field(default=None, repr=False, compare=False)  # model and sample, for verify()
    # The run itself (a `Trace`), when the diagnosis was made from one: not
    # serialised, but it gives saved reports their plots.
    trace: object = field(default=None, repr=False, compare=False)

    @property
    def status(self) -> str:
        """``"buggy"`` when any finding is an error or a warning; else
        ``"unchecked"`` when the run (or the part that decides the verdict) was
        not watched; else ``"healthy"``."""
        if any(f.severity in ("error", "warning") for f in self.findings):
            return "buggy"
        return "unchecked" if self.coverage.get("stopped") else "healthy"

    @property
    def unchecked_reason(self) -> str | None:
        """Why the run was not (fully) watched, in one sentence, or None.

        Example:
            >>> d.status, d.unchecked_reason
            ('unchecked', 'deeplocalize stopped after an internal error: ...')
        """
        return self.coverage.get("stopped")

    @property
    def first_detection_step(self) -> int | None:
        """The earliest step at which an error or warning started."""
        steps = [f.step for f in self.findings if f.severity != "info" and f.step is not None]
        return min(steps) if steps else None

    @property
    def verified(self) -> bool:
        """True when a candidate fix, tried on a copy of the model, proved the root cause."""
        v = self.verification
        return bool(v is not None and v.verified and not v.kept_cause)

    def verify(self, model=None, x=None, y=None, mode: str = "always", config=None, budget=None, sample=None):
        """Try the candidate fixes now (again), on ``model`` and a sample of ``(x, y)``, by default
        the model and the batches the callback kept. Returns the `Verification`.

        Example:
            >>> v = cb.diagnosis.verify()            # after fit, with verify="auto" or "always"
            >>> v.verified, v.fix.root_cause
            (True, 'learning_rate')
            >>> d.verify(model, x_train[:2048], y_train[:2048])  # a diagnosis without a kept sample
        """
        from deeplocalize.verify.engine import verify_model
        from deeplocalize.verify.sample import DataSample

        ctx = self._context or {}
        model = model if model is not None else ctx.get("model")
        if sample is None:
            sample = DataSample.from_arrays(x, y) if x is not None else ctx.get("sample")
        if model is None or sample is None or sample.n == 0:
            raise ValueError("verify() needs the model and a sample of its training data: pass model=, x= and "
                             "y=, or train with DeepLocalizeCallback(verify='auto') so the callback keeps them.")
        if x is not None:
            sample.batch_size = getattr(ctx.get("sample"), "batch_size", None) or 32
        overrides = dict(ctx.get("config") or {})
        if budget is not None:
            overrides["verify_budget"] = budget
        if config:
            overrides.update(config)
        return verify_model(model, sample, diagnosis=self, mode=mode, config=overrides or None,
                            fit_seconds=ctx.get("fit_seconds"))

    @property
    def primary(self) -> Finding | None:
        """The finding the verdict rests on: `primary_finding` among the
        problems that name the diagnosed layer and root cause (else the
        diagnosed layer, else all of them)."""
        problems = [f for f in self.findings if f.severity != "info"]
        matching = [f for f in problems if f.layer == self.faulty_layer and f.root_cause == self.root_cause]
        return primary_finding(matching or [f for f in problems if f.layer == self.faulty_layer] or problems)

    def sort(self) -> None:
        """Most severe first, then earliest."""
        self.findings.sort(
            key=lambda f: (_SEVERITY_RANK[f.severity], f.step if f.step is not None else -1)
        )

    def summary(self) -> str:
        """One paragraph in plain words, as printed at the end of training."""
        if self.status == "healthy":
            return f"deeplocalize: training looks healthy ({self.steps_seen} steps checked, no problems found)."
        if self.status == "unchecked":
            checked = self.coverage.get("checked") or "nothing"
            return (f"deeplocalize: UNCHECKED, not a verdict of health: {self.coverage['stopped']}. "
                    f"Checked: {checked}; no problem was found there.")
        top = self.primary
        where = f" in layer '{self.faulty_layer}'" if self.faulty_layer else ""
        cause = f" Likely root cause: {self.root_cause.replace('_', ' ')}." if self.root_cause else ""
        fix = f" Suggested fix: {self.suggestion or top.suggestion}" if (self.suggestion or top.suggestion) else ""
        others = len([f for f in self.findings if f.severity != "info"]) - 1
        more = f" ({others} more finding{'s' if others != 1 else ''} in the report.)" if others > 0 else ""
        when = f" at step {top.step}" if top.step is not None else ""
        checked = ""
        if self.verification is not None:
            kept = self.verification.kept_cause
            checked = " Verified by a trial." if self.verified else \
                f" Unverified: {kept or 'no candidate fix proved it'}."
        return f"deeplocalize: BUGGY{where}{when}: {top.message}{cause}{fix}{checked}{more}"

    def to_dict(self) -> dict:
        """JSON-ready dict, including ``status``."""
        return jsonable(
            {
                "status": self.status,
                "faulty_layer": self.faulty_layer,
                "root_cause": self.root_cause,
                "suggestion": self.suggestion,
                "first_detection_step": self.first_detection_step,
                "stopped_training": self.stopped_training,
                "steps_seen": self.steps_seen,
                "model_name": self.model_name,
                "relevance": self.relevance,
                "trace_path": self.trace_path,
                "coverage": self.coverage,
                "findings": [f.to_dict() for f in self.findings],
                "verified": self.verified,
                "verification": self.verification.to_dict() if self.verification is not None else None,
            }
        )

    @classmethod
    def from_dict(cls, data: dict) -> "Diagnosis":
        """Rebuild a diagnosis from `to_dict` output (e.g. a saved JSON file)."""
        return cls(
            findings=[Finding.from_dict(f) for f in data.get("findings", [])],
            faulty_layer=data.get("faulty_layer"),
            root_cause=data.get("root_cause"),
            suggestion=data.get("suggestion", ""),
            stopped_training=bool(data.get("stopped_training", False)),
            steps_seen=int(data.get("steps_seen", 0)),
            relevance=data.get("relevance") or {},
            model_name=data.get("model_name"),
            trace_path=data.get("trace_path"),
            coverage=data.get("coverage") or {},
            verification=_verification(data.get("verification")),
        )

    def save(self, path, trace=None) -> Path:
        """Write the diagnosis; the format follows the suffix (.json, .md, .html).

        ``trace`` adds the plots to Markdown and HTML reports; by default the
        diagnosis's own trace (the run it was made from), when it has one.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            path.write_text(json.dumps(self.to_dict(), indent=2))
            return path
        if suffix in (".md", ".html", ".htm"):
            from deeplocalize import report

            return report.write(self, path, trace=trace if trace is not None else self.trace)
        raise ValueError(
            f"Cannot tell the report format from {str(path)!r}: use a .json, .md or .html file name."
        )

    @classmethod
    def load(cls, path) -> "Diagnosis":
        """Read a diagnosis saved as JSON."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def _verification(data):
    if not data:
        return None
    from deeplocalize.verify.verdict import Verification

    return Verification.from_dict(data)


def primary_finding(findings: list[Finding]) -> Finding | None:
    """The finding that explains a run best: the earliest error (ties by kind
    priority, see `deeplocalize.vocab`), else a warning whose root cause the
    most warnings share (independent checks agreeing outweigh one check),
    ties by kind priority.

    Example:
        >>> primary_finding([Finding("dying_relu", step=9), Finding("nan", severity="error", step=12)]).kind
        'nan'
    """
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        return min(errors, key=lambda f: (f.step if f.step is not None else -1, kind_rank(f.kind)))
    warnings_ = [f for f in findings if f.severity == "warning"]
    if not warnings_:
        return None
    votes = Counter(f.root_cause for f in warnings_ if f.root_cause is not None)
    return min(warnings_, key=lambda f: (-votes.get(f.root_cause, 0), kind_rank(f.kind)))


def jsonable(value):
    """``value`` with numpy types turned into Python ones and non-finite
    floats into strings (JSON has no NaN/Inf).

    Example:
        >>> jsonable({"x": np.float32(1.5), "y": [np.inf]})
        {'x': 1.5, 'y': ['inf']}
    """
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/Inf; keep them readable
    return value

