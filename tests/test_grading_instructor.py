"""The instructor's side after grading: late policy, gradebook exports, class report,
student feedback, selective regrade and the Gradescope bundle.

One small class of 07_adaptive is graded once (module fixture): three correct notebooks,
one with Adam's eps under the square root (`cy`), one whose adagrad_step raises an error
that prints its hidden input (`leaky`), and the blank exercise (`eve`). Each test would
fail if its command wrote the wrong numbers.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course_lib.grading import late
from course_lib.grading.assignment import Assignment
from course_lib.grading.digest import function_material
from course_lib.grading.feedback import public_message
from course_lib.grading.grader import Limits, grade
from course_lib.grading.questions import hidden_rng

ROOT = Path(__file__).resolve().parents[1]
NAME = "07_adaptive"
LIMITS = Limits(timeout=30.0, memory_mb=1024, question_seconds=5.0)
pytestmark = pytest.mark.xdist_group("grading")


def _student(text: str, student_id: str) -> str:
    marked = text.replace('STUDENT_ID = \\"\\"', f'STUDENT_ID = \\"{student_id}\\"')
    assert student_id in marked
    return marked


def _with_cell(path: Path, source: str) -> None:
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(source))
    nbformat.write(notebook, path)


def make_class(folder: Path) -> Path:
    submissions = folder / "subs"
    submissions.mkdir(parents=True)
    solution = (ROOT / "solutions" / f"{NAME}.ipynb").read_text()
    for index, stem in enumerate(["ada", "bob", "dee"]):
        (submissions / f"{stem}.ipynb").write_text(_student(solution, f"s100{index}"))
    wrong = _student(solution, "s1002")
    assert "np.sqrt(v_hat) + eps" in wrong
    (submissions / "cy.ipynb").write_text(wrong.replace("np.sqrt(v_hat) + eps",
                                                        "np.sqrt(v_hat + eps)"))
    (submissions / "leaky.ipynb").write_text(_student(solution, "s1004"))
    _with_cell(submissions / "leaky.ipynb",
               "def adagrad_step(x, s, grad, lr, eps):\n"
               "    raise ValueError('inputs ' + repr(x.tolist()) + repr(grad.tolist()))")
    exercise = (ROOT / "exercises" / f"{NAME}.ipynb").read_text()
    (submissions / "eve.ipynb").write_text(_student(exercise, "s1009"))
    return submissions


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    submissions = make_class(base)
    run = grade(NAME, sorted(submissions.glob("*.ipynb")), base / "results", jobs=2,
                limits=LIMITS, log=lambda line: None)
    assert run.failures == []
    return base


def _cli(*args):
    result = subprocess.run([sys.executable, "-m", "course_lib.grading", *args],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.reader(stream))


def _record(base: Path, stem: str) -> dict:
    return json.loads((base / "results" / f"{stem}.json").read_text())


ROSTER = """stem,name,id,sis_user_id,sis_login_id,section,email
ada,"Lovelace, Ada",1001,s1000,ada,A,ada@x.edu
bob,Bob,1002,s1001,bob,A,bob@x.edu
cy,"=HYPERLINK(""http://evil"")",1003,s1002,cy,B,cy@x.edu
eve,Eve,1005,s1009,eve,B,eve@x.edu
fay,Fay Without Submission,1006,s1006,fay,B,fay@x.edu
"""


def test_scores_of_the_class(graded):
    assert _record(graded, "ada")["score"] == 8.0
    assert _record(graded, "cy")["questions"]["q3"]["score"] < 3.0
    assert _record(graded, "eve")["score"] == 0.0
    assert _record(graded, "leaky")["questions"]["q1"]["score"] == 0.0


def test_canvas_export_keeps_missing_students_and_defuses_formulas(graded, tmp_path):
    (tmp_path / "roster.csv").write_text(ROSTER)
    out = tmp_path / "canvas.csv"
    result = _cli("export", "--roster", str(tmp_path / "roster.csv"), "--format", "canvas",
                  "--out", str(out), str(graded / "results"))
    rows = _rows(out)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", NAME]
    assert rows[1][0] == "Points Possible" and float(rows[1][5]) == 8.0
    by_login = {row[3]: row for row in rows[2:]}
    assert len(rows) == 2 + 5                           # every roster line, no other
    assert float(by_login["ada"][5]) == 8.0
    assert float(by_login["cy"][5]) == _record(graded, "cy")["score"]
    assert by_login["fay"][5] == ""                     # no submission: empty, not 0
    assert by_login["cy"][0].startswith("'=")           # shown as text in a spreadsheet
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert "dee" in result.stderr and "leaky" in result.stderr   # graded but on no roster line


def test_moodle_and_per_question_exports(graded, tmp_path):
    (tmp_path / "roster.csv").write_text(ROSTER)
    _cli("export", "--roster", str(tmp_path / "roster.csv"), "--format", "moodle",
         "--out", str(tmp_path / "moodle.csv"), str(graded / "results"))
    moodle = _rows(tmp_path / "moodle.csv")
    assert moodle[0] == ["Full name", "ID number", "Email address", NAME]
    assert [row[1] for row in moodle[1:]] == ["1001", "1002", "1003", "1005", "1006"]
    _cli("export", "--roster", str(tmp_path / "roster.csv"), "--format", "questions",
         "--out", str(tmp_path / "questions.csv"), str(graded / "results"))
    table = _rows(tmp_path / "questions.csv")
    head, rows = table[0], {row[0]: dict(zip(table[0], row)) for row in table[1:]}
    assert head[3:7] == ["q1", "q2", "q3", "q4"]
    cy = _record(graded, "cy")
    assert float(rows["cy"]["q3"]) == cy["questions"]["q3"]["score"]
    assert float(rows["cy"]["raw_score"]) == cy["score"]
    assert rows["fay"]["error"] == "no submission" and rows["fay"]["q1"] == ""


def test_late_policy_grace_per_day_cutoff_and_extension(graded, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(graded / "results", results)
    (tmp_path / "times.csv").write_text(
        "stem,submitted_at\n"
        "ada,2026-12-10T23:50+01:00\n"      # on time
        "bob,2026-12-11T00:10+01:00\n"      # 11 min late: inside the 15 min grace
        "cy,2026-12-12T09:00+01:00\n"       # 33 h late, but extended to the 13th
        "dee,2026-12-12T00:30+01:00\n"      # 24.5 h late: 2 started days, 20 %
        "eve,2026-12-16T00:00+01:00\n")     # just past the 5-day cut-off: 100 %
    (tmp_path / "ext.csv").write_text("stem,deadline\ncy,2026-12-13T23:59+01:00\n")
    _cli("late", "--results", str(results), "--deadline", "2026-12-10T23:59+01:00",
         "--per-day", "10", "--grace", "15m", "--cutoff", "5d",
         "--times", str(tmp_path / "times.csv"), "--extensions", str(tmp_path / "ext.csv"))
    saved = late.load(results)
    assert saved is not None
    penalty = {stem: late.lateness_under(*saved, stem) for stem in
               ("ada", "bob", "cy", "dee", "eve", "leaky")}
    assert [penalty[stem].penalty for stem in ("ada", "bob", "cy", "dee", "eve")] == \
        [0, 0, 0, 20, 100]
    assert penalty["leaky"].source == "file mtime"      # not in times.csv: stated fallback
    (tmp_path / "roster.csv").write_text(ROSTER.replace("fay,", "dee,", 1))
    _cli("export", "--roster", str(tmp_path / "roster.csv"), "--format", "questions",
         "--out", str(tmp_path / "q.csv"), str(results))
    table = _rows(tmp_path / "q.csv")
    rows = {row[0]: dict(zip(table[0], row)) for row in table[1:]}
    assert float(rows["dee"]["raw_score"]) == 8.0 and float(rows["dee"]["score"]) == 6.4
    assert rows["dee"]["time_source"] == "csv" and float(rows["dee"]["penalty_percent"]) == 20


def test_penalty_rule_edges():
    deadline = datetime(2026, 12, 10, 23, 59, tzinfo=timezone.utc)
    policy = late.LatePolicy(deadline, per_day=30, grace=timedelta(minutes=10),
                             cutoff=timedelta(days=3))
    after = lambda **delta: policy.penalty("x", deadline + timedelta(**delta))[1]  # noqa: E731
    assert after(minutes=10) == 0 and after(minutes=11) == 30
    assert after(days=1) == 30 and after(days=1, seconds=1) == 60
    assert after(days=3) == 90 and after(days=3, seconds=1) == 100
    assert late.LatePolicy(deadline, per_day=60).penalty("x", deadline + timedelta(days=2))[1] == 100
    with pytest.raises(ValueError, match="time zone"):
        late.LatePolicy(datetime(2026, 12, 10))
    with pytest.raises(ValueError, match="duration"):
        late.parse_duration("soon")


def _hidden_strings(assignment: Assignment, student_id: str) -> set[str]:
    """Every hidden input and expected output of this student, as a grep would spell it."""
    ref, numbers = assignment.reference, []
    for question in assignment.questions:
        if question.kind == "function":
            rng = hidden_rng(assignment.name, student_id, question.name, assignment.salt)
            material = function_material(question, question.hidden_cases(rng, ref), ref)
            for kwargs, expected in material:
                for value in [*kwargs.values(), expected]:
                    numbers += np.ravel(np.asarray(value, dtype=float)).tolist()
        else:
            numbers += np.ravel(np.asarray(question.expected_answer(ref, student_id),
                                           dtype=float)).tolist()
    spelled = set()
    for number in numbers:
        for text in (repr(number), f"{number:.3g}", f"{number:.4g}", f"{number:.6g}",
                     f"{number:.2f}", f"{number:.3f}", f"{number:.4f}"):
            if sum(ch.isdigit() for ch in text) >= 3 and text.strip("-0.") not in ("", "1"):
                spelled.add(text)
    return spelled


def test_feedback_never_shows_hidden_values(graded, tmp_path):
    _cli("feedback", "--results", str(graded / "results"), "--out", str(tmp_path / "fb"))
    assignment = Assignment(NAME)
    files = sorted((tmp_path / "fb").glob("*.txt"))
    assert [path.stem for path in files] == ["ada", "bob", "cy", "dee", "eve", "leaky"]
    leaky_record = json.dumps(_record(graded, "leaky")["questions"]["q1"])
    assert "inputs [" in leaky_record       # the record (instructor side) quotes the input
    for path in files:
        text = path.read_text()
        record = _record(graded, path.stem)
        hidden = _hidden_strings(assignment, record["student_id"])
        leaked = sorted(value for value in hidden if value in text)
        assert not leaked, (path.name, leaked[:5])
        assert f"Score: {record['score']:g} of 8 points" in text
    cy = (tmp_path / "fb" / "cy.txt").read_text()
    assert "max abs error" in _record(graded, "cy")["questions"]["q3"]["feedback"]
    assert "max abs error" not in cy and "wrong value" in cy
    assert "adagrad_step raised ValueError" in (tmp_path / "fb" / "leaky.txt").read_text()
    assert "inputs [" not in (tmp_path / "fb" / "leaky.txt").read_text()


def test_public_messages_are_from_a_closed_list():
    assert public_message({"target": "f", "score": 0, "max_score": 1,
                           "feedback": "hidden case 1: values differ: max abs error 0.123"}) \
        == "wrong value"
    assert public_message({"target": "f", "score": 0, "max_score": 1,
                           "feedback": "KeyError: 'secret 0.9137'"}) == "f raised KeyError"
    assert public_message({"target": "f", "score": 0, "max_score": 1,
                           "feedback": "something new 0.9137"}) == "not passed"


def test_class_report_is_one_static_page(graded, tmp_path):
    out = tmp_path / "report.html"
    _cli("report", "--results", str(graded / "results"), "--out", str(out))
    page = out.read_text()
    assert page.count("<img") == 1 and "data:image/png;base64," in page
    assert "http" not in page.replace("http-equiv", "")    # no server, no network
    assert "6 submissions" in page and "instructors only" in page
    cy = _record(graded, "cy")
    assert f"answered {cy['questions']['q4']['answer']}" in page   # a common wrong answer
    rows = page.split("<tr>")
    q1 = next(row for row in rows if row.startswith("<td>q1</td>"))
    assert "<td>0.667</td>" in q1                # share solved: 4 of 6


def test_regrade_reruns_only_changed_questions_and_reports_changes(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions", course / "solutions")
    submissions = make_class(tmp_path)
    results = tmp_path / "results"
    grade(NAME, sorted(submissions.glob("*.ipynb")), results, jobs=2, limits=LIMITS,
          root=course, log=lambda line: None)
    before = {path.stem: json.loads(path.read_text()) for path in results.glob("*.json")}
    result = _cli("regrade", "--assignment", NAME, "--out", str(results), "--root", str(course))
    assert "reran 0 submissions, 6 unaffected" in result.stdout

    hidden = course / "solutions" / "hidden" / f"{NAME}.py"
    text = hidden.read_text()
    old = "int(rng.integers(100, 5000)))):"
    assert old in text
    hidden.write_text(text.replace(old, "int(rng.integers(100, 5000)), 7)):"))   # a 5th case
    result = _cli("regrade", "--assignment", NAME, "--out", str(results), "--root", str(course))
    after = {path.stem: json.loads(path.read_text()) for path in results.glob("*.json")}
    for stem, record in after.items():
        assert record["regraded"] == ["q3"], stem
        for name in ("q1", "q2", "q4"):
            assert record["questions"][name] == before[stem]["questions"][name]
        assert record["questions"]["q3"]["total"] == 5
    changed = {stem for stem in after if after[stem]["score"] != before[stem]["score"]}
    assert changed == {"cy"}                   # 2/4 -> 3/5 of 3 points
    assert after["cy"]["score"] == pytest.approx(before["cy"]["score"] + 0.3)
    assert "cy (s1002): 5.5 -> 5.8 (+0.3; rerun q3)" in result.stdout
    rows = _rows(next(results.glob("regrade-*.csv")))
    assert rows[1][:3] == ["cy", "s1002", "q3"] and float(rows[1][5]) == pytest.approx(0.3)
    summary = {row[0]: row for row in _rows(results / "summary.csv")}
    assert float(summary["cy.ipynb"][2]) == pytest.approx(5.8)


def test_gradescope_bundle_runs_like_on_gradescope(tmp_path):
    bundle = tmp_path / "autograder.zip"
    _cli("gradescope", "--assignment", NAME, "--out", str(bundle))
    names = zipfile.ZipFile(bundle).namelist()
    assert {"setup.sh", "run_autograder", "requirements.txt", f"solutions/{NAME}.ipynb",
            f"solutions/hidden/{NAME}.py", "course_lib/grading/grader.py"} <= set(names)
    assert not any(name.startswith("solutions/") and NAME not in name for name in names)
    tree = tmp_path / "autograder"
    (tree / "submission").mkdir(parents=True)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tree / "source")
    wrong = (ROOT / "solutions" / f"{NAME}.ipynb").read_text().replace(
        "np.sqrt(v_hat) + eps", "np.sqrt(v_hat + eps)")
    (tree / "submission" / "homework.ipynb").write_text(_student(wrong, "s1002"))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(AUTOGRADER_ROOT=str(tree), AUTOGRADER_PYTHON=sys.executable)
    subprocess.run(["bash", str(tree / "source" / "run_autograder")], env=env, check=True,
                   capture_output=True, timeout=300)
    result = json.loads((tree / "results" / "results.json").read_text())
    assert result["score"] == 5.5
    assert [test["max_score"] for test in result["tests"]] == [2.0, 2.0, 3.0, 1.0]
    assert [test["score"] for test in result["tests"]] == [2.0, 2.0, 1.5, 0.0]
    assert all(test["visibility"] == "visible" for test in result["tests"])
    assert result["tests"][2]["output"] == "2/4 hidden cases passed: wrong value"
    assert "max abs error" not in json.dumps(result)
