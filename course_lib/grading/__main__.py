"""Command line of the autograder.

    python -m course_lib.grading grade --assignment 06_momentum --out results/ subs/*.ipynb
    python -m course_lib.grading assign [--check] [NN_slug ...]
    python -m course_lib.grading sandbox

``grade`` exits 0 when every submission was graded (however badly it did), 1 when the
grader itself failed on some (they have no record; rerun to retry them), 2 on a usage
error or when no sandbox can be had (it refuses to grade unless ``--no-sandbox``).
"""
from __future__ import annotations

import argparse
import sys

from .grader import Limits


def _grade(args) -> int:
    from .grader import grade
    from .sandbox import SandboxUnavailable

    try:
        limits = Limits(timeout=args.timeout, memory_mb=args.memory, question_seconds=args.question_timeout)
        run = grade(args.assignment, args.submissions, args.out, jobs=args.jobs, limits=limits,
                    sandbox=not args.no_sandbox, force=args.force, root=args.root)
    except SandboxUnavailable as error:
        print(f"REFUSING TO GRADE: no sandbox for the students' code.\n{error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    graded = len(run.records)
    print(f"graded {graded - run.reused} and kept {run.reused} of {len(args.submissions)} submissions "
          f"in {run.seconds:.1f} s; results in {args.out}")
    if run.failures:
        print(f"{len(run.failures)} submissions could not be graded (grader errors), rerun to retry:",
              file=sys.stderr)
        for path, reason in run.failures:
            print(f"  {path}: {reason}", file=sys.stderr)
        return 1
    return 0


def _assign(args) -> int:
    from .assign import assign

    try:
        changed = assign(args.names or None, root=args.root, check=args.check)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        for path in changed:
            print(f"out of date: {path}")
        if changed:
            print("run `python -m course_lib.grading assign` to regenerate them", file=sys.stderr)
        return 1 if changed else 0
    for path in changed:
        print(f"wrote {path}")
    print(f"{len(changed)} files regenerated" if changed else "everything is up to date")
    return 0


def _sandbox(args) -> int:
    from .assignment import default_root
    from .sandbox import SandboxUnavailable, detect

    root = default_root()
    try:
        sandbox = detect([root / "solutions"])
    except SandboxUnavailable as error:
        print(f"no sandbox: {error}")
        return 1
    print(f"sandbox: {sandbox.name} works; the kernel sees only: "
          + ", ".join(sandbox.prefix[i + 1] for i, arg in enumerate(sandbox.prefix) if arg == "--ro-bind"))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.grading",
                                     description="Autograder of the course's exercise notebooks.")
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="grade submitted notebooks")
    grade.add_argument("--assignment", required=True, help="the notebook stem, e.g. 06_momentum")
    grade.add_argument("--out", required=True, help="folder for <stem>.json records and summary.csv")
    grade.add_argument("submissions", nargs="+", help="submitted .ipynb files")
    grade.add_argument("--jobs", type=int, default=None, help="kernels at once (default: CPUs)")
    grade.add_argument("--timeout", type=float, default=30.0,
                       help="wall-clock seconds per notebook run (default 30)")
    grade.add_argument("--memory", type=int, default=1024, help="MiB of memory per kernel (default 1024)")
    grade.add_argument("--question-timeout", type=float, default=5.0,
                       help="seconds a graded function may take over its hidden cases (default 5)")
    grade.add_argument("--force", action="store_true", help="regrade submissions already graded")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="grade WITHOUT isolation (student code can read the hidden tests)")
    grade.add_argument("--root", default=None, help="course root holding solutions/ (default: auto)")
    grade.set_defaults(run=_grade)

    assign = commands.add_parser("assign", help="regenerate exercises/ and public tests from solutions/")
    assign.add_argument("names", nargs="*", help="assignments (default: all)")
    assign.add_argument("--check", action="store_true", help="only report files that drifted")
    assign.add_argument("--root", default=None)
    assign.set_defaults(run=_assign)

    sandbox = commands.add_parser("sandbox", help="tell whether the sandbox works here")
    sandbox.set_defaults(run=_sandbox)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
