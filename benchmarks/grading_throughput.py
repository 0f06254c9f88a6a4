"""Throughput of the grader at class scale (issue 21's bar: >= 8 submissions/s on 2 cores).

Grades ``--count`` honest submissions of one assignment (the solution notebook under
distinct STUDENT_IDs, so each gets its own hidden cases) with ``--jobs`` equal to the
machine's cores, in the sandbox, and prints submissions per second and the grader
process's peak resident memory (the kernels are separate processes, capped by the
sandbox). ``--quick`` grades 6, a smoke run whose figures mean nothing.

    python benchmarks/grading_throughput.py [--count 300] [--assignment 07_adaptive]
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def honest_class(folder: Path, assignment: str, count: int) -> list[Path]:
    text = (ROOT / "solutions" / f"{assignment}.ipynb").read_text()
    blank = 'STUDENT_ID = \\"\\"'
    if blank not in text:
        raise SystemExit(f"{assignment}: no empty STUDENT_ID line in the solution")
    paths = []
    for index in range(count):
        path = folder / f"student{index:04d}.ipynb"
        path.write_text(text.replace(blank, f'STUDENT_ID = \\"s{index:07d}\\"'))
        paths.append(path)
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--assignment", default="07_adaptive")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    count = 6 if args.quick else args.count

    from course_lib.grading.grader import grade

    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "subs"
        folder.mkdir()
        paths = honest_class(folder, args.assignment, count)
        started = time.perf_counter()
        run = grade(args.assignment, paths, Path(work) / "results", jobs=args.jobs,
                    log=lambda line: None)
        seconds = time.perf_counter() - started
    full = sum(record["score"] == record["max_score"] for record in run.records)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"grading throughput: {args.assignment}, {count} honest submissions, "
          f"{args.jobs} jobs on {os.cpu_count()} cores")
    print(f"  {seconds:.1f} s, {count / seconds:.1f} submissions/s (bar >= 8 on 2 cores); "
          f"full marks {full}/{count}; grader peak RSS {peak_mib:.0f} MiB")
    return 0 if full == count and not run.failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
