"""Gradebook exports: graded records joined with the roster, in the layouts LMSs import.

* ``canvas``: ``Student, ID, SIS User ID, SIS Login ID, Section`` then one column per
  assignment, with a ``Points Possible`` row first (the layout of Canvas's own gradebook
  export, which its import reads back).
* ``moodle``: ``Full name, ID number, Email address`` then one column per assignment
  (Moodle's "Import grades from CSV" maps ID number or email to its users).
* ``questions``: one row per student of one assignment, with every question's points,
  the raw total, the late penalty and the final total, for instructors who keep their
  own sheet.

Every roster student has a row; one without a submission has empty scores (never a
silent 0, never dropped). Records whose stem is on no roster line are returned as
``unmatched`` so that the command can say so.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import late
from .roster import Student, assignment_of, question_names, read_records


@dataclass
class Graded:
    """One assignment's records and late policy, read from its results folder."""

    name: str
    folder: Path
    records: dict
    policy: tuple | None

    @classmethod
    def read(cls, folder) -> "Graded":
        records = read_records(folder)
        return cls(assignment_of(records, folder), Path(folder), records, late.load(folder))

    @property
    def max_score(self) -> float:
        return max(record["max_score"] for record in self.records.values())

    def lateness(self, stem: str):
        return None if self.policy is None else late.lateness_under(*self.policy, stem)

    def final(self, stem: str):
        """The score that goes into the gradebook (penalised), or None when missing."""
        record = self.records.get(stem)
        if record is None:
            return None
        delay = self.lateness(stem)
        return record["score"] if delay is None else delay.apply(record["score"])


def unmatched(students: list[Student], graded: list[Graded]) -> list[str]:
    """Submissions on no roster line, as ``assignment/stem``."""
    known = {student.stem for student in students}
    return [f"{item.name}/{stem}" for item in graded for stem in item.records
            if stem not in known]


def canvas_rows(students: list[Student], graded: list[Graded]) -> list[list]:
    head = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    rows = [head + [item.name for item in graded],
            ["Points Possible", "", "", "", ""] + [item.max_score for item in graded]]
    for student in students:
        rows.append([student.name, student.id, student.sis_user_id, student.sis_login_id,
                     student.section] + [item.final(student.stem) for item in graded])
    return rows


def moodle_rows(students: list[Student], graded: list[Graded]) -> list[list]:
    rows = [["Full name", "ID number", "Email address"] + [item.name for item in graded]]
    for student in students:
        rows.append([student.name, student.id, student.email]
                    + [item.final(student.stem) for item in graded])
    return rows


def question_rows(students: list[Student], item: Graded) -> list[list]:
    names = question_names(item.records)
    rows = [["stem", "name", "id", *names, "raw_score", "max_score", "submitted_at",
             "time_source", "hours_late", "penalty_percent", "score", "error"]]
    for student in students:
        record = item.records.get(student.stem)
        if record is None:
            rows.append([student.stem, student.name, student.id, *[None] * len(names), None,
                         item.max_score, None, None, None, None, None, "no submission"])
            continue
        delay = item.lateness(student.stem)
        points = [record["questions"].get(name, {}).get("score") for name in names]
        timing = ([None, None, None, None] if delay is None else
                  [delay.submitted.isoformat() if delay.submitted else None, delay.source,
                   round(delay.hours_late, 2), delay.penalty])
        rows.append([student.stem, student.name, student.id, *points, record["score"],
                     record["max_score"], *timing, item.final(student.stem),
                     record.get("error") or ""])
    return rows


FORMATS = {"canvas": canvas_rows, "moodle": moodle_rows}
