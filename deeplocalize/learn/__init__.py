"""A learned diagnoser: root cause and faulty layer from a Trace, learned from mutants.

Modules: `programs` (healthy base programs), `mutations` (fault injectors),
`corpus` (runs them with the callback and saves traces), `features` (Trace ->
vectors, numpy only), `model` (training), `predict` (the shipped classifier,
loaded lazily), `evaluate` (grouped evaluation). See README.md here.

Example:
    >>> from deeplocalize.learn.predict import predict
    >>> predict(Trace.load("run.npz"))
    {'root_cause': 'learning_rate', 'layer': 'optimizer', 'confidence': 0.71, ...}
"""
