"""How long `make book` takes a reader, measured in a throwaway clone (issue 19's targets).

Prints, measured in this run:

1. a cold build: `make book` in a fresh clone of this repository's HEAD, empty execution
   cache; and the environment it needs (`make env` from nothing, ~2 minutes from pip's
   cache), unless ``--venv`` lends an existing one. Target: both together < 8 minutes on 2
   idle cores.
2. a rebuild with no change. Target: < 15 s.
3. a rebuild after editing one chapter (a code cell appended to ``--chapter``), beside that
   chapter's own execution time. Target: the rebuild < the chapter's time + 30 s.

and, per chapter of the cold build, its wall time, its kernel's CPU time and the longest
wait of one of its cells beyond its CPU time (from the clone's execution cache, as the book's
status page shows them). On a busy machine wall times stretch while CPU times hold: compare
the load average printed first.

Usage: ``python benchmarks/build_times.py [--venv .venv] [--jobs 2] [--cold-runs 3]``.
``--venv PATH`` links that environment into the clone instead of creating one; `make` is then
told never to reinstall it (``-o .venv/.installed``). Uncommitted changes are not in the clone.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAMP = ".venv/.installed"
EDIT = '\n```{code-cell} ipython3\nprint("edited by benchmarks/build_times.py")\n```\n'


def _make(clone: Path, target: str, args) -> float:
    """Seconds `make <target>` took in ``clone`` (its output goes to the terminal)."""
    command = ["make", f"JOBS={args.jobs}", target]
    if args.venv:
        command[1:1] = ["-o", STAMP]   # never reinstall a lent environment
    env = dict(os.environ, PYTHONPATH=str(clone))   # the clone's course_lib, in kernels too
    start = time.perf_counter()
    subprocess.run(command, cwd=clone, env=env, check=True)
    return time.perf_counter() - start


def _clone(into: Path, venv: str | None) -> Path:
    clone = into / "course"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    if venv:
        (clone / ".venv").symlink_to(Path(venv).resolve())
    return clone


def _chapter_runs(clone: Path) -> dict[str, dict]:
    """Chapter file name -> data of its newest record in the clone's execution cache."""
    from jupyter_cache import get_cache

    records = sorted(get_cache(str(clone / ".jupyter_cache")).list_cache_records(),
                     key=lambda record: record.created)
    return {Path(record.uri).name: record.data or {} for record in records}


def _print_chapters(runs: dict[str, dict]) -> None:
    print(f"{'chapter':<28}{'wall (s)':>10}{'kernel CPU (s)':>16}{'longest wait (s)':>18}")
    for name, data in sorted(runs.items()):
        idle = data.get("longest_idle")
        wait = f"{idle[1] - idle[2]:.1f}" if idle else "-"
        cpu = data.get("cpu_seconds")
        print(f"{name:<28}{data.get('execution_seconds', 0):>10.1f}"
              f"{'-' if cpu is None else f'{cpu:.1f}':>16}{wait:>18}")


def _cold(clone: Path, args) -> tuple[float, float]:
    """(environment seconds, cold `make book` seconds) in ``clone``."""
    setup = 0.0 if args.venv else _make(clone, "env", args)
    shutil.rmtree(clone / ".jupyter_cache", ignore_errors=True)
    shutil.rmtree(clone / "_build", ignore_errors=True)
    return setup, _make(clone, "book", args)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", help="an existing environment to use instead of creating one")
    parser.add_argument("--jobs", type=int, default=2, help="chapters executed at once (JOBS)")
    parser.add_argument("--chapter", help="the chapter to edit (default: the first one)")
    parser.add_argument("--cold-runs", type=int, default=1, help="cold builds in a row")
    parser.add_argument("--keep", action="store_true", help="keep the clone, and print where")
    args = parser.parse_args(argv)
    chapter = Path(args.chapter or sorted((ROOT / "lectures").glob("[0-9][0-9]_*.md"))[0]).name
    if subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                      text=True).stdout.strip():
        print("note: uncommitted changes are not measured (the clone has HEAD only)")
    into = Path(tempfile.mkdtemp(prefix="build_times_"))
    clone = _clone(into, args.venv)
    load = os.getloadavg()[0]
    colds = [_cold(clone, args) for _ in range(args.cold_runs)]
    runs = _chapter_runs(clone)
    no_change = _make(clone, "book", args)
    with open(clone / "lectures" / chapter, "a", encoding="utf-8") as handle:
        handle.write(EDIT)
    edited = _make(clone, "book", args)
    chapter_seconds = _chapter_runs(clone)[chapter]["execution_seconds"]

    print(f"\nBuild times, JOBS={args.jobs}, {os.cpu_count()} cores, load average {load:.1f} "
          f"at the start (a busy machine stretches wall times)")
    for setup, book in colds:
        print(f"  cold make book (empty cache)       {book:6.0f} s"
              + (f"; environment {setup:.0f} s; together {setup + book:.0f} s (target < 480 s)"
                 if not args.venv else " (environment lent by --venv: add ~120 s to create it)"))
    print(f"  rebuild, no change                 {no_change:6.0f} s (target < 15 s)")
    print(f"  rebuild after editing {chapter}: {edited:.0f} s; the chapter executes in "
          f"{chapter_seconds:.0f} s, so {edited - chapter_seconds:.0f} s more (target < 30 s)")
    print("\nChapters of the (last) cold build:")
    _print_chapters(runs)
    if args.keep:
        print(f"\nclone kept in {clone}")
    else:
        shutil.rmtree(into)


if __name__ == "__main__":
    sys.exit(main())
