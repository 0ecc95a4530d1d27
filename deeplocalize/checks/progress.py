"""End-of-run checks: how a run ended, judged once over the whole run.

A pure function ``(trace, config) -> list[Finding]`` each, run by the
monitor's final re-check only (never mid-run).

Example:
    >>> [f.kind for f in run_final(trace, load_config())]
    ['still_learning']
"""

from __future__ import annotations

import numpy as np

from deeplocalize.checks.trends import _epoch, _ev, _finite, _step
from deeplocalize.findings import Finding
from deeplocalize.trace import Trace


def run_final(trace: Trace, config: dict) -> list[Finding]:
    """Every end-of-run check over ``trace``."""
    findings: list[Finding] = []
    for check in CHECKS:
        findings += check(trace, config)
    return findings


def check_still_learning(trace: Trace, config: dict) -> list[Finding]:
    """A note, at the end of a run: the loss was still falling fast when
    training stopped (its median over the last quarter of the run at least
    ``still_learning_drop`` below the quarter before), so more steps would
    likely help. Only a note: verification tries training longer."""
    loss = _finite(trace.column("loss"))
    q = loss.size // 4
    if q < 2 or np.median(np.abs(loss)) <= config["loss_converged"]:
        return []
    before, last = float(np.median(loss[-2 * q:-q])), float(np.median(loss[-q:]))
    drop = (before - last) / max(abs(before), 1e-12)
    if drop < config["still_learning_drop"]:
        return []
    row = trace.n_steps - q
    return [Finding(
        kind="still_learning", layer="training_config", root_cause="training_config", severity="info",
        step=_step(trace, row), epoch=_epoch(trace, row),
        message=f"The loss was still falling when training ended: {100 * drop:.0f}% lower over the last "
        f"quarter of the run ({before:.4g} -> {last:.4g}).",
        suggestion="Train for more epochs (or use a smaller batch for more updates per epoch).",
        evidence=_ev(previous_quarter_median=before, last_quarter_median=last, drop=drop,
                     threshold=config["still_learning_drop"]))]


CHECKS = (check_still_learning,)
