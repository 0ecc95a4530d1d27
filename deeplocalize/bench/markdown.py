"""``results.md``: the totals of every tool, the peers' published figures beside
ours, the healthy suite's false alarms, and the per-case tables.

Example:
    >>> text = markdown(rows, totals(rows), meta, published_dl, published_deepfd)
    >>> text.startswith("# Benchmark results")
    True
"""

from __future__ import annotations

import os
from pathlib import Path

from deeplocalize.bench import published as pub_mod
from deeplocalize.bench import scoring
from deeplocalize.bench.cases import PAPER_TOTALS
from deeplocalize.bench.tools import TOOLS, scored_tools

MULTI_LABEL_NOTE = (
    "DeepFD's evaluation scores a program as *diagnosed* when a tool names **one** of the program's "
    "fault types, and its ground truth lists several per program (e.g. `act, loss, lr`); our root cause "
    "column asks for the **one** primary cause of our ground truth (strict) or one of its listed secondary "
    "causes (lenient), so their *diagnosed* is the more lenient of the two. Their *localized* is a source "
    "line, ours a layer or component. They ran each tool once on their own Keras 2 setup, and counted no "
    "false alarms on fixed programs.")


def _yn(v) -> str:
    return "n/a" if v is None else ("yes" if v else "no")


def _frac(d: dict) -> str:
    return f"{d['count']}/{d['of']}" if d and d.get("of") else "n/a"


def _fmt(v, spec=".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _header(rows, totals, meta) -> list[str]:
    ids = sorted({r["id"] for r in rows if r.get("kind") != "healthy"})
    n_healthy = len({r["id"] for r in rows if r.get("kind") == "healthy"})
    lines = ["# Benchmark results", ""]
    lines.append(f"{len(ids)} cases" + (f" and {n_healthy} healthy programs" if n_healthy else "") +
                 f", seeds {meta.get('seeds')}, {totals['rows']} program×seed rows "
                 f"({totals['status']['ok']} ok, {totals['status']['crashed']} crashed, "
                 f"{totals['status']['timeout']} timed out); jobs {meta.get('jobs')}, "
                 f"{_fmt(meta.get('duration_s'), '.0f')} s in all; {meta.get('date', '')}; "
                 f"Keras backend {meta.get('backend') or 'tensorflow'}.")
    for tool, why in _not_run(rows).items():
        lines += ["", f"{tool.label} did not run: {why}."]
    cpu = [r["case_cpu_s"] for r in rows if r.get("case_cpu_s")]  # one job per row (case and seed)
    if cpu:
        lines += ["", f"CPU time of the case processes: {sum(cpu):.0f} s over "
                      f"{len(cpu)} finished program×seed runs (wall time depends on what else runs on the machine; the "
                      f"load average at the end was {meta.get('load_end', 'n/a')})."]
    lines += ["", "Counts are `k/n`: k programs where it holds among the n where it applies (a crashed or "
                  "timed-out run, or a baseline that is n/a, is left out of n)." +
              (" With several seeds a program counts as detected (localized, cause right) when the tool "
               "says so in the majority of its seeds, and as a false alarm when any seed of the fixed "
               "version is flagged; *all seeds agree* counts the programs whose buggy verdict is the "
               "same in every seed." if len(meta.get("seeds") or [0]) > 1 else "")]
    return lines


def _not_run(rows) -> dict:
    """``{tool: reason}`` for each tool that was n/a in every run (e.g. not on this backend)."""
    out = {}
    for tool in scored_tools():
        recs = [v[tool.name] for r in rows for v in (r.get("runs") or {}).values() if tool.name in v]
        if recs and all(rec.status == "n/a" for rec in recs):
            out[tool] = "; ".join(sorted({str(rec.error) for rec in recs}))
    return out


def _totals_table(rows, totals, published) -> list[str]:
    ids = sorted({r["id"] for r in rows if r.get("kind") != "healthy"})
    pub_same = scoring.published_totals(published, ids)
    lines = ["", "## Totals", "",
             "| tool | detected | false alarms (fixed) | false alarms (healthy) | localized | root cause (strict) "
             "| root cause (lenient) | all seeds agree | median steps to detection | time on buggy runs (s) "
             f"| paper detected (40) | paper localized (40) | paper DL on these {pub_same['of']} cases |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for tool in scored_tools():
        t = totals["tools"][tool.name]
        paper = PAPER_TOTALS.get(tool.name, {})
        pd = f"{paper['detected']}/40" if "detected" in paper else "n/a"
        pl = f"{paper['localized']}/40" if "localized" in paper else ("0/40" if paper else "n/a")
        same = (f"detected {pub_same['detected']}/{pub_same['of']}, localized {pub_same['localized']}/{pub_same['of']}"
                if tool.name == scoring.OURS and pub_same["of"] else "")
        loc = _frac(t["localized"]) if tool.names_layer or tool.group != "peer" else "not named"
        cause = (_frac(t["root_cause_strict"]), _frac(t["root_cause_lenient"])) if tool.names_cause else \
            ("not named", "not named")
        healthy = _frac(totals["healthy"].get(tool.name) or {})
        lines.append(f"| {tool.label} | {_frac(t['detected'])} | {_frac(t['false_alarm'])} | {healthy} | {loc} | "
                     f"{cause[0]} | {cause[1]} | {_frac(t['all_seeds_agree'])} | {_fmt(t['median_steps'], 'g')} | "
                     f"{_fmt(t['wall_buggy_s_total'], '.0f')} | {pd} | {pl} | {same} |")
    lines += ["", "The paper's Keras numbers come from a summary of the paper (no per-case Keras results were "
                  "published); it reports no false alarms for any tool. UMLAUT, AUTOTRAINER and DeepDiagnosis "
                  "are our re-implementations of their published rules (`deeplocalize/bench/peers/`, "
                  "interpretations listed in benchmark/README.md); they watch the same fit as the Keras "
                  "baselines, so their time is that fit's time up to their verdict plus their own hooks."]
    return lines


def _deepfd_table(rows, totals, deepfd) -> list[str]:
    ids = sorted({r["id"] for r in rows if r.get("kind") != "healthy"})
    common = [c for c in ids if c in deepfd]
    if not common:
        return []
    pt = pub_mod.deepfd_totals(deepfd, common)
    ours_on = scoring.totals([r for r in rows if r["id"] in common and r.get("kind") != "healthy"])
    mine = {"umlaut": "umlaut", "autotrainer": "autotrainer", "deeplocalize": scoring.OURS}
    lines = ["", f"## Published results beside ours ({len(common)} programs DeepFD also evaluated)", "",
             "| tool | published detected | published diagnosed | published localized (line) "
             "| ours detected | ours false alarms (fixed) | ours root cause (lenient) |",
             "|---|---|---|---|---|---|---|"]
    for t in pub_mod.TOOLS:
        name = mine.get(t)
        o = ours_on["tools"].get(name) if name else None
        ours = (f"{_frac(o['detected'])} | {_frac(o['false_alarm'])} | "
                f"{_frac(o['root_cause_lenient']) if TOOLS[name].names_cause else 'not named'}") if o else \
            "not run | | "
        lines.append(f"| {pub_mod.LABELS[t]} | {_frac(pt[t]['detected'])} | {_frac(pt[t]['diagnosed'])} | "
                     f"{_frac(pt[t]['localized'])} | {ours} |")
    lines += ["", MULTI_LABEL_NOTE, "", "*ours* for UMLAUT and AUTOTRAINER is our re-implementation on our "
              "Keras 3 programs; for DeepLocalize it is this library. DeepFD itself is not re-run (it needs "
              "its seeded-fault training corpus)."]
    return lines


def _modes_and_overhead(totals) -> list[str]:
    lines = ["", "### DeepLocalize diagnosers on the same buggy traces (no retraining)", "",
             "| diagnoser | localized | root cause (strict) | root cause (lenient) | note |",
             "|---|---|---|---|---|"]
    for mode, m in totals["modes"].items():
        note = "n/a: " + "; ".join(m["errors"]) if m["errors"] and not m["available"] else (
            "; ".join(m["errors"]) if m["errors"] else "")
        lines.append(f"| {mode} | {_frac(m['localized'])} | {_frac(m['root_cause_strict'])} | "
                     f"{_frac(m['root_cause_lenient'])} | {_cell(note[:200])} |")
    oh = totals["overhead"]
    lines += ["", f"**Overhead** (per-step time with DeepLocalize ÷ without, same variant, same process; "
                  f"{oh['n']} case×seed runs): median {_fmt(oh['median'], '.3f')}, worst {_fmt(oh['max'], '.3f')}; "
                  f"process CPU time per step ({oh.get('cpu_n', 0)} runs; less disturbed by the other jobs on the "
                  f"machine): median {_fmt(oh.get('cpu_median'), '.3f')}, worst {_fmt(oh.get('cpu_max'), '.3f')}. "
                  "Per-step times leave out the first epoch (tracing) when a run has two or more, and the "
                  "verification trials (timed in their own column) when a one-epoch run is timed whole; these are short "
                  "benchmark runs on a shared machine, so `python -m deeplocalize.bench overhead` is the careful "
                  "measurement."]
    return lines


def _secs(v: dict) -> str:
    if not v or not v.get("n"):
        return "n/a"
    return f"{v['median']:.1f} / {v['max']:.1f} ({v['total'] / 60:.1f} min over {v['n']} runs)"


def _verification(rows) -> list[str]:
    """Our three readings of the same fits (rules alone, verify=auto, verify=always), on every
    program and on those whose bug reproduces (ground truth ``valid``), with the repair rate."""
    ours = [t for t in scored_tools() if t.group == "ours"]
    buggy = [r for r in rows if r.get("kind") != "healthy"]
    valid = [r for r in buggy if (r.get("ground_truth") or {}).get("valid", True) is not False]
    if not buggy or not any(t.verifies for t in ours):
        return []
    every, on_valid = scoring.totals(rows), scoring.totals(valid + [r for r in rows if r.get("kind") == "healthy"])
    n_valid = len({r["id"] for r in valid})
    lines = ["", "## Verified diagnosis", "",
             f"The same DeepLocalize fit read three ways (see `deeplocalize/bench/ours.py`). *repaired*: the "
             f"fix proven on the buggy run, applied to a fresh build of the whole program and trained as the "
             f"program says, meets the fixed program's validity condition or comes within "
             f"{scoring.REPAIR_MARGIN:.0%} of the fixed run's metric. Left of each `‖`: all programs; right: "
             f"the {n_valid} whose bug reproduces (`valid` in the ground truth)." +
             (" With several seeds, *verify=always* and *repaired* come from the first seed only (the other "
              "seeds run the defaults, to keep the benchmark's time)." if len({r.get("seed") for r in rows}) > 1
              else ""), "",
             "| reading | detected | false alarms (fixed) | false alarms (healthy) | localized | root cause (strict) "
             "| root cause (lenient) | repaired | verification s: median / worst (total) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for tool in ours:
        a, v = every["tools"][tool.name], on_valid["tools"][tool.name]

        def both(metric):
            return f"{_frac(a[metric])} ‖ {_frac(v[metric])}"

        rep = both("repaired") if tool.verifies else "n/a"
        lines.append(f"| {tool.label} | {both('detected')} | {both('false_alarm')} | "
                     f"{_frac(every['healthy'].get(tool.name) or {})} | {both('localized')} | "
                     f"{both('root_cause_strict')} | {both('root_cause_lenient')} | {rep} | "
                     f"{_secs(a.get('verification_s')) if tool.verifies else 'n/a'} |")
    lines += ["", "| case | seed | ground truth cause | rules: layer; cause | verified fix | cause right "
                  "(rules → verified) | localized (rules → verified) | repaired | seconds |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(buggy, key=lambda r: (r["module"], r["seed"] or 0)):
        s = r.get("scores") or {}
        ru, au = s.get("deeplocalize_rules") or {}, s.get(scoring.OURS) or {}
        rec = ((r.get("runs") or {}).get("buggy") or {}).get(scoring.OURS)
        fix = (rec.verified_fix or {}) if rec is not None else {}
        gt = r.get("ground_truth") or {}
        lines.append(f"| {r['id']} | {r['seed']} | {gt.get('root_cause')}{' (not valid)' if gt.get('valid') is False else ''} | "
                     f"{_cell(ru.get('faulty_layer') or '')}; {ru.get('root_cause') or ''} | "
                     f"{_cell(fix.get('change', ''))} | {_yn(ru.get('root_cause_strict'))} → "
                     f"{_yn(au.get('root_cause_strict'))} | {_yn(ru.get('localized'))} → {_yn(au.get('localized'))} | "
                     f"{_yn(au.get('repaired'))} | {_fmt(rec.verification_s if rec is not None else None, '.1f')} |")
    return lines


def _report_link(r, out_dir) -> str:
    if r.get("report"):
        link = r["report"]
        if out_dir is not None:
            try:
                link = os.path.relpath(r["report"], out_dir)
            except ValueError:
                pass
        return f"[html]({link})"
    return "failed: " + _cell(r["report_error"][:80]) if r.get("report_error") else ""


def _per_case(rows, out_dir) -> list[str]:
    others = [t for t in scored_tools() if t.name != scoring.OURS]
    head = ("| case | seed | status | ground truth (layer; cause) | DL detected | DL false alarm | DL layer | "
            "DL cause | DL localized | DL cause right (strict/lenient) | DL step | paper DL det/loc | " +
            " | ".join(f"{t.label.split(' (')[0]} det/FA" for t in others) +
            " | DeepFD published det (UMLAUT/AT/DL/DeepFD) | overhead (wall / CPU) | report |")
    lines = ["", "## Per case", "", head, "|" + "---|" * (head.count("|") - 1)]
    for r in sorted((r for r in rows if r.get("kind") != "healthy"),
                    key=lambda r: (r["module"], r["seed"] if r["seed"] is not None else -1)):
        gt = r.get("ground_truth") or {}
        gt_txt = (", ".join(gt.get("faulty_layer") or []) + "; " + str(gt.get("root_cause"))) if gt else "missing"
        s = r.get("scores") or {}
        dl = s.get(scoring.OURS) or {}
        pub = r.get("published") or {}
        pub_txt = f"{_yn(pub.get('detected'))}/{_yn(pub.get('localized'))}" if pub else "n/a"
        fd = r.get("published_deepfd")
        fd_txt = "/".join(_yn(fd[t]["detected"]) for t in ("umlaut", "autotrainer", "deeplocalize", "deepfd")) \
            if fd else "n/a"
        status = r["status"] if r["status"] == "ok" else f"**{r['status']}**: {_cell(str(r['error'])[:120])}"
        dfa = " | ".join(f"{_yn((s.get(t.name) or {}).get('detected'))}/{_yn((s.get(t.name) or {}).get('false_alarm'))}"
                         for t in others)
        cause_right = f"{_yn(dl.get('root_cause_strict'))}/{_yn(dl.get('root_cause_lenient'))}"
        lines.append(
            f"| {r['id']} | {r['seed']} | {status} | {_cell(gt_txt)} | {_yn(dl.get('detected'))} | "
            f"{_yn(dl.get('false_alarm'))} | {_cell(dl.get('faulty_layer') or '')} | {dl.get('root_cause') or ''} | "
            f"{_yn(dl.get('localized'))} | {cause_right} | {_fmt(dl.get('steps'), 'g')} | {pub_txt} | {dfa} | "
            f"{fd_txt} | {_fmt(r['overhead'].get('ratio'), '.2f')} / {_fmt(r['overhead'].get('cpu_ratio'), '.2f')} | {_report_link(r, out_dir)} |")
    return lines


def _healthy(rows) -> list[str]:
    healthy = [r for r in rows if r.get("kind") == "healthy"]
    if not healthy:
        return []
    tools = [t for t in scored_tools() if not t.any_of]
    head = "| program | seed | status | " + " | ".join(t.label.split(" (")[0] for t in tools) + " |"
    lines = ["", "## Healthy programs (any flag is a false alarm)", "", head, "|" + "---|" * (head.count("|") - 1)]
    for r in sorted(healthy, key=lambda r: (r["module"], r["seed"] or 0)):
        s = r.get("scores") or {}
        status = r["status"] if r["status"] == "ok" else f"**{r['status']}**: {_cell(str(r['error'])[:80])}"
        cells = []
        for t in tools:
            fa = (s.get(t.name) or {}).get("false_alarm")
            rec = (r["runs"].get("healthy") or {}).get(t.name)
            cells.append(_yn(fa) + (f" ({_cell(rec.symptom)})" if fa and rec is not None and rec.symptom else ""))
        lines.append(f"| {r['id']} | {r['seed']} | {status} | " + " | ".join(cells) + " |")
    return lines


def markdown(rows: list[dict], totals: dict, meta: dict, published: dict, deepfd: dict | None = None,
             missing: list[str] | None = None, out_dir: Path | None = None) -> str:
    """The whole ``results.md``."""
    lines = _header(rows, totals, meta) + _totals_table(rows, totals, published)
    lines += _verification(rows)
    lines += _deepfd_table(rows, totals, deepfd or {}) + _modes_and_overhead(totals)
    lines += _per_case(rows, out_dir) + _healthy(rows)
    if missing:
        lines += ["", f"Cases of the paper's 40 with no case module yet ({len(missing)}): {', '.join(missing)}."]
    lines += ["", "Columns: *det* = the buggy run was flagged, *FA* = the fixed run was flagged (false alarm); "
                  "*DL step* = the step of the first DeepLocalize finding; *paper DL det/loc* = DeepLocalize's "
                  "published result (DeepDiagnosis ICSE'22 Table 6); *DeepFD published det* = detection as "
                  "published in DeepFD's evaluation.",
              "", f"Environment: {meta.get('python')}, keras {meta.get('keras')}, {meta.get('machine')}."]
    return "\n".join(lines) + "\n"


def totals_text(totals: dict, pub_same: dict) -> str:
    """A few lines for the console."""
    out = []
    for tool in scored_tools():
        t = totals["tools"][tool.name]
        paper = PAPER_TOTALS.get(tool.name, {})
        extra = (f"  (paper: {paper['detected']}/40" + (f", localized {paper['localized']}/40"
                                                       if "localized" in paper else "") + ")") if paper else ""
        loc = f"  localized {_frac(t['localized'])}" if tool.names_layer else ""
        cause = (f"  root cause {_frac(t['root_cause_strict'])} strict, {_frac(t['root_cause_lenient'])} lenient"
                 if tool.names_cause else "")
        healthy = totals["healthy"].get(tool.name) or {}
        fa_h = f"  healthy false alarms {_frac(healthy)}" if healthy.get("of") else ""
        out.append(f"{tool.label:<30} detected {_frac(t['detected']):>6}  false alarms "
                   f"{_frac(t['false_alarm']):>6}{fa_h}{loc}{cause}{extra}")
    if pub_same.get("of"):
        out.append(f"Published DeepLocalize on these {pub_same['of']} cases: detected {pub_same['detected']}, "
                   f"localized {pub_same['localized']}.")
    oh = totals["overhead"]
    out.append(f"Overhead ratio: median {_fmt(oh['median'], '.3f')}, worst {_fmt(oh['max'], '.3f')} ({oh['n']} runs); "
               f"CPU time: median {_fmt(oh.get('cpu_median'), '.3f')}, worst {_fmt(oh.get('cpu_max'), '.3f')}. "
               f"Status: {totals['status']}.")
    return "\n".join(out)
