"""Scored rows from raw case results, and the result files: CSV, JSON, Markdown.

One row per case and seed. ``results.md`` has the totals table (ours beside
the paper's), the diagnoser modes, the overhead, and a per-case table with
the published DeepLocalize result next to ours.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
from pathlib import Path

from deeplocalize.bench import scoring
from deeplocalize.bench.baselines import KERAS_TOOLS, SCORED_TOOLS, TOOL_LABELS
from deeplocalize.bench.cases import PAPER_TOTALS

SHORT = {"deeplocalize": "dl", "terminate_on_nan": "ton", "es_loss": "es_loss", "es_accuracy": "es_acc",
         "keras_all": "keras_all"}


def make_rows(raw_results: list[dict], ground_truth: dict, published: dict) -> list[dict]:
    """One scored row per case and seed. ``ground_truth`` maps case id to its
    (normalised) ground truth or None; ``published`` maps id to the paper's result."""
    rows = []
    for res in raw_results:
        case = res["case"]
        gt = ground_truth.get(case["id"])
        seeds = sorted({r["seed"] for r in res["runs"]}) or [None]
        for seed in seeds:
            runs: dict = {"buggy": {}, "fixed": {}}
            for r in res["runs"]:
                if r["seed"] == seed:
                    runs.setdefault(r["variant"], {})[r["tool"]] = r
            status, error = res["status"], res["error"]
            seed_errors = [r for v in runs.values() for r in v.values() if r.get("status") == "error"]
            if status == "crashed" and not seed_errors and res["runs"] and res.get("returncode") == 0:
                status, error = "ok", None  # another seed crashed, not this one
            row = {
                "id": case["id"], "module": case["module"], "seed": seed, "status": status, "error": error,
                "ground_truth": None if gt is None else {k: gt.get(k) for k in ("faulty_layer", "root_cause",
                                                                                "secondary_causes", "symptom")},
                "published": published.get(case["id"]),
                "runs": runs,
                "case_wall_s": res.get("wall_s"),
                "case_cpu_s": res.get("cpu_s"),
            }
            row["scores"] = scoring.score_case(gt, runs) if res["runs"] else None
            row["overhead"] = scoring.overhead(runs)
            dl = runs["buggy"].get("deeplocalize") or {}
            row["report"] = dl.get("report")
            row["report_error"] = dl.get("report_error")
            rows.append(row)
    return rows


# ---- CSV ---------------------------------------------------------------------------------------
def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return "|".join(str(x) for x in v)
    return v


def csv_columns() -> list[str]:
    cols = ["id", "module", "seed", "status", "error", "gt_faulty_layer", "gt_root_cause", "gt_secondary_causes"]
    for tool in SCORED_TOOLS:
        p = SHORT[tool]
        cols += [f"{p}_detected", f"{p}_false_alarm", f"{p}_localized", f"{p}_steps"]
        if tool == "deeplocalize":
            cols += ["dl_faulty_layer", "dl_root_cause", "dl_root_cause_strict", "dl_root_cause_lenient"]
        if tool != "keras_all":
            cols += [f"{p}_wall_buggy_s", f"{p}_wall_fixed_s"]
    for mode in ("rules", "learned", "both"):
        cols += [f"dl_{mode}_faulty_layer", f"dl_{mode}_root_cause", f"dl_{mode}_localized",
                 f"dl_{mode}_root_cause_strict", f"dl_{mode}_root_cause_lenient", f"dl_{mode}_error"]
    cols += ["plain_wall_buggy_s", "plain_wall_fixed_s", "overhead_ratio", "overhead_variant",
             "paper_detected", "paper_localized", "paper_time_s", "case_wall_s", "case_cpu_s", "report"]
    return cols


def csv_row(row: dict) -> dict:
    gt = row.get("ground_truth") or {}
    out = {"id": row["id"], "module": row["module"], "seed": row["seed"], "status": row["status"],
           "error": row["error"], "gt_faulty_layer": gt.get("faulty_layer"), "gt_root_cause": gt.get("root_cause"),
           "gt_secondary_causes": gt.get("secondary_causes")}
    scores = row.get("scores") or {}
    for tool in SCORED_TOOLS:
        p, s = SHORT[tool], scores.get(tool) or {}
        out.update({f"{p}_detected": s.get("detected"), f"{p}_false_alarm": s.get("false_alarm"),
                    f"{p}_localized": s.get("localized"), f"{p}_steps": s.get("steps"),
                    f"{p}_wall_buggy_s": s.get("wall_buggy_s"), f"{p}_wall_fixed_s": s.get("wall_fixed_s")})
        if tool == "deeplocalize":
            out.update(dl_faulty_layer=s.get("faulty_layer"), dl_root_cause=s.get("root_cause"),
                       dl_root_cause_strict=s.get("root_cause_strict"),
                       dl_root_cause_lenient=s.get("root_cause_lenient"))
    for mode in ("rules", "learned", "both"):
        m = (scores.get("deeplocalize_modes") or {}).get(mode) or {}
        for k in ("faulty_layer", "root_cause", "localized", "root_cause_strict", "root_cause_lenient", "error"):
            out[f"dl_{mode}_{k}"] = m.get(k)
    plain_b = row["runs"].get("buggy", {}).get("plain") or {}
    plain_f = row["runs"].get("fixed", {}).get("plain") or {}
    pub = row.get("published") or {}
    out.update(plain_wall_buggy_s=plain_b.get("wall_s"), plain_wall_fixed_s=plain_f.get("wall_s"),
               overhead_ratio=row["overhead"].get("ratio"), overhead_variant=row["overhead"].get("variant"),
               paper_detected=pub.get("detected"), paper_localized=pub.get("localized"),
               paper_time_s=pub.get("time_s"), case_wall_s=row.get("case_wall_s"), case_cpu_s=row.get("case_cpu_s"),
               report=row.get("report"))
    return {k: _csv_value(out.get(k)) for k in csv_columns()}


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=csv_columns())
        writer.writeheader()
        for row in rows:
            writer.writerow(csv_row(row))


# ---- JSON --------------------------------------------------------------------------------------
def _clean(value):
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_json(rows: list[dict], totals: dict, meta: dict, path: Path) -> None:
    doc = {"meta": meta, "totals": totals, "paper_totals": PAPER_TOTALS, "cases": rows}
    path.write_text(json.dumps(_clean(doc), indent=1, default=str), encoding="utf-8")


# ---- Markdown ----------------------------------------------------------------------------------
def _yn(v) -> str:
    return "n/a" if v is None else ("yes" if v else "no")


def _frac(d: dict) -> str:
    return f"{d['count']}/{d['of']}" if d and d.get("of") else "n/a"


def _fmt(v, spec=".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(rows: list[dict], totals: dict, meta: dict, published: dict, missing: list[str] | None = None,
             out_dir: Path | None = None) -> str:
    ids = sorted({r["id"] for r in rows})
    pub_same = scoring.published_totals(published, ids)
    n_seeds = len(meta.get("seeds") or [0])
    lines = ["# Benchmark results", ""]
    lines.append(f"{len(ids)} cases, seeds {meta.get('seeds')}, {totals['rows']} case×seed rows "
                 f"({totals['status']['ok']} ok, {totals['status']['crashed']} crashed, "
                 f"{totals['status']['timeout']} timed out); jobs {meta.get('jobs')}, "
                 f"{_fmt(meta.get('duration_s'), '.0f')} s in all; {meta.get('date', '')}.")
    cpu = [r["case_cpu_s"] for r in rows if r.get("case_cpu_s")]
    if cpu:
        lines.append("")
        lines.append(f"CPU time of the case processes: {sum(cpu):.0f} s over {len(cpu)} finished cases "
                     f"(wall time depends on what else runs on the machine; the load average at the end "
                     f"was {meta.get('load_end', 'n/a')}).")
    lines.append("")
    lines.append("Counts are `k/n`: k cases where it holds among the n where it applies (a crashed or timed-out "
                 "run, or a baseline that is n/a, is left out of n)." +
                 (" With several seeds each case counts once per seed." if n_seeds > 1 else ""))
    lines.append("")
    lines.append("## Totals")
    lines.append("")
    lines.append(f"| tool | detected | false alarms | localized | root cause (strict) | root cause (lenient) "
                 f"| median steps to detection | paper detected (40) | paper localized (40) "
                 f"| paper DL on these {pub_same['of']} cases |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for tool in SCORED_TOOLS:
        t = totals["tools"][tool]
        paper = PAPER_TOTALS.get(tool, {})
        pd = f"{paper['detected']}/40" if "detected" in paper else "n/a"
        pl = f"{paper['localized']}/40" if "localized" in paper else ("0/40" if tool != "deeplocalize" else "n/a")
        same = (f"detected {pub_same['detected']}/{pub_same['of']}, localized {pub_same['localized']}/{pub_same['of']}"
                if tool == "deeplocalize" and pub_same["of"] else "")
        lines.append(f"| {TOOL_LABELS[tool]} | {_frac(t['detected'])} | {_frac(t['false_alarm'])} | "
                     f"{_frac(t['localized'])} | {_frac(t['root_cause_strict'])} | {_frac(t['root_cause_lenient'])} | "
                     f"{_fmt(t['median_steps'], 'g')} | {pd} | {pl} | {same} |")
    lines.append("")
    lines.append("The paper's Keras numbers come from a summary of the paper (no per-case Keras results were "
                 "published); it reports no false alarms for any tool.")
    lines.append("")
    lines.append("### DeepLocalize diagnosers on the same buggy traces (no retraining)")
    lines.append("")
    lines.append("| diagnoser | localized | root cause (strict) | root cause (lenient) | note |")
    lines.append("|---|---|---|---|---|")
    for mode, m in totals["modes"].items():
        note = "n/a: " + "; ".join(m["errors"]) if m["errors"] and not m["available"] else (
            "; ".join(m["errors"]) if m["errors"] else "")
        lines.append(f"| {mode} | {_frac(m['localized'])} | {_frac(m['root_cause_strict'])} | "
                     f"{_frac(m['root_cause_lenient'])} | {_cell(note[:200])} |")
    lines.append("")
    oh = totals["overhead"]
    lines.append(f"**Overhead** (per-step time with DeepLocalize ÷ without, same variant, same process; "
                 f"{oh['n']} cases): median {_fmt(oh['median'], '.3f')}, worst {_fmt(oh['max'], '.3f')}. "
                 "Per-step times leave out the first epoch (tracing) when a run has two or more; these are short "
                 "benchmark runs on a shared machine, so `python -m deeplocalize.bench overhead` is the careful "
                 "measurement.")
    lines.append("")
    lines.append("## Per case")
    lines.append("")
    head = ("| case | seed | status | ground truth (layer; cause) | DL detected | DL false alarm | DL layer | "
            "DL cause | DL localized | DL cause right (strict/lenient) | DL step | paper DL det/loc | "
            "TerminateOnNaN det/FA | ES(loss) det/FA | ES(acc) det/FA | all three det/FA | overhead | report |")
    lines.append(head)
    lines.append("|" + "---|" * (head.count("|") - 1))
    for r in sorted(rows, key=lambda r: (r["module"], r["seed"] if r["seed"] is not None else -1)):
        gt = r.get("ground_truth") or {}
        gt_txt = (", ".join(gt.get("faulty_layer") or []) + "; " + str(gt.get("root_cause"))) if gt else "missing"
        s = r.get("scores") or {}
        dl = s.get("deeplocalize") or {}
        pub = r.get("published") or {}
        pub_txt = f"{_yn(pub.get('detected'))}/{_yn(pub.get('localized'))}" if pub else "n/a"
        status = r["status"] if r["status"] == "ok" else f"**{r['status']}**: {_cell(str(r['error'])[:120])}"

        def df(tool):
            t = s.get(tool) or {}
            return f"{_yn(t.get('detected'))}/{_yn(t.get('false_alarm'))}"

        report = ""
        if r.get("report"):
            link = r["report"]
            if out_dir is not None:
                try:
                    link = os.path.relpath(r["report"], out_dir)
                except ValueError:
                    pass
            report = f"[html]({link})"
        elif r.get("report_error"):
            report = "failed: " + _cell(r["report_error"][:80])
        cause_right = f"{_yn(dl.get('root_cause_strict'))}/{_yn(dl.get('root_cause_lenient'))}"
        lines.append(
            f"| {r['id']} | {r['seed']} | {status} | {_cell(gt_txt)} | {_yn(dl.get('detected'))} | "
            f"{_yn(dl.get('false_alarm'))} | {_cell(dl.get('faulty_layer') or '')} | {dl.get('root_cause') or ''} | "
            f"{_yn(dl.get('localized'))} | {cause_right} | {_fmt(dl.get('steps'), 'g')} | {pub_txt} | "
            f"{df('terminate_on_nan')} | {df('es_loss')} | {df('es_accuracy')} | {df('keras_all')} | "
            f"{_fmt(r['overhead'].get('ratio'), '.2f')} | {report} |")
    if missing:
        lines.append("")
        lines.append(f"Cases of the paper's 40 with no case module yet ({len(missing)}): {', '.join(missing)}.")
    lines.append("")
    lines.append("Columns: *det* = the buggy run was flagged, *FA* = the fixed run was flagged (false alarm); "
                 "*DL step* = the step of the first DeepLocalize finding; *paper DL det/loc* = DeepLocalize's "
                 "published result (DeepDiagnosis ICSE'22 Table 6).")
    lines.append("")
    lines.append(f"Environment: {meta.get('python')}, keras {meta.get('keras')}, {meta.get('machine')}.")
    return "\n".join(lines) + "\n"


def meta_info(args_dict: dict) -> dict:
    info = dict(args_dict)
    info["python"] = "Python " + platform.python_version()
    info["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    try:
        from importlib.metadata import version

        info["keras"] = version("keras")
    except Exception:
        info["keras"] = "?"
    return info


def totals_text(totals: dict, pub_same: dict) -> str:
    """A few lines for the console."""
    out = []
    for tool in SCORED_TOOLS:
        t = totals["tools"][tool]
        paper = PAPER_TOTALS.get(tool, {})
        extra = f"  (paper: {paper['detected']}/40" + (f", localized {paper['localized']}/40" if "localized" in paper else "") + ")"
        loc = f"  localized {_frac(t['localized'])}" if tool == "deeplocalize" else ""
        cause = (f"  root cause {_frac(t['root_cause_strict'])} strict, {_frac(t['root_cause_lenient'])} lenient"
                 if tool == "deeplocalize" else "")
        out.append(f"{TOOL_LABELS[tool]:<30} detected {_frac(t['detected']):>6}  false alarms "
                   f"{_frac(t['false_alarm']):>6}{loc}{cause}{extra}")
    if pub_same.get("of"):
        out.append(f"Published DeepLocalize on these {pub_same['of']} cases: detected {pub_same['detected']}, "
                   f"localized {pub_same['localized']}.")
    oh = totals["overhead"]
    out.append(f"Overhead ratio: median {_fmt(oh['median'], '.3f')}, worst {_fmt(oh['max'], '.3f')} ({oh['n']} cases). "
               f"Status: {totals['status']}.")
    return "\n".join(out)


__all__ = ["make_rows", "write_csv", "write_json", "markdown", "totals_text", "meta_info", "KERAS_TOOLS"]
