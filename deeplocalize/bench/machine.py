"""What the benchmark's command-line tools report about the machine, and how they hand over a table.

Example:
    >>> load_average(default="unknown")   # e.g. '2.1 1.8 1.5'
    >>> print_table("| model | ratio |", out=None)
"""

from __future__ import annotations

import os


def load_average(default: str | None = None) -> str | None:
    """The 1, 5 and 15-minute load averages as ``'2.1 1.8 1.5'``, or ``default`` where the OS has none."""
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except (OSError, AttributeError):
        return default


def print_table(table: str, out: str | None) -> None:
    """Print ``table`` and, given a path ``out``, write it there too."""
    print(table)
    if out:
        with open(out, "w") as f:
            f.write(table + "\n")
