"""Scored rows from raw case results, and the result files CSV and JSON.

One row per case and seed (`make_rows`); ``results.md`` is written by
`deeplocalize.bench.markdown`.

Example:
    >>> rows = make_rows(raw, ground_truth, published_dl, published_deepfd)
    >>> write_csv(rows, Path("out/results.csv"))
"""

from __future__ import annotations

import csv
import json
import os
import platform
from pathlib import Path

from deeplocalize.bench import published, scoring
from deeplocalize.bench.cases import PAPER_TOTALS
from deeplocalize.bench.record import RunRecord
from deeplocalize.bench.tools import scored_tools
from deeplocalize.findings import jsonable as _jsonable


def make_rows(raw_results: list[dict], ground_truth: dict, published: dict,
              published_deepfd: dict | None = None) -> list[dict]:
    """One scored row per case and seed. ``ground_truth`` maps case id to its
    (normalised) ground truth or None; ``published`` maps id to the paper's
    result, ``published_deepfd`` to DeepFD's evaluation (`published.load_deepfd`)."""
    rows = []
    for res in raw_results:
        case = res["case"]
        gt = ground_truth.get(case["id"])
        seeds = sorted({r.seed for r in res["runs"]}) or [None]
        for seed in seeds:
            runs: dict = {"buggy": {}, "fixed": {}}
            for r in res["runs"]:
                if r.seed == seed:
                    runs.setdefault(r.variant, {})[r.tool] = r
            healthy = "healthy" in runs
            if healthy:
                runs = {"healthy": runs["healthy"]}
            status, error = res["status"], res["error"]
            seed_errors = [r for v in runs.values() for r in v.values() if r.status == "error"]
            if status == "crashed" and not seed_errors and res["runs"] and res.get("returncode") == 0:
                status, error = "ok", None  # another seed crashed, not this one
            row = {
                "id": case["id"], "module": case["module"], "seed": seed, "status": status, "error": error,
                "kind": "healthy" if healthy else "buggy",
                "ground_truth": None if gt is None else {k: gt.get(k) for k in ("faulty_layer", "root_cause",
                                                                                "secondary_causes", "symptom",
                                                                                "valid")},
                "published": published.get(case["id"]),
                "published_deepfd": (published_deepfd or {}).get(case["id"]),
                "runs": runs,
                "case_wall_s": res.get("wall_s"),
                "case_cpu_s": res.get("cpu_s"),
            }
            row["scores"] = scoring.score_case(gt, runs) if res["runs"] else None
            row["overhead"] = scoring.overhead(runs)
            dl = (runs.get("buggy") or {}).get(scoring.OURS)
            row["report"] = dl.report if dl else None
            row["report_error"] = dl.report_error if dl else None
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


def _tool_columns(tool) -> list[str]:
    p = tool.short
    cols = [f"{p}_detected", f"{p}_false_alarm", f"{p}_localized", f"{p}_steps"]
    if tool.names_layer or tool.names_cause:
        cols += [f"{p}_faulty_layer", f"{p}_root_cause", f"{p}_root_cause_strict", f"{p}_root_cause_lenient"]
    if not tool.any_of:
        cols += [f"{p}_wall_buggy_s", f"{p}_wall_fixed_s"]
    return cols


def csv_columns() -> list[str]:
    cols = ["id", "module", "kind", "seed", "status", "error", "gt_faulty_layer", "gt_root_cause",
            "gt_secondary_causes"]
    for tool in scored_tools():
        cols += _tool_columns(tool)
    for mode in ("rules", "learned", "both"):
        cols += [f"dl_{mode}_faulty_layer", f"dl_{mode}_root_cause", f"dl_{mode}_localized",
                 f"dl_{mode}_root_cause_strict", f"dl_{mode}_root_cause_lenient", f"dl_{mode}_error"]
    cols += ["plain_wall_buggy_s", "plain_wall_fixed_s", "overhead_ratio", "overhead_cpu_ratio", "overhead_variant",
             "paper_detected", "paper_localized", "paper_time_s"]
    cols += [f"deepfd_pub_{t}_{m}" for t in published.TOOLS for m in published.METRICS]
    cols += ["case_wall_s", "case_cpu_s", "report"]
    return cols


def csv_row(row: dict) -> dict:
    gt = row.get("ground_truth") or {}
    out = {"id": row["id"], "module": row["module"], "kind": row.get("kind"), "seed": row["seed"],
           "status": row["status"], "error": row["error"], "gt_faulty_layer": gt.get("faulty_layer"),
           "gt_root_cause": gt.get("root_cause"), "gt_secondary_causes": gt.get("secondary_causes")}
    scores = row.get("scores") or {}
    for tool in scored_tools():
        p, s = tool.short, scores.get(tool.name) or {}
        out.update({f"{p}_detected": s.get("detected"), f"{p}_false_alarm": s.get("false_alarm"),
                    f"{p}_localized": s.get("localized"), f"{p}_steps": s.get("steps"),
                    f"{p}_wall_buggy_s": s.get("wall_buggy_s"), f"{p}_wall_fixed_s": s.get("wall_fixed_s"),
                    f"{p}_faulty_layer": s.get("faulty_layer"), f"{p}_root_cause": s.get("root_cause"),
                    f"{p}_root_cause_strict": s.get("root_cause_strict"),
                    f"{p}_root_cause_lenient": s.get("root_cause_lenient")})
    for mode in ("rules", "learned", "both"):
        m = (scores.get("deeplocalize_modes") or {}).get(mode) or {}
        for k in ("faulty_layer", "root_cause", "localized", "root_cause_strict", "root_cause_lenient", "error"):
            out[f"dl_{mode}_{k}"] = m.get(k)
    plain_b = row["runs"].get("buggy", {}).get("plain")
    plain_f = row["runs"].get("fixed", {}).get("plain")
    pub = row.get("published") or {}
    out.update(plain_wall_buggy_s=plain_b.wall_s if plain_b else None,
               plain_wall_fixed_s=plain_f.wall_s if plain_f else None,
               overhead_ratio=row["overhead"].get("ratio"),
               overhead_cpu_ratio=row["overhead"].get("cpu_ratio"), overhead_variant=row["overhead"].get("variant"),
               paper_detected=pub.get("detected"), paper_localized=pub.get("localized"),
               paper_time_s=pub.get("time_s"), case_wall_s=row.get("case_wall_s"), case_cpu_s=row.get("case_cpu_s"),
               report=row.get("report"))
    fd = row.get("published_deepfd") or {}
    for t in published.TOOLS:
        for m in published.METRICS:
            out[f"deepfd_pub_{t}_{m}"] = (fd.get(t) or {}).get(m)
    return {k: _csv_value(out.get(k)) for k in csv_columns()}


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=csv_columns())
        writer.writeheader()
        for row in rows:
            writer.writerow(csv_row(row))


# ---- JSON --------------------------------------------------------------------------------------
def write_json(rows: list[dict], totals: dict, meta: dict, path: Path) -> None:
    doc = {"meta": meta, "totals": totals, "paper_totals": PAPER_TOTALS, "cases": rows}
    path.write_text(json.dumps(_jsonable(doc), indent=1,
                               default=lambda o: o.to_dict() if isinstance(o, RunRecord) else str(o)),
                    encoding="utf-8")


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


__all__ = ["make_rows", "write_csv", "write_json", "meta_info"]
