"""Grade submissions: run each in its own sandboxed kernel, score it in the grader.

For every submission :func:`grade_submission` runs the code cells top to bottom in a
fresh kernel (:mod:`course_lib.grading.runner`), asks that kernel to call the student's
functions on hidden inputs, and compares the returned plain data with the solution's
outputs, computed here, in the grader's process. The score never depends on anything
the notebook prints or redefines.

A cell that raises is recorded and the next cells still run (every question gets its
chance). A cell that never finishes or kills the kernel (``os._exit``, a segfault, the
memory limit) is reported, and the notebook is run again in a fresh kernel without it,
at most ``attempts`` times in all; a graded function that hangs or kills the kernel
loses that question only. :func:`grade` grades many submissions in parallel, writes one
record each as soon as it is done, skips those already graded, and writes the CSV.
"""
from __future__ import annotations

import hashlib
import os
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import codec, notebook, results
from .digest import digest, function_material
from .assignment import Assignment
from .compare import mismatch
from .questions import Question, hidden_rng
from .runner import run_kernel
from .sandbox import Sandbox, detect, unsandboxed


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission.

    timeout : wall-clock seconds for one run of the whole notebook and its questions.
    memory_mb : address-space limit of the kernel (RLIMIT_AS), in MiB.
    question_seconds : time one graded function may take over all its hidden cases.
    attempts : kernel runs per submission (a run that hangs or dies is retried without
        the culprit cell).
    """

    timeout: float = 30.0
    memory_mb: int = 1024
    question_seconds: float = 5.0
    attempts: int = 3

    def __post_init__(self):
        if not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout!r}")
        if not 256 <= self.memory_mb:
            raise ValueError(f"memory_mb must be >= 256, got {self.memory_mb!r}")
        if not self.question_seconds > 0:
            raise ValueError(f"question_seconds must be > 0, got {self.question_seconds!r}")
        if not 1 <= self.attempts <= 10:
            raise ValueError(f"attempts must be in 1..10, got {self.attempts!r}")


def sha256_of(path: Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def _zero(question: Question, feedback: str) -> dict:
    return {"target": question.target, "score": 0.0, "max_score": question.points,
            "passed": 0, "total": 0, "feedback": feedback}


def _score_function(question: Question, cases: list, answers: list, ref: dict) -> dict:
    passed, first_problem = 0, None
    material = function_material(question, cases, ref)
    for index, (kwargs, expected) in enumerate(material):
        problem = _problem(answers, index, expected, question)
        if problem is None:
            passed += 1
        elif first_problem is None:
            first_problem = f"hidden case {index + 1}: {problem}"
    total = len(cases)
    feedback = f"{passed}/{total} hidden cases passed"
    if first_problem:
        feedback += f"; {first_problem}"
    return {"target": question.target, "score": round(question.points * passed / total, 4),
            "max_score": question.points, "passed": passed, "total": total, "feedback": feedback,
            "digest": digest(question, material)}


def _problem(answers: list, index: int, expected, question: Question) -> str | None:
    """Why answer ``index`` is wrong, or None."""
    if index >= len(answers):
        first = answers[0] if answers else None
        if isinstance(first, dict) and not first.get("ok") and index > 0:
            return str(first.get("error"))[:300]
        return "no answer (an earlier case stopped the question)"
    answer = answers[index]
    if not isinstance(answer, dict):
        return "malformed answer"
    if not answer.get("ok"):
        return str(answer.get("error"))[:300]
    try:
        value = codec.decode(answer.get("value"))
    except (ValueError, TypeError, RecursionError):
        return "malformed answer"
    return mismatch(value, expected, question.rtol, question.atol, question.up_to_sign)


def _score_value(question: Question, answers: list, ref: dict, student_id: str) -> dict:
    expected = question.expected_answer(ref, student_id)
    problem = _problem(answers, 0, expected, question)
    return {"target": question.target, "score": question.points if problem is None else 0.0,
            "max_score": question.points, "passed": int(problem is None), "total": 1,
            "feedback": problem or "correct", "digest": digest(question, expected),
            "answer": _answer_text(answers)}


#: Longest student answer kept in a record (for the class report's common wrong answers).
ANSWER_CHARS = 80


def _answer_text(answers: list) -> str | None:
    """The student's answer to a value or choice question, short, for the instructor."""
    first = answers[0] if answers else None
    if not isinstance(first, dict) or not first.get("ok"):
        return None
    try:
        value = codec.decode(first.get("value"))
    except (ValueError, TypeError, RecursionError):
        return None
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif hasattr(value, "shape"):
        text = str(value.round(4).tolist()) if value.dtype.kind == "f" else str(value.tolist())
    else:
        text = repr(value)
    return text if len(text) <= ANSWER_CHARS else text[:ANSWER_CHARS - 3] + "..."


def grade_submission(assignment: Assignment, path: str | Path, sandbox: Sandbox,
                     limits: Limits = Limits(), only: set[str] | None = None) -> dict:
    """Grade one notebook file; always returns a record (see the module docstring).

    ``only`` restricts grading to these question names (a selective regrade); the record
    then holds only those questions.
    """
    started = time.monotonic()
    path = Path(path)
    record = {"submission": str(path), "assignment": assignment.name, "student_id": None,
              "score": 0.0, "max_score": assignment.max_score, "questions": {}, "error": None,
              "cell_errors": [], "notes": [], "sha256": sha256_of(path),
              "fingerprint": assignment.fingerprint, "sandbox": sandbox.name}
    questions = [q for q in assignment.questions if only is None or q.name in only]
    try:
        parsed = notebook.read(path)
        cells = notebook.code_cells(parsed)
    except notebook.InvalidNotebook as error:
        record["error"] = f"invalid notebook: {error}"
        record["questions"] = {q.name: _zero(q, "not graded: invalid notebook") for q in questions}
        return _finish(record, started)
    meant_for = (parsed.get("metadata") or {}).get("course_lib", {})
    if isinstance(meant_for, dict) and meant_for.get("assignment") not in (None, assignment.name):
        record["notes"].append(f"this notebook was handed out for {meant_for.get('assignment')!r}")

    ref = assignment.reference
    by_name = {question.name: question for question in questions}
    pending = [question.name for question in questions]
    cases: dict[str, list] = {}
    outcomes: dict[str, dict] = {}
    problems: list[str] = []
    skipped: set[int] = set()
    state = {"student_id": None}
    labels = {cell.number: cell.label() for cell in cells}

    def on_ready(student_id):
        if state["student_id"] is None:
            state["student_id"] = (student_id or "").strip()
        requests = []
        for name in pending:
            question = by_name[name]
            request = {"name": name, "kind": question.kind, "target": question.target, "cases": []}
            if question.kind == "function":
                if name not in cases:
                    rng = hidden_rng(assignment.name, state["student_id"], name, assignment.salt)
                    cases[name] = question.hidden_cases(rng, ref)
                request["cases"] = [codec.encode(kwargs) for kwargs, _ in cases[name]]
            requests.append(request)
        return requests

    for attempt in range(limits.attempts):
        run = run_kernel([cell for cell in cells if cell.number not in skipped], on_ready, sandbox,
                         limits.timeout, limits.memory_mb, limits.question_seconds)
        for number, text in run.cell_errors.items():
            record["cell_errors"].append({"cell": number, "error": text})
        student_id = state["student_id"] or ""
        for name in list(pending):
            if name in run.answers:
                question = by_name[name]
                if question.kind == "function":
                    outcomes[name] = _score_function(question, cases[name], run.answers[name], ref)
                else:
                    outcomes[name] = _score_value(question, run.answers[name], ref, student_id)
                pending.remove(name)
        failure = run.failure
        if failure is None:
            if not run.ready:
                problems.append("the kernel ended its conversation with the grader early")
            break
        if failure.question in pending:
            question = by_name[failure.question]
            pending.remove(failure.question)
            outcomes[question.name] = _zero(question, f"calling {question.target} on the hidden inputs: "
                                                      f"{failure.reason}")
            problems.append(f"{question.name} ({question.target}): {failure.reason}")
        elif failure.cell is not None:
            skipped.add(failure.cell)
            problems.append(f"{labels.get(failure.cell, f'cell {failure.cell}')}: {failure.reason}; "
                            "the notebook was run again without that cell")
        else:
            problems.append(f"the kernel {failure.reason}")
            break
        if not pending:
            break
    for name in pending:
        outcomes[name] = _zero(by_name[name], "not graded: the kernel failed on every attempt")

    record["student_id"] = state["student_id"]
    if not state["student_id"] and state["student_id"] is not None:
        record["notes"].append("STUDENT_ID is empty: graded on the shared default problem")
    record["questions"] = {question.name: outcomes[question.name] for question in questions}
    record["error"] = "; ".join(problems) or None
    return _finish(record, started)


def _finish(record: dict, started: float) -> dict:
    record["cell_errors"] = _unique(record["cell_errors"])
    record["score"] = round(sum(item["score"] for item in record["questions"].values()), 4)
    record["seconds"] = round(time.monotonic() - started, 3)
    record["graded_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


def _unique(items: list[dict]) -> list[dict]:
    seen, kept = set(), []
    for item in items:
        key = (item["cell"], item["error"])
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return sorted(kept, key=lambda item: item["cell"])


@dataclass
class GradeRun:
    """The outcome of :func:`grade`: the records and the submissions that could not be graded."""

    records: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    reused: int = 0
    seconds: float = 0.0


def grade(assignment: str | Assignment, submissions, out_dir: str | Path, *, jobs: int | None = None,
          limits: Limits = Limits(), sandbox: bool = True, force: bool = False,
          root: str | Path | None = None, log: Callable[[str], None] = print) -> GradeRun:
    """Grade ``submissions`` (notebook paths) and write ``out_dir/<stem>.json`` + summary.csv.

    Parameters
    ----------
    assignment : str or Assignment
        The stem, e.g. ``"06_momentum"``.
    jobs : int, optional
        Kernels running at once (default: the number of CPUs).
    sandbox : bool
        True (default) grades in bubblewrap and raises SandboxUnavailable where it cannot
        run; False grades without any isolation (with a loud warning).
    force : bool
        Regrade submissions whose record is current.
    """
    started = time.monotonic()
    if isinstance(assignment, str):
        assignment = Assignment(assignment, root)
    paths = [Path(path) for path in submissions]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:  # a typo in a path is the instructor's, not a student's zero
        raise ValueError(f"submissions not found: {', '.join(missing[:5])}"
                         + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    stems: dict[str, Path] = {}
    for path in paths:
        if path.stem in stems and stems[path.stem] != path:
            raise ValueError(f"two submissions share the stem {path.stem!r}: {stems[path.stem]} and {path}")
        stems[path.stem] = path
    paths = list(stems.values())
    jobs = jobs or os.cpu_count() or 1
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results.remove_stale_temporaries(out_dir)
    protected = [*assignment.protected, out_dir, *{path.resolve().parent for path in paths}]
    box = detect(protected) if sandbox else unsandboxed()
    assignment.hidden, assignment.reference  # load both once, before the workers share them

    run = GradeRun()
    todo = []
    for path in paths:
        old = results.load_record(results.record_path(out_dir, path))
        if not force and results.is_current(old, sha256_of(path), assignment.fingerprint):
            run.records.append(old)
            run.reused += 1
            log(f"{path.name}: already graded ({old['score']:g}/{old['max_score']:g}), kept")
        else:
            todo.append(path)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade_submission, assignment, path, box, limits): path for path in todo}
        for done, future in enumerate(as_completed(futures), start=1):
            path = futures[future]
            try:
                record = future.result()
            except Exception as error:  # a bug or a broken machine, not the student's fault
                run.failures.append((str(path), f"{type(error).__name__}: {error}"))
                log(f"[{done}/{len(todo)}] {path.name}: GRADER ERROR, not recorded: {error}\n"
                    f"{traceback.format_exc()}")
                continue
            results.write_record(out_dir, record)
            run.records.append(record)
            reason = f" ({record['error']})" if record["error"] else ""
            log(f"[{done}/{len(todo)}] {path.name}: {record['score']:g}/{record['max_score']:g} "
                f"in {record['seconds']:.1f} s{reason}")
    results.write_summary(out_dir, assignment.name, [question.name for question in assignment.questions])
    run.seconds = time.monotonic() - started
    return run
