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


def summary_rows(records: list[dict], question_names: list[str]) -> list[list]:
    rows = [["submission", "student_id", "score", "max_score", *question_names, "error"]]
    for record in sorted(records, key=lambda item: Path(item["submission"]).stem):
        scores = [record["questions"].get(name, {}).get("score", 0.0) for name in question_names]
        rows.append([Path(record["submission"]).name, record.get("student_id") or "",
                     record["score"], record["max_score"], *scores, record["error"] or ""])
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
