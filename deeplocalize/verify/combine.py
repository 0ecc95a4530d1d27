"""Several changes at once, and which of them are needed.

A program can have more than one fault (sigmoid hidden layers *and* a
mean-squared-error loss on class labels): then no single candidate beats
the model as it is, while all of them together do. `combined` makes one
`Fix` of the candidates that go together (one change per part of the
program: output and loss, labels, hidden activations, initializers,
optimizer, inputs, targets, dropout); when it is proven, `ablate` trains
it once without each change in turn. A change whose removal loses the gain
is needed; the most likely of those (the rules' ranking, the order of the
changes) names the root cause.

Example:
    >>> fix = try_combined(runner, ordered_fixes, v.trials, deadline)  # None: nothing to combine
    >>> fix.parts[0].name, fix.root_cause
    ('hidden_relu', 'activation')
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from deeplocalize.verify.fix import Fix

# one change per part of the program; the first candidate (by rank) of a part is kept
_PART = {"output_head": "output", "output_activation": "output", "loss_fits_output": "output",
         "from_logits": "output", "hidden_relu": "hidden", "initializers": "init", "adam_default": "optimizer",
         "learning_rate_default": "optimizer", "standardize_inputs": "inputs", "scale_targets": "targets",
         "dropout_lower": "dropout"}


@dataclass
class CombinedFix(Fix):
    """A `Fix` made of ``parts`` (each one a candidate of its own).

    Example:
        >>> fix = combined(fixes)
        >>> [p.name for p in fix.parts]
        ['hidden_relu', 'loss_fits_output']
    """

    parts: list = field(default_factory=list, repr=False)


def _part(fix: Fix) -> str | None:
    if fix.name.startswith("labels_"):
        return "labels"
    return _PART.get(fix.name)


def combined(fixes: list[Fix]) -> CombinedFix | None:
    """One fix with the first candidate of each part of the program in
    ``fixes`` (ranked, most likely first); None when fewer than two go
    together. A labels fix is left out when the output fix changes the loss
    (both would mend the same mismatch between loss and labels).

    Example:
        >>> [p.name for p in combined(order(fixes, ["activation"])).parts]
        ['hidden_relu', 'loss_fits_output', 'adam_default']
    """
    chosen: dict[str, Fix] = {}
    for fix in fixes:
        part = _part(fix)
        if part is not None and part not in chosen:
            chosen[part] = fix
    if "labels" in chosen and "output" in chosen and chosen["output"].loss is not None:
        del chosen["labels"]
    parts = [f for f in fixes if f in chosen.values()]
    return make(parts) if len(parts) >= 2 else None


def make(parts: list[Fix]) -> CombinedFix:
    """The fix that applies every one of ``parts`` (named after the first).

    Example:
        >>> make([relu, adam]).name
        'combined:hidden_relu+adam_default'
    """
    edits: dict = {}
    for p in parts:
        for name, change in p.edit_layer.items():
            edits[name] = _then(edits[name], change) if name in edits else change
    optimizer = next((p.optimizer for p in parts if p.optimizer is not None), None)
    loss = next((p.loss for p in parts if p.loss is not None), None)
    transforms = [p.data for p in parts if p.data is not None]

    def data(x, y, kw):
        for t in transforms:
            x, y, kw = t(x, y, kw)
        return x, y, kw

    first = parts[0]
    return CombinedFix(
        name="combined:" + "+".join(p.name for p in parts), root_cause=first.root_cause, layer=first.layer,
        change=" and ".join(p.change for p in parts),
        suggestion="Change these together: " + " ".join(p.suggestion for p in parts),
        changes_targets=any(p.changes_targets for p in parts), edit_layer=edits, optimizer=optimizer, loss=loss,
        data=data if transforms else None, parts=list(parts))


def _then(first, second):
    """Two edits of one layer, one after the other (each a config dict or a function layer -> layer)."""

    def edit(layer):
        for change in (first, second):
            layer = change(layer) if callable(change) else type(layer).from_config({**layer.get_config(), **change})
        return layer

    return edit


def try_combined(runner, fixes: list[Fix], trials: list, deadline: float) -> CombinedFix | None:
    """When no trial in ``trials`` proved a fix: train the combination of
    ``fixes`` and, if it is proven, ablate it; the new trials are appended to
    ``trials`` and the proven combination names the root cause of its first
    needed part. Returns the combination tried, or None.

    Example:
        >>> fix = try_combined(runner, fixes, v.trials, deadline=time.perf_counter() + 30)
        >>> fix.root_cause, [t.note for t in v.trials if t.verdict == "ablation"][0]
        ('optimizer', "without optimizer Adam(learning_rate=0.001) it does not beat the model as it is: needed")
    """
    if any(t.verdict == "proven" for t in trials):
        return None
    fix = combined(fixes)
    if fix is None or time.perf_counter() > deadline:
        return None
    trial = runner.run(fix)
    trials.append(trial)
    if trial.verdict == "proven":
        singles = {t.fix: t for t in trials}
        needed, ablations = ablate(runner, fix, deadline, singles)
        trials.extend(ablations)
        named = needed[0] if needed else fix.parts[0]
        spare = [p for p in fix.parts if p not in needed]
        fix.root_cause, fix.layer = named.root_cause, named.layer
        if needed and spare:
            fix.suggestion = "Change these together: " + " ".join(p.suggestion for p in needed) + \
                " (tried with " + ", ".join(p.change for p in spare) + ", which was not needed)"
        trial.root_cause, trial.layer, trial.suggestion = fix.root_cause, fix.layer, fix.suggestion
        trial.note = ("needed: " + "; ".join(p.change for p in needed) if needed else
                      "any one change can be left out; together they work")
    return fix


def ablate(runner, fix: CombinedFix, deadline: float, singles: dict) -> tuple[list[Fix], list]:
    """Train ``fix`` without each of its parts in turn (until ``deadline``,
    a `time.perf_counter` value). Returns the parts whose removal loses the
    gain (needed; a part left untried counts as needed) and the trials, each
    with the verdict ``"ablation"`` and a note saying what its removal did.
    Of two parts, the one left is a single candidate already tried
    (``singles``: its trial by name): that trial answers.

    Example:
        >>> needed, trials = ablate(runner, fix, deadline, {t.fix: t for t in v.trials})
        >>> [p.name for p in needed]
        ['adam_default', 'hidden_relu']
    """
    needed, trials = [], []
    for part in fix.parts:
        rest = [p for p in fix.parts if p is not part]
        earlier = singles.get(rest[0].name) if len(rest) == 1 else None
        if earlier is not None and earlier.verdict in ("not better", "failed"):
            needed.append(part)
            continue
        if time.perf_counter() > deadline:
            needed.append(part)
            continue
        trial = runner.run(make(rest) if len(rest) > 1 else rest[0])
        kept = trial.verdict == "proven"
        if not kept:
            needed.append(part)
        trial.fix, trial.root_cause, trial.layer = f"without {part.name}", None, None
        trial.note = (f"without {part.change} it still beats the model as it is: not needed" if kept else
                      f"without {part.change} it does not beat the model as it is: needed")
        trial.verdict = "ablation"
        trials.append(trial)
    return needed, trials
