"""The benchmark harness: ``python -m deeplocalize.bench``.

Modules, top down:
    __main__       the command line: run (default), overhead, neurons
    cases          discovery of ``benchmark/cases/*.py`` and ``benchmark/healthy/h_*.py``,
                   ``--cases`` selection, the ``--quick`` subset, ground truth, published results
    scheduler      one worker process per case, ``jobs`` at a time (timeout, crash capture)
    worker         one case in its process: every tool on every variant and seed
    tools          THE table of tools: how each makes its callbacks and how its verdict is read
    ours           DeepLocalize as a tool;  peers/  UMLAUT, AUTOTRAINER, DeepDiagnosis re-implemented
    watch          the clock, the step counter, and the watchers that let tools share one fit
    record         RunRecord: the one typed record passed from worker to scoring
    scoring        detected / false alarm / localized / root cause / steps / overhead; seeds by majority
    published      the peers' published per-case results (DeepFD's evaluation)
    results        results.csv, results.json;  markdown  results.md
    overhead       the overhead study (``python -m deeplocalize.bench overhead``), with
                   overhead_tools: the settings timed beside ours

Only the harness reads the ground truth; the detectors never do.

Example:
    python -m deeplocalize.bench --quick --jobs 2
"""
