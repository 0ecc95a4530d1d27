"""The benchmark harness (`python -m deeplocalize.bench`): scoring, discovery,
crash/timeout handling, baselines, and the --quick subset end to end.

The end-to-end test trains real models (a couple of minutes on 2 cores); set
DEEPLOCALIZE_SKIP_BENCH_E2E=1 to skip it.
"""

from __future__ import annotations

import csv
import json
import os
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from deeplocalize.bench import cases as cases_mod
from deeplocalize.bench import results, scheduler, scoring
from deeplocalize.bench import tools as tools_mod
from deeplocalize.bench import watch
from deeplocalize.bench.__main__ import main as bench_main
from deeplocalize.bench.record import RunRecord

ROOT = Path(__file__).resolve().parent.parent


# ---- scoring on a hand-made example ----------------------------------------------------------
def _run(flagged, stop_step=None, status="ok", tool="t", **extra):
    return RunRecord("x", 0, "buggy", tool, status=status, flagged=flagged, stop_step=stop_step, wall_s=1.0,
                     **extra)


def _dl(flagged, layer=None, cause=None, step=None, modes=None, per_step=None, stopped=False):
    return _run(flagged, step, tool="deeplocalize", faulty_layer=layer, root_cause=cause,
                diagnosis={"faulty_layer": layer, "root_cause": cause, "status": "buggy" if flagged else "healthy"},
                per_step_s=per_step, stopped_early=stopped, steps_run=100, diagnoser_modes=modes)


GT = {
    # A: layer right, primary cause right
    "A": {"faulty_layer": ["act_out", "Loss"], "root_cause": "activation", "secondary_causes": ["loss_function"]},
    # B: a component; our answer names a layer (wrong) with the secondary cause (lenient only)
    "B": {"faulty_layer": ["optimizer"], "root_cause": "learning_rate", "secondary_causes": ["data_preprocessing"]},
    # C: missed, and a false alarm on the fixed run
    "C": {"faulty_layer": ["dense_1"], "root_cause": "architecture", "secondary_causes": []},
    # D: the buggy DeepLocalize run crashed: not counted anywhere for DeepLocalize
    "D": {"faulty_layer": ["dense_1"], "root_cause": "activation", "secondary_causes": []},
}

LEARNED_MISSING = {"error": "ModuleNotFoundError: No module named 'deeplocalize.learn.predict'"}

RUNS = {
    "A": {
        "buggy": {
            "deeplocalize": _dl(True, "act_out", "activation", 3,
                                modes={"rules": {"faulty_layer": "act_out", "root_cause": "activation"},
                                       "learned": LEARNED_MISSING, "both": LEARNED_MISSING}),
            "plain": _run(None, per_step_s=0.010),
            "terminate_on_nan": _run(False), "es_loss": _run(True, 19), "es_accuracy": _run(False),
        },
        "fixed": {
            "deeplocalize": _dl(False, per_step=0.0110), "plain": _run(None, per_step_s=0.0100),
            "terminate_on_nan": _run(False), "es_loss": _run(False), "es_accuracy": _run(False),
        },
    },
    "B": {
        "buggy": {
            "deeplocalize": _dl(True, "dense_2", "data_preprocessing", 0,
                                modes={"rules": {"faulty_layer": "dense_2", "root_cause": "data_preprocessing"},
                                       "learned": LEARNED_MISSING, "both": LEARNED_MISSING}),
            "terminate_on_nan": _run(True, 7), "es_loss": _run(True, 9),
            "es_accuracy": _run(None, status="n/a"),
        },
        "fixed": {
            "deeplocalize": _dl(False), "terminate_on_nan": _run(False), "es_loss": _run(False),
            "es_accuracy": _run(None, status="n/a"),
        },
    },
    "C": {
        "buggy": {
            "deeplocalize": _dl(False, modes={"rules": {"faulty_layer": None, "root_cause": None},
                                              "learned": LEARNED_MISSING, "both": LEARNED_MISSING}),
            "terminate_on_nan": _run(False), "es_loss": _run(False), "es_accuracy": _run(False),
        },
        "fixed": {
            "deeplocalize": _dl(True, "dense_1", "architecture", 40), "terminate_on_nan": _run(False),
            "es_loss": _run(True, 30), "es_accuracy": _run(False),
        },
    },
    "D": {
        "buggy": {
            "deeplocalize": _run(None, status="error", error="RuntimeError: boom"),
            "terminate_on_nan": _run(False), "es_loss": _run(False), "es_accuracy": _run(True, 5),
        },
        "fixed": {
            "deeplocalize": _dl(False), "terminate_on_nan": _run(False), "es_loss": _run(False),
            "es_accuracy": _run(False),
        },
    },
}


def _rows():
    rows = []
    for cid in "ABCD":
        rows.append({"id": cid, "status": "ok", "scores": scoring.score_case(GT[cid], RUNS[cid]),
                     "overhead": scoring.overhead(RUNS[cid])})
    return rows


def test_scoring_per_case_on_hand_made_example():
    a = scoring.score_case(GT["A"], RUNS["A"])
    assert a["deeplocalize"]["detected"] is True and a["deeplocalize"]["false_alarm"] is False
    assert a["deeplocalize"]["localized"] is True
    assert a["deeplocalize"]["root_cause_strict"] is True and a["deeplocalize"]["root_cause_lenient"] is True
    assert a["deeplocalize"]["steps"] == 3
    assert a["es_loss"]["detected"] is True and a["es_loss"]["steps"] == 19
    assert a["es_loss"]["localized"] is False  # Keras baselines never localize
    assert a["keras_all"]["detected"] is True and a["keras_all"]["false_alarm"] is False

    b = scoring.score_case(GT["B"], RUNS["B"])
    assert b["deeplocalize"]["localized"] is False
    assert b["deeplocalize"]["root_cause_strict"] is False and b["deeplocalize"]["root_cause_lenient"] is True
    assert b["es_accuracy"]["detected"] is None  # n/a, not a miss
    assert b["keras_all"]["detected"] is True and b["keras_all"]["steps"] == 7  # the earliest baseline

    c = scoring.score_case(GT["C"], RUNS["C"])
    assert c["deeplocalize"]["detected"] is False and c["deeplocalize"]["false_alarm"] is True
    assert c["deeplocalize"]["localized"] is False and c["deeplocalize"]["root_cause_strict"] is False
    assert c["deeplocalize"]["steps"] is None
    assert c["keras_all"]["detected"] is False and c["keras_all"]["false_alarm"] is True

    d = scoring.score_case(GT["D"], RUNS["D"])
    assert d["deeplocalize"]["detected"] is None and d["deeplocalize"]["localized"] is None
    assert d["keras_all"]["detected"] is True

    # a component answer matches case-insensitively; the learned diagnoser's absence is n/a
    assert scoring.localized("loss", GT["A"]) is True
    assert a["deeplocalize_modes"]["rules"]["localized"] is True
    assert a["deeplocalize_modes"]["learned"]["localized"] is None


def test_scoring_totals_on_hand_made_example():
    t = scoring.totals(_rows())
    dl = t["tools"]["deeplocalize"]
    assert (dl["detected"]["count"], dl["detected"]["of"]) == (2, 3)
    assert (dl["false_alarm"]["count"], dl["false_alarm"]["of"]) == (1, 4)
    assert (dl["localized"]["count"], dl["localized"]["of"]) == (1, 3)
    assert (dl["root_cause_strict"]["count"], dl["root_cause_strict"]["of"]) == (1, 3)
    assert (dl["root_cause_lenient"]["count"], dl["root_cause_lenient"]["of"]) == (2, 3)
    assert dl["median_steps"] == 1.5  # steps 3 and 0
    ton, es_loss, es_acc, allk = (t["tools"][k] for k in ("terminate_on_nan", "es_loss", "es_accuracy", "keras_all"))
    assert (ton["detected"]["count"], ton["detected"]["of"]) == (1, 4)
    assert (es_loss["detected"]["count"], es_loss["false_alarm"]["count"]) == (2, 1)
    assert (es_acc["detected"]["count"], es_acc["detected"]["of"]) == (1, 3)  # B is n/a
    assert (allk["detected"]["count"], allk["detected"]["of"]) == (3, 4)
    assert (allk["false_alarm"]["count"], allk["localized"]["count"]) == (1, 0)
    assert t["modes"]["rules"]["localized"]["count"] == 1 and t["modes"]["rules"]["localized"]["of"] == 3
    assert t["modes"]["learned"]["available"] is False and t["modes"]["learned"]["errors"]
    # overhead: A's fixed variant, 0.011 / 0.010
    assert t["overhead"]["n"] == 1 and t["overhead"]["median"] == pytest.approx(1.1)


def test_overhead_prefers_a_complete_fixed_run():
    runs = {"buggy": {"deeplocalize": _dl(True, per_step=0.05, stopped=True), "plain": _run(None, per_step_s=0.01)},
            "fixed": {"deeplocalize": _dl(False, per_step=0.012), "plain": _run(None, per_step_s=0.010)}}
    o = scoring.overhead(runs)
    assert o["variant"] == "fixed" and o["ratio"] == pytest.approx(1.2)
    runs["fixed"]["deeplocalize"].stopped_early = True
    assert scoring.overhead(runs)["ratio"] is None  # a halted run's few steps are tracing and trials
    runs["buggy"]["deeplocalize"].stopped_early = False
    assert scoring.overhead(runs)["variant"] == "buggy"


def test_overhead_of_a_fit_timed_whole_leaves_out_the_trials_that_ran_in_it():
    dl = _dl(False, per_step=0.03)  # 100 steps, 3.0 s of which 1.8 s were verify="always" trials
    dl.update(wall_s=3.0, timing_basis="whole_fit")
    runs = {"fixed": {"deeplocalize": dl, "plain": _run(None, per_step_s=0.010),
                      "deeplocalize_always": _run(False, tool="deeplocalize_always", verification_s=1.8)}}
    assert scoring.overhead(runs)["ratio"] == pytest.approx(1.2)
    dl.timing_basis = "after_first_epoch"  # the trials ran after the last epoch ended: not in it
    assert scoring.overhead(runs)["ratio"] == pytest.approx(3.0)
    # a later seed runs verify="auto" (no always row): its own trials are left out
    dl.update(timing_basis="whole_fit", verification_s=0.6)
    runs["fixed"]["deeplocalize_always"].status = "n/a"
    assert scoring.overhead(runs)["ratio"] == pytest.approx(2.4)


def test_overhead_reports_the_cpu_time_ratio_where_the_trials_are_not_in_it():
    dl = _dl(False, per_step=0.03)
    dl.update(per_step_cpu_s=0.05, timing_basis="after_first_epoch", verification_s=0.6)
    runs = {"fixed": {"deeplocalize": dl, "plain": _run(None, per_step_s=0.010, per_step_cpu_s=0.04)}}
    o = scoring.overhead(runs)
    assert o["ratio"] == pytest.approx(3.0) and o["cpu_ratio"] == pytest.approx(1.25)
    dl.timing_basis = "whole_fit"  # the trials' CPU time is in the fit's and not known on its own
    assert scoring.overhead(runs)["cpu_ratio"] is None and scoring.overhead(runs)["ratio"] is not None
    dl.update(timing_basis="after_first_epoch")
    runs["fixed"]["plain"].per_step_cpu_s = None  # an old record without CPU times
    assert scoring.overhead(runs)["cpu_ratio"] is None
    t = scoring.totals([{"id": "a", "seed": 0, "kind": "buggy", "scores": {}, "overhead": o},
                        {"id": "b", "seed": 0, "kind": "buggy", "scores": {}, "overhead": dict(o, cpu_ratio=1.5)}])
    assert (t["overhead"]["cpu_n"], t["overhead"]["cpu_median"], t["overhead"]["cpu_max"]) == (2, 1.375, 1.5)


def test_the_epoch_clock_counts_process_cpu_time_less_the_watchers():
    import keras

    class Busy(watch._Watch):
        def epoch_end(self, epoch, logs):
            end = time.process_time() + 0.05
            while time.process_time() < end:
                pass

    busy = Busy()
    clock = watch.epoch_clock(keras, [busy])
    clock.on_train_begin()
    for epoch in range(2):
        busy.keras_callback().on_epoch_end(epoch)
        clock.on_epoch_end(epoch)
    assert busy.cpu_seconds >= 0.1
    assert clock.epoch_cpu_ends[1] - clock.epoch_cpu_ends[0] < 0.03  # the watcher's 0.05 s is taken out
    assert watch.per_step_cpu(clock, 10, 20, 99.0) == pytest.approx(
        (clock.epoch_cpu_ends[1] - clock.epoch_cpu_ends[0]) / 10)
    assert watch.per_step_cpu(clock, 10, 10, 2.0) == pytest.approx(0.2)  # one epoch: the whole fit


def test_repair_compares_with_our_fit_where_the_tools_watched_it_instead_of_a_plain_fit():
    gt = {"faulty_layer": ["out"], "root_cause": "activation", "secondary_causes": [],
          "validity": {"metric": "accuracy", "fixed": ">= 0.99"}}
    fix = {"fix": "output_activation", "root_cause": "activation", "layer": "out", "change": "softmax"}
    buggy = _dl(True, "out", "activation")
    buggy.update(verified_fix=fix, details={"repair": {"final": {"accuracy": 0.86}}})
    ours_fixed = _dl(False)
    ours_fixed.final = {"accuracy": 0.88}
    plain = _run(None, tool="plain", final={"accuracy": 0.95})
    with_plain = {"buggy": {"deeplocalize": buggy}, "fixed": {"deeplocalize": ours_fixed, "plain": plain}}
    assert scoring.score_case(gt, with_plain)["deeplocalize"]["repaired"] is False  # 0.86 trails 0.95
    watched = {"buggy": {"deeplocalize": buggy},
               "fixed": {"deeplocalize": ours_fixed, "plain": _run(None, tool="plain", status="n/a")}}
    assert scoring.score_case(gt, watched)["deeplocalize"]["repaired"] is True  # our fit of it: 0.88
    ours_fixed.stopped_early = True  # a fit we stopped is not the program's training
    assert scoring.score_case(gt, watched)["deeplocalize"]["repaired"] is False


def test_the_watchers_time_is_taken_out_of_our_fit_clock():
    import keras
    from types import SimpleNamespace

    from deeplocalize.bench import watch

    ours, other = SimpleNamespace(_fit_start=100.0), SimpleNamespace()
    cb = watch.untimed(keras, [ours, other], [SimpleNamespace(seconds=2.5), SimpleNamespace(seconds=0.5)])
    cb.on_train_end()
    assert ours._fit_start == 103.0 and not hasattr(other, "_fit_start")


def test_published_results_and_committed_copy_agree():
    shared = cases_mod.load_published()
    copy = cases_mod.load_published(ROOT / "benchmark" / "published.yaml")
    assert len(copy) == 40
    assert sum(bool(v["detected"]) for v in copy.values()) == 34
    assert sum(bool(v["localized"]) for v in copy.values()) == 21
    assert shared == copy
    assert "50079585" not in copy  # not one of the 40


# ---- discovery and --cases -------------------------------------------------------------------
def _write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(textwrap.dedent(text))


def test_discovery_of_the_repository_cases():
    found = cases_mod.discover()
    modules = {c.module: c for c in found}
    assert "so_31556268" in modules and modules["so_31556268"].id == "31556268"
    assert modules["so_31556268"].path.endswith("benchmark/cases/so_31556268.py")
    assert "_data" not in modules and "__init__" not in modules
    if "gh_DDOS_ML_Detection" in modules:  # the id comes from CASE, not from the file name
        assert modules["gh_DDOS_ML_Detection"].id == "DDOS-ML-Detection"
    quick = cases_mod.select(found, quick=True)
    assert 6 <= len(quick) <= 8 and {c.id for c in quick} <= set(cases_mod.QUICK)


def test_cases_selection_by_id_module_and_glob(tmp_path):
    for name, cid in [("so_111.py", "111"), ("so_112.py", "112"), ("so_220.py", "220"),
                      ("gh_my_proj.py", "my-proj")]:
        _write(tmp_path, name, f'CASE = {{"id": "{cid}", "source": "x", "title": "t"}}\n')
    _write(tmp_path, "_helpers.py", "X = 1\n")
    _write(tmp_path, "notacase.py", "X = 1\n")
    found = cases_mod.discover(tmp_path)
    assert [c.id for c in found] == ["my-proj", "111", "112", "220"]

    def ids(patterns):
        return [c.id for c in cases_mod.select(found, patterns)]

    assert ids(None) == ["my-proj", "111", "112", "220"]
    assert ids(["11*"]) == ["111", "112"]
    assert ids(["so_22*"]) == ["220"]
    assert ids(["220,111"]) == ["111", "220"]
    assert ids(["my-proj"]) == ids(["my_proj"]) == ids(["gh_my*"]) == ["my-proj"]
    with pytest.raises(ValueError, match="999"):
        cases_mod.select(found, ["999"])


# ---- crash, death and timeout are recorded; the run goes on --------------------------------------
GOOD_CASE = '''
    """A tiny regression: the buggy SGD learning rate overflows the loss to Inf/NaN."""
    import numpy as np
    import keras

    CASE = {"id": "good", "source": "test:good", "title": "tiny regression"}


    def build(variant, seed=0):
        keras.utils.set_random_seed(seed)
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(64, 4)).astype("float32")
        y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))[:, None]
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="dense_1"),
                                  keras.layers.Dense(1, name="dense_out")])
        lr = 50.0 if variant == "buggy" else 0.01
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
        return {"model": model, "x": x, "y": y, "fit": {"epochs": 4, "batch_size": 8, "shuffle": False}}
'''


@pytest.fixture(scope="module")
def fake_cases(tmp_path_factory):
    d = tmp_path_factory.mktemp("cases")
    _write(d, "so_good.py", GOOD_CASE)
    # a buggy variant that trains to its end (slow, never NaN): the watchers look on at our fit
    _write(d, "so_slow.py", GOOD_CASE.replace('"good"', '"slow"').replace("50.0 if", "1e-4 if"))
    _write(d, "so_crash.py", '''
        CASE = {"id": "crash", "source": "test:crash", "title": "build raises"}

        def build(variant, seed=0):
            raise RuntimeError("this case module is broken")
    ''')
    _write(d, "so_import.py", '''
        CASE = {"id": "import", "source": "test:import", "title": "import fails"}
        import not_a_module_that_exists  # noqa
    ''')
    _write(d, "so_die.py", '''
        import os
        CASE = {"id": "die", "source": "test:die", "title": "the process dies"}
        os._exit(3)
    ''')
    _write(d, "gh_hang.py", '''
        import time
        CASE = {"id": "hang", "source": "test:hang", "title": "hangs at import"}
        time.sleep(600)
    ''')
    gt = tmp_path_factory.mktemp("gt")
    for name in ("good", "slow"):
        (gt / f"{name}.yaml").write_text(f"id: {name}\nfaulty_layer: [optimizer]\nroot_cause: learning_rate\n"
                                         "secondary_causes: []\n")
    return d, gt


@pytest.fixture(scope="module")
def crash_run(fake_cases, tmp_path_factory):
    """The CLI over the working case and three broken ones, two at a time."""
    cases_dir, gt_dir = fake_cases
    out = tmp_path_factory.mktemp("out")
    rc = bench_main(["run", "--cases-dir", str(cases_dir), "--ground-truth-dir", str(gt_dir), "--out", str(out),
                     "--cases", "good,slow,crash,import,die", "--jobs", "2", "--timeout", "400", "--no-progress"])
    return rc, out


def test_crashing_case_is_recorded_and_run_goes_on(crash_run):
    rc, out = crash_run
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    by_id = {r["id"]: r for r in doc["cases"]}
    assert set(by_id) == {"good", "slow", "crash", "import", "die"}
    assert by_id["crash"]["status"] == "crashed" and "this case module is broken" in by_id["crash"]["error"]
    assert by_id["import"]["status"] == "crashed" and "not_a_module_that_exists" in by_id["import"]["error"]
    assert by_id["die"]["status"] == "crashed" and "code 3" in by_id["die"]["error"]
    good = by_id["good"]
    assert good["status"] == "ok", good["error"]
    s = good["scores"]
    assert s["terminate_on_nan"]["detected"] is True and s["terminate_on_nan"]["false_alarm"] is False
    assert s["deeplocalize"]["detected"] is True
    assert s["es_accuracy"]["detected"] is None  # no accuracy metric: n/a
    # UMLAUT's pre-training "missing softmax" fires on any model without a Softmax layer, fixed or not
    assert s["umlaut"]["detected"] is True and s["umlaut"]["false_alarm"] is True
    assert s["umlaut"]["root_cause"] == "activation" and s["umlaut"]["steps"] == 0
    assert doc["totals"]["status"] == {"ok": 2, "crashed": 3, "timeout": 0}
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert {r["id"]: r["status"] for r in rows} == {"good": "ok", "slow": "ok", "crash": "crashed",
                                                    "import": "crashed", "die": "crashed"}
    assert "**crashed**" in (out / "results.md").read_text()


def test_hanging_case_times_out(fake_cases, tmp_path):
    cases_dir, _ = fake_cases
    hang = [c for c in cases_mod.discover(cases_dir) if c.id == "hang"]
    (res,) = scheduler.run_cases(hang, jobs=1, timeout=3, workdir=tmp_path)
    assert res["status"] == "timeout" and "timed out" in res["error"] and res["wall_s"] < 30


def test_shared_baselines_match_separate_runs(fake_cases, crash_run, tmp_path):
    """The default replays EarlyStopping on the plain run and reruns TerminateOnNaN only when it
    fires; the decisions and steps must be those of one fit per baseline."""
    cases_dir, _ = fake_cases
    _, out = crash_run
    cases = [c for c in cases_mod.discover(cases_dir) if c.id in ("good", "slow")]
    separate = {r["case"]["id"]: r for r in scheduler.run_cases(cases, jobs=1, timeout=400, baselines="separate",
                                                                 workdir=tmp_path)}
    doc = {r["id"]: r for r in json.loads((out / "results.json").read_text())["cases"]}

    watched = ("terminate_on_nan", "es_loss", "es_accuracy", "umlaut", "autotrainer", "deepdiagnosis")

    def decisions(runs):
        return {(r.variant, r.tool): (r.status, r.flagged, r.stop_step, r.root_cause, r.faulty_layer)
                for r in runs if r.tool in watched}

    for case_id in ("good", "slow"):
        res = separate[case_id]
        assert res["status"] == "ok", res["error"]
        shared_runs = [RunRecord.from_dict(r) for v in doc[case_id]["runs"].values() for r in v.values()]
        assert {r.mode for r in shared_runs if r.tool == "es_loss"} == {"shared"}
        assert {r.mode for r in res["runs"] if r.tool == "es_loss"} == {"separate"}
        assert decisions(shared_runs) == decisions(res["runs"]), case_id
        hosts = {r.variant: r.details.get("fit") for r in shared_runs if r.tool == "es_loss"}
        plain = {r.variant: r.status for r in shared_runs if r.tool == "plain"}
        if case_id == "good":  # our fit stopped at the NaN: the watchers got the plain fit
            assert hosts["buggy"] is None and plain["buggy"] == "ok"
        else:  # our fit ran to its end: the watchers looked on at it, no plain fit
            assert hosts["buggy"] == "deeplocalize" and plain["buggy"] == "n/a"
        assert hosts["fixed"] is None and plain["fixed"] == "ok"  # the overhead's plain fit
    good = decisions(separate["good"]["runs"])
    assert good[("buggy", "terminate_on_nan")][1] is True and good[("fixed", "terminate_on_nan")][1] is False


def test_only_the_first_seed_times_the_overhead_and_runs_verify_always(fake_cases, tmp_path):
    cases_dir, _ = fake_cases
    slow = [c for c in cases_mod.discover(cases_dir) if c.id == "slow"]
    results = scheduler.run_cases(slow, seeds=(0, 1), jobs=1, timeout=400, workdir=tmp_path)
    # one job per seed, each with its own log
    assert [sorted({r.seed for r in res["runs"]}) for res in results] == [[0], [1]]
    assert all(res["status"] == "ok" for res in results), [res["error"] for res in results]
    assert {p.name for p in tmp_path.glob("*.jsonl")} == {f"{slow[0].module}_seed0.jsonl", f"{slow[0].module}_seed1.jsonl"}
    runs = [r for res in results for r in res["runs"]]
    plain = {(r.seed, r.variant): r.status for r in runs if r.tool == "plain"}
    host = {(r.seed, r.variant): r.details.get("fit") for r in runs if r.tool == "umlaut"}
    assert plain == {(0, "buggy"): "n/a", (0, "fixed"): "ok", (1, "buggy"): "n/a", (1, "fixed"): "n/a"}
    assert host == {(0, "buggy"): "deeplocalize", (0, "fixed"): None, (1, "buggy"): "deeplocalize",
                    (1, "fixed"): "deeplocalize"}
    always = {(r.seed, r.variant): r.status for r in runs if r.tool == "deeplocalize_always"}
    assert always == {(0, "buggy"): "ok", (0, "fixed"): "ok", (1, "buggy"): "n/a", (1, "fixed"): "n/a"}
    auto = {(r.seed, r.variant): r.status for r in runs if r.tool == "deeplocalize"}
    assert set(auto.values()) == {"ok"} and len(auto) == 4


def test_a_repair_skipped_on_a_later_seed_is_not_scored():
    gt = {"validity": {"metric": "accuracy", "fixed": ">= 0.9"}}
    rec = RunRecord("c", 1, "buggy", "deeplocalize", flagged=True, verified_fix={"fix": "f"},
                    details={"repair": {"skipped": "first seed only"}})
    tool = tools_mod.TOOLS["deeplocalize"]
    assert scoring._repaired(tool, gt, rec, None) is None
    rec.details["repair"] = {"error": "did not apply"}
    assert scoring._repaired(tool, gt, rec, None) is False


def test_subcommands_are_wired(monkeypatch):
    from deeplocalize.bench import overhead
    from deeplocalize.neurons import evaluate

    seen = []
    monkeypatch.setattr(overhead, "main", lambda argv=None: seen.append(("overhead", argv)) or 0)
    monkeypatch.setattr(evaluate, "main", lambda argv=None: seen.append(("neurons", argv)) or 0)
    assert bench_main(["overhead", "--models", "mlp"]) == 0
    assert bench_main(["neurons", "--help-me"]) == 0
    assert seen == [("overhead", ["--models", "mlp"]), ("neurons", ["--help-me"])]
    assert bench_main(["run", "--cases", "no_such_case_anywhere", "--no-progress"]) == 2


# ---- the --quick subset end to end -----------------------------------------------------------------
@pytest.mark.skipif(os.environ.get("DEEPLOCALIZE_SKIP_BENCH_E2E") == "1", reason="DEEPLOCALIZE_SKIP_BENCH_E2E=1")
def test_quick_benchmark_end_to_end(tmp_path):
    out = tmp_path / "bench"
    assert bench_main(["--quick", "--jobs", "2", "--out", str(out), "--no-progress"]) == 0
    quick = cases_mod.select(cases_mod.discover(), quick=True)
    quick_healthy = cases_mod.select(cases_mod.discover(healthy=True), quick=True)

    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["id"] for r in rows] == [c.id for c in quick + quick_healthy]
    assert {r["kind"] for r in rows if r["id"] in {c.id for c in quick_healthy}} <= {"healthy"}
    assert list(rows[0]) == results.csv_columns()
    for r in rows:
        assert r["status"] in ("ok", "crashed", "timeout")
        if r["status"] == "ok" and r["kind"] == "healthy":
            assert r["dl_false_alarm"] in ("0", "1") and r["dd_false_alarm"] in ("0", "1") and r["dl_detected"] == ""
        elif r["status"] == "ok":
            assert r["dl_detected"] in ("0", "1") and r["dl_false_alarm"] in ("0", "1")
            assert r["ton_detected"] in ("0", "1") and r["es_loss_detected"] in ("0", "1")
            assert r["paper_detected"] in ("0", "1")
            assert float(r["plain_wall_fixed_s"]) > 0  # the overhead's denominator
            # the buggy program gets a plain fit only when our fit of it stopped early
            assert r["plain_wall_buggy_s"] == "" or float(r["plain_wall_buggy_s"]) > 0
    assert sum(r["status"] == "ok" for r in rows) >= len(rows) - 1, [(r["id"], r["error"]) for r in rows]
    assert any(r["overhead_cpu_ratio"] and float(r["overhead_cpu_ratio"]) > 0 for r in rows)  # process CPU timed

    doc = json.loads((out / "results.json").read_text())
    assert set(doc) == {"meta", "totals", "paper_totals", "cases"}
    assert doc["meta"]["quick"] is True and doc["meta"]["seeds"] == [0]
    assert doc["paper_totals"]["deeplocalize"] == {"detected": 34, "localized": 21}
    assert set(doc["totals"]["tools"]) == {"deeplocalize", "deeplocalize_always", "deeplocalize_rules",
                                           "terminate_on_nan", "es_loss", "es_accuracy", "keras_all",
                                           "umlaut", "autotrainer", "deepdiagnosis"}
    # one DeepLocalize fit, read three ways: verification ran on its buggy runs and was timed
    assert doc["totals"]["tools"]["deeplocalize_always"]["verification_s"]["n"] >= 1
    assert doc["totals"]["tools"]["deeplocalize_rules"]["verification_s"]["n"] == 0
    assert doc["totals"]["tools"]["deeplocalize"]["repaired"]["of"] >= 1
    assert set(doc["totals"]["healthy"]["umlaut"]) == {"count", "of"}
    n_ok = sum(r["status"] == "ok" and r["kind"] != "healthy" for r in rows)
    assert doc["totals"]["tools"]["deeplocalize"]["detected"]["of"] >= n_ok - 1
    for case in doc["cases"]:
        if case["status"] == "ok" and case["kind"] == "healthy":
            assert set(case["runs"]) == {"healthy"} and "umlaut" in case["runs"]["healthy"]
        elif case["status"] == "ok":
            assert set(case["runs"]) == {"buggy", "fixed"}
            assert {"plain", "deeplocalize", "terminate_on_nan", "es_loss", "es_accuracy"} <= set(case["runs"]["buggy"])
            assert set(case["scores"]["deeplocalize_modes"]) == {"rules", "learned", "both"}
            assert case["published"] is not None

    md = (out / "results.md").read_text()
    assert "## Totals" in md and "## Per case" in md
    assert "34/40" in md and "21/40" in md and "32/40" in md
    for c in quick + quick_healthy:
        assert f"| {c.id} |" in md
    assert "## Published results beside ours" in md and "## Healthy programs" in md


def test_overhead_measure_pairs_rounds_and_tabulates():
    from deeplocalize.bench import overhead

    rows = overhead.measure(models=["mlp"], repeats=2, n=128, epochs=1)
    (row,) = rows
    assert row["model"] == "mlp" and row["steps"] == 4
    assert row["ratio_q1"] <= row["ratio"] <= row["ratio_q3"] and row["cpu_ratio"] > 0
    ran, fits = (int(v) for v in row["verified_runs"].split("/"))
    assert fits == 5 and 0 <= ran <= fits  # one untimed warm-up and two per round
    table = overhead.format_table(rows + [dict(row, model="wide", ratio=2.0, cpu_ratio=3.0)])
    assert "| mlp | 4 |" in table and "worst 2.000" in table and "CPU time: median" in table
    with pytest.raises(ValueError, match="choose from mlp, cnn, lstm, wide"):
        overhead.build("resnet")


def test_overhead_data_has_learnable_labels():
    from deeplocalize.bench import overhead

    rng = np.random.default_rng(0)
    x, y = overhead._data("image", 500, rng)
    squares = [(r, c) for r in (2, 11, 19) for c in (2, 11, 19)] + [(7, 15)]
    brightest = np.argmax([x[:, r:r + 7, c:c + 7, 0].mean(axis=(1, 2)) for r, c in squares], axis=0)
    assert (brightest == y).mean() > 0.95 and len(set(y.tolist())) == 10
    for kind in ("dense", "sequence"):
        x, y = overhead._data(kind, 2000, rng)
        assert x.shape[0] == y.shape[0] == 2000 and len(set(y.tolist())) >= 8
        assert np.bincount(y).max() < 0.3 * len(y)  # no class swamps the rest


def test_overhead_times_the_other_instruments_beside_ours():
    import keras

    from deeplocalize.bench import overhead, overhead_tools

    rows = overhead.measure(models=["mlp"], repeats=1, n=64, epochs=1, tools=("check_numerics", "deepdiagnosis"))
    assert [r["tool"] for r in rows] == ["check_numerics", "deepdiagnosis"] and all(r["ratio"] > 0 for r in rows)
    skipped = {"model": "mlp", "label": "TensorBoard(histogram_freq=1)", "skipped": "tensorboard is not installed"}
    table = overhead.format_table(rows + [skipped])
    assert "| mlp | 2 | tf.debugging.enable_check_numerics() |" in table
    assert "TensorBoard(histogram_freq=1): not measured (tensorboard is not installed)" in table
    assert set(overhead_tools.SETTINGS) == {"deeplocalize", "tensorboard", "check_numerics", "per_batch_probe",
                                            "batch_hook", "umlaut", "autotrainer", "deepdiagnosis"}
    hook = overhead_tools.SETTINGS["batch_hook"].make(None, None, None, 32)
    assert len(hook) == 1 and type(hook[0]).on_train_batch_end is not keras.callbacks.Callback.on_train_batch_end


# ---- several seeds: majority of seeds detects, any seed raises a false alarm -------------------------
def test_majority_of_seeds_scoring_on_hand_made_example():
    gt = {"faulty_layer": ["dense_out"], "root_cause": "activation", "secondary_causes": []}

    def row(cid, seed, flagged_buggy, flagged_fixed, layer="dense_out", status="ok"):
        runs = {"buggy": {"deeplocalize": _dl(flagged_buggy, layer, "activation", 2)},
                "fixed": {"deeplocalize": _dl(flagged_fixed)}}
        if status != "ok":
            runs["buggy"]["deeplocalize"] = _run(None, status="error", tool="deeplocalize")
        return {"id": cid, "seed": seed, "status": "ok", "scores": scoring.score_case(gt, runs), "overhead": {}}

    rows = [
        # P: flagged in 2 of 3 seeds -> detected; one fixed seed flagged -> a false alarm
        row("P", 0, True, False), row("P", 1, False, False), row("P", 2, True, True),
        # Q: flagged in 1 of 3 -> missed; localized by majority only where detected
        row("Q", 0, True, False), row("Q", 1, False, False), row("Q", 2, False, False),
        # R: 1 of 2 seeds that ran (one crashed) -> a tie is not a majority
        row("R", 0, True, False), row("R", 1, False, False), row("R", 2, None, False, status="error"),
        # S: every seed agrees, wrong layer
        row("S", 0, True, False, layer="dense_1"), row("S", 1, True, False, layer="dense_1"),
        row("S", 2, True, False, layer="dense_1"),
    ]
    agg = scoring.aggregate_seeds(rows[:3])["deeplocalize"]
    assert agg["detected"] is True and agg["false_alarm"] is True and agg["agreement"] == (2, 3)
    assert agg["localized"] is True and agg["steps"] == 2
    assert scoring.aggregate_seeds(rows[3:6])["deeplocalize"]["detected"] is False
    r = scoring.aggregate_seeds(rows[6:9])["deeplocalize"]
    assert r["detected"] is False and r["agreement"] == (1, 2)
    t = scoring.totals(rows)["tools"]["deeplocalize"]
    assert t["detected"] == {"count": 2, "of": 4}  # P and S
    assert t["false_alarm"] == {"count": 1, "of": 4}  # P
    assert t["localized"] == {"count": 1, "of": 4}  # P (S names the wrong layer)
    assert t["all_seeds_agree"] == {"count": 1, "of": 4}  # only S
    assert scoring.totals(rows)["programs"] == 4


def test_healthy_rows_count_false_alarms_per_program():
    def row(cid, seed, flagged):
        runs = {"healthy": {"deeplocalize": _dl(flagged), "umlaut": _run(True, tool="umlaut")}}
        return {"id": cid, "seed": seed, "kind": "healthy", "status": "ok", "scores": scoring.score_case(None, runs),
                "overhead": {}}

    t = scoring.totals([row("h1", 0, False), row("h1", 1, True), row("h2", 0, False), row("h2", 1, False)])
    assert t["healthy"]["deeplocalize"] == {"count": 1, "of": 2}  # any seed flagged is a false alarm
    assert t["healthy"]["umlaut"] == {"count": 2, "of": 2}
    assert t["healthy"]["es_loss"] == {"count": 0, "of": 0}  # not run: n/a
    assert t["tools"]["deeplocalize"]["detected"]["of"] == 0  # healthy rows never count as detections


def test_every_healthy_program_builds_and_trains_a_step():
    import keras

    found = cases_mod.discover(healthy=True)
    assert len(found) >= 15 and all(c.kind == "healthy" and c.id.startswith("healthy_") for c in found)
    assert {c.id for c in cases_mod.select(found, quick=True)} == set(cases_mod.QUICK_HEALTHY)
    for case in found:
        program = cases_mod.load_module(case.path).build("healthy", seed=0)
        x, y = program["x"], program["y"]
        cut = (lambda a: [v[:8] for v in a]) if isinstance(x, list) else (lambda a: a[:8])
        program["model"].run_eagerly = True  # one step: tracing the train function would cost more
        history = program["model"].fit(cut(x), y[:8], epochs=1, batch_size=8, verbose=0)
        assert np.isfinite(history.history["loss"][0]), case.id
        keras.backend.clear_session()


def test_repaired_compares_with_the_fixed_programs_validity_and_metric():
    from deeplocalize.bench.scoring import repaired

    acc = {"validity": {"metric": "accuracy", "fixed": ">= 0.9"}}
    assert repaired({"accuracy": 0.91}, acc, {"accuracy": 0.99}) is True       # meets the condition
    assert repaired({"accuracy": 0.87}, acc, {"accuracy": 0.88}) is True       # within 5% of the fixed run
    assert repaired({"accuracy": 0.80}, acc, {"accuracy": 0.88}) is False
    assert repaired({"accuracy": float("nan")}, acc, {"accuracy": 0.88}) is False
    assert repaired({"loss": 0.1}, acc, {"accuracy": 0.88}) is False            # the metric is missing
    loss = {"validity": {"metric": "loss", "fixed": "<= 0.05"}}
    assert repaired({"loss": 0.04}, loss, {"loss": 0.01}) is True
    assert repaired({"loss": 0.3}, loss, {"loss": 0.2}) is False
    assert repaired({"loss": 0.3}, {"validity": {}}, {"loss": 0.2}) is None     # no condition: not scored


def test_trials_command_prints_every_trial_and_refuses_an_unknown_case(capsys):
    from deeplocalize.bench import trials
    from deeplocalize.verify.verdict import Trial, Verification

    seed = {"score": 0.9, "rel_loss": 0.25}
    v = Verification(trials=[Trial("as_is", verdict="baseline", steps=300, seeds=[seed]),
                             Trial("hidden_relu", "activation", verdict="proven", steps=300, seeds=[seed, seed],
                                   improvement={"score_gain": 0.4, "loss_ratio": 0.1}, seconds=1.5),
                             Trial("dropout_lower", "architecture", note="not tried: the time budget was spent")])
    lines = trials.table(v)
    assert len(lines) == 3 and "proven" in lines[1] and "score=[0.9, 0.9]" in lines[1] and "gain=0.4" in lines[1]
    assert "not tried: the time budget was spent" in lines[2]
    with pytest.raises(SystemExit, match="^no case matches no_such_program_anywhere"):
        bench_main(["trials", "no_such_program_anywhere"])


@pytest.mark.slow
def test_trials_command_end_to_end(capsys):
    assert bench_main(["trials", "healthy_iris_mlp", "--verify", "always"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("healthy_iris_mlp (healthy, seed 0, verify=always)") and "  as_is " in out
