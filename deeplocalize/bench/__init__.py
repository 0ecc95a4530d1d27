"""The benchmark harness: ``python -m deeplocalize.bench``.

Modules:
    cases      discovery of ``benchmark/cases/*.py``, ``--cases`` selection, the
               ``--quick`` subset, ground truth and the published results
    runner     one worker process per case (timeout, crash capture, thread limits)
    baselines  the tools compared: no callback, DeepLocalize, TerminateOnNaN,
               EarlyStopping on loss and on accuracy
    scoring    detected / false alarm / localized / root cause / steps / overhead
    results    results.csv, results.json, results.md
    overhead   the callback's overhead study (``python -m deeplocalize.bench overhead``)

Only the harness reads the ground truth; the detector never does.
"""
