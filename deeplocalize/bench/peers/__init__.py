"""Peer detectors re-implemented from their published rules, as benchmark tools.

Each module (`umlaut`, `autotrainer`, `deepdiagnosis`) has pure rule
functions on plain values, ``make_callbacks(ctx)`` returning its Keras 3
callback, and ``read(ctx, callbacks, record)`` putting its verdict into a
`deeplocalize.bench.record.RunRecord` in our vocabulary. They are not part of
the public API; every place where a rule had to be interpreted is listed in
the module's docstring and in benchmark/README.md.

Example:
    >>> from deeplocalize.bench.peers import umlaut
    >>> umlaut.pretrain_errors([("out", "Dense", "sigmoid", None)], loss_from_logits=False)
    [('missing_softmax', None), ('last_layer_nonlinear', 'out')]
"""


def first_verdict(cbs, rec):
    """The verdict a peer callback (``cbs[0].verdict``) gave, or None. On a fit
    of its own (``rec.mode == "separate"``) this also sets ``rec.flagged`` and
    the step where it stopped (the end of its last epoch); on a watched fit the
    worker has set both from the epoch it asked to stop."""
    cb = cbs[0] if cbs else None
    verdict = getattr(cb, "verdict", None)
    if rec.mode == "separate":
        rec.flagged = verdict is not None
        if verdict is not None and rec.steps_run:
            rec.stop_step = rec.steps_run - 1
    return verdict
