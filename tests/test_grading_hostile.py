"""Hostile and broken submissions get the right score and a clear reason, in one run.

Each case of ``CASES`` takes a cell from ``tests/hostile/`` and puts it into the solution
or the exercise of 02_gradient_descent (max score 7): inserted after the set-up cell,
appended, or replacing the cell that defines a function. Broken files in
``tests/hostile/*.ipynb`` are submitted as they are. All are graded together, in
parallel, beside an untouched solution and exercise, which must keep their scores.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from course_lib.grading import notebook
from course_lib.grading.assignment import Assignment
from course_lib.grading.grader import Limits, grade

pytestmark = pytest.mark.xdist_group("grading")

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = Path(__file__).with_name("hostile")
NAME = "02_gradient_descent"
# Small limits keep the suite fast: the kernel needs about 230 MB of address space, so 512 MB
# stops the memory bomb after touching ~300 MB (touching 1 GB took 1-70 s on a loaded VM).
LIMITS = Limits(timeout=10.0, memory_mb=512, question_seconds=2.0)
RERUN = "the notebook was run again without that cell"

# name: (base notebook, edit, expected score, error regex or None, cell-error regex or None,
#        {question: feedback regex})
CASES = {
    "clean_solution": ("solution", None, 7, None, None, {}),
    "clean_exercise": ("exercise", None, 0, None, None, {"q1": "got None"}),
    "infinite_loop": ("solution", "insert", 7, rf"time limit of 10 s; {RERUN}", None, {}),
    "slow_answer": ("solution", "def gd_quadratic", 5, None, None, {"q1": "took longer than 2 s"}),
    "slow_answer_ignoring_alarm": ("solution", "def gd_quadratic", 5,
                                   r"q1 \(gd_quadratic\): exceeded the time limit", None,
                                   {"q1": "exceeded the time limit"}),
    "memory_bomb": ("solution", "append", 7, None, "MemoryError", {}),
    "huge_allocation": ("solution", "insert", 7, None, "MemoryError", {}),
    "sys_exit": ("solution", "insert", 7, None, "SystemExit: goodbye", {}),
    "os_exit": ("solution", "insert", 7, rf"died \(exit status 0\); {RERUN}", None, {}),
    "kill_self": ("solution", "insert", 7, rf"signal 9 \(SIGKILL.*; {RERUN}", None, {}),
    "segfault": ("solution", "insert", 7, rf"signal 11 \(SIGSEGV\)\); {RERUN}", None, {}),
    "exit_builtin": ("solution", "insert", 7, None, None, {}),
    "close_channel": ("solution", "insert", 7, rf"(died|closed its channel).*{RERUN}", None, {}),
    "output_flood": ("solution", "insert", 7, None, None, {}),
    "network": ("solution", "append", 7, None, "URLError", {}),
    "delete_files": ("solution", "append", 7, None, None, {}),
    "redefine_check": ("exercise", "append", 0, None, None, {"q1": "got None"}),
    "fake_score": ("exercise", "append", 0, None, None, {}),
    "forge_protocol": ("exercise", "append", 0, None, None, {"q1": "expected shape"}),
    "read_hidden": ("exercise", "append", 0, None, None, {}),
    "missing_question": ("solution", "def newton_step", 5, None, None,
                         {"q3": "newton_step is not defined"}),
    "wrong_types": ("solution", "append", 1, None, None,
                    {"q1": "cannot be graded: an object of type Liar", "q2": "expected a number, got a str",
                     "q3": "an array with 10000000 elements"}),
    "copied_numbers": ("solution", None, 6, None, None, {"q4": "values differ"}),
    "not_json": (None, None, 0, "invalid notebook: not valid JSON", None, {}),
    "not_a_notebook": (None, None, 0, "invalid notebook: the JSON holds a list", None, {}),
    "not_utf8": (None, None, 0, "invalid notebook: not UTF-8", None, {}),
    "empty": (None, None, 0, "invalid notebook: not valid JSON", None, {}),
    "truncated": (None, None, 0, "invalid notebook: not valid JSON", None, {}),
}


def _code_cell(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": "hostile", "metadata": {},
            "outputs": [], "source": source}


def build_submission(name: str, base: str, edit: str | None, directory: Path, values: dict) -> Path:
    """Write the hostile notebook ``name`` into ``directory``."""
    path = directory / f"{name}.ipynb"
    if base is None:
        shutil.copy(HOSTILE / f"{name}.ipynb", path)
        return path
    nb = notebook.read(ROOT / ("solutions" if base == "solution" else "exercises") / f"{NAME}.ipynb")
    cells = nb["cells"]
    if name == "copied_numbers":  # a neighbour's number under one's own id
        for cell in cells:
            source = "".join(cell["source"])
            source = source.replace('STUDENT_ID = ""', 'STUDENT_ID = "alice"')
            source = re.sub(r"my_eta_max = .*", f"my_eta_max = {values['eta_max_of_default']!r}", source)
            cell["source"] = source
    elif edit is not None:
        source = (HOSTILE / f"{name}.py").read_text()
        for key, value in values.items():
            source = source.replace("{" + key + "}", str(value))
        if edit == "insert":
            first_code = next(i for i, cell in enumerate(cells) if cell["cell_type"] == "code")
            cells.insert(first_code + 1, _code_cell(source))
        elif edit == "append":
            cells.append(_code_cell(source))
        else:
            index = next(i for i, cell in enumerate(cells) if edit in "".join(cell["source"]))
            cells[index] = _code_cell(source)
    notebook.write(nb, path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade every case in one parallel run; return the records and the folders."""
    base = tmp_path_factory.mktemp("hostile")
    submissions, canary = base / "submissions", base / "instructor"
    submissions.mkdir()
    canary.mkdir()
    (canary / "hidden_tests.py").write_text("SECRET = 42\n")
    reference = Assignment(NAME).reference
    values = {"canary": str(canary), "submissions": str(submissions),
              "eta_max_of_default": float(reference["stability_bound"](reference["my_quadratic"]("")))}
    paths = [build_submission(name, case[0], case[1], submissions, values) for name, case in CASES.items()]
    run = grade(NAME, paths, base / "results", jobs=2, limits=LIMITS, log=lambda line: None)
    records = {Path(record["submission"]).stem: record for record in run.records}
    return {"run": run, "records": records, "base": base, "paths": paths, "canary": canary}


def test_every_submission_was_graded(graded):
    assert graded["run"].failures == []
    assert sorted(graded["records"]) == sorted(CASES)
    results = graded["base"] / "results"
    assert sorted(path.stem for path in results.glob("*.json")) == sorted(CASES)
    assert not list(results.glob(".*.tmp")), "a temporary file was left behind"


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_case(graded, name):
    _, _, score, error, cell_error, feedback = CASES[name]
    record = graded["records"][name]
    assert record["score"] == score, (record["error"], record["questions"])
    assert record["max_score"] == 7
    if error is None:
        assert record["error"] is None
    else:
        assert record["error"] and re.search(error, record["error"]), record["error"]
    cell_errors = " | ".join(item["error"] for item in record["cell_errors"])
    if cell_error is not None:
        assert re.search(cell_error, cell_errors), cell_errors
    for question, pattern in feedback.items():
        assert re.search(pattern, record["questions"][question]["feedback"]), record["questions"][question]
    assert set(record["questions"]) == {"q1", "q2", "q3", "q4"}


def test_nothing_outside_the_sandbox_was_touched(graded):
    assert (graded["canary"] / "hidden_tests.py").read_text() == "SECRET = 42\n"
    assert all(path.exists() for path in graded["paths"])
    package = ROOT / "course_lib"
    assert not (package / "pwned.txt").exists() and not (package / "grading" / "pwned.txt").exists()
    assert (package / "grading" / "compare.py").exists()
    assert (ROOT / "solutions" / "hidden" / f"{NAME}.py").exists()


def test_forged_messages_only_claim_wrong_answers(graded):
    record = graded["records"]["forge_protocol"]
    assert record["student_id"] == "forged"
    assert all(item["score"] == 0 for item in record["questions"].values())


def test_reading_hidden_files_works_only_without_the_sandbox(graded, tmp_path, capsys):
    """The read_hidden attack is real: without bubblewrap it steals full marks."""
    path = graded["base"] / "submissions" / "read_hidden.ipynb"
    run = grade(NAME, [path], tmp_path, jobs=1, limits=LIMITS, sandbox=False, log=lambda line: None)
    assert run.records[0]["score"] == 7
    assert run.records[0]["sandbox"] == "none"
    assert "WITHOUT a sandbox" in capsys.readouterr().err
    assert graded["records"]["read_hidden"]["sandbox"] == "bubblewrap"


def test_regrading_gives_the_same_scores_and_resuming_regrades_nothing(graded):
    records, results = graded["records"], graded["base"] / "results"
    again = ["clean_solution", "wrong_types", "copied_numbers", "missing_question", "not_json"]
    paths = [graded["base"] / "submissions" / f"{name}.ipynb" for name in again]
    kept = grade(NAME, paths, results, jobs=2, limits=LIMITS, log=lambda line: None)
    assert kept.reused == len(again)
    forced = grade(NAME, paths, graded["base"] / "regraded", jobs=2, limits=LIMITS, log=lambda line: None)
    for record in forced.records:
        old = records[Path(record["submission"]).stem]
        assert record["score"] == old["score"]
        assert record["questions"] == old["questions"]
    summary = (results / "summary.csv").read_text().splitlines()
    assert summary[0] == "submission,student_id,score,max_score,q1,q2,q3,q4,error,flags"
    assert len(summary) == 1 + len(CASES)
    row = next(line for line in summary if line.startswith("copied_numbers.ipynb,"))
    assert row.split(",")[1:4] == ["alice", "6.0", "7.0"]


def test_a_record_is_valid_json_with_the_promised_keys(graded):
    path = graded["base"] / "results" / "os_exit.json"
    record = json.loads(path.read_text())
    assert {"submission", "score", "max_score", "questions", "error"} <= set(record)
    assert set(record["questions"]["q1"]) >= {"score", "max_score", "feedback"}
