"""The class: who the students are, and which graded record belongs to whom.

A roster is a CSV file with a header. Its ``stem`` column holds the file stem under which
the student's submissions are collected (``ada.ipynb`` -> ``ada``; keep it the same for
every assignment), ``name`` the student's name; the optional columns ``id``,
``sis_user_id``, ``sis_login_id``, ``section`` and ``email`` are copied into the
gradebook exports that need them (Canvas matches students on ``id``, ``sis_user_id`` or
``sis_login_id``; Moodle on ``id`` or ``email``)::

    stem,name,id,sis_user_id,sis_login_id,section,email
    ada,"Lovelace, Ada",1001,s1001,ada,Tutorial A,ada@example.edu
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from . import results

OPTIONAL = ("id", "sis_user_id", "sis_login_id", "section", "email")


@dataclass(frozen=True)
class Student:
    stem: str
    name: str
    id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    email: str = ""


def read_roster(path: str | Path) -> list[Student]:
    """The students of ``path`` in file order; a clear error for a malformed roster."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no roster at {path}")
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        columns = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in ("stem", "name") if name not in columns]
        if missing:
            raise ValueError(f"{path}: the roster needs the columns stem and name "
                             f"(missing: {', '.join(missing)}; found: {columns})")
        students, seen = [], {}
        for line, row in enumerate(reader, start=2):
            row = {key.strip(): (value or "").strip() for key, value in row.items() if key}
            if not row["stem"]:
                raise ValueError(f"{path}, line {line}: empty stem")
            if row["stem"] in seen:
                raise ValueError(f"{path}, line {line}: the stem {row['stem']!r} is already "
                                 f"on line {seen[row['stem']]}")
            seen[row["stem"]] = line
            students.append(Student(row["stem"], row["name"],
                                    **{key: row.get(key, "") for key in OPTIONAL}))
    return students


def read_records(results_dir: str | Path, assignment: str | None = None) -> dict[str, dict]:
    """Submission stem -> graded record, for every record in ``results_dir``.

    With ``assignment``, records of other assignments are left out; without it, the
    folder must hold records of one assignment only.
    """
    folder = Path(results_dir)
    if not folder.is_dir():
        raise ValueError(f"no results folder at {folder}")
    found: dict[str, dict] = {}
    for path in sorted(folder.glob("*.json")):
        record = results.load_record(path)
        if not record or "questions" not in record or "assignment" not in record:
            continue
        if assignment is None or record["assignment"] == assignment:
            found[Path(record["submission"]).stem] = record
    names = {record["assignment"] for record in found.values()}
    if len(names) > 1:
        raise ValueError(f"{folder} holds records of several assignments "
                         f"({', '.join(sorted(names))}): name one")
    return found


def assignment_of(records: dict[str, dict], folder) -> str:
    """The one assignment the records belong to."""
    names = {record["assignment"] for record in records.values()}
    if len(names) != 1:
        raise ValueError(f"{folder}: no graded records found")
    return names.pop()


def question_names(records: dict[str, dict]) -> list[str]:
    """Question names in the order the records list them (q1, q2, ...)."""
    names: list[str] = []
    for record in records.values():
        for name in record["questions"]:
            if name not in names:
                names.append(name)
    return names
