"""The result of a verification, the rule that says a fix works, and how a
proven fix sets the diagnosis's root cause, layer and suggestion.

Example:
    >>> v = cb.diagnosis.verification
    >>> v.verified, v.fix.name, v.fix.root_cause, round(v.seconds)
    (True, 'output_activation', 'activation', 14)
    >>> [(t.fix, t.verdict) for t in v.trials][:2]
    [('as_is', 'baseline'), ('output_activation', 'proven')]
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

VERDICTS = ("baseline", "proven", "not better", "failed", "not tried", "not applicable", "ablation")


@dataclass
class Trial:
    """One candidate (or the unchanged copy, ``fix="as_is"``) trained on the sample.

    ``seeds`` holds, per seed, the loss curve, its start and end, the loss
    relative to its start, and the held-back ``score`` (accuracy, or R² for
    regression). ``improvement`` is the worst case over the seeds of the
    score gain and of the loss ratio against the as-is copy.

    Example:
        >>> t = v.trials[1]
        >>> t.fix, t.verdict, t.improvement["score_gain"]
        ('output_activation', 'proven', 0.46)
    """

    fix: str
    root_cause: str | None = None
    layer: str | None = None
    change: str = ""
    suggestion: str = ""
    verdict: str = "not tried"
    steps: int = 0
    seeds: list = field(default_factory=list)
    improvement: dict = field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Verification:
    """Every trial of a verification, the fix it proved (if any) and what it cost.

    Example:
        >>> v.verified, v.fix.change
        (True, "activation='softmax' on 'out'")
        >>> v.evidence
        "with activation='softmax' on 'out' the loss fell from 2.30 to 0.41 in 300 steps ..."
    """

    mode: str = "auto"
    trials: list = field(default_factory=list)
    chosen: str | None = None
    score_name: str = "accuracy"
    seconds: float = 0.0
    budget: float = 0.0
    steps: int = 0
    sample_size: int = 0
    note: str = ""
    evidence: str = ""
    kept_cause: str = ""  # why a proven fix did not name the root cause (see `apply_to`); "" when it did
    fixes: dict = field(default_factory=dict, repr=False, compare=False)  # name -> `Fix` tried; not saved

    @property
    def verified(self) -> bool:
        """True when some fix beat the unchanged copy in every seed."""
        return self.chosen is not None

    @property
    def fix(self) -> Trial | None:
        """The proven fix's trial, or None."""
        return next((t for t in self.trials if t.fix == self.chosen), None)

    @property
    def fix_object(self):
        """The proven `Fix` itself (to apply to a whole program), or None; not saved."""
        return self.fixes.get(self.chosen) if self.chosen else None

    @property
    def as_is(self) -> Trial | None:
        return next((t for t in self.trials if t.fix == "as_is"), None)

    def summary(self) -> str:
        """One sentence: what was proven, or why nothing was."""
        if self.verified and self.kept_cause:
            return f"Proven to train faster: {self.fix.change}; {self.kept_cause}. {self.evidence}"
        if self.verified:
            return f"Verified fix: {self.fix.change} ({self.fix.root_cause.replace('_', ' ')}). {self.evidence}"
        tried = sum(t.verdict not in ("baseline", "not tried", "not applicable") for t in self.trials)
        if not tried and self.note:
            return f"Unverified. {self.note}"
        why = f" {self.note}" if self.note else ""
        return f"Unverified: none of {tried} candidate fixes beat the model as it is by a clear margin.{why}"

    def restricted(self, causes, tie: float) -> "Verification":
        """The same trials limited to fixes of ``causes`` (and the as-is copy),
        with the fix the same rule chooses among them.

        Example:
            >>> v.restricted(["data_preprocessing"], tie=0.02).chosen
            'standardize_inputs'
        """
        trials = [t for t in self.trials if t.fix == "as_is" or t.root_cause in causes]
        sub = Verification(mode=self.mode, trials=trials, score_name=self.score_name, budget=self.budget,
                           steps=self.steps, sample_size=self.sample_size, note=self.note,
                           seconds=round(sum(t.seconds for t in trials), 2),
                           fixes={k: f for k, f in self.fixes.items() if f.root_cause in causes})
        chosen = choose(trials, tie)
        if chosen is not None and sub.as_is is not None:
            sub.chosen, sub.evidence = chosen.fix, evidence(chosen, sub.as_is, self.score_name)
        return sub

    def to_dict(self) -> dict:
        fixes, self.fixes = self.fixes, {}
        try:
            data = asdict(self)
        finally:
            self.fixes = fixes
        data.pop("fixes", None)
        data["verified"] = self.verified
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Verification":
        trials = [Trial(**{k: t[k] for k in Trial.__dataclass_fields__ if k in t}) for t in data.get("trials", [])]
        rest = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k not in ("trials", "fixes")}
        return cls(trials=trials, **rest)


def beats(fix_seed: dict, as_is_seed: dict, objective: str, margins: dict,
          chance: float | None = None) -> tuple[bool, float, float]:
    """Does one seed of a fix beat the as-is copy by a clear margin?

    Returns ``(beats, score_gain, loss_ratio)``. A fix beats the copy when
    its held-back score is higher by ``margins["score"]``, or when its loss
    is at most ``margins["loss"]`` times the copy's and its score is not
    lower by more than ``margins["tolerance"]``, nor within it of ``chance``
    (what a constant prediction scores: a loss that falls while the model
    still predicts one class, e.g. towards the labels' prior, shows no
    learning). How the losses compare
    depends on ``objective`` (see `Fix.objective`): ``"same"`` (same loss,
    same targets) compares the losses at the end of the trial; ``"rescaled"``
    (same loss, transformed targets) compares each loss relative to its own
    start; ``"other"`` (another loss function) lets the score alone decide.
    A non-finite loss never beats.
    """
    gain = fix_seed["score"] - as_is_seed["score"]
    gain = gain if math.isfinite(gain) else 0.0  # no score: the loss decides
    key = "end_loss" if objective == "same" else "rel_loss"
    fix_loss, base_loss = fix_seed[key], as_is_seed[key]
    if not (math.isfinite(fix_loss) and math.isfinite(fix_seed["rel_loss"])):
        return False, gain, math.inf
    ratio = 0.0 if not math.isfinite(base_loss) else fix_loss / max(base_loss, 1e-12)
    by_score = gain >= margins["score"]
    above_chance = chance is None or not math.isfinite(fix_seed["score"]) or \
        fix_seed["score"] > chance + margins["tolerance"]
    by_loss = objective != "other" and ratio <= margins["loss"] and gain >= -margins["tolerance"] and above_chance
    return bool(by_score or by_loss), float(gain), float(ratio)


def choose(trials: list[Trial], tie: float, agreed: str | None = None) -> Trial | None:
    """The proven fix to report: the largest worst-case score gain (loss ratio
    breaks ties); within ``tie`` of it, the one tried first (the rules' ranking).
    Training longer is chosen only when nothing else works. When a fix of
    ``agreed`` (the root cause the symptoms named) is proven, only those
    compete: symptoms and trial agree on it, while a larger gain elsewhere
    may only show a change that helps any model of this kind (scaled targets,
    a default optimizer).

    Example:
        >>> choose(trials, tie=0.02, agreed="learning_rate").fix
        'learning_rate_x0.01'
    """
    proven = [t for t in trials if t.verdict == "proven"]
    main = [t for t in proven if t.root_cause == agreed] or \
        [t for t in proven if t.root_cause != "training_config"] or proven
    if not main:
        return None
    best = max(t.improvement["score_gain"] for t in main)
    close = [t for t in main if t.improvement["score_gain"] >= best - tie]
    if best <= tie:  # no score moved: the loss decides
        low = min(t.improvement["loss_ratio"] for t in close)
        close = [t for t in close if t.improvement["loss_ratio"] <= max(low * 2, low + 1e-9)]
    return close[0]


def evidence(fix: Trial, as_is: Trial, score_name: str) -> str:
    """The proof in plain words, from the first seed's numbers."""
    f, a = fix.seeds[0], as_is.seeds[0]
    score = "accuracy" if score_name == "accuracy" else "R²"

    def path(s):
        moved = "fell" if s["end_loss"] < s["start_loss"] else "went"
        return f"{moved} from {_num(s['start_loss'])} to {_num(s['end_loss'])}"

    return (f"With {fix.change} the loss {path(f)} in {fix.steps} steps (held-back {score} {_num(f['score'])}); "
            f"as it is, it {path(a)} (held-back {score} {_num(a['score'])}). "
            f"Same result in each of {len(fix.seeds)} seeds.")


def _num(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else ("n/a" if value != value else "Inf")


def apply_to(diagnosis, verification: Verification) -> None:
    """Attach ``verification`` to ``diagnosis``; a proven fix names the root
    cause, the suggestion and (unless a NaN/Inf already pinned one) the layer.

    A mistake the checks read from the program itself (a pre-flight finding
    that names its cause, such as a sigmoid output under categorical
    cross-entropy) is not overruled by a fix that only trains faster (a
    larger learning rate, more steps, smaller batches): a faster run shows
    the model could learn more in its steps, not that the mistake is none.
    The rules' cause stays, and the faster fix is added to the suggestion.
    So does training_config, named by a check that saw the run stop while
    still learning: a faster run confirms it.
    """
    from deeplocalize.findings import Finding

    diagnosis.verification = verification
    fix = verification.fix
    if fix is None:
        return
    if diagnosis.status != "buggy":  # only wide margins get here (always, or auto on a note worth verifying)
        diagnosis.findings.append(Finding(
            kind="fix_verified", layer=fix.layer, root_cause=fix.root_cause, severity="warning",
            message=f"The checks found no symptom, but a candidate fix trains far better: {verification.evidence}",
            suggestion=fix.suggestion, evidence={"fix": fix.fix, **fix.improvement}))
    elif _cause_read_directly(diagnosis, verification):
        cause = diagnosis.root_cause.replace("_", " ")
        source = "the run itself: it stopped while still learning" if cause == "training config" \
            else "the program itself"
        verification.kept_cause = (f"the root cause stays {cause}, read from {source}; the proven fix "
                                   f"({fix.change}) only trains faster")
        diagnosis.suggestion = f"{diagnosis.suggestion} Also proven to train faster: {fix.change} " \
                               f"({verification.evidence})"
        return
    diagnosis.root_cause = fix.root_cause
    # A NaN/Inf is localized where it first appeared (the rules' layer), unless the loss function
    # itself turned finite outputs into it ("loss" is no layer); otherwise the fix names it.
    if not any(f.kind in ("nan", "inf") and f.severity == "error" and f.layer != "loss"
               for f in diagnosis.findings) or diagnosis.faulty_layer is None:
        diagnosis.faulty_layer = fix.layer
    diagnosis.suggestion = f"{fix.suggestion} (verified: {verification.evidence})"


def _cause_read_directly(diagnosis, verification: Verification) -> bool:
    """Whether the diagnosis rests on a finding `read_directly`, and the
    proven fix, of another cause, only trains faster."""
    proven, top = verification.fix_object, diagnosis.primary
    return proven is not None and proven.only_faster and top is not None and top.read_directly \
        and top.root_cause == diagnosis.root_cause != proven.root_cause
