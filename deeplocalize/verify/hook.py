"""The callback's side of verification: keep the first batches, verify at the end of training.

Kept here rather than in callback.py so the callback stays small; each function
takes the `DeepLocalizeCallback`.

Example:
    >>> start_capture(cb)           # in on_train_begin, after the in-step probes exist
    >>> start_outside_capture(cb)   # or, watched from outside, after the observer is installed
    >>> verify_at_end(cb)           # in on_train_end, after the probes are removed
"""

from __future__ import annotations

import warnings


def start_capture(cb, installed: bool = False, keep: bool = False):
    """Keep a copy of the first batches for the trials (nothing when verify="never"): the
    in-step probes' capture before they are installed, the outside one after; ``keep``
    (the outside observer took over mid-run): go on filling the sample kept so far."""
    from deeplocalize.probes.choose import is_outside

    probes = cb._probes
    if is_outside(probes):
        if installed:
            start_outside_capture(cb, sample=cb._capture.sample if keep and cb._capture is not None else None)
        return
    if installed:
        return
    if cb.verify == "never":
        if probes.capture is not None:
            probes.capture.switch_off()
        return
    from deeplocalize.verify.sample import DataSample, SampleCapture

    sample = DataSample(cb.config["verify_sample_examples"], cb.config["verify_sample_mb"] * 2**20)
    if probes.capture is None:
        probes.capture = SampleCapture(sample)
        probes._train_function = None  # a step traced without the capture is traced again, once
    probes.capture.sample = sample
    probes.capture.unavailable = None
    probes.capture.switch_on()
    cb._capture = probes.capture


def start_outside_capture(cb, sample=None):
    """Where the run is watched from outside its step: keep the first batches as
    the train function receives them (`deeplocalize.verify.outside_capture`);
    nothing when verify="never". ``sample``: one to go on filling (the in-step
    probes' own, when they failed and the outside observer took over)."""
    if cb.verify == "never":
        return
    from deeplocalize.verify.outside_capture import OutsideCapture
    from deeplocalize.verify.sample import DataSample

    if sample is None:
        sample = DataSample(cb.config["verify_sample_examples"], cb.config["verify_sample_mb"] * 2**20)
    cb._capture = OutsideCapture(sample, cb.model)
    cb._capture.switch_on()


def stop_capture(cb):
    """Stop keeping batches (the outside capture takes its wrapper off the model); never raises."""
    capture = cb._capture
    if capture is not None and (capture._on or getattr(capture, "_wrapper", None) is not None):
        try:
            capture.switch_off()
        except Exception:  # the model must train on whatever happens here
            capture._on = False


def verify_at_end(cb):
    """At the end of training: try the candidate fixes when the run is buggy (or always); never raises."""
    stop_capture(cb)
    if cb.verify == "never" or cb._disabled or cb._monitor.recorder is None or cb._monitor.recorder.n_steps == 0:
        return
    try:
        d = cb.diagnosis
        causes = None
        if cb.verify == "auto" and d.status != "buggy":
            causes = noted_causes(d) if cb.config["verify_on_notes"] else []
            if not causes:
                return
        capture = cb._capture
        why = _why_not(d, capture)
        if why:
            from deeplocalize.verify.verdict import Verification

            cb._verification = Verification(mode=cb.verify, note=f"Nothing verified: {why}.")
            attach(cb, d)
            return
        from deeplocalize.verify.engine import verify_model

        params = cb.params or {}
        planned = (params.get("steps") or 0) * (params.get("epochs") or 0) or None
        cb._verification = verify_model(cb.model, capture.sample, diagnosis=d, mode=cb.verify, config=cb.config,
                                        fit_seconds=cb._fit_seconds, fit_steps=planned, causes=causes)
    except Exception as exc:  # verification must never break the user's program
        warnings.warn(f"deeplocalize could not verify the diagnosis ({type(exc).__name__}: {exc}); the rules' verdict "
                      "stands, unverified.", RuntimeWarning, stacklevel=2)


def _why_not(d, capture) -> str:
    """Why the trials cannot run or cannot judge this run ("" when they can)."""
    from deeplocalize.vocab import GENERALIZATION_KINDS

    top = d.primary if d.status == "buggy" else None
    if top is not None and top.kind in GENERALIZATION_KINDS:
        return (f"the symptom ({top.kind}) is about validation data against training data, and the trials "
                "measure how well a copy trains, which cannot show its fix; the checks' answer stands")
    if capture is None or capture.sample.n == 0:
        return capture.unavailable if capture is not None and capture.unavailable else "no batch was kept"
    return ""


def noted_causes(d) -> list[str]:
    """Root causes named by the notes of a healthy run that are worth verifying
    (`deeplocalize.vocab.VERIFIABLE_NOTES`), most likely first."""
    from deeplocalize.vocab import VERIFIABLE_NOTES

    return list(dict.fromkeys(f.root_cause for f in d.findings
                              if f.severity == "info" and f.kind in VERIFIABLE_NOTES and f.root_cause))


def attach(cb, d):
    """Give a (re)computed diagnosis the model and sample for ``verify()``, and the verification."""
    d._context = {"model": cb.model, "sample": cb._capture.sample if cb._capture else None,
                  "fit_seconds": cb._fit_seconds, "config": cb._config_overrides}
    if cb._verification is not None and d.verification is not cb._verification:
        from deeplocalize.verify.verdict import apply_to

        apply_to(d, cb._verification)
