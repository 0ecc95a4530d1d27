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
