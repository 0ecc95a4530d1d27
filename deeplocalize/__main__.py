"""Command line: ``python -m deeplocalize <command>``.

Commands:
    report   rebuild a report from a saved trace (.npz) or diagnosis (.json)

Example:
    $ python -m deeplocalize report run.npz -o report.html
    $ python -m deeplocalize report diagnosis.json -o report.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

OUTPUT_SUFFIXES = (".html", ".htm", ".md", ".json")


class CliError(Exception):
    """A user error, printed as one line with exit status 2."""


def load_report_input(path) -> tuple:
    """Read a trace (.npz, analysed here) or a diagnosis (.json); return ``(diagnosis, trace or None)``.

    A diagnosis whose ``trace_path`` names an existing file (absolute, or
    relative to the JSON file or to the working directory) gets that trace,
    for the plots.

    Example:
        >>> d, trace = load_report_input("run.npz")
    """
    from deeplocalize.findings import Diagnosis
    from deeplocalize.trace import Trace

    path = Path(path)
    if not path.exists():
        raise CliError(f"no such file: {str(path)!r}")
    if path.is_dir():
        raise CliError(f"{str(path)!r} is a directory; give a trace (.npz) or a diagnosis (.json) file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            trace = Trace.load(path)
        except Exception as exc:
            raise CliError(f"cannot read {str(path)!r} as a deeplocalize trace: {exc}") from exc
        from deeplocalize.diagnosis import analyze

        diagnosis = analyze(trace)
        if diagnosis.trace_path is None:
            diagnosis.trace_path = str(path)
        return diagnosis, trace
    if suffix == ".json":
        try:
            diagnosis = Diagnosis.load(path)
        except Exception as exc:
            raise CliError(f"cannot read {str(path)!r} as a deeplocalize diagnosis: {exc}") from exc
        trace = None
        if diagnosis.trace_path:
            for candidate in (Path(diagnosis.trace_path), path.parent / diagnosis.trace_path):
                if candidate.is_file():
                    try:
                        trace = Trace.load(candidate)
                    except Exception as exc:
                        print(f"deeplocalize report: warning: could not read the trace {str(candidate)!r} "
                              f"({exc}); the report will have no plots", file=sys.stderr)
                    break
            else:
                print(f"deeplocalize report: note: the trace {diagnosis.trace_path!r} was not found; "
                      "the report will have no plots", file=sys.stderr)
        return diagnosis, trace
    raise CliError(f"cannot tell what {str(path)!r} is from its suffix {suffix or '(none)'!r}: "
                   "give a trace (.npz) or a diagnosis (.json)")


def _report(args) -> int:
    out = Path(args.output) if args.output else Path(args.input).with_suffix(".html")
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise CliError(f"cannot tell the report format from {str(out)!r}: "
                       f"use one of {', '.join(OUTPUT_SUFFIXES)}")
    if out.resolve() == Path(args.input).resolve():
        raise CliError(f"the output {str(out)!r} would overwrite the input; choose another -o")
    diagnosis, trace = load_report_input(args.input)
    written = diagnosis.save(out, trace=trace)
    if not args.quiet:
        from deeplocalize.report.console import print_summary

        print_summary(diagnosis, file=sys.stdout)
        print(f"report written to {written}")
    return 0


def _verify(args) -> int:
    from deeplocalize.verify.saved import verify_saved

    try:
        diagnosis = verify_saved(args.directory, mode=args.mode, budget=args.budget)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    out = Path(args.output) if args.output else Path(args.directory) / "verified.json"
    written = diagnosis.save(out)
    if not args.quiet:
        from deeplocalize.report.console import print_summary

        print_summary(diagnosis, file=sys.stdout)
        print(f"verified diagnosis written to {written}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (one subcommand per tool).

    Example:
        >>> build_parser().parse_args(["report", "run.npz", "-o", "r.html"]).output
        'r.html'
    """
    parser = argparse.ArgumentParser(prog="python -m deeplocalize",
                                     description="deeplocalize: find bugs in Keras training runs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    rep = sub.add_parser("report", help="build a report from a saved trace (.npz) or diagnosis (.json)",
                         description="Build an HTML, Markdown or JSON report from a saved trace (.npz, "
                         "re-analysed here) or a saved diagnosis (.json; its trace is used for the plots "
                         "when trace_path points at an existing file). No TensorFlow needed.")
    rep.add_argument("input", metavar="TRACE_OR_JSON", help="a trace saved with trace.save('run.npz'), "
                     "or a diagnosis saved with diagnosis.save('run.json')")
    rep.add_argument("-o", "--output", help="report file: .html (default: INPUT with .html), .md or .json")
    rep.add_argument("-q", "--quiet", action="store_true", help="do not print the summary")
    rep.set_defaults(func=_report)
    ver = sub.add_parser("verify", help="try candidate fixes on a saved model and data sample",
                         description="Train copies of a saved model with each candidate fix on a saved data "
                         "sample (written by deeplocalize.verify.saved.save_inputs) and report the fix that works.")
    ver.add_argument("directory", metavar="DIR", help="holds model.keras, sample.pkl and diagnosis.json")
    ver.add_argument("--mode", choices=("auto", "always"), default="always",
                     help="'always' (default) holds a run the checks called healthy to the wide margins")
    ver.add_argument("--budget", type=float, default=None, help="seconds to spend (default: verify_budget_max)")
    ver.add_argument("-o", "--output", help="where to write the verified diagnosis (.json, .md or .html)")
    ver.add_argument("-q", "--quiet", action="store_true", help="do not print the summary")
    ver.set_defaults(func=_verify)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit status.

    Example:
        >>> main(["report", "run.npz", "-o", "report.html"])
        0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except CliError as exc:
        print(f"deeplocalize {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
