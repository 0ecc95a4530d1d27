"""One self-contained HTML file: inline CSS, plots as base64 PNG data URIs, no network.

The page reads top to bottom the way a person asks: is it broken, where, why,
what do I change; then the evidence (findings), then the plots, then the model.
It follows the reader's light or dark colour scheme.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from deeplocalize.report import content as C
from deeplocalize.report.verified import html_section

CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--code:#f0f2f5;
--bad:#c0392b;--bad-bg:#fdecea;--ok:#1e8449;--ok-bg:#e8f6ee;--warn:#b9770e;--warn-bg:#fef5e7;
--info:#2563eb;--info-bg:#eaf1fe;--accent:#2563eb;--shadow:0 1px 3px rgba(15,23,42,.08)}
@media (prefers-color-scheme:dark){:root{--bg:#0f141a;--card:#171e26;--ink:#e6e9ed;--muted:#9aa5b1;
--line:#2a333d;--code:#222b35;--bad:#f1948a;--bad-bg:#3b1f1d;--ok:#7dcea0;--ok-bg:#17301f;
--warn:#f8c471;--warn-bg:#372a14;--info:#8ab4f8;--info-bg:#1b2740;--accent:#8ab4f8;--shadow:none}}
*{box-sizing:border-box}
html{background:var(--bg)}
body{margin:0;color:var(--ink);background:var(--bg);font:15px/1.55 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif;-webkit-font-smoothing:antialiased}
main{max-width:1080px;margin:0 auto;padding:28px 24px 48px}
header{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:8px 24px;
margin-bottom:18px}
.brand{font-weight:700;letter-spacing:.02em;color:var(--accent)}
.brand span{color:var(--muted);font-weight:500}
.facts{color:var(--muted);font-size:13px;margin:0}
.facts b{color:var(--ink);font-weight:600}
h1,h2,h3{line-height:1.25;margin:0}
h2.section{font-size:19px;margin:34px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h2.section small{color:var(--muted);font-weight:500;font-size:14px}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--code);
padding:1px 5px;border-radius:4px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;box-shadow:var(--shadow)}
.verdict{padding:22px 24px;border-left:6px solid var(--bad)}
.verdict.healthy{border-left-color:var(--ok)}
.verdict.unchecked{border-left-color:#b7791f}
.unchecked .badge{color:#8a5a00;background:#fdf3dc}
.verdict .top{display:flex;align-items:center;gap:14px;flex-wrap:wrap}
.verdict h1{font-size:24px}
.badge{display:inline-block;font-weight:800;font-size:13px;letter-spacing:.08em;padding:5px 11px;
border-radius:999px;color:var(--bad);background:var(--bad-bg)}
.healthy .badge{color:var(--ok);background:var(--ok-bg)}
.happened{margin:12px 0 16px;font-size:16px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:10px;margin:0}
.grid div{background:var(--bg);border:1px solid var(--line);border-radius:9px;padding:9px 12px}
.grid dt{font-size:11.5px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);font-weight:600}
.grid dd{margin:2px 0 0;font-weight:600;overflow-wrap:anywhere}
.grid dd small{display:block;font-weight:400;color:var(--muted);font-size:12.5px}
.fix{margin-top:14px;padding:13px 16px;border-radius:9px;background:var(--ok-bg);color:var(--ink)}
.fix h3{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--ok);margin-bottom:3px}
.fix p{margin:0;font-size:15.5px}
.finding{padding:15px 18px;margin-bottom:12px}
.finding .head{display:flex;gap:10px;align-items:center;flex-wrap:wrap}
.finding h3{font-size:16px}
.sev{font-size:11px;font-weight:700;letter-spacing:.07em;text-transform:uppercase;padding:2px 8px;
border-radius:999px}
.sev.error{color:var(--bad);background:var(--bad-bg)}
.sev.warning{color:var(--warn);background:var(--warn-bg)}
.sev.info{color:var(--info);background:var(--info-bg)}
.meta{color:var(--muted);font-size:13px;margin:4px 0 8px}
.finding p{margin:6px 0}
.finding .suggest{border-left:3px solid var(--ok);padding-left:10px}
table{border-collapse:collapse;width:100%;font-size:13.5px}
th,td{text-align:left;padding:5px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.05em}
table.evidence{margin-top:8px;width:auto;border:1px solid var(--line);border-radius:8px;
border-collapse:separate;border-spacing:0;overflow:hidden}
table.evidence caption{caption-side:top;text-align:left;font-size:11px;text-transform:uppercase;
letter-spacing:.06em;color:var(--muted);font-weight:600;padding:0 0 3px}
table.evidence th{text-transform:none;letter-spacing:0;font:500 12px/1.3 ui-monospace,SFMono-Regular,Menlo,
Consolas,monospace;background:var(--bg);white-space:nowrap;padding:5px 12px}
table.evidence td{border-bottom:0;font-variant-numeric:tabular-nums;padding:5px 12px;max-width:340px}
table.evidence th+th,table.evidence td+td{border-left:1px solid var(--line)}
figure{margin:0 0 18px;padding:14px 16px}
figure h3{font-size:15px;margin-bottom:8px}
figure img{display:block;max-width:100%;height:auto;border-radius:6px;background:#fff}
figcaption{color:var(--muted);font-size:13px;margin-top:8px}
.layers td.num{text-align:right;font-variant-numeric:tabular-nums}
.layers tr.faulty td{background:var(--bad-bg);color:var(--bad);font-weight:700}
.layers .flag{font-size:11px;font-weight:800;letter-spacing:.06em;margin-left:6px}
.note{padding:14px 18px;color:var(--muted)}
.outside{margin:0 0 10px;color:var(--bad);font-weight:600}
.wrap{overflow-x:auto}
footer{margin-top:36px;color:var(--muted);font-size:12.5px;text-align:center}
"""


def _evidence_table(evidence: dict) -> str:
    """Evidence as a compact two-row table: names above, values below."""
    if not evidence:
        return ""
    keys = "".join(f"<th>{escape(str(k))}</th>" for k in evidence)
    values = "".join(f"<td>{escape(C.format_value(v))}</td>" for v in evidence.values())
    return (f'<div class="wrap"><table class="evidence"><caption>evidence</caption>'
            f"<thead><tr>{keys}</tr></thead><tbody><tr>{values}</tr></tbody></table></div>")


def _finding(i: int, f) -> str:
    meta = C.finding_facts(f, code=lambda name: f"<code>{escape(name)}</code>", text=escape)
    meta.append(f"kind <code>{escape(f.kind)}</code>" + (f" · <code>{escape(f.detail)}</code>" if f.detail else ""))
    suggestion = f'<p class="suggest"><b>Fix:</b> {escape(f.suggestion)}</p>' if f.suggestion else ""
    return (
        f'<article class="card finding" id="finding-{i}" data-kind="{escape(f.kind)}" '
        f'data-severity="{escape(f.severity)}">'
        f'<div class="head"><span class="sev {escape(f.severity)}">{escape(f.severity)}</span>'
        f"<h3>{escape(C.kind_title(f))}</h3></div>"
        f'<div class="meta">{" · ".join(meta)}</div>'
        f"<p>{escape(f.message)}</p>{suggestion}{_evidence_table(f.evidence)}</article>"
    )


def _verdict(v: dict) -> str:
    cls = v["status"] if v["status"] in ("healthy", "unchecked") else "buggy"
    cells = []
    if v.get("not_watched"):
        cells.append(("Not watched", escape(", ".join(v["not_watched"]))
                      + (f"<small>{escape(v['why_not_watched'])}</small>" if v.get("why_not_watched") else "")))
    if v["status"] == "buggy":
        layer = f"<code>{escape(v['faulty_layer'])}</code>" if v["faulty_layer"] else "not determined"
        cells.append(("Faulty layer", layer))
        if v["root_cause"]:
            name, _, hint = v["cause_words"].partition(": ")
            cause = f"{escape(name)}" + (f"<small>{escape(hint)}</small>" if hint else "")
        else:
            cause = "not determined"
        cells.append(("Root cause", cause))
        detected = f"step {v['step']}" if v["step"] is not None else "end of training"
        if v["first_step"] is not None and v["step"] is not None and v["first_step"] < v["step"]:
            detected += f"<small>first warning at step {v['first_step']}</small>"
        cells.append(("Detected at", detected))
        cells.append(("Training", "stopped early" if v["stopped"] else "ran to the end"))
        cells.append(("Findings", f"{v['n_problems']} problem{'s' if v['n_problems'] != 1 else ''}"
                      + (f"<small>{v['n_findings'] - v['n_problems']} note(s)</small>"
                         if v["n_findings"] > v["n_problems"] else "")))
    else:
        cells.append(("Steps checked", str(v["steps_seen"])))
        cells.append(("Findings", f"{v['n_findings']} note{'s' if v['n_findings'] != 1 else ''}, no problems"))
    grid = "".join(f"<div><dt>{k}</dt><dd>{val}</dd></div>" for k, val in cells)
    return (
        f'<section class="card verdict {cls}" id="verdict" data-status="{v["status"]}">'
        f'<div class="top"><span class="badge">{cls.upper()}</span>'
        f"<h1>{escape(v['headline'])}</h1></div>"
        f'<p class="happened">{escape(v["happened"])}</p>'
        f'<dl class="grid">{grid}</dl>'
        f'<div class="fix"><h3>Suggested fix</h3><p>{escape(v["fix"])}</p></div></section>'
    )


def _plots(c: C.ReportContent) -> str:
    if not c.has_trace:
        return f'<div class="card note" id="no-trace">{escape(C.NO_TRACE_NOTE)}</div>'
    if not c.plots:
        return '<div class="card note">The trace holds no recorded steps, so there is nothing to plot.</div>'
    out = []
    for p in c.plots:
        data = base64.b64encode(p.png).decode("ascii")
        out.append(
            f'<figure class="card" id="plot-{escape(p.name)}"><h3>{escape(p.title)}</h3>'
            f'<img alt="{escape(p.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(p.caption)}</figcaption></figure>"
        )
    return "".join(out)


def _layers(c: C.ReportContent) -> str:
    if not c.has_trace:
        return '<div class="card note">The layer list needs the trace, like the plots.</div>'
    if not c.layers:
        return '<div class="card note">The trace records no layers.</div>'
    show_rel = any(r.relevance is not None for r in c.layers)
    head = "<th>#</th><th>layer</th><th>type</th><th>activation</th><th>output shape</th><th>params</th>"
    head += "<th>relevance</th>" if show_rel else ""
    rows = []
    for r in c.layers:
        flag = '<span class="flag">◀ FAULTY</span>' if r.faulty else ""
        rel = (f'<td class="num">{C.format_value(r.relevance)}</td>' if r.relevance is not None else "<td></td>") \
            if show_rel else ""
        rows.append(
            f'<tr class="{"faulty" if r.faulty else ""}" data-layer="{escape(r.name)}">'
            f'<td class="num">{r.index}</td><td><code>{escape(r.name)}</code>{flag}</td>'
            f"<td>{escape(r.class_name)}</td><td>{escape(r.activation)}</td>"
            f"<td>{escape(r.output_shape)}</td><td class=\"num\">{r.n_params:,}</td>{rel}</tr>"
        )
    note = C.outside_layers_note(c.diagnosis, c.trace)
    note = f'<p class="outside" id="outside-layers">{escape(note)}</p>' if note else ""
    return (f'{note}<div class="card wrap"><table class="layers"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def render(diagnosis, trace=None) -> str:
    """The report as one HTML string (self-contained; safe to embed in a notebook).

    Example:
        >>> from IPython.display import HTML
        >>> HTML(render(cb.diagnosis, cb.trace))
    """
    from deeplocalize.config import __version__

    c = C.build(diagnosis, trace)
    facts = " · ".join(f"{escape(k)} <b>{escape(v)}</b>" for k, v in c.facts)
    findings = "".join(_finding(i, f) for i, f in enumerate(c.findings)) or (
        '<div class="card note">No findings: every check passed.</div>'
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{escape(c.title)}</title><style>{CSS}</style></head><body><main>"
        f'<header><div class="brand">deeplocalize <span>training report</span></div>'
        f'<p class="facts">{facts}</p></header>'
        f"{_verdict(c.verdict)}"
        f'<h2 class="section" id="findings">Findings <small>({len(c.findings)})</small></h2>{findings}'
        f"{html_section(getattr(diagnosis, 'verification', None))}"
        f'<h2 class="section" id="plots">Plots</h2>{_plots(c)}'
        f'<h2 class="section" id="layers">Model layers</h2>{_layers(c)}'
        f"<footer>Generated by deeplocalize {escape(__version__)} on {escape(c.generated)}.</footer>"
        "</main></body></html>\n"
    )


def write(diagnosis, path, trace=None) -> Path:
    """Write the HTML report to ``path`` and return it.

    Example:
        >>> write(cb.diagnosis, "report.html", trace=cb.trace)
        PosixPath('report.html')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(diagnosis, trace), encoding="utf-8")
    return path
