"""The class report of one assignment: one static HTML page for the instructor only.

It shows the score histogram (raw and, under a late policy, penalised), per question the
mean points and the share of students who solved it, the most common wrong answers
(value and choice questions: the answers themselves, grouped by value; function
questions: the kind of failure), runtimes, errors, and the submissions that hit a limit.
Figures are PNG images embedded in the page; it needs no server and no network.
"""
from __future__ import annotations

import base64
import html
import io
import re
from collections import Counter
from pathlib import Path

import numpy as np

from .feedback import public_message
from .gradebook import Graded
from .results import write_atomic

LIMIT_WORDS = re.compile(r"time limit|took longer|ran longer|printed more|memory|killed|died|"
                         r"too (large|big|many)")


def _figure_tag(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="score histogram" src="data:image/png;base64,{encoded}">'


def score_histogram(item: Graded) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    raw = [record["score"] for record in item.records.values()]
    final = [item.final(stem) for stem in item.records]
    figure, axes = plt.subplots(figsize=(6, 3.2))
    bins = np.linspace(0, item.max_score, min(21, int(item.max_score * 2) + 2))
    axes.hist(raw, bins=bins, alpha=0.6, label="raw score")
    if item.policy is not None:
        axes.hist(final, bins=bins, alpha=0.6, label="after late penalty")
        axes.legend()
    axes.set_xlabel(f"score (points, out of {item.max_score:g})")
    axes.set_ylabel("submissions")
    axes.set_title(f"{item.name}: {len(raw)} submissions")
    tag = _figure_tag(figure)
    plt.close(figure)
    return tag


def question_table(item: Graded, top: int = 3) -> list[list]:
    """Per question: mean points, share solved, the most common wrong answers."""
    rows = []
    names = list(dict.fromkeys(name for record in item.records.values()
                               for name in record["questions"]))
    for name in names:
        entries = [record["questions"][name] for record in item.records.values()
                   if name in record["questions"]]
        solved = sum(entry["score"] >= entry["max_score"] for entry in entries)
        wrong = Counter(_wrong_answer(entry) for entry in entries
                        if entry["score"] < entry["max_score"])
        common = "; ".join(f"{answer} ({count})" for answer, count in wrong.most_common(top))
        rows.append([name, entries[0].get("target", ""), entries[0]["max_score"],
                     np.mean([entry["score"] for entry in entries]),
                     solved / len(entries), common])
    return rows


def _wrong_answer(entry: dict) -> str:
    if entry.get("answer") is not None:
        return f"answered {entry['answer']}"
    return public_message(entry)


def limit_hits(item: Graded) -> list[tuple[str, str]]:
    return [(stem, record["error"]) for stem, record in sorted(item.records.items())
            if record.get("error") and LIMIT_WORDS.search(record["error"])]


def _table(head: list[str], rows: list[list]) -> str:
    def cell(value):
        if isinstance(value, float):
            value = f"{value:.3g}"
        text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
        return f"<td>{html.escape(text)}</td>"
    body = "".join("<tr>" + "".join(cell(value) for value in row) + "</tr>" for row in rows)
    header = "".join(f"<th>{html.escape(name)}</th>" for name in head)
    return f"<table><tr>{header}</tr>{body}</table>"


def report_html(item: Graded) -> str:
    records = list(item.records.values())
    seconds = [record.get("seconds", 0.0) for record in records]
    errors = sum(bool(record.get("error")) for record in records)
    cell_errors = sum(bool(record.get("cell_errors")) for record in records)
    raw = np.array([record["score"] for record in records])
    late_note = "no late policy"
    if item.policy is not None:
        policy, times = item.policy
        sources = Counter(source for _, source in times.values())
        late_note = (f"deadline {policy.deadline.isoformat()}, {policy.per_day:g}% per day, "
                     f"submission times from: "
                     + ", ".join(f"{source} ({count})" for source, count in sources.items()))
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(item.name)}: class report</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "td,th{border:1px solid #ccc;padding:2px 6px}table{border-collapse:collapse}</style>",
        "</head><body>",
        f"<h1>{html.escape(item.name)}: class report (instructors only)</h1>",
        f"<p>{len(records)} submissions; mean {raw.mean():.2f}, median {np.median(raw):.2f} of "
        f"{item.max_score:g} points; {html.escape(late_note)}.</p>",
        score_histogram(item),
        "<h2>Questions</h2>",
        _table(["question", "target", "points", "mean points", "share solved",
                "most common wrong answers"], question_table(item)),
        "<h2>Runs</h2>",
        f"<p>runtime per submission: median {np.median(seconds):.1f} s, max "
        f"{max(seconds):.1f} s; {errors} submissions with an error, {cell_errors} with cells "
        "that raised.</p>",
        "<h2>Submissions that hit a limit</h2>",
        _table(["submission", "error"], limit_hits(item)) if limit_hits(item) else "<p>none</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(item: Graded, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, report_html(item))
    return path
