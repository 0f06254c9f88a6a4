"""Grading results on disk: one JSON record per submission and a CSV summary.

Every file is written to a temporary name in the same folder and then renamed over the
target (``os.replace`` is atomic on POSIX), so a run that is stopped leaves either the
old record or the new one, never half a file. A record remembers the SHA-256 of the
submission and the assignment's fingerprint; :func:`is_current` tells a resumed run
which submissions are already graded.

File names are untrusted. A record is ``<submission stem>.json``; a stem that cannot be a
file name as it is (not encodable, too long, starting with a dot) or that several
submissions share gets an escaped name with a hash of the full path (:func:`plan`).
``summary.csv`` is valid UTF-8 whatever the names: undecodable bytes and control
characters are written as backslash escapes (:func:`printable`), and a cell that would
start with ``= + - @`` (a spreadsheet formula) gets a leading ``'``.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

SUMMARY_NAME = "summary.csv"
FORMULA_STARTS = ("=", "+", "-", "@")
MAX_NAME_BYTES = 200


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


def printable(text: str) -> str:
    """``text`` as valid, printable UTF-8: undecodable bytes as ``\\xNN``, lone surrogates
    as ``\\udNNN``, control characters as ``\\n``, ``\\x07``..."""
    try:
        text = os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no file name can hold
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


@dataclass(frozen=True)
class Entry:
    """A submission path, the stem of its record file, and why it is not graded (or None)."""

    path: Path
    name: str
    problem: str | None = None


def _plain(stem: str) -> bool:
    try:
        size = len(os.fsencode(stem))
    except UnicodeEncodeError:
        return False
    return 0 < size <= MAX_NAME_BYTES and not stem.startswith(".") and printable(stem) == stem


def _escaped(path: Path) -> str:
    digest = hashlib.sha256(str(path).encode("utf-8", "surrogatepass")).hexdigest()[:10]
    stem = printable(path.stem).replace("/", "_").replace("\\", "_").lstrip(".")[:80]
    return f"{stem}~{digest}"


def plan(paths: list[Path]) -> list[Entry]:
    """One entry per distinct path: record names, and duplicate stems marked as problems."""
    unique = list(dict.fromkeys(Path(path) for path in paths))
    owners: dict[str, list[Path]] = {}
    for path in unique:
        owners.setdefault(path.stem, []).append(path)
    entries = []
    for path in unique:
        shared = owners[path.stem]
        if len(shared) > 1:
            listed = ", ".join(printable(str(other)) for other in shared[:5])
            problem = (f"{len(shared)} submissions have the file stem {printable(path.stem)!r} ({listed}); "
                       "give each its own file name and grade again")
            entries.append(Entry(path, _escaped(path), problem))
        else:
            entries.append(Entry(path, path.stem if _plain(path.stem) else _escaped(path)))
    return entries


def record_path(out_dir: str | Path, name: str) -> Path:
    """``RESULTS_DIR/<name>.json``, ``name`` an :class:`Entry`'s."""
    return Path(out_dir) / f"{name}.json"


def write_record(out_dir: str | Path, record: dict, name: str) -> Path:
    path = record_path(out_dir, name)
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


def safe_cell(value):
    """A CSV cell that is valid UTF-8 and never a spreadsheet formula."""
    if not isinstance(value, str):
        return value
    value = printable(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def summary_rows(records: list[dict], question_names: list[str]) -> list[list]:
    rows = [["submission", "student_id", "score", "max_score", *question_names, "error", "flags"]]
    flags = identity_flags(records)
    for record in sorted(records, key=lambda item: printable(str(item["submission"]))):
        name = Path(record["submission"]).name
        scores = [record["questions"].get(name_, {}).get("score", 0.0) for name_ in question_names]
        row = [name, record.get("student_id") or "", record["score"], record["max_score"],
               *scores, record["error"] or "", flags[name]]
        rows.append([safe_cell(value) for value in row])
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
