"""The end-of-training summary: a few lines, coloured on a terminal, plain elsewhere.

Colour is used only when the output is a terminal and ``NO_COLOR`` is not
set (``FORCE_COLOR`` forces it on, ``NO_COLOR`` wins over both). Notebooks,
log files and pipes get plain text.
"""

from __future__ import annotations

import os
import sys

from deeplocalize.report.content import verdict


def use_colour(file) -> bool:
    """Whether to colour output written to ``file``.

    Example:
        >>> import io; use_colour(io.StringIO())
        False
    """
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(file, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # closed or detached stream
        return False


def summary_lines(diagnosis) -> list[tuple[str, str, str]]:
    """The summary as ``(label, text, style)`` rows; the first row is the verdict.

    Example:
        >>> summary_lines(d)[0][1]
        "BUGGY: layer 'output' at step 3"
    """
    v = verdict(diagnosis)
    if v["status"] == "healthy":
        notes = v["n_findings"]
        text = f"HEALTHY: {v['steps_seen']} steps checked, no problems found"
        rows = [("deeplocalize", text, "bold green")]
        if notes:
            rows.append(("", f"{notes} note{'s' if notes != 1 else ''} in the report", "dim"))
        if getattr(diagnosis, "verification", None) is not None:
            rows.append(("check", "no candidate fix beat the model by a wide margin", "dim"))
        return rows + _partial(v)
    if v["status"] == "unchecked":
        return [("deeplocalize", "UNCHECKED: this run was not watched, so no verdict of health", "bold yellow"),
                ("why", v["happened"], "")] + _partial(v)
    where = f": layer '{v['faulty_layer']}'" if v["faulty_layer"] else ""
    when = f" at step {v['step']}" if v["step"] is not None else ""
    stopped = " (training stopped)" if v["stopped"] else ""
    rows = [("deeplocalize", f"BUGGY{where}{when}{stopped}", "bold red")]
    if v["happened"]:
        rows.append(("what", v["happened"], ""))
    rows.append(("layer", v["faulty_layer"] or "not determined", "bold"))
    rows.append(("cause", v["cause_words"] or "not determined", "yellow"))
    rows.append(("fix", v["fix"], "green"))
    check = getattr(diagnosis, "verification", None)
    if check is not None:
        if diagnosis.verified:
            rows.append(("check", "verified: a trial on a copy of the model proved this fix", "green"))
        elif check.verified:
            rows.append(("check", f"unverified: {check.kept_cause}", "dim"))
        else:
            rows.append(("check", f"unverified: {check.summary()}", "dim"))
    rows += _partial(v)
    others = v["n_findings"] - 1
    if others > 0:
        rows.append(("", f"+ {others} other finding{'s' if others != 1 else ''}: "
                     "cb.diagnosis.findings, or save a report with cb.diagnosis.save('report.html')", "dim"))
    return rows


def _partial(v: dict) -> list[tuple[str, str, str]]:
    """A row naming the statistics that were not watched, when some were not."""
    if not v.get("not_watched"):
        return []
    why = f" ({v['why_not_watched']})" if v.get("why_not_watched") else ""
    return [("note", "not watched: " + ", ".join(v["not_watched"]) + why, "yellow")]


def format_summary(diagnosis) -> str:
    """The summary as plain text (no colour codes).

    Example:
        >>> print(format_summary(d))
        deeplocalize: BUGGY: layer 'output' at step 3 (training stopped)
          what:  NaN first appeared ...
    """
    rows = summary_lines(diagnosis)
    out = [f"{rows[0][0]}: {rows[0][1]}"]
    for label, text, _ in rows[1:]:
        out.append(f"  {label + ':' if label else '':<7}{text}" if label else f"  {text}")
    return "\n".join(out)


def print_summary(diagnosis, file=None) -> None:
    """Print the short verdict: status, layer, cause, fix, count of other findings.

    Example:
        >>> print_summary(cb.diagnosis)            # stdout, coloured on a terminal
        >>> print_summary(cb.diagnosis, file=log)  # plain text into a file
    """
    file = sys.stdout if file is None else file
    if not use_colour(file):
        print(format_summary(diagnosis), file=file, flush=True)
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(file=file, force_terminal=True, highlight=False, soft_wrap=False)
    rows = summary_lines(diagnosis)
    label, text, style = rows[0]
    console.print(Text.assemble((f"{label}: ", "bold"), (text, style)))
    for label, text, style in rows[1:]:
        line = Text("  ")
        if label:
            line.append(f"{label + ':':<7}", style="dim")
        line.append(text, style=style or None)
        console.print(line)
    if hasattr(file, "flush"):
        file.flush()
