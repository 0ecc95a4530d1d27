"""Render a `Diagnosis` for people: HTML, Markdown, console.

The report never computes a diagnosis; it shows one. JSON is written by
`Diagnosis.save` itself.

Example:
    >>> from deeplocalize import report
    >>> report.write(cb.diagnosis, "report.html", trace=cb.trace)
    PosixPath('report.html')
"""

from __future__ import annotations

from pathlib import Path

FORMATS = {".html": "html", ".htm": "html", ".md": "markdown"}


def write(diagnosis, path, trace=None) -> Path:
    """Write a report; the format follows the suffix (``.html``/``.htm`` or ``.md``).

    ``trace`` adds the plots and the layer list; without it the report holds
    the verdict and the findings and says that the plots need the trace.

    Example:
        >>> write(cb.diagnosis, "report.md", trace=cb.trace)  # + report_files/*.png
        PosixPath('report.md')
    """
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(
            f"Cannot tell the report format from {str(path)!r}: use a .html or .md file name "
            "(or .json through Diagnosis.save)."
        )
    if kind == "html":
        from deeplocalize.report import html

        return html.write(diagnosis, path, trace=trace)
    from deeplocalize.report import markdown

    return markdown.write(diagnosis, path, trace=trace)


def to_html(diagnosis, trace=None, iframe: bool = False, height: int = 900) -> str:
    """The HTML report as a string.

    ``iframe=True`` wraps it in an ``<iframe srcdoc=...>`` of ``height``
    pixels, so that a notebook can show it without the report's styles
    leaking into the notebook page.

    Example:
        >>> from IPython.display import HTML
        >>> HTML(to_html(cb.diagnosis, cb.trace, iframe=True))
    """
    from html import escape

    from deeplocalize.report import html

    page = html.render(diagnosis, trace)
    if not iframe:
        return page
    return (f'<iframe srcdoc="{escape(page, quote=True)}" title="deeplocalize report" '
            f'style="width:100%;height:{int(height)}px;border:1px solid #ccc;border-radius:8px"></iframe>')


__all__ = ["write", "to_html", "FORMATS"]
