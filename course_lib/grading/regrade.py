"""Regrade after a question or its hidden cases changed: rerun only what is affected.

Each question of a record carries the digest of what it asked of that student
(:mod:`course_lib.grading.digest`). A regrade recomputes every digest with the current
hidden tests and solution, reruns a submission only for the questions whose digest
changed (or that are new), keeps the other questions' scores, and reports every student
whose score changed, by how much. A submission whose file changed since it was graded
is graded again in full.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import results
from .assignment import Assignment
from .digest import current_digest
from .grader import Limits, file_sha256, grade_safely, prepare


@dataclass
class Change:
    stem: str
    student_id: str
    questions: list
    old: float
    new: float

    @property
    def delta(self) -> float:
        return round(self.new - self.old, 4)


@dataclass
class RegradeRun:
    changes: list = field(default_factory=list)
    rerun: dict = field(default_factory=dict)      # stem -> question names rerun
    unchanged: int = 0
    seconds: float = 0.0


def affected(assignment: Assignment, record: dict) -> set[str]:
    """Names of the questions of ``record`` that must run again."""
    questions = assignment.questions
    if record.get("sha256") != file_sha256(record["submission"]):
        return {question.name for question in questions}
    ref, student_id = assignment.reference, record.get("student_id") or ""
    stale = set()
    for question in questions:
        old = record["questions"].get(question.name, {}).get("digest")
        if old != current_digest(question, ref, assignment.name, assignment.salt, student_id):
            stale.add(question.name)
    return stale


def merge(assignment: Assignment, old: dict, new: dict) -> dict:
    """``old`` with the questions of ``new`` replaced, in the assignment's order."""
    merged = dict(old)
    merged["questions"] = {question.name: new["questions"].get(question.name)
                           or old["questions"][question.name]
                           for question in assignment.questions}
    merged["score"] = round(sum(item["score"] for item in merged["questions"].values()), 4)
    merged["max_score"] = assignment.max_score
    for key in ("sha256", "fingerprint", "sandbox", "memory_cage", "peak_memory_mb", "graded_at",
                "student_id"):
        merged[key] = new[key]
    merged["error"] = new["error"] if new["error"] else old.get("error")
    merged["seconds"] = round(old.get("seconds", 0.0) + new["seconds"], 3)
    merged["regraded"] = sorted(new["questions"])
    return merged


def regrade(assignment: str | Assignment, out_dir: str | Path, *, jobs: int = 1,
            limits: Limits = Limits(), sandbox: bool = True,
            root: str | Path | None = None) -> RegradeRun:
    """Regrade every record of ``assignment`` in ``out_dir`` where something changed."""
    started = time.monotonic()
    if isinstance(assignment, str):
        assignment = Assignment(assignment, root)
    out_dir = Path(out_dir)
    records = [(path.stem, record) for path in sorted(out_dir.glob("*.json"))
               if (record := results.load_record(path)) and "questions" in record
               and record.get("assignment") == assignment.name]
    run = RegradeRun()
    todo = []
    for name, record in records:
        stale = affected(assignment, record)
        if stale:
            todo.append((name, record, stale))
        else:
            run.unchanged += 1
    if todo:
        paths = [Path(record["submission"]) for _, record, _ in todo]
        box, _ = prepare(assignment, paths, out_dir, max(1, jobs), limits, sandbox)

        def one(item):
            name, record, stale = item
            fresh = grade_safely(assignment, Path(record["submission"]), box, limits, only=stale)
            return name, record, stale, merge(assignment, record, fresh)

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for name, old, stale, new in pool.map(one, todo):
                results.write_record(out_dir, new, name)
                stem = Path(new["submission"]).stem
                run.rerun[stem] = sorted(stale)
                if new["score"] != old["score"]:
                    run.changes.append(Change(stem, new.get("student_id") or "", sorted(stale),
                                              old["score"], new["score"]))
        results.write_summary(out_dir, assignment.name,
                              [question.name for question in assignment.questions])
    run.seconds = time.monotonic() - started
    return run


def change_rows(run: RegradeRun) -> list[list]:
    rows = [["stem", "student_id", "questions_rerun", "old_score", "new_score", "change"]]
    for change in sorted(run.changes, key=lambda item: item.stem):
        rows.append([change.stem, change.student_id, " ".join(change.questions),
                     change.old, change.new, change.delta])
    return rows


def change_file_name() -> str:
    return f"regrade-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.csv"
