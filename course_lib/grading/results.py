"""Grading results on disk: one JSON record per submission and a CSV summary.

Every file is written to a temporary name in the same folder and then renamed over the
target (``os.replace`` is atomic on POSIX), so a run that is stopped leaves either the
old record or the new one, never half a file. A record remembers the SHA-256 of the
submission and the assignment's fingerprint; :func:`is_current` tells a resumed run
which submissions are already graded.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from pathlib import Path

SUMMARY_NAME = "summary.csv"


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def remove_stale_temporaries(out_dir: str | Path) -> None:
    """Delete temporary files left by a run that was killed while writing."""
    for path in Path(out_dir).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            path.unlink()


def record_path(out_dir: str | Path, submission: str | Path) -> Path:
    """``RESULTS_DIR/<submission stem>.json``."""
    return Path(out_dir) / f"{Path(submission).stem}.json"


def write_record(out_dir: str | Path, record: dict) -> Path:
    path = record_path(out_dir, record["submission"])
    write_atomic(path, json.dumps(record, indent=2, allow_nan=False) + "\n")
    return path


def load_record(path: str | Path) -> dict | None:
    """The record at ``path``, or None when absent or unreadable."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_current(record: dict | None, sha256: str, fingerprint: str) -> bool:
    """True when ``record`` graded exactly this file against this assignment version."""
    return (record is not None and record.get("sha256") == sha256
            and record.get("fingerprint") == fingerprint)


def identity_flags(records: list[dict]) -> dict[str, str]:
    """Submission name -> remarks on its ``STUDENT_ID``, for the instructor to look at.

    A per-student problem only protects against copying if the id is the student's own, so
    the summary flags an id that several submissions share and, when the file names carry ids
    (most of them contain their submission's id), a file whose name lacks its id.
    """
    named = {Path(record["submission"]).name: (record.get("student_id") or "").strip() for record in records}
    owners: dict[str, list[str]] = {}
    for name, student_id in named.items():
        if student_id:
            owners.setdefault(student_id, []).append(name)
    with_id = [(name, sid) for name, sid in named.items() if sid]
    ids_in_names = sum(sid.lower() in Path(name).stem.lower() for name, sid in with_id)
    check_names = bool(with_id) and 2 * ids_in_names >= len(with_id)
    flags = {}
    for name, student_id in named.items():
        remarks = []
        others = [other for other in owners.get(student_id, []) if other != name]
        if others:
            remarks.append(f"id shared with {' '.join(sorted(others))}")
        if check_names and student_id and student_id.lower() not in Path(name).stem.lower():
            remarks.append("id not in file name")
        flags[name] = "; ".join(remarks)
    return flags


def summary_rows(records: list[dict], question_names: list[str]) -> list[list]:
    rows = [["submission", "student_id", "score", "max_score", *question_names, "error", "flags"]]
    flags = identity_flags(records)
    for record in sorted(records, key=lambda item: Path(item["submission"]).stem):
        name = Path(record["submission"]).name
        scores = [record["questions"].get(name_, {}).get("score", 0.0) for name_ in question_names]
        rows.append([name, record.get("student_id") or "", record["score"], record["max_score"],
                     *scores, record["error"] or "", flags[name]])
    return rows


def write_summary(out_dir: str | Path, assignment: str, question_names: list[str]) -> Path:
    """``RESULTS_DIR/summary.csv`` over every record of ``assignment`` in the folder."""
    records = []
    for path in sorted(Path(out_dir).glob("*.json")):
        record = load_record(path)
        if record and record.get("assignment") == assignment and "questions" in record:
            records.append(record)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(summary_rows(records, question_names))
    path = Path(out_dir) / SUMMARY_NAME
    write_atomic(path, buffer.getvalue())
    return path
