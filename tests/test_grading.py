"""The exercises and the grader: full marks for solutions, zero for blank exercises, no drift.

Also the command line (exit codes, refusal without a sandbox, resuming a killed run) and
the small pieces: solution markers, the codec, the comparison, ``check()``.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from course_lib.grading import codec, notebook
from course_lib.grading.assign import assign, strip_solution
from course_lib.grading.assignment import Assignment, available
from course_lib.grading.compare import mismatch
from course_lib.grading.grader import Limits, grade
from course_lib.grading.questions import hidden_rng
from course_lib.grading.runner import describe_exit
from course_lib.grading.sandbox import visible_paths
from course_lib.grading.student import Checker, student_rng

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ["01_general_guide", "02_gradient_descent", "03_sgd", "04_critical_points",
            "05_batch_size", "06_momentum", "07_adaptive", "08_schedules", "09_loss_functions",
            "10_batch_norm", "11_constraints", "12_sampling"]
LIMITS = Limits(timeout=30.0, memory_mb=1024, question_seconds=5.0)
# Every test here may start graders; the hostile suite checks that none is left on the host,
# so grading tests share one xdist worker and never run beside each other.
pytestmark = pytest.mark.xdist_group("grading")


def test_every_chapter_has_an_exercise_a_solution_and_hidden_tests():
    assert available(ROOT) == CHAPTERS
    for name in CHAPTERS:
        assert (ROOT / "exercises" / f"{name}.ipynb").is_file()
        assignment = Assignment(name, ROOT)
        assert 3 <= len(assignment.questions) <= 6, name
        for question in assignment.questions:
            assert question.points > 0
            if question.kind == "function":
                assert question.public_cases(assignment.reference), f"{name} {question.name} has no public case"


def test_the_exercises_are_the_solutions_without_answers():
    """No drift: regenerating exercises/ and the public tests changes nothing."""
    assert assign(root=ROOT, check=True) == []
    for name in CHAPTERS:
        text = (ROOT / "exercises" / f"{name}.ipynb").read_text()
        assert "SOLUTION" not in text
        exercise = notebook.read(ROOT / "exercises" / f"{name}.ipynb")
        assert all(not cell.get("outputs") for cell in exercise["cells"] if cell["cell_type"] == "code")
        assert exercise["metadata"]["course_lib"] == {"assignment": name}
        sources = "\n".join(cell.source for cell in notebook.code_cells(exercise))
        for question in Assignment(name, ROOT).questions:
            assert question.target in sources, f"{name}: {question.target} missing from the exercise"
            assert f'check("{question.name}")' in sources


def test_a_hand_edited_exercise_is_reported_and_regenerated(tmp_path):
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    (tmp_path / "exercises").mkdir()
    path = tmp_path / "exercises" / "06_momentum.ipynb"
    original = (ROOT / "exercises" / "06_momentum.ipynb").read_text()
    path.write_text(original.replace("YOUR CODE HERE", "YOUR CODE HERE (hint: 1 - gamma)", 1))
    assert assign(["06_momentum"], root=tmp_path, check=True) == [str(path)]
    assert assign(["06_momentum"], root=tmp_path) == [str(path)]
    assert path.read_text() == original
    assert assign(["06_momentum"], root=tmp_path, check=True) == []


def test_hidden_tests_are_out_of_the_kernels_sight():
    for path in visible_paths():
        for name in CHAPTERS:
            assignment = Assignment(name, ROOT)
            assert not assignment.hidden_path.resolve().is_relative_to(path)
            assert not assignment.solution_path.resolve().is_relative_to(path)


def test_solutions_pass_their_public_checks():
    for name in CHAPTERS:
        output = io.StringIO()
        namespace: dict = {}
        with contextlib.redirect_stdout(output):
            for cell in notebook.code_cells(notebook.read(ROOT / "solutions" / f"{name}.ipynb")):
                exec(cell.source, namespace)
        lines = [line for line in output.getvalue().splitlines() if line.startswith("q")]
        assert len(lines) == len(Assignment(name, ROOT).questions), (name, lines)
        assert all("passed" in line or "answered" in line for line in lines), (name, lines)


@pytest.fixture(scope="module")
def graded_chapters(tmp_path_factory):
    """Grade, per chapter: the solution, the solution under another id, the blank exercise."""
    base = tmp_path_factory.mktemp("chapters")
    records = {}
    for name in CHAPTERS:
        folder = base / name
        folder.mkdir()
        shutil.copy(ROOT / "solutions" / f"{name}.ipynb", folder / "solution.ipynb")
        shutil.copy(ROOT / "exercises" / f"{name}.ipynb", folder / "exercise.ipynb")
        text = (folder / "solution.ipynb").read_text().replace('STUDENT_ID = \\"\\"', 'STUDENT_ID = \\"s7340021\\"')
        assert "s7340021" in text
        (folder / "other_student.ipynb").write_text(text)
        run = grade(name, sorted(folder.glob("*.ipynb")), folder / "results", jobs=2, limits=LIMITS,
                    log=lambda line: None)
        assert run.failures == []
        records[name] = {Path(record["submission"]).stem: record for record in run.records}
    return records


@pytest.mark.xdist_group("grading")
@pytest.mark.parametrize("name", CHAPTERS)
def test_solution_full_marks_and_exercise_zero(graded_chapters, name):
    records = graded_chapters[name]
    for stem in ("solution", "other_student"):
        record = records[stem]
        assert record["error"] is None and record["cell_errors"] == [], record
        assert record["score"] == record["max_score"] > 0, record["questions"]
    assert records["other_student"]["student_id"] == "s7340021"
    exercise = records["exercise"]
    assert exercise["score"] == 0, exercise["questions"]
    assert exercise["error"] is None and exercise["cell_errors"] == [], exercise


# ---------------------------------------------------------------- the command line
def _cli(*args, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "course_lib.grading", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, **(env or {})}, **kwargs)


@pytest.mark.xdist_group("grading")
def test_command_line_grades_and_writes_records(tmp_path):
    submissions = tmp_path / "subs"
    submissions.mkdir()
    shutil.copy(ROOT / "solutions" / "06_momentum.ipynb", submissions / "ada.ipynb")
    shutil.copy(ROOT / "exercises" / "06_momentum.ipynb", submissions / "bob.ipynb")
    (submissions / "eve.ipynb").write_text("not a notebook")
    out = tmp_path / "results"
    result = _cli("grade", "--assignment", "06_momentum", "--out", str(out), "--jobs", "2",
                  *map(str, sorted(submissions.glob("*.ipynb"))))
    assert result.returncode == 0, result.stderr
    scores = {path.stem: json.loads(path.read_text())["score"] for path in out.glob("*.json")}
    assert scores == {"ada": 8.0, "bob": 0.0, "eve": 0.0}
    assert json.loads((out / "eve.json").read_text())["error"].startswith("invalid notebook")
    rows = (out / "summary.csv").read_text().splitlines()
    assert rows[0] == "submission,student_id,score,max_score,q1,q2,q3,q4,q5,error,flags"
    assert rows[1].startswith("ada.ipynb,,8.0,8.0,2.0,1.0,2.0,2.0,1.0,")
    again = _cli("grade", "--assignment", "06_momentum", "--out", str(out),
                 *map(str, sorted(submissions.glob("*.ipynb"))))
    assert again.returncode == 0 and again.stdout.count("already graded") == 3


def test_command_line_usage_errors(tmp_path):
    result = _cli("grade", "--assignment", "99_nothing", "--out", str(tmp_path), "x.ipynb")
    assert result.returncode == 2 and "unknown assignment" in result.stderr
    result = _cli("grade", "--assignment", "06_momentum", "--out", str(tmp_path / "out"),
                  str(tmp_path / "no_such_file.ipynb"))
    assert result.returncode == 2 and "submissions not found" in result.stderr
    assert not (tmp_path / "out" / "no_such_file.json").exists()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "same.ipynb").write_text("{}")
    (tmp_path / "b" / "same.ipynb").write_text("{}")
    result = _cli("grade", "--assignment", "06_momentum", "--out", str(tmp_path / "out"),
                  str(tmp_path / "a" / "same.ipynb"), str(tmp_path / "b" / "same.ipynb"))
    assert result.returncode == 0, result.stderr  # not a usage error: each gets a record
    records = [json.loads(path.read_text()) for path in (tmp_path / "out").glob("same~*.json")]
    assert len(records) == 2 and {record["submission"] for record in records} == {
        str(tmp_path / "a" / "same.ipynb"), str(tmp_path / "b" / "same.ipynb")}
    assert all("2 submissions have the file stem 'same'" in record["error"] for record in records)


@pytest.mark.xdist_group("grading")
def test_refuses_without_a_sandbox_unless_told(tmp_path):
    submission = tmp_path / "sub.ipynb"
    shutil.copy(ROOT / "solutions" / "08_schedules.ipynb", submission)
    no_bwrap = {"COURSE_LIB_BWRAP": str(tmp_path / "no-such-bwrap")}
    refused = _cli("grade", "--assignment", "08_schedules", "--out", str(tmp_path / "out"),
                   str(submission), env=no_bwrap)
    assert refused.returncode == 2
    assert "REFUSING TO GRADE" in refused.stderr and "apt-get install -y bubblewrap" in refused.stderr
    assert not (tmp_path / "out" / "sub.json").exists()
    unsafe = _cli("grade", "--assignment", "08_schedules", "--out", str(tmp_path / "out"),
                  "--no-sandbox", str(submission), env=no_bwrap)
    assert unsafe.returncode == 0, unsafe.stderr
    assert "WITHOUT a sandbox" in unsafe.stderr
    record = json.loads((tmp_path / "out" / "sub.json").read_text())
    assert record["sandbox"] == "none" and record["score"] == record["max_score"]


@pytest.mark.xdist_group("grading")
def test_a_killed_run_resumes_without_regrading(tmp_path):
    submissions = [tmp_path / f"student{i}.ipynb" for i in range(4)]
    for path in submissions:
        shutil.copy(ROOT / "solutions" / "03_sgd.ipynb", path)
    out = tmp_path / "results"
    command = [sys.executable, "-m", "course_lib.grading", "grade", "--assignment", "03_sgd",
               "--out", str(out), "--jobs", "1", *map(str, submissions)]
    scratch = tmp_path / "scratch"  # the killed grader cannot remove its kernels' scratch folders
    scratch.mkdir()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True, env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.monotonic() + 120
    while not list(out.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = {path.name for path in out.glob("*.json")}
    assert 1 <= len(done_before) < 4
    for path in out.glob("*.json"):
        json.loads(path.read_text())  # never half a file
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("already graded") == len(done_before)
    assert {path.name for path in out.glob("*.json")} == {f"{path.stem}.json" for path in submissions}
    assert not list(out.glob(".*.tmp"))


# ---------------------------------------------------------------- the pieces
def test_strip_solution_markers():
    source = ("def f(x):\n    # BEGIN SOLUTION\n    y = 2 * x\n    return y\n    # END SOLUTION\n"
              "answer = f(3)  # SOLUTION\nprint(answer)")
    assert strip_solution(source) == ("def f(x):\n    ...  # YOUR CODE HERE\n"
                                      "answer = ...  # YOUR CODE HERE\nprint(answer)")
    assert strip_solution("    return x  # SOLUTION") == "    ...  # YOUR CODE HERE"
    with pytest.raises(ValueError, match="never closed"):
        strip_solution("# BEGIN SOLUTION\nx = 1")
    with pytest.raises(ValueError, match="without BEGIN"):
        strip_solution("x = 1\n# END SOLUTION")


def test_codec_round_trip_and_refusals():
    value = {"a": np.arange(6.0).reshape(2, 3), "b": (1, 2.5, True, None, "s"), "c": np.float32(1.5),
             "d": np.array([np.nan, np.inf]), "e": np.int64(3)}
    back = codec.loads(codec.dumps(value))
    assert np.array_equal(back["a"], value["a"]) and back["a"].shape == (2, 3)
    assert back["b"] == [1, 2.5, True, None, "s"] and back["c"] == 1.5 and back["e"] == 3
    assert np.isnan(back["d"][0]) and np.isinf(back["d"][1])
    for bad in (lambda: 1, object(), np.array([1 + 2j]), {1: 2}, np.zeros(codec.MAX_ELEMENTS + 1)):
        with pytest.raises(codec.EncodeError):
            codec.encode(bad)
    with pytest.raises(ValueError):
        codec.decode({codec.ARRAY_KEY: [1, 2, 3], "dtype": "float64", "shape": [2, 2]})


def test_mismatch_messages():
    assert mismatch(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9])) is None
    assert "shape" in mismatch(np.zeros(3), np.zeros(2))
    assert "NaN" in mismatch(np.array([np.nan]), np.array([1.0]))
    assert mismatch([np.ones(2), 3.0], (np.ones(2), 3.0)) is None
    assert "[1]" in mismatch([np.ones(2), 4.0], (np.ones(2), 3.0))
    assert mismatch(-np.ones(2), np.ones(2), up_to_sign=True) is None
    assert mismatch(" b ", "B") is None and "wrong answer" in mismatch("A", "B")
    assert "got None" in mismatch(None, 1.0)
    assert "expected a number" in mismatch(True, 1.0)
    assert mismatch([True, False], np.array([True, False])) is None


def test_invalid_notebooks_give_reasons():
    with pytest.raises(notebook.InvalidNotebook, match="not valid JSON"):
        notebook.parse(b"{")
    with pytest.raises(notebook.InvalidNotebook, match="nbformat"):
        notebook.parse(b'{"cells": []}')
    with pytest.raises(notebook.InvalidNotebook, match="malformed"):
        notebook.code_cells(notebook.parse(b'{"nbformat": 4, "cells": [42]}'))
    cells = notebook.code_cells(notebook.parse(
        b'{"nbformat": 4, "cells": [{"cell_type": "markdown", "source": "hi"},'
        b'{"cell_type": "code", "source": ["x = 1\\n", "y = 2"]}]}'))
    assert cells == [notebook.Cell(2, "x = 1\ny = 2")]


def test_check_gives_feedback_from_public_tests(capsys):
    check = Checker("06_momentum")
    namespace = {"ema_weights": lambda gamma, steps: (1 - gamma) * gamma ** np.arange(steps - 1, -1, -1.0),
                 "effective_window": lambda gamma: 1 / gamma, "my_oldest_weight": ...}
    check("q1", namespace)
    check("q2", namespace)
    check("q3", namespace)
    check("q5", namespace)
    check("q9", namespace)
    out = capsys.readouterr().out.splitlines()
    assert "all 2 public tests passed" in out[0]
    assert "public test 1 of 1 failed: values differ" in out[1]
    assert any("heavy_ball_step is not defined yet" in line for line in out)
    assert any("q5 (my_oldest_weight, 1 point): not answered yet" in line for line in out)
    assert "No question 'q9'" in out[-1]


def test_per_student_seeds_are_stable_and_distinct():
    assert student_rng("s1", "x").normal() == student_rng(" s1 ", "x").normal()
    assert student_rng("s1", "x").normal() != student_rng("s2", "x").normal()
    assert hidden_rng("a", "s1", "q1").normal() == hidden_rng("a", "s1", "q1").normal()
    assert hidden_rng("a", "s1", "q1").normal() != hidden_rng("a", "s1", "q2").normal()


def test_exit_statuses_are_described():
    assert describe_exit(-9, isolated=False) == "killed by signal 9 (SIGKILL)"
    assert describe_exit(139, isolated=True) == "killed by signal 11 (SIGSEGV)"
    assert describe_exit(3, isolated=True) == "exit status 3"


def test_summary_flags_shared_ids_and_ids_missing_from_file_names():
    from course_lib.grading.results import identity_flags, summary_rows

    def record(name, student_id):
        return {"submission": f"/in/{name}.ipynb", "student_id": student_id, "score": 1.0,
                "max_score": 2.0, "questions": {}, "error": None}

    records = [record("s001_ada", "s001"), record("s002_bob", "s002"), record("s003_cy", "s001"),
               record("s004_dee", "")]
    flags = identity_flags(records)
    assert flags["s001_ada.ipynb"] == "id shared with s003_cy.ipynb"
    assert flags["s003_cy.ipynb"] == "id shared with s001_ada.ipynb; id not in file name"
    assert flags["s002_bob.ipynb"] == flags["s004_dee.ipynb"] == ""
    # File names without ids (most of them): no file-name flags, only shared ids.
    assert identity_flags([record("ada", "s1"), record("bob", "s2")]) == {"ada.ipynb": "", "bob.ipynb": ""}
    rows = summary_rows(records, [])
    assert rows[0][-1] == "flags" and rows[3] == ["s003_cy.ipynb", "s001", 1.0, 2.0, "",
                                                    "id shared with s001_ada.ipynb; id not in file name"]


# ---------------------------------------------------------------- issue 18: what the grader accepts
def test_the_protocol_accepts_only_the_kernels_conversation():
    from course_lib.grading.protocol import MAX_MESSAGE_BYTES, Conversation, ProtocolError, results_of

    def line(**message):
        return json.dumps(message).encode()

    talk = Conversation([2, 5])
    for ok in (line(event="cell", number=2), line(event="cell_error", number=2, error="E" * 900),
               line(event="cell", number=5), line(event="ready", student_id="s" * 300)):
        talk.receive(ok)
    assert talk.cell_errors[2].endswith("...") and len(talk.cell_errors[2]) == 500
    assert talk.student_id == "s" * 200 and talk.id_length == 300 and talk.blame() == (5, None)
    talk.ask(["q1", "q2"])
    talk.receive(line(event="question", name="q1"))
    assert talk.blame() == (None, "q1")
    talk.receive(line(event="answer", name="q1", results=[{"ok": True, "value": 1}]))
    assert results_of(talk.answers["q1"]) == [{"ok": True, "value": 1}]
    bad = [line(event="answer", name="q1", results=[]),            # repeated
           line(event="question", name="q9"),                      # not asked
           line(event="done"),                                     # q2 unanswered
           line(event="cell", number=2),                           # cells are over
           b'{"event": "question", "name": "q2", "x": 1e999}',     # overflows a float
           b'{"event": "question", "name": "q2", "x": ' + b"9" * 400 + b"}",  # beyond 64 bits
           b"[1, 2]", b"not json", b"x" * (MAX_MESSAGE_BYTES + 1)]
    for message in bad:
        with pytest.raises(ProtocolError):
            talk.receive(message)
    early = Conversation([1, 2])
    early.receive(line(event="cell", number=1))
    for message in (line(event="ready", student_id="x"), line(event="answer", name="q1", results=[]),
                    line(event="cell", number=1e999), line(event="cell", number=True)):
        with pytest.raises(ProtocolError):
            early.receive(message)
    assert early.blame() == (1, None)


def test_decoding_is_strict():
    tagged = {codec.ARRAY_KEY: [1e30], "dtype": "int64", "shape": [1]}
    for bad in (tagged, {codec.ARRAY_KEY: [[1.0], [1.0, 2.0]], "dtype": "float64"}, 10**400,
                {codec.ARRAY_KEY: [1.0], "dtype": "float64", "shape": [2**19] * 4},
                {codec.ARRAY_KEY: "abc", "dtype": "float64"}, {codec.ARRAY_KEY: [1, 2], "dtype": "bool"}):
        with pytest.raises(ValueError):
            codec.decode(bad)
    with pytest.raises(codec.EncodeError, match="beyond 64 bits"):
        codec.encode(10**400)
    assert np.isinf(codec.decode(codec.encode(float("inf"))))


def test_submission_files_are_opened_safely(tmp_path):
    (tmp_path / "ok.ipynb").write_text("{}")
    assert notebook.read_submission(tmp_path / "ok.ipynb") == b"{}"
    (tmp_path / "link.ipynb").symlink_to(tmp_path / "ok.ipynb")
    (tmp_path / "folder.ipynb").mkdir()
    os.mkfifo(tmp_path / "fifo.ipynb")
    with open(tmp_path / "big.ipynb", "wb") as stream:
        stream.truncate(notebook.MAX_BYTES + 1)
    for name, reason in (("link", "symbolic link"), ("folder", "a directory"), ("fifo", "named pipe"),
                         ("big", "more than the"), ("missing", "cannot open")):
        with pytest.raises(notebook.SubmissionFileError, match=reason):
            notebook.read_submission(tmp_path / f"{name}.ipynb")
    with pytest.raises(notebook.SubmissionFileError, match="lone surrogate"):
        notebook.read_submission(str(tmp_path / "a\ud800.ipynb"))
    assert notebook.handed_out_for({"metadata": ["a", "list"]}) is None


def test_names_and_csv_cells_are_escaped():
    from course_lib.grading.results import plan, printable, safe_cell

    assert printable(os.fsdecode(b"bad_\xff\n.ipynb")) == "bad_\\xff\\n.ipynb"
    assert printable("a\ud800") == "a\\ud800"
    assert [safe_cell(text) for text in ("=1+1", "+1", "-1", "@x", "ok", 3.0)] == ["'=1+1", "'+1", "'-1",
                                                                                 "'@x", "ok", 3.0]
    entries = plan([Path("a/hw.ipynb"), Path("b/hw.ipynb"), Path("a/hw.ipynb"), Path(".hidden.ipynb"),
                    Path(os.fsdecode(b"\xff.ipynb")), Path("x" * 250 + ".ipynb"), Path("ok.ipynb")])
    names = [entry.name for entry in entries]
    assert len(entries) == 6 and len(set(names)) == 6 and names[-1] == "ok"
    assert entries[0].problem and entries[1].problem and not any(entry.problem for entry in entries[2:])
    assert all(not name.startswith(".") and len(name) < 100 and printable(name) == name for name in names)


def test_check_warns_about_modules_the_grader_lacks(capsys):
    import course_lib.rules
    from course_lib.grading.reachable import unreachable

    namespace = {"np": np, "rules": course_lib.rules, "adam": course_lib.rules.adam, "json": json,
                 "check": Checker("07_adaptive"), "In": [], "helper": lambda: 1}
    assert unreachable(namespace) == ["course_lib.rules"]
    namespace["check"]("q1", namespace)
    assert "the grader runs notebooks without course_lib.rules" in capsys.readouterr().out


def test_the_seccomp_program_is_well_formed():
    from course_lib.grading import seccomp

    for machine in seccomp.ARCHITECTURES:
        program = seccomp.program(machine)
        assert len(program) % 8 == 0 and 12 < len(program) // 8 < 40
    assert seccomp.program("sparc64") is None


def test_limits_are_checked():
    for bad in (dict(timeout=0), dict(cell_timeout=60.0), dict(processes=4), dict(disk_mb=0),
                dict(output_mb=0)):
        with pytest.raises(ValueError):
            Limits(**bad)
    assert Limits(timeout=10.0).cell_seconds == 5.0
