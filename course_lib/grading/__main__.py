"""Command line of the autograder.

    python -m course_lib.grading grade --assignment 06_momentum --out results/ subs/*.ipynb
    python -m course_lib.grading assign [--check] [NN_slug ...]
    python -m course_lib.grading sandbox

The instructor's side after grading (each documented in book/grading.md):

    python -m course_lib.grading late --results results/ --deadline 2026-12-10T23:59+01:00
    python -m course_lib.grading export --roster roster.csv --format canvas --out grades.csv results/
    python -m course_lib.grading report --results results/ --out report.html
    python -m course_lib.grading feedback --results results/ --out feedback/
    python -m course_lib.grading regrade --assignment 06_momentum --out results/
    python -m course_lib.grading gradescope --assignment 06_momentum --out autograder.zip

``grade`` writes a record for every submission and exits 0 when every one was graded
(however badly it did), 1 when the grader itself failed on some (their records say
"grader error"; rerun to retry them), 2 on a usage error or when no sandbox can be had (it
refuses to grade unless ``--no-sandbox``). Its last line gives the grader's own peak memory.
"""
from __future__ import annotations

import argparse
import os
import sys

from .grader import Limits


def _grade(args) -> int:
    from .grader import grade, peak_memory_mb
    from .results import printable
    from .sandbox import SandboxUnavailable

    try:
        limits = Limits(timeout=args.timeout, memory_mb=args.memory,
                        question_seconds=args.question_timeout, cell_timeout=args.cell_timeout,
                        processes=args.processes, disk_mb=args.disk, output_mb=args.output)
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
          f"in {run.seconds:.1f} s; results in {printable(args.out)}")
    if run.failures:
        print(f"{len(run.failures)} submissions could not be graded (grader errors), rerun to retry:",
              file=sys.stderr)
        for path, reason in run.failures:
            print(f"  {path}: {reason}", file=sys.stderr)
    print(f"grader peak memory: {peak_memory_mb():.0f} MB")
    return 1 if run.failures else 0


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
    from . import cage, reachable
    from .assignment import default_root
    from .sandbox import SandboxUnavailable, detect, visible_paths

    root = default_root()
    try:
        sandbox = detect([root / "solutions"])
    except SandboxUnavailable as error:
        print(f"no sandbox: {error}")
        return 1
    who = (f"uids {sandbox.uids[0]} and up (the grader is root)" if sandbox.uids
           else "uid 65534 mapped to this user")
    print(f"sandbox: {sandbox.name} works; kernels run as {who}")
    print("the kernel sees, read-only: /usr, " + ", ".join(map(str, visible_paths()))
          + f", with only {', '.join(sorted(reachable.distributions()))} importable")
    print(f"memory of each kernel's processes limited by {cage.detect(2**30, 64)[2]}")
    return 0


def _late(args) -> int:
    from datetime import timedelta

    from . import late
    from .roster import read_records

    records = read_records(args.results)
    deadline = late.parse_time(args.deadline, None) if args.deadline else None
    if deadline is None or deadline.tzinfo is None:
        raise ValueError("--deadline needs a time zone, e.g. 2026-12-10T23:59+01:00")
    zone = deadline.tzinfo
    extensions = late.read_extensions(args.extensions, zone) if args.extensions else {}
    policy = late.LatePolicy(deadline, args.per_day, late.parse_duration(args.grace),
                             late.parse_duration(args.cutoff) if args.cutoff else None,
                             extensions)
    given = late.read_times(args.times, zone) if args.times else {}
    times = late.submission_times(records, given)
    path = late.save(args.results, policy, times)
    delays = {stem: late.lateness_under(policy, times, stem) for stem in records}
    penalised = sorted(stem for stem, delay in delays.items() if delay.penalty)
    sources = {}
    for _, source in times.values():
        sources[source] = sources.get(source, 0) + 1
    print(f"late policy saved to {path}; submission times from "
          + ", ".join(f"{source} ({count})" for source, count in sorted(sources.items())))
    for stem in penalised:
        print(f"  {stem}: {delays[stem].hours_late:.1f} h late, -{delays[stem].penalty:g}%")
    print(f"{len(penalised)} of {len(records)} submissions penalised")
    return 0


def _export(args) -> int:
    from .gradebook import FORMATS, Graded, question_rows, unmatched
    from .roster import read_roster
    from .tables import write_csv

    students = read_roster(args.roster)
    graded = [Graded.read(folder) for folder in args.results]
    if args.format == "questions":
        if len(graded) != 1:
            raise ValueError("--format questions takes exactly one results folder")
        rows = question_rows(students, graded[0])
    else:
        rows = FORMATS[args.format](students, graded)
    write_csv(args.out, rows)
    missing = {item.name: sum(item.final(s.stem) is None for s in students) for item in graded}
    print(f"wrote {args.out}: {len(students)} students, "
          + ", ".join(f"{name}: {count} without a submission"
                      for name, count in missing.items()))
    strays = unmatched(students, graded)
    if strays:
        print(f"{len(strays)} graded submissions match no roster line (not exported): "
              + ", ".join(strays[:20]), file=sys.stderr)
    return 0


def _report(args) -> int:
    from .gradebook import Graded
    from .report import write_report

    path = write_report(Graded.read(args.results), args.out)
    print(f"wrote {path}")
    return 0


def _feedback(args) -> int:
    from .feedback import write_feedback
    from .roster import read_records

    written = write_feedback(read_records(args.results), args.out, args.results)
    print(f"wrote {len(written)} feedback files to {args.out}")
    return 0


def _regrade(args) -> int:
    from pathlib import Path

    from .regrade import change_file_name, change_rows, regrade
    from .sandbox import SandboxUnavailable
    from .tables import write_csv

    limits = Limits(timeout=args.timeout, memory_mb=args.memory,
                    question_seconds=args.question_timeout)
    try:
        run = regrade(args.assignment, args.out, jobs=args.jobs or os.cpu_count() or 1, limits=limits,
                      sandbox=not args.no_sandbox, root=args.root)
    except SandboxUnavailable as error:
        print(f"REFUSING TO GRADE: no sandbox for the students' code.\n{error}", file=sys.stderr)
        return 2
    print(f"reran {len(run.rerun)} submissions, {run.unchanged} unaffected, "
          f"in {run.seconds:.1f} s; {len(run.changes)} scores changed")
    for change in sorted(run.changes, key=lambda item: item.stem):
        print(f"  {change.stem} ({change.student_id}): {change.old:g} -> {change.new:g} "
              f"({change.delta:+g}; rerun {' '.join(change.questions)})")
    if run.rerun:
        path = write_csv(Path(args.out) / change_file_name(), change_rows(run))
        print(f"changes written to {path}")
    return 0


def _gradescope(args) -> int:
    from .gradescope import build_bundle

    limits = Limits(timeout=args.timeout, memory_mb=args.memory)
    path = build_bundle(args.assignment, args.out, limits, root=args.root)
    print(f"wrote {path}: upload it on Gradescope's 'Configure Autograder' page")
    return 0


def _limit_options(parser) -> None:
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="wall-clock seconds for a whole submission, reruns included (default 30)")
    parser.add_argument("--memory", type=int, default=1024,
                        help="MiB of memory for all processes of a kernel together (default 1024)")


def _instructor_commands(commands) -> None:
    late = commands.add_parser("late", help="apply a deadline and a late policy")
    late.add_argument("--results", required=True, help="the folder of graded records")
    late.add_argument("--deadline", required=True, help="ISO-8601 with a time zone")
    late.add_argument("--per-day", type=float, default=10.0,
                      help="percent of the score lost per started day late (default 10)")
    late.add_argument("--grace", default="0", help="on time if this late, e.g. 15m (default 0)")
    late.add_argument("--cutoff", default=None, help="score 0 when later than this, e.g. 5d")
    late.add_argument("--extensions", default=None, help="CSV: stem,deadline")
    late.add_argument("--times", default=None,
                      help="CSV: stem,submitted_at (default: the files' modification times)")
    late.set_defaults(run=_late)

    export = commands.add_parser("export", help="gradebook CSV for Canvas, Moodle or a sheet")
    export.add_argument("--roster", required=True, help="CSV with stem,name[,id,...]")
    export.add_argument("--format", choices=["canvas", "moodle", "questions"], default="canvas")
    export.add_argument("--out", required=True, help="the CSV file to write")
    export.add_argument("results", nargs="+", help="results folders, one per assignment")
    export.set_defaults(run=_export)

    report = commands.add_parser("report", help="class report as one static HTML page")
    report.add_argument("--results", required=True)
    report.add_argument("--out", required=True, help="the .html file to write")
    report.set_defaults(run=_report)

    feedback = commands.add_parser("feedback", help="one feedback file per student")
    feedback.add_argument("--results", required=True)
    feedback.add_argument("--out", required=True, help="folder for <stem>.txt files")
    feedback.set_defaults(run=_feedback)

    regrade = commands.add_parser("regrade", help="rerun only questions whose tests changed")
    regrade.add_argument("--assignment", required=True)
    regrade.add_argument("--out", required=True, help="the folder of graded records")
    regrade.add_argument("--jobs", type=int, default=None)
    _limit_options(regrade)
    regrade.add_argument("--question-timeout", type=float, default=5.0)
    regrade.add_argument("--no-sandbox", action="store_true")
    regrade.add_argument("--root", default=None)
    regrade.set_defaults(run=_regrade)

    gradescope = commands.add_parser("gradescope", help="write Gradescope's autograder zip")
    gradescope.add_argument("--assignment", required=True)
    gradescope.add_argument("--out", required=True, help="the .zip file to write")
    _limit_options(gradescope)
    gradescope.add_argument("--root", default=None)
    gradescope.set_defaults(run=_gradescope)


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
                       help="wall-clock seconds for a whole submission, reruns included (default 30)")
    grade.add_argument("--cell-timeout", type=float, default=None,
                       help="seconds one cell may run (default: half of --timeout)")
    grade.add_argument("--memory", type=int, default=1024,
                       help="MiB of memory for all processes of a kernel together (default 1024)")
    grade.add_argument("--question-timeout", type=float, default=5.0,
                       help="seconds a graded function may take over its hidden cases (default 5)")
    grade.add_argument("--processes", type=int, default=64,
                       help="processes and threads per kernel (default 64)")
    grade.add_argument("--disk", type=int, default=256, help="MiB the kernel may write (default 256)")
    grade.add_argument("--output", type=int, default=16, help="MiB the kernel may print (default 16)")
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

    _instructor_commands(commands)
    args = parser.parse_args(argv)
    if args.run in (_grade, _assign, _sandbox):
        return args.run(args)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
