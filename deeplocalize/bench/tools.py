"""The one table of tools the benchmark compares, and how each is run and read.

Each `Tool` row says how to make its callbacks for a fit of its own
(``make``), whether it can instead watch the plain fit of the same program
(``watch``: through a stand-in model, see `watch.ProxyWatch`), and how to
read its verdict into a `RunRecord` (``read``): detected, the step it
stopped at, and the faulty layer and root cause in our vocabulary where it
names them (``None`` = not named). Nothing else in ``bench/`` compares tool
names: adding a tool is one row here.

DeepLocalize's one fit (``verify="always"``) is read three ways: the
defaults (``verify="auto"``), ``verify="always"`` and the rules alone; the two
extra rows name it in ``same_fit_as`` (see `ours`).

Example:
    >>> [t.name for t in scored_tools()][:3]
    ['deeplocalize', 'terminate_on_nan', 'es_loss']
    >>> TOOLS["umlaut"].watch
    'proxy'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from deeplocalize.bench import ours
from deeplocalize.bench.peers import autotrainer, deepdiagnosis, umlaut


@dataclass
class Context:
    """What a tool's ``make`` and ``read`` may use: keras, the built program
    (``{"model", "x", "y", "fit"}``), the run's variant and seed, the training
    accuracy key (once known), and where to save reports and traces."""

    keras: object
    variant: str
    seed: int
    case_id: str = ""
    program: dict | None = None
    acc_key: str | None = None
    report_path: str | None = None
    trace_path: str | None = None
    module: object = None  # the case module, to build the program again (a repair run)
    _repair: dict | None = None  # the verified fix applied to the whole buggy program, once per fit
    # The run's first seed: its fixed/healthy program gets a plain fit to time the overhead, and only
    # there do our fits run verify="always", save reports and repair the program (benchmark time).
    first_seed: bool = True


@dataclass(frozen=True)
class Tool:
    """One row of the table (see the module docstring)."""

    name: str
    label: str
    short: str  # the column prefix in results.csv
    group: str  # "none" | "ours" | "keras" | "peer" | "derived"
    make: Callable | None = None  # (ctx) -> list of callbacks
    read: Callable | None = None  # (ctx, callbacks, record, counter) -> None, fills the verdict
    watch: str | None = None  # None: needs its own fit; "proxy": watches the plain fit; "nan_epochs"
    rerun_when_fired: bool = False  # a watched verdict that needs its own fit for the exact step
    needs_accuracy: bool = False  # n/a when the model logs no training accuracy
    counts_steps: bool = False  # its own fit gets a step counter (the tool has batch hooks anyway)
    reads_when_watching: bool = False  # ``read`` also applies to a watched fit (the verdict lives in the callback)
    names_layer: bool = False
    names_cause: bool = False
    any_of: tuple = ()  # a derived tool: flagged when one of these is
    same_fit_as: str | None = None  # read from that tool's fit (its callbacks), no fit of its own
    verifies: bool = False  # tries fixes: verification time and a repair rate are scored
    backends: tuple = ("tensorflow", "jax", "torch")  # the Keras backends it can run on
    notes: str = ""


# ---- readers of the Keras baselines ----------------------------------------------------------
def _read_terminate_on_nan(ctx, cbs, rec, counter) -> None:
    rec.flagged = bool(rec.stopped_early or rec.nonfinite_loss)
    if rec.flagged:
        first = counter.first_nonfinite_step if counter is not None else None
        rec.stop_step = first if first is not None else (rec.steps_run - 1 if rec.steps_run else None)


def _read_early_stopping(ctx, cbs, rec, counter) -> None:
    rec.flagged = bool(rec.stopped_early or int(getattr(cbs[0], "stopped_epoch", 0) or 0) > 0)
    if rec.flagged and rec.steps_run:
        rec.stop_step = rec.steps_run - 1
    rec.monitor = cbs[0].monitor


def _make_terminate_on_nan(ctx):
    return [ctx.keras.callbacks.TerminateOnNaN()]


def _make_es_loss(ctx):
    return [ctx.keras.callbacks.EarlyStopping(monitor="loss", patience=1)]


def _make_es_accuracy(ctx):
    if ctx.acc_key is None:
        raise ValueError("es_accuracy needs an accuracy metric")
    return [ctx.keras.callbacks.EarlyStopping(monitor=ctx.acc_key, patience=1)]


_ROWS = [
    Tool("plain", "no callback", "plain", "none", make=lambda ctx: [], notes="the denominator of the overhead"),
    Tool("deeplocalize", "DeepLocalize (ours, defaults: verify=auto)", "dl", "ours", make=ours.make_callbacks,
         read=ours.read, counts_steps=True, names_layer=True, names_cause=True, verifies=True),
    Tool("deeplocalize_always", "DeepLocalize, verify=always", "dla", "ours", read=ours.read_always,
         same_fit_as="deeplocalize", names_layer=True, names_cause=True, verifies=True),
    Tool("deeplocalize_rules", "DeepLocalize, verify=never (rules + learned)", "dlr", "ours", read=ours.read_rules,
         same_fit_as="deeplocalize", names_layer=True, names_cause=True),
    Tool("terminate_on_nan", "Keras TerminateOnNaN", "ton", "keras", make=_make_terminate_on_nan,
         read=_read_terminate_on_nan, watch="nan_epochs", rerun_when_fired=True, counts_steps=True),
    Tool("es_loss", "Keras EarlyStopping(loss)", "es_loss", "keras", make=_make_es_loss,
         read=_read_early_stopping, watch="proxy"),
    Tool("es_accuracy", "Keras EarlyStopping(accuracy)", "es_acc", "keras", make=_make_es_accuracy,
         read=_read_early_stopping, watch="proxy", needs_accuracy=True),
    Tool("keras_all", "Keras, all three", "keras_all", "derived",
         any_of=("terminate_on_nan", "es_loss", "es_accuracy")),
    Tool("umlaut", "UMLAUT (re-implemented)", "umlaut", "peer", make=umlaut.make_callbacks, read=umlaut.read,
         watch="proxy", reads_when_watching=True, names_layer=True, names_cause=True),
    Tool("autotrainer", "AUTOTRAINER (re-implemented)", "autotrainer", "peer", make=autotrainer.make_callbacks,
         read=autotrainer.read, watch="proxy", reads_when_watching=True, names_cause=True,
         backends=("tensorflow",), notes="its gradient read uses tf.GradientTape"),
    Tool("deepdiagnosis", "DeepDiagnosis (re-implemented)", "dd", "peer", make=deepdiagnosis.make_callbacks,
         read=deepdiagnosis.read, watch="proxy", reads_when_watching=True, names_layer=True, names_cause=True,
         backends=("tensorflow",), notes="its gradient read uses tf.GradientTape"),
]
TOOLS: dict[str, Tool] = {t.name: t for t in _ROWS}


def scored_tools() -> list[Tool]:
    """Every tool that gives a verdict (all but the plain fit), in table order."""
    return [t for t in _ROWS if t.group != "none"]


def fitted_tools() -> list[Tool]:
    """Every tool that runs on a fit of its own or watches one (not the derived
    ones, nor those read from another tool's fit), in table order."""
    return [t for t in _ROWS if t.group != "derived" and t.same_fit_as is None]


def followers(name: str) -> list[Tool]:
    """The tools read from ``name``'s fit."""
    return [t for t in _ROWS if t.same_fit_as == name]


def unavailable(tool: Tool, backend: str) -> str | None:
    """Why ``tool`` cannot run on the Keras ``backend`` (None when it can)."""
    if backend in tool.backends:
        return None
    return f"runs on the {'/'.join(tool.backends)} backend only, not {backend}" + (
        f" ({tool.notes})" if tool.notes else "")


def labels() -> dict[str, str]:
    return {t.name: t.label for t in _ROWS}
