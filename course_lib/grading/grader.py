"""Grade submissions: run each in its own sandboxed kernel, score it in the grader.

For every submission :func:`grade_submission` runs the code cells top to bottom in a
fresh kernel (``course_lib.grading.runner``), asks that kernel to call the student's
functions on hidden inputs, and compares the returned plain data with the solution's
outputs, computed here, in the grader's process. The score never depends on anything
the notebook prints or redefines.

A cell that raises is recorded and the next cells still run (every question gets its
chance). A cell that never finishes, kills the kernel (``os._exit``, a segfault, the
memory limit), prints too much or forges messages is reported, and the notebook is run
again in a fresh kernel without it, at most ``attempts`` times and within the one time
budget of the submission (``course_lib.grading.limits.Limits``); a graded function that hangs or
kills the kernel loses that question only. :func:`grade` grades many submissions in
parallel and writes a record for every one, whatever happens: a file that is not a
notebook, a symbolic link, a duplicate name, or a failure of the grader itself (then
marked, and retried by the next run). It skips submissions already graded and writes the
CSV summary.
"""
from __future__ import annotations

import hashlib
import os
import resource
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .. import _checks
from . import cage, codec, notebook, results
from .digest import digest, function_material
from .assignment import Assignment
from .compare import mismatch
from .limits import Limits
from .protocol import MAX_ID_CHARS, results_of
from .questions import Question, hidden_rng
from .runner import run_kernel
from .sandbox import Sandbox, detect, unsandboxed

__all__ = ["Limits", "grade", "grade_submission"]

#: One notebook is parsed at a time: parsing takes up to 25 times the file's size.
_PARSING = threading.Lock()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a submission file as the grader reads it ("" when it cannot be read)."""
    try:
        return sha256_of(notebook.read_submission(path))
    except notebook.InvalidNotebook:
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
        return mismatch(value, expected, question.rtol, question.atol, question.up_to_sign)
    except (ValueError, TypeError, OverflowError, RecursionError) as error:
        return f"an answer the grader cannot read ({str(error)[:100]})"


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


def _new_record(assignment: Assignment, path: Path, sandbox: Sandbox) -> dict:
    return {"submission": str(path), "assignment": assignment.name, "student_id": None,
            "score": 0.0, "max_score": assignment.max_score, "questions": {}, "error": None,
            "cell_errors": [], "notes": [], "sha256": "", "fingerprint": assignment.fingerprint,
            "sandbox": sandbox.name, "memory_cage": sandbox.cage[0], "peak_memory_mb": 0.0}


def _not_graded(record: dict, questions: list[Question], why: str, error: str) -> dict:
    record["error"] = error
    record["questions"] = {q.name: _zero(q, f"not graded: {why}") for q in questions}
    return record


def grade_submission(assignment: Assignment, path: str | Path, sandbox: Sandbox,
                     limits: Limits = Limits(), only: set[str] | None = None) -> dict:
    """Grade one notebook file; always returns a record (see the module docstring).

    ``only`` restricts grading to these question names (a selective regrade); the record
    then holds only those questions.
    """
    started = time.monotonic()
    path = Path(path)
    record = _new_record(assignment, path, sandbox)
    questions = [q for q in assignment.questions if only is None or q.name in only]
    cells = _read_cells(path, record, questions)
    if cells is not None:
        with sandbox.worker() as uid:
            _run_attempts(assignment, questions, cells, sandbox, limits, started + limits.timeout,
                          uid, record)
    return _finish(record, started)


def _read_cells(path: Path, record: dict, questions: list[Question]) -> list | None:
    """The notebook's code cells, its hash and notes written into ``record``; None, with
    every question not graded, when the file is not a readable notebook."""
    try:
        data = notebook.read_submission(path)
        record["sha256"] = sha256_of(data)
        with _PARSING:
            parsed = notebook.parse(data)
        del data
        cells = notebook.code_cells(parsed)
    except notebook.SubmissionFileError as error:
        _not_graded(record, questions, "not a readable notebook file", f"not graded: {error}")
        return None
    except notebook.InvalidNotebook as error:
        _not_graded(record, questions, "invalid notebook", f"invalid notebook: {error}")
        return None
    meant_for = notebook.handed_out_for(parsed)
    if meant_for not in (None, record["assignment"]):
        record["notes"].append(f"this notebook was handed out for {meant_for!r}")
    if results.printable(str(path)) != str(path):
        record["error"] = "the file name is not printable UTF-8 (shown escaped in summary.csv); rename it"
    return cells


def _on_ready(assignment, pending, by_name, cases, state) -> Callable:
    """The kernel's call once the notebook ran: the requests for the ``pending`` questions,
    with each function question's hidden cases (drawn once, for the first STUDENT_ID)."""
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
                    cases[name] = question.hidden_cases(rng, assignment.reference)
                request["cases"] = [codec.encode(kwargs) for kwargs, _ in cases[name]]
            requests.append(request)
        return requests

    return on_ready


def _note_run(run, record: dict) -> None:
    """What one kernel run tells the record besides answers: memory, cell errors, the id."""
    talk = run.conversation
    record["peak_memory_mb"] = max(record["peak_memory_mb"], round(run.peak_memory / 2**20, 1))
    record["cell_errors"] += [{"cell": number, "error": text}
                              for number, text in talk.cell_errors.items()]
    if talk.id_length > MAX_ID_CHARS:
        record["notes"].append(f"STUDENT_ID is longer than {MAX_ID_CHARS} characters: only its first "
                               f"{MAX_ID_CHARS} were used")


def _score_answers(talk, pending, by_name, cases, ref, student_id, outcomes) -> None:
    """Score the pending questions the kernel answered; they are no longer pending."""
    for name in [name for name in pending if name in talk.answers]:
        question, answers = by_name[name], results_of(talk.answers[name])
        if question.kind == "function":
            outcomes[name] = _score_function(question, cases[name], answers, ref)
        else:
            outcomes[name] = _score_value(question, answers, ref, student_id)
        pending.remove(name)


def _run_attempts(assignment, questions, cells, sandbox, limits, budget_end, uid, record) -> None:
    """Run the notebook until ``questions`` are answered, or attempts or time run out."""
    by_name = {question.name: question for question in questions}
    pending = [question.name for question in questions]
    cases: dict[str, list] = {}
    outcomes: dict[str, dict] = {}
    problems = [record["error"]] if record["error"] else []
    skipped: set[int] = set()
    state = {"student_id": None}
    labels = {cell.number: cell.label() for cell in cells}
    on_ready = _on_ready(assignment, pending, by_name, cases, state)
    for attempt in range(limits.attempts):
        if time.monotonic() >= budget_end:
            problems.append(f"the time limit of {limits.timeout:g} s for the whole submission was used up")
            break
        run = run_kernel([cell for cell in cells if cell.number not in skipped], on_ready, sandbox,
                         limits, budget_end, uid)
        _note_run(run, record)
        _score_answers(run.conversation, pending, by_name, cases, assignment.reference,
                       state["student_id"] or "", outcomes)
        if not _next_attempt(run, pending, by_name, outcomes, problems, skipped, labels, budget_end):
            break
    for name in pending:
        outcomes[name] = _zero(by_name[name], "not graded: the kernel failed on every attempt")
    record["student_id"] = state["student_id"]
    if not state["student_id"] and state["student_id"] is not None:
        record["notes"].append("STUDENT_ID is empty: graded on the shared default problem")
    record["questions"] = {question.name: outcomes[question.name] for question in questions}
    record["error"] = "; ".join(problems) or None


def _next_attempt(run, pending, by_name, outcomes, problems, skipped, labels, budget_end) -> bool:
    """Note why ``run`` failed; True when another run (without the culprit cell) may help."""
    failure = run.failure
    if failure is None:
        if not run.ready:
            problems.append("the kernel ended its conversation with the grader early")
        return False
    if failure.question in pending:
        question = by_name[failure.question]
        pending.remove(failure.question)
        outcomes[question.name] = _zero(question, f"calling {question.target} on the hidden inputs: "
                                                  f"{failure.reason}")
        problems.append(f"{question.name} ({question.target}): {failure.reason}")
    elif failure.cell is not None:
        skipped.add(failure.cell)
        again = ("the notebook was run again without that cell" if time.monotonic() < budget_end
                 else "no time was left to run the notebook again")
        problems.append(f"{labels.get(failure.cell, f'cell {failure.cell}')}: {failure.reason}; {again}")
    else:
        problems.append(f"the kernel {failure.reason}")
        return False
    return bool(pending) and time.monotonic() < budget_end


def _finish(record: dict, started: float) -> dict:
    record["cell_errors"] = _unique(record["cell_errors"])
    record["notes"] = list(dict.fromkeys(record["notes"]))
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
    """The outcome of :func:`grade`: the records, and those the grader itself failed on."""

    records: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    reused: int = 0
    seconds: float = 0.0
    sandbox: str = ""
    memory_cage: str = ""


def grade_safely(assignment: Assignment, path: Path, sandbox: Sandbox, limits: Limits,
                 only: set[str] | None = None) -> dict:
    """:func:`grade_submission`, and a record even when the grader itself fails.

    Such a record says "grader error", scores 0 and is marked ``grader_error`` so that the
    next run grades the submission again.
    """
    started = time.monotonic()
    try:
        return grade_submission(assignment, path, sandbox, limits, only)
    except Exception as error:  # a bug or a broken machine, not the student's fault
        record = _new_record(assignment, path, sandbox)
        asked = [question for question in assignment.questions if only is None or question.name in only]
        _not_graded(record, asked, "grader error",
                    f"grader error, not the submission's fault ({type(error).__name__}: {error}); "
                    "the next run grades it again")
        record["grader_error"] = traceback.format_exc()[-3000:]
        return _finish(record, started)


def _exists(path: Path) -> bool:
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True  # something is there (or an unencodable name): its entry says what
    return True


def _entry_record(assignment, entry, sandbox) -> dict:
    record = _new_record(assignment, entry.path, sandbox)
    return _finish(_not_graded(record, assignment.questions, "see the error", f"not graded: {entry.problem}"),
                   time.monotonic())


def _kept(out_dir: Path, entry, fingerprint: str) -> dict | None:
    """The record of ``entry`` from an earlier run, when it graded this very file."""
    old = results.load_record(results.record_path(out_dir, entry.name))
    if old is None or old.get("grader_error"):
        return None
    sha = file_sha256(entry.path)
    return old if sha and results.is_current(old, sha, fingerprint) else None


def prepare(assignment, paths, out_dir, jobs, limits, sandbox) -> tuple[Sandbox, str]:
    """The sandbox (or none) for grading ``paths`` into ``out_dir``, with its memory cage;
    and a sentence saying how memory is limited."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results.remove_stale_temporaries(out_dir)
    folders = {path.absolute().parent for path in paths}
    protected = [*assignment.protected, out_dir, *folders, *{folder.resolve() for folder in folders}]
    box = detect(protected, limits.disk_mb, jobs) if sandbox else unsandboxed()
    kind, parent, how = cage.detect(limits.memory_mb * 2**20, limits.processes)
    box.cage = (kind, parent)
    assignment.hidden, assignment.reference  # load both once, before the workers share them
    return box, how


def grade(assignment: str | Assignment, submissions, out_dir: str | Path, *, jobs: int | None = None,
          limits: Limits = Limits(), sandbox: bool = True, force: bool = False,
          root: str | Path | None = None, log: Callable[[str], None] = print) -> GradeRun:
    """Grade ``submissions`` (notebook paths) and write ``out_dir/<stem>.json`` + summary.csv.

    Every path gets a record (see the module docstring); only a path where nothing exists
    at all is refused, as a typo of the instructor's (``ValueError``).

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
    paths = _check_paths(submissions)
    jobs = _checks.integer("jobs", jobs or os.cpu_count() or 1, low=1)
    out_dir = Path(out_dir)
    box, how = prepare(assignment, paths, out_dir, jobs, limits, sandbox)
    run = GradeRun(sandbox=box.name, memory_cage=box.cage[0])
    log(f"sandbox: {box.name}{' (kernels run as uids ' + str(box.uids[0]) + '...)' if box.uids else ''}; "
        f"memory of each kernel's processes limited by {how}")
    todo = _plan(assignment, paths, out_dir, box, force, run, log)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade_safely, assignment, entry.path, box, limits): entry for entry in todo}
        for done, future in enumerate(as_completed(futures), start=1):
            _save(run, out_dir, futures[future], future.result(), log, f"[{done}/{len(todo)}] ")
    results.write_summary(out_dir, assignment.name, [question.name for question in assignment.questions])
    run.seconds = time.monotonic() - started
    return run


def _check_paths(submissions) -> list[Path]:
    """The submissions as paths; ValueError naming those where nothing exists at all."""
    paths = [Path(path) for path in submissions]
    missing = [results.printable(str(path)) for path in paths if not _exists(path)]
    if missing:
        raise ValueError(f"submissions not found: {', '.join(missing[:5])}"
                         + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    return paths


def _plan(assignment, paths, out_dir, box, force, run, log) -> list:
    """The entries left to grade: an entry that is not a submission gets its record now,
    and one graded before from this very file keeps its record (unless ``force``)."""
    todo = []
    for entry in results.plan(paths):
        old = None if force or entry.problem else _kept(out_dir, entry, assignment.fingerprint)
        if entry.problem:
            _save(run, out_dir, entry, _entry_record(assignment, entry, box), log, "")
        elif old is not None:
            run.records.append(old)
            run.reused += 1
            log(f"{results.printable(entry.path.name)}: already graded "
                f"({old['score']:g}/{old['max_score']:g}), kept")
        else:
            todo.append(entry)
    return todo


def _save(run: GradeRun, out_dir: Path, entry, record: dict, log, prefix: str) -> None:
    results.write_record(out_dir, record, entry.name)
    run.records.append(record)
    if record.get("grader_error"):
        run.failures.append((results.printable(str(entry.path)), record["error"]))
        log(f"{prefix}{results.printable(entry.path.name)}: GRADER ERROR: {record['error']}\n"
            f"{record['grader_error']}")
        return
    reason = f" ({record['error']})" if record["error"] else ""
    log(f"{prefix}{results.printable(entry.path.name)}: {record['score']:g}/{record['max_score']:g} "
        f"in {record['seconds']:.1f} s{reason}")


def peak_memory_mb() -> float:
    """The grader process's own peak resident memory (the kernels not included), in MiB.

    ``VmHWM`` of this process image: ``ru_maxrss`` would also count the process it was
    forked from, since it survives ``exec``.
    """
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
