"""What a report says, independent of its format (HTML, Markdown, console).

Every renderer reads the same `ReportContent`, so the formats cannot drift
apart: the verdict, the findings with their evidence, the plots and the
model's layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from deeplocalize.findings import Diagnosis, Finding
from deeplocalize.report.plots import Plot
from deeplocalize.vocab import FINDING_KIND_ROWS, NUMERICAL_KINDS, ROOT_CAUSE_ROWS
from deeplocalize.vocab import kind_title as _kind_title

CAUSE_HINTS = {name: row.hint for name, row in ROOT_CAUSE_ROWS.items()}
KIND_TITLES = {name: row.title for name, row in FINDING_KIND_ROWS.items()}

DETAIL_WORDS = {
    "loss": "in the loss",
    "activation": "in a layer's output (forward pass)",
    "output_gradient": "in a gradient (backward pass)",
    "weight_gradient": "in a weight gradient (backward pass)",
    "weight": "in the weights (optimizer update)",
    "input": "in the input data",
}

NO_TRACE_NOTE = (
    "Plots and the layer list need the training trace. Pass it when saving "
    "(diagnosis.save(path, trace=cb.trace)), or rebuild the report from a saved trace: "
    "python -m deeplocalize report run.npz -o report.html"
)


def cause_words(root_cause: str | None) -> str:
    """A root cause in plain words: its name, then what it means.

    Example:
        >>> cause_words("learning_rate")
        "learning rate: the optimizer's step size is too large or too small"
    """
    if not root_cause:
        return "not determined"
    hint = CAUSE_HINTS.get(root_cause)
    name = root_cause.replace("_", " ")
    return f"{name}: {hint}" if hint else name


def kind_title(finding: Finding) -> str:
    """A finding's kind as a short title, with the tensor for NaN/Inf.

    Example:
        >>> kind_title(Finding(kind="nan", detail="activation"))
        "NaN value in a layer's output (forward pass)"
    """
    title = _kind_title(finding.kind)
    if finding.kind in NUMERICAL_KINDS and finding.detail in DETAIL_WORDS:
        title = f"{title} {DETAIL_WORDS[finding.detail]}"
    return title


def finding_facts(f: Finding, code=str, text=str) -> list[str]:
    """Where and what a finding is, as short phrases: layer, step, epoch,
    root cause, kind. ``code`` renders a name as inline code, ``text``
    escapes plain words, for the format at hand.

    Example:
        >>> finding_facts(Finding(kind="nan", layer="d", step=3), code=lambda s: f"`{s}`")
        ['layer `d`', 'step 3', 'kind `nan`']
    """
    facts = []
    if f.layer:
        facts.append(f"layer {code(f.layer)}")
    if f.step is not None:
        facts.append(f"step {f.step}")
    if f.epoch is not None:
        facts.append(f"epoch {int(f.epoch) + 1}")
    if f.root_cause:
        facts.append(f"root cause: {text(f.root_cause.replace('_', ' '))}")
    return facts


def format_value(value, max_items: int = 8) -> str:
    """A compact, readable string for one evidence value.

    Example:
        >>> format_value(0.000123456), format_value(3.0), format_value([1, 2.5])
        ('0.0001235', '3', '[1, 2.5]')
    """
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, str) and value.lower() in ("nan", "inf", "-inf", "infinity", "-infinity"):
        return format_value(float(value))  # JSON keeps non-finite numbers as strings
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Inf" if value > 0 else "-Inf"
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}"
    if isinstance(value, dict):
        items = list(value.items())
        text = ", ".join(f"{k}: {format_value(v)}" for k, v in items[:max_items])
        return "{" + text + (", …" if len(items) > max_items else "") + "}"
    if isinstance(value, (list, tuple)):
        text = ", ".join(format_value(v) for v in list(value)[:max_items])
        return "[" + text + (", …" if len(value) > max_items else "") + "]"
    try:  # numpy scalars
        return format_value(value.item(), max_items)
    except AttributeError:
        return str(value)


@dataclass
class LayerRow:
    """One row of the model's layer list.

    Example:
        >>> LayerRow(0, "dense", "Dense", "relu", "(None, 8)", 40, False, None).faulty
        False
    """

    index: int
    name: str
    class_name: str
    activation: str
    output_shape: str
    n_params: int
    faulty: bool
    relevance: float | None = None


@dataclass
class ReportContent:
    """Everything a report shows, already in words and numbers.

    Example:
        >>> c = build(diagnosis, trace)
        >>> c.verdict["status"], [p.name for p in c.plots]
        ('buggy', ['loss_accuracy', 'gradient_heatmap', 'activation_health'])
    """

    title: str
    generated: str
    verdict: dict
    findings: list[Finding]
    plots: list[Plot] = field(default_factory=list)
    layers: list[LayerRow] = field(default_factory=list)
    has_trace: bool = False
    facts: list[tuple[str, str]] = field(default_factory=list)
    diagnosis: Diagnosis | None = None
    trace: object = None


def primary_finding(diagnosis: Diagnosis) -> Finding | None:
    """The problem the verdict rests on (`Diagnosis.primary`).

    Example:
        >>> primary_finding(d).kind
        'nan'
    """
    return diagnosis.primary


def verdict(diagnosis: Diagnosis) -> dict:
    """The verdict in plain words: status, headline, layer, cause, fix, what happened.

    Example:
        >>> verdict(d)["headline"]
        "Training is buggy: layer 'output' at step 3"
    """
    status = diagnosis.status
    problems = [f for f in diagnosis.findings if f.severity != "info"]
    top = primary_finding(diagnosis)
    step = top.step if top is not None else diagnosis.first_detection_step
    if status == "healthy":
        headline = "Training looks healthy"
        happened = f"{diagnosis.steps_seen} steps checked; no problem was found."
        fix = "Nothing to change."
    elif status == "unchecked":
        headline = "Not checked: deeplocalize could not watch this run"
        happened = (f"{diagnosis.unchecked_reason}. Checked: {diagnosis.coverage.get('checked') or 'nothing'}; "
                    "no problem was found there. This is not a verdict of health.")
        fix = "See why above; the report lists what was and was not watched."
    else:
        where = f": layer '{diagnosis.faulty_layer}'" if diagnosis.faulty_layer else ""
        when = f" at step {step}" if step is not None else ""
        headline = f"Training is buggy{where}{when}"
        happened = top.message if top is not None else ""
        fix = diagnosis.suggestion or (top.suggestion if top is not None else "") or (
            "No automatic fix is known for this symptom; see the findings below."
        )
    return {
        "status": status,
        "headline": headline,
        "faulty_layer": diagnosis.faulty_layer,
        "root_cause": diagnosis.root_cause,
        "cause_words": cause_words(diagnosis.root_cause) if diagnosis.root_cause else None,
        "fix": fix,
        "happened": happened,
        "step": step,
        "first_step": diagnosis.first_detection_step,
        "kind": top.kind if top is not None else None,
        "stopped": diagnosis.stopped_training,
        "steps_seen": diagnosis.steps_seen,
        "n_problems": len(problems),
        "n_findings": len(diagnosis.findings),
        "not_watched": list(diagnosis.coverage.get("not_watched") or []),
        "why_not_watched": diagnosis.coverage.get("why"),
    }


def layer_rows(diagnosis: Diagnosis, trace) -> list[LayerRow]:
    """The trace's layers in forward order, the faulty one flagged.

    Example:
        >>> [r.name for r in layer_rows(d, trace) if r.faulty]
        ['output']
    """
    if trace is None:
        return []
    relevance = _layer_relevance(diagnosis)
    rows = []
    for layer in trace.layers:
        shape = layer.output_shape
        rows.append(
            LayerRow(
                index=layer.index,
                name=layer.name,
                class_name=layer.class_name,
                activation=layer.activation or "",
                output_shape="" if shape is None else "(" + ", ".join(
                    "None" if s is None else str(s) for s in shape) + ")",
                n_params=int(layer.n_params or 0),
                faulty=layer.name == diagnosis.faulty_layer,
                relevance=relevance.get(layer.name),
            )
        )
    return rows


def outside_layers_note(diagnosis: Diagnosis, trace) -> str:
    """A sentence when the fault is a component (optimizer, loss, data), not a layer.

    Example:
        >>> outside_layers_note(d, trace)
        "The fault lies outside the layers: in the optimizer."
    """
    if trace is None or not diagnosis.faulty_layer or diagnosis.faulty_layer in trace.layer_names:
        return ""
    return f"The fault lies outside the layers: in the {diagnosis.faulty_layer}."


def _layer_relevance(diagnosis: Diagnosis) -> dict[str, float]:
    """Per-layer scores from ``diagnosis.relevance`` when it holds any."""
    rel = diagnosis.relevance or {}
    scores = rel.get("layers", rel) if isinstance(rel.get("layers", rel), dict) else rel
    out = {}
    for key, value in scores.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[str(key)] = float(value)
    return out


def facts(diagnosis: Diagnosis, trace) -> list[tuple[str, str]]:
    """A few facts about the run for the report's header line.

    Example:
        >>> dict(facts(d, trace))["Steps checked"]
        '24'
    """
    out = []
    if diagnosis.model_name:
        out.append(("Model", diagnosis.model_name))
    out.append(("Steps checked", str(diagnosis.steps_seen)))
    if trace is not None:
        meta = trace.meta or {}
        if meta.get("optimizer"):
            lr = meta.get("learning_rate")
            out.append(("Optimizer", f"{meta['optimizer']}" + (f" (lr {format_value(lr)})" if lr is not None else "")))
        losses = meta.get("loss")
        if isinstance(losses, list) and losses:
            names = [str(x.get("name", x)) if isinstance(x, dict) else str(x) for x in losses]
            out.append(("Loss", ", ".join(names)))
        if trace.epochs:
            out.append(("Epochs", str(len(trace.epochs))))
    if diagnosis.stopped_training:
        out.append(("Training", "stopped early by deeplocalize"))
    return out


def build(diagnosis: Diagnosis, trace=None, plots=True) -> ReportContent:
    """Collect the content of a report. ``plots``: the rendered figures (a
    list of `Plot`), ``True`` to render them here, ``False`` for none (no
    matplotlib).

    Example:
        >>> content = build(cb.diagnosis, cb.trace)
        >>> content.verdict["faulty_layer"]
        'output'
    """
    rendered: list[Plot] = list(plots) if isinstance(plots, (list, tuple)) else []
    if plots is True and trace is not None and trace.n_steps:
        from deeplocalize.report import plots as plotting

        rendered = plotting.all_plots(trace, diagnosis)
    title = "deeplocalize report" + (f": {diagnosis.model_name}" if diagnosis.model_name else "")
    return ReportContent(
        title=title,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        verdict=verdict(diagnosis),
        findings=list(diagnosis.findings),
        plots=rendered,
        layers=layer_rows(diagnosis, trace),
        has_trace=trace is not None,
        facts=facts(diagnosis, trace),
        diagnosis=diagnosis,
        trace=trace,
    )
