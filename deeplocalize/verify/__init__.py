"""Verified diagnosis: candidate fixes tried on a copy of the model, on a sample of the real data.

During training the callback keeps the first batches (`sample.DataSample`,
at most ``verify_sample_examples`` examples and ``verify_sample_mb`` MB).
At the end of a buggy run (``verify="auto"``) it trains an unchanged copy
of the model ("as-is") and each candidate fix of `fixes.candidates` for
``verify_steps`` steps on that sample, with the same seeds, ordered by the
rules' ranking of root causes, within a time budget. A fix that beats the
copy by a clear margin in every seed (`verdict.beats`) names the root cause,
the layer and the suggestion of the diagnosis, marked verified.

A `fixes.Fix` also works on a whole program, outside the trials, e.g. to
check that the verified fix repairs it:

Example:
    >>> cb = DeepLocalizeCallback(verify="auto")
    >>> model.fit(x, y, epochs=5, callbacks=[cb])
    >>> v = cb.diagnosis.verification
    >>> v.verified, v.fix.fix, v.fix.root_cause, v.fix.layer, v.seconds
    (True, 'output_activation', 'activation', 'out', 12.4)
    >>> fix = cb.verified_fix                     # the Fix object itself
    >>> new_model, x2, y2, kw = fix.apply(model, x, y, {"epochs": 5, "batch_size": 32})
    >>> new_model.fit(x2, y2, **kw)              # the repaired program
"""

from __future__ import annotations

__all__ = ["DataSample", "Fix", "Verification", "Trial", "candidates", "verify_model"]


def __getattr__(name):  # lazy: importing the result types must not import Keras
    if name == "DataSample":
        from deeplocalize.verify.sample import DataSample
        return DataSample
    if name in ("Fix", "candidates"):
        from deeplocalize.verify import fixes
        return getattr(fixes, name)
    if name in ("Verification", "Trial"):
        from deeplocalize.verify import verdict
        return getattr(verdict, name)
    if name == "verify_model":
        from deeplocalize.verify.engine import verify_model
        return verify_model
    raise AttributeError(name)
