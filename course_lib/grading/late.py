"""Deadlines and a late policy, applied to graded records without changing them.

A submission ``late`` = time submitted - the student's deadline (the course deadline or
the student's extension). With a grace period ``g``, a per-day penalty ``p`` (percent of
the points earned) and a cut-off ``c``::

    late <= g           ->  no penalty
    g < late <= c       ->  min(100, p * ceil(late / 1 day)) percent
    late > c            ->  100 percent (not accepted)

The raw score stays in the record; the penalised score is computed when a gradebook,
report or feedback file is written, from the policy saved beside the records
(``late_policy.json``), so a regrade never leaves a stale penalty behind. Submission times
come from a CSV file (``stem,submitted_at`` with ISO-8601 times) or, for stems missing
there, from the submitted file's modification time; every row says which.
"""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from course_lib import _checks

from .results import write_atomic

POLICY_NAME = "late_policy.json"
DAY = timedelta(days=1)


def parse_time(text: str, default_zone=timezone.utc) -> datetime:
    """An ISO-8601 time; one without an offset is read in ``default_zone``."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO-8601 time: {text!r} (e.g. 2026-12-10T23:59+01:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=default_zone)


def parse_duration(text: str) -> timedelta:
    """``"15m"``, ``"2h"``, ``"3d"`` or a number of hours."""
    text = str(text).strip()
    units = {"m": 60, "h": 3600, "d": 86400}
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text) * 3600
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (use e.g. 15m, 2h, 3d)") from None
    if not seconds >= 0:
        raise ValueError(f"a duration must be >= 0, got {text!r}")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class LatePolicy:
    """A deadline, per-student extensions and the penalty rule of the module docstring."""

    deadline: datetime
    per_day: float = 10.0
    grace: timedelta = timedelta(0)
    cutoff: timedelta | None = None
    extensions: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.deadline.tzinfo is None:
            raise ValueError("the deadline needs a time zone (e.g. 2026-12-10T23:59+01:00)")
        _checks.number("per_day", self.per_day, 0, 100, requirement="a percentage in [0, 100]")
        if self.cutoff is not None and self.cutoff < self.grace:
            raise ValueError("the cut-off must not come before the end of the grace period")

    def deadline_of(self, stem: str) -> datetime:
        return self.extensions.get(stem, self.deadline)

    def penalty(self, stem: str, submitted: datetime) -> tuple[float, float]:
        """``(hours late, penalty in percent)`` of a submission made at ``submitted``."""
        late = submitted - self.deadline_of(stem)
        hours = max(late.total_seconds(), 0.0) / 3600
        if late <= self.grace:
            return hours, 0.0
        if self.cutoff is not None and late > self.cutoff:
            return hours, 100.0
        return hours, min(100.0, self.per_day * math.ceil(late / DAY))

    def to_json(self) -> dict:
        return {"deadline": self.deadline.isoformat(), "per_day": self.per_day,
                "grace_hours": self.grace / timedelta(hours=1),
                "cutoff_hours": None if self.cutoff is None else self.cutoff / timedelta(hours=1),
                "extensions": {stem: when.isoformat() for stem, when in self.extensions.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "LatePolicy":
        cutoff = data.get("cutoff_hours")
        return cls(parse_time(data["deadline"]), float(data["per_day"]),
                   timedelta(hours=data["grace_hours"]),
                   None if cutoff is None else timedelta(hours=cutoff),
                   {stem: parse_time(when) for stem, when in data["extensions"].items()})


def read_times(path: str | Path, zone) -> dict[str, datetime]:
    """``stem -> submission time`` from a CSV with the columns stem and submitted_at."""
    return _read_stem_times(Path(path), "submitted_at", zone)


def read_extensions(path: str | Path, zone) -> dict[str, datetime]:
    """``stem -> extended deadline`` from a CSV with the columns stem and deadline."""
    return _read_stem_times(Path(path), "deadline", zone)


def _read_stem_times(path: Path, column: str, zone) -> dict[str, datetime]:
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        if not {"stem", column} <= set(reader.fieldnames or []):
            raise ValueError(f"{path}: needs the columns stem and {column}, "
                             f"found {reader.fieldnames}")
        times = {}
        for line, row in enumerate(reader, start=2):
            try:
                times[row["stem"].strip()] = parse_time(row[column], zone)
            except ValueError as error:
                raise ValueError(f"{path}, line {line}: {error}") from None
    return times


def submission_times(records: dict[str, dict], given: dict[str, datetime]) -> dict:
    """``stem -> (time, source)``: the given time, else the file's modification time."""
    found = {}
    for stem, record in records.items():
        if stem in given:
            found[stem] = (given[stem], "csv")
            continue
        try:
            mtime = os.stat(record["submission"]).st_mtime
        except OSError:
            found[stem] = (None, "unknown (file gone and no time given)")
            continue
        found[stem] = (datetime.fromtimestamp(mtime, timezone.utc), "file mtime")
    return found


def save(results_dir: str | Path, policy: LatePolicy, times: dict) -> Path:
    """Store the policy and each submission's time beside the records."""
    data = {"policy": policy.to_json(),
            "times": {stem: [None if when is None else when.isoformat(), source]
                      for stem, (when, source) in times.items()}}
    path = Path(results_dir) / POLICY_NAME
    write_atomic(path, json.dumps(data, indent=2) + "\n")
    return path


@dataclass(frozen=True)
class Lateness:
    submitted: datetime | None
    source: str
    hours_late: float
    penalty: float

    def apply(self, score: float) -> float:
        return round(score * (1 - self.penalty / 100), 4)


def load(results_dir: str | Path) -> tuple[LatePolicy, dict] | None:
    """The saved policy and times of ``results_dir``, or None when there is none."""
    path = Path(results_dir) / POLICY_NAME
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    times = {stem: (None if when is None else parse_time(when), source)
             for stem, (when, source) in data["times"].items()}
    return LatePolicy.from_json(data["policy"]), times


def lateness(results_dir: str | Path, stem: str) -> Lateness | None:
    """How late ``stem`` was under the saved policy (None: no policy saved)."""
    saved = load(results_dir)
    if saved is None:
        return None
    return lateness_under(*saved, stem)


def lateness_under(policy: LatePolicy, times: dict, stem: str) -> Lateness:
    when, source = times.get(stem, (None, "unknown"))
    if when is None:  # no time at all: do not guess a penalty, say so
        return Lateness(None, source, 0.0, 0.0)
    hours, penalty = policy.penalty(stem, when)
    return Lateness(when, source, hours, penalty)
