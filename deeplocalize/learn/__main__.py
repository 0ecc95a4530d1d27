"""Command line: ``python -m deeplocalize.learn build-corpus|train|evaluate``.

Example:
    $ python -m deeplocalize.learn build-corpus --out learn-corpus --jobs 2
    $ python -m deeplocalize.learn train --corpus learn-corpus
    $ python -m deeplocalize.learn evaluate --corpus learn-corpus --report learn-eval.md
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    """Parse ``argv`` and run one sub-command.

    Example:
        >>> main(["build-corpus", "--out", "/tmp/c", "--limit", "2", "--jobs", "1"])
        0
    """
    parser = argparse.ArgumentParser(prog="python -m deeplocalize.learn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build-corpus", help="run mutants of the base programs and save their traces")
    b.add_argument("--out", required=True, help="corpus folder (keep it out of git, e.g. learn-corpus/)")
    b.add_argument("--jobs", type=int, default=2)
    b.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1")
    b.add_argument("--limit", type=int, default=None, help="run only the first N planned jobs")
    b.add_argument("--programs", default=None, help="comma-separated base program ids")
    b.add_argument("--no-progress", action="store_true")
    t = sub.add_parser("train", help="train the shipped classifiers on a corpus")
    t.add_argument("--corpus", required=True)
    t.add_argument("--out", default=None, help="model file (default: the packaged one)")
    e = sub.add_parser("evaluate", help="grouped (leave-one-program-out) evaluation, with the rules beside")
    e.add_argument("--corpus", required=True)
    e.add_argument("--report", default=None, help="markdown report path")
    e.add_argument("--no-rules", action="store_true", help="skip the rule-based comparison")
    args = parser.parse_args(argv)

    if args.cmd == "build-corpus":
        from deeplocalize.learn.corpus import build_corpus

        seeds = tuple(int(s) for s in str(args.seeds).split(",") if s.strip())
        programs = args.programs.split(",") if args.programs else None
        stats = build_corpus(args.out, jobs=args.jobs, seeds=seeds, limit=args.limit, programs=programs,
                             progress=not args.no_progress)
        print(json.dumps(stats))
        return 0
    if args.cmd == "train":
        from deeplocalize.learn.model import train_and_save

        info = train_and_save(args.corpus, args.out)
        print(json.dumps(info, indent=1))
        return 0
    if args.cmd == "evaluate":
        from deeplocalize.learn.evaluate import evaluate

        result = evaluate(args.corpus, report=args.report, rules=not args.no_rules)
        print(result["markdown"])
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
