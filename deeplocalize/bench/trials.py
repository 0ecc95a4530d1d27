"""``python -m deeplocalize.bench trials CASE``: one program's verification, trial by trial.

Fits one benchmark program (buggy, fixed, or a healthy one) with the
callback and prints its diagnosis and every trial of the verification:
the candidate, its verdict, the root cause it tests, the steps, the
held-back score and the loss relative to its start in each seed, the
improvement over the copy as it is, the seconds it took and its note. The
tool for asking why a fix was or was not proven; it never reads the ground
truth.

Example:
    python -m deeplocalize.bench trials gol_nn
    python -m deeplocalize.bench trials 44164749 --variant fixed --verify auto
    python -m deeplocalize.bench trials healthy_iris_mlp
"""

from __future__ import annotations

import argparse
import sys
import time


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deeplocalize.bench trials",
                                description="Fit one benchmark program with DeepLocalizeCallback and print its "
                                            "diagnosis and every verification trial.")
    p.add_argument("case", help="a case id or module name (e.g. gol_nn, 44164749, healthy_iris_mlp)")
    p.add_argument("--variant", choices=("buggy", "fixed"), default="buggy",
                   help="which version of a benchmark case (default buggy; a healthy program has one)")
    p.add_argument("--verify", choices=("auto", "always", "never"), default="always",
                   help="the callback's verify mode (default always: every run gets its trials)")
    p.add_argument("--seed", type=int, default=0, help="the program's seed (default 0)")
    return p


def _find(case: str):
    from deeplocalize.bench import cases as cases_mod

    found = cases_mod.discover() + cases_mod.discover(healthy=True)
    try:
        chosen = cases_mod.select(found, [case])
    except ValueError as exc:
        raise SystemExit(str(exc).replace("--cases: ", "")) from None
    if len(chosen) != 1:
        names = ", ".join(c.id for c in chosen[:10]) or "none"
        raise SystemExit(f"{case!r} matches {len(chosen)} programs ({names}); give one case id or module name.")
    return chosen[0]


def table(verification) -> list[str]:
    """The trial table as text lines (one per trial).

    Example:
        >>> print("\n".join(table(cb.diagnosis.verification)))
          as_is            baseline  ...  steps=300   score=[0.51, 0.51] ...
    """
    lines = []
    for t in verification.trials:
        scores = [None if s.get("score") != s.get("score") else round(s["score"], 3) for s in t.seeds]
        rel = [round(s["rel_loss"], 3) for s in t.seeds]
        gain = t.improvement.get("score_gain")
        ratio = t.improvement.get("loss_ratio")
        lines.append(f"  {t.fix[:48]:48s} {t.verdict:14s} {(t.root_cause or ''):18s} steps={t.steps:<5d} "
                     f"score={scores} rel_loss={rel} gain={gain} ratio={ratio} {t.seconds:.2f}s"
                     + (f"  {t.note[:120]}" if t.note else ""))
    return lines


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    info = _find(args.case)
    from deeplocalize import DeepLocalizeCallback
    from deeplocalize.bench import cases as cases_mod

    module = cases_mod.load_module(info.path)
    variant = "healthy" if info.kind == "healthy" else args.variant
    program = module.build(variant, seed=args.seed)
    cb = DeepLocalizeCallback(verify=args.verify, verbose=0)
    fit = dict(program.get("fit") or {})
    fit["verbose"] = 0
    start = time.perf_counter()
    program["model"].fit(program["x"], program.get("y"), callbacks=[cb] + list(fit.pop("callbacks", [])), **fit)
    d = cb.diagnosis
    print(f"{info.id} ({variant}, seed {args.seed}, verify={args.verify}): {d.status}, layer {d.faulty_layer}, "
          f"root cause {d.root_cause}; fit {time.perf_counter() - start:.1f} s")
    for f in d.findings:
        print(f"  finding {f.kind} [{f.severity}] layer {f.layer}, cause {f.root_cause}, step {f.step}")
    v = d.verification
    if v is None:
        print("no verification ran (verify='never', or auto on a run the checks call healthy without a note "
              "worth verifying)")
        return 0
    print(f"verification: chosen {v.chosen}; {v.steps} steps, sample {v.sample_size} examples, "
          f"{v.seconds:.1f} s of a {v.budget:.0f} s budget, score {v.score_name}" + (f"; {v.note}" if v.note else ""))
    print("\n".join(table(v)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
