"""The "Verified fix" section: the as-is and fixed loss curves on one plot, and the trial table.

Example:
    >>> png = verified_plot(cb.diagnosis.verification)
    >>> lines, files = markdown_section(cb.diagnosis.verification, "report_files")
"""

from __future__ import annotations

import base64
from html import escape

import numpy as np

_HEAD = ("fix", "root cause", "layer", "change", "verdict", "score gain", "loss ratio", "seconds")


def verified_plot(v) -> bytes | None:
    """Loss per step of the as-is copy and of the proven fix (first seed), each relative to its start."""
    fix, as_is = v.fix, v.as_is
    if fix is None or as_is is None or not fix.seeds or not as_is.seeds:
        return None
    from deeplocalize.report.plots import MUTED, PALETTE, RED, _figure, _png, _style

    fig = _figure(3.2)
    ax = fig.add_subplot(1, 1, 1)
    for trial, colour, label in ((as_is, RED, "as it is"), (fix, PALETTE[1], f"with {fix.change}")):
        seed = trial.seeds[0]
        loss = np.asarray(seed["loss"], dtype=float)
        steps = np.arange(len(loss)) * seed.get("curve_stride", 1)
        start = seed["start_loss"] if seed["start_loss"] else 1.0
        ax.plot(steps, loss / start, color=colour, linewidth=1.8, label=label)
    _style(ax, "loss / loss at start", "Trial on the data sample: as it is vs. the verified fix")
    ax.set_xlabel("trial step", color=MUTED, fontsize=9)
    ax.legend(frameon=False, fontsize=9)
    return _png(fig)


def rows(v) -> list[tuple]:
    out = []
    for t in v.trials:
        imp = t.improvement or {}
        out.append((t.fix, (t.root_cause or "").replace("_", " "), t.layer or "", t.change or t.note,
                    t.verdict + (f" ({t.note})" if t.note and t.change and t.verdict != "not tried" else ""),
                    f"{imp['score_gain']:+.3f}" if "score_gain" in imp else "",
                    f"{imp['loss_ratio']:.3g}" if "loss_ratio" in imp else "", f"{t.seconds:.1f}"))
    return out


def _headline(v) -> str:
    score = "accuracy" if v.score_name == "accuracy" else "R²"
    return (f"{len([t for t in v.trials if t.seeds])} trials of {v.steps} steps on {v.sample_size} examples "
            f"of the training data, {v.seconds:.1f} s (budget {v.budget:.0f} s); score: held-back {score}.")


def markdown_section(v, files_dir: str) -> tuple[list[str], dict[str, bytes]]:
    """Markdown lines and the PNG they link to."""
    if v is None:
        return [], {}
    lines = ["## Verified fix", ""]
    lines += [f"**{v.summary()}**", "", _headline(v), ""]
    files = {}
    png = verified_plot(v)
    if png:
        rel = f"{files_dir}/verified_fix.png"
        files[rel] = png
        lines += [f"![as it is vs. the verified fix]({rel})", ""]
    lines += ["| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows(v)]
    return lines + [""], files


def html_section(v) -> str:
    """The section as HTML (the plot inline as a data URI)."""
    if v is None:
        return ""
    png = verified_plot(v)
    img = (f'<img alt="as it is vs. the verified fix" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
           if png else "")
    table = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows(v))
    head = "".join(f"<th>{escape(h)}</th>" for h in _HEAD)
    return (f'<h2 class="section" id="verified">Verified fix</h2><div class="card finding">'
            f"<p><b>{escape(v.summary())}</b></p><p class=\"meta\">{escape(_headline(v))}</p>{img}"
            f"<table><thead><tr>{head}</tr></thead><tbody>{table}</tbody></table></div>")
