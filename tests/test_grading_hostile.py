"""Hostile and broken submissions: graded by the documented command, as root and as a user.

Each case of ``CASES`` takes a cell from ``tests/hostile/`` and puts it into the solution
or the exercise of 02_gradient_descent (max score 7): inserted after the set-up cell,
appended, or replacing the cell that defines a function. Broken files in
``tests/hostile/*.ipynb`` are submitted as they are, and ``ENTRIES`` adds what a class
folder can hold besides notebooks: a symbolic link to the solution, a directory and a
FIFO named ``*.ipynb``, two files with one stem, a 200 MB file, names that are not UTF-8
or would be spreadsheet formulas. ``IMPORTS`` answers 07_adaptive by calling
``course_lib.rules`` or ``torch.optim``.

All of it is graded with ``python -m course_lib.grading grade`` by the user running the
tests and, when that is root (as in CI), once more by an ordinary user
(:mod:`grading_users`). Every run must record every submission, leave the host as it was
(kernel settings, files, no process or cgroup left behind), keep the grader under 1 GB
and finish each submission within twice its time limit.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from course_lib.grading import notebook
from course_lib.grading.assignment import Assignment
from course_lib.grading.grader import Limits, grade
from course_lib.grading.sandbox import DEFAULT_UID
from grading_users import as_user, ensure_user

pytestmark = pytest.mark.xdist_group("grading")

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = Path(__file__).with_name("hostile")
NAME = "02_gradient_descent"
# Small limits keep the suite fast: the kernel needs about 230 MB of address space, so 512 MB
# stops the memory bomb after touching ~300 MB (touching 1 GB took 1-70 s on a loaded VM, and
# 300 MB more than 5 s at a load average of 10: hence 8 s per cell).
TIMEOUT, QUESTION_SECONDS, MEMORY_MB, DISK_MB, PROCESSES = 16, 2, 512, 64, 64
CELL = f"ran longer than {TIMEOUT // 2} s"
OPTIONS = ["--timeout", str(TIMEOUT), "--question-timeout", str(QUESTION_SECONDS), "--memory", str(MEMORY_MB),
           "--disk", str(DISK_MB), "--processes", str(PROCESSES), "--jobs", "2"]
RERUN = "the notebook was run again without that cell"
PROTOCOL = "sent a malformed message"
MODES = ["root", "ordinary user"] if os.geteuid() == 0 else ["ordinary user"]
# The kernels' uids when grading as root: a range of this test's own, so that leftovers are
# this run's (other graders on the machine use the default range).
SANDBOX_UID = DEFAULT_UID + 1000 + 4 * (os.getpid() % 100_000)

# name: (base notebook, edit, expected score, error regex or None, cell-error regex or None,
#        {question: feedback regex})
CASES = {
    "clean_solution": ("solution", None, 7, None, None, {}),
    "clean_exercise": ("exercise", None, 0, None, None, {"q1": "got None"}),
    "infinite_loop": ("solution", "insert", 7, rf"{CELL}; {RERUN}", None, {}),
    "slow_answer": ("solution", "def gd_quadratic", 5, None, None, {"q1": "took longer than 2 s"}),
    "slow_answer_ignoring_alarm": ("solution", "def gd_quadratic", 5,
                                   r"q1 \(gd_quadratic\): took longer than 2 s and ignored the alarm", None,
                                   {"q1": "ignored the alarm"}),
    "memory_bomb": ("solution", "append", 7, None, "MemoryError", {}),
    "huge_allocation": ("solution", "insert", 7, None, "MemoryError", {}),
    "sys_exit": ("solution", "insert", 7, None, "SystemExit: goodbye", {}),
    "os_exit": ("solution", "insert", 7, rf"died \(exit status 0\); {RERUN}", None, {}),
    "kill_self": ("solution", "insert", 7, rf"signal 9 \(SIGKILL.*; {RERUN}", None, {}),
    "segfault": ("solution", "insert", 7, rf"signal 11 \(SIGSEGV\)\); {RERUN}", None, {}),
    "exit_builtin": ("solution", "insert", 7, None, None, {}),
    "close_channel": ("solution", "insert", 7, rf"(died|closed its channel).*{RERUN}", None, {}),
    "output_flood": ("solution", "insert", 7, rf"printed more than 16 MB; {RERUN}", None, {}),
    "network": ("solution", "append", 7, None, "URLError", {}),
    "delete_files": ("solution", "append", 7, None, None, {}),
    "redefine_check": ("exercise", "append", 0, None, None, {"q1": "got None"}),
    "fake_score": ("exercise", "append", 0, None, None, {}),
    "forge_protocol": ("exercise", "append", 0, PROTOCOL, None, {"q1": "got None"}),
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
    # issue 18: root outside, resources, what the grader accepts
    "escape_root": ("solution", "insert", 7, None, "REPORT", {}),
    "disk_fill": ("solution", "insert", 7, None, "REPORT", {}),
    "fork_memory": ("solution", "insert", 7, rf"^$|memory|{CELL}", None, {}),  # v1 reclaim can be slow
    "fork_bomb": ("solution", "insert", 7, None, "REPORT", {}),
    "ignore_signals": ("solution", "insert", 7, rf"{CELL}; {RERUN}", None, {}),
    "memory_outside_processes": ("solution", "insert", 7, None, "REPORT", {}),
    "event_flood": ("solution", "insert", 7, rf"{PROTOCOL}.*; {RERUN}", None, {}),
    "repeated_answers": ("exercise", "append", 0, PROTOCOL, None, {}),
    "forged_numbers": ("exercise", "append", 0, PROTOCOL, None,
                       {"q1": "cannot read.*int64", "q2": "overflows a float"}),
    "forged_big_int": ("exercise", "append", 0, PROTOCOL, None, {"q1": "beyond 64 bits"}),
    "forged_cell_number": ("solution", "insert", 7, rf"overflows a float.*; {RERUN}", None, {}),
    "answer_before_ready": ("solution", "insert", 7, rf"'answer' out of order.*; {RERUN}", None, {}),
    "bad_numbers": ("solution", "def gd_quadratic", 5, None, None, {"q1": "beyond 64 bits|NaN or infinity"}),
}
SOLUTION_EDITS = {  # entries that are the solution with one edit: (old text, new text)
    "formula_id": ('STUDENT_ID = ""', r'STUDENT_ID = "=HYPERLINK(\"http://evil\", \"x\")"'),
    "long_id": ('STUDENT_ID = ""', f'STUDENT_ID = "{"s" * 300}"'),
}
# entry (path relative to the submissions folder) -> (expected score, error regex or None)
ENTRIES = {
    "link_to_solution.ipynb": (0, "not graded: it is a symbolic link"),
    "a_directory.ipynb": (0, "not graded: it is a directory"),
    "a_fifo.ipynb": (0, "not graded: it is a named pipe"),
    "dup_a/same.ipynb": (0, "not graded: 2 submissions have the file stem 'same'"),
    "dup_b/same.ipynb": (0, "not graded: 2 submissions have the file stem 'same'"),
    "huge.ipynb": (0, "not graded: the file is 209715200 bytes, more than"),
    os.fsdecode(b"bad_\xff.ipynb"): (7, "not printable UTF-8"),
    os.fsdecode(b"surrogate_\xed\xa0\x80.ipynb"): (7, "not printable UTF-8"),
    "=cmd.ipynb": (7, None), "+1.ipynb": (7, None), "-1.ipynb": (7, None), "@1.ipynb": (7, None),
    "metadata_list.ipynb": (7, None),
    "json_bomb.ipynb": (0, "invalid notebook: not a Jupyter notebook"),
    "many_cells.ipynb": (0, "invalid notebook: 1001 code cells, more than the 1000 allowed"),
    "formula_id.ipynb": (7, None),
    "long_id.ipynb": (6, None),
}
IMPORTS = {"import_course_lib": "No module named 'course_lib.rules'",
           "import_torch": "No module named 'torch'"}
SYSCTLS = ("kernel/core_pattern", "kernel/sysrq", "kernel/hostname", "net/ipv4/ip_forward",
           "fs/protected_symlinks", "vm/overcommit_memory")


def _code_cell(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": "hostile", "metadata": {},
            "outputs": [], "source": source}


def _base(name: str, assignment: str = NAME) -> dict:
    return notebook.read(ROOT / ("solutions" if name == "solution" else "exercises") / f"{assignment}.ipynb")


def build_submission(name: str, base: str, edit: str | None, directory: Path, values: dict,
                     assignment: str = NAME) -> Path:
    """Write the hostile notebook ``name`` into ``directory``."""
    path = directory / f"{name}.ipynb"
    if base is None:
        shutil.copy(HOSTILE / f"{name}.ipynb", path)
        return path
    nb = _base(base, assignment)
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


def build_entries(directory: Path) -> list[Path]:
    """The non-notebook entries of :data:`ENTRIES` and the solution's variants."""
    solution = ROOT / "solutions" / f"{NAME}.ipynb"
    for name, (old, new) in SOLUTION_EDITS.items():
        edited = _base("solution")
        for cell in edited["cells"]:
            cell["source"] = "".join(cell["source"]).replace(old, new)
        assert any(new in cell["source"] for cell in edited["cells"])
        notebook.write(edited, directory / f"{name}.ipynb")
    listed = _base("solution")
    listed["metadata"] = ["not", "a", "dict"]
    notebook.write(listed, directory / "metadata_list.ipynb")
    # 9.9 MB of empty lists: 240 MB of Python objects when parsed
    (directory / "json_bomb.ipynb").write_text('{"nbformat": 4, "metadata": [' + "[]," * 3_300_000 + "[]]}")
    many = _base("exercise")
    many["cells"] = [_code_cell("x = 1") for _ in range(1001)]
    notebook.write(many, directory / "many_cells.ipynb")
    (directory / "link_to_solution.ipynb").symlink_to(solution)
    (directory / "a_directory.ipynb").mkdir()
    os.mkfifo(directory / "a_fifo.ipynb", 0o644)
    for folder in ("dup_a", "dup_b"):
        (directory / folder).mkdir()
        shutil.copy(solution, directory / folder / "same.ipynb")
    with open(directory / "huge.ipynb", "wb") as stream:
        stream.truncate(200 * 2**20)  # sparse: 200 MB long, nothing on disk
    for name in ENTRIES:
        if not os.path.lexists(directory / name):
            shutil.copy(solution, directory / name)
    return [directory / name for name in ENTRIES]


def _dead_cgroups() -> list[str]:
    """Cgroups of graders that are no longer running (named course_lib-grader-<pid>-<n>)."""
    left = []
    for path in Path("/sys/fs/cgroup").rglob("course_lib-grader-*"):
        pid = int(path.name.split("-")[2])
        if not Path(f"/proc/{pid}").exists():
            left.append(str(path))
    return left


def _host_state(canary: Path, uids: set[int]) -> dict:
    """What a submission must not change: kernel settings, files, leftovers."""
    sysctls = {name: Path("/proc/sys", name).read_text() for name in SYSCTLS
               if Path("/proc/sys", name).exists()}
    digest = hashlib.sha256()
    for folder in (ROOT / "course_lib", ROOT / "solutions"):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.name.encode() + path.read_bytes())
    processes = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if int(fields["Uid"].split()[1]) in uids and not fields["State"].strip().startswith("Z"):
            processes.append(f'{status.parent.name} {fields["Name"].strip()}')
    return {"sysctls": sysctls, "sources": digest.hexdigest(), "canary": sorted(os.listdir(canary)),
            "sandbox processes": processes, "cgroups left": _dead_cgroups()}


def _world_readable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture(scope="module")
def suite():
    """Every submission of the suite, in a folder any user can read."""
    base = Path(tempfile.mkdtemp(prefix="course-hostile-"))
    submissions, canary, imports = base / "submissions", base / "instructor", base / "imports"
    for folder in (submissions, canary, imports):
        folder.mkdir()
    (canary / "hidden_tests.py").write_text("SECRET = 42\n")
    reference = Assignment(NAME).reference
    values = {"canary": str(canary), "submissions": str(submissions),
              "eta_max_of_default": float(reference["stability_bound"](reference["my_quadratic"]("")))}
    paths = [build_submission(name, case[0], case[1], submissions, values) for name, case in CASES.items()]
    paths += build_entries(submissions)
    import_paths = [build_submission(name, "exercise", "append", imports, {}, "07_adaptive")
                    for name in IMPORTS]
    shutil.copy(ROOT / "solutions" / "07_adaptive.ipynb", imports / "clean_solution.ipynb")
    _world_readable(base)
    yield {"base": base, "paths": paths, "imports": [*import_paths, imports / "clean_solution.ipynb"],
           "canary": canary}
    shutil.rmtree(base, ignore_errors=True)


def _command(mode: str, argv: list, suite: dict, home: Path) -> list:
    environment = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home),
                   "PYTHONPATH": str(ROOT), "MPLCONFIGDIR": str(home / "matplotlib"), "LANG": "C.UTF-8",
                   "COURSE_LIB_MODE": "fast", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "COURSE_LIB_SANDBOX_UID": str(SANDBOX_UID)}
    if mode == "root" or os.geteuid() != 0:  # as the user running the tests
        return ["env", "-i", *[f"{key}={value}" for key, value in environment.items()], *argv]
    needed = [Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent, ROOT,
              suite["base"]]
    return as_user(argv, needed, environment)


def _grade(mode: str, suite: dict, assignment: str, paths: list[Path], out: Path) -> dict:
    home = out.parent / f"home-{out.name}"
    for folder in (out, home):
        folder.mkdir()
        if mode == "ordinary user":
            os.chown(folder, ensure_user().pw_uid, ensure_user().pw_gid)
    argv = [sys.executable, "-m", "course_lib.grading", "grade", "--assignment", assignment,
            "--out", str(out), *OPTIONS, *[os.fsencode(path) for path in paths]]
    result = subprocess.run(_command(mode, argv, suite, home), capture_output=True, cwd=suite["base"],
                            timeout=900)
    stdout, stderr = result.stdout.decode("utf-8"), result.stderr.decode("utf-8")
    records = {}
    for path in out.glob("*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        records[record["submission"]] = record
    return {"returncode": result.returncode, "stdout": stdout, "stderr": stderr, "records": records,
            "out": out}


@pytest.fixture(scope="module", params=MODES)
def graded(request, suite):
    """Grade the whole suite with the command line as ``request.param`` ("root" or a user)."""
    mode = request.param
    uids = set(range(SANDBOX_UID, SANDBOX_UID + 2)) | ({ensure_user().pw_uid} if os.geteuid() == 0 else set())
    before = _host_state(suite["canary"], uids)
    folder = mode.replace(" ", "-")
    run = _grade(mode, suite, NAME, suite["paths"], suite["base"] / f"results-{folder}")
    imports = _grade(mode, suite, "07_adaptive", suite["imports"], suite["base"] / f"imports-{folder}")
    after = _host_state(suite["canary"], uids)
    deadline = time.monotonic() + 15
    while after["sandbox processes"] != before["sandbox processes"] and time.monotonic() < deadline:
        time.sleep(0.5)  # a sandbox still being torn down is not a leftover; one alive later is
        after = _host_state(suite["canary"], uids)
    return {**run, "mode": mode, "imports": imports, "before": before, "after": after}


def _record(graded: dict, path: Path) -> dict:
    return graded["records"][os.fsdecode(path)]


def _report(record: dict) -> dict:
    text = " | ".join(item["error"] for item in record["cell_errors"])
    return json.loads(re.search(r"REPORT (\{.*\})", text).group(1))


def test_every_submission_was_recorded(graded, suite):
    assert graded["returncode"] == 0, graded["stderr"][-3000:]
    assert sorted(graded["records"]) == sorted(os.fsdecode(path) for path in suite["paths"])
    assert not list(graded["out"].glob(".*.tmp")), "a temporary file was left behind"
    assert graded["imports"]["returncode"] == 0, graded["imports"]["stderr"][-3000:]
    assert len(graded["imports"]["records"]) == len(suite["imports"])


def test_the_host_is_unchanged(graded):
    before, after = dict(graded["before"]), dict(graded["after"])
    # a cgroup of a grader killed by an earlier test may be cleaned up by this run: only
    # cgroups that this run left behind count
    stale, left = set(before.pop("cgroups left")), set(after.pop("cgroups left"))
    assert after == before
    assert left <= stale, f"cgroups left by this run: {sorted(left - stale)}"


def test_the_grader_stays_under_a_gigabyte(graded):
    for run in (graded, graded["imports"]):
        peak = float(re.search(r"grader peak memory: (\d+) MB", run["stdout"]).group(1))
        print(f"{graded['mode']}: grader peak memory {peak:.0f} MB")  # shown with pytest -s
        assert peak < 1024, run["stdout"][-2000:]


def test_each_submission_finishes_within_twice_its_time_limit(graded):
    seconds = {Path(name).name: record["seconds"] for name, record in graded["records"].items()}
    slowest = sorted(seconds.items(), key=lambda item: -item[1])[:5]
    print(f"{graded['mode']}: slowest submissions (s): {slowest}")  # shown with pytest -s
    assert {name: time for name, time in seconds.items() if time > 2 * TIMEOUT} == {}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_case(graded, suite, name):
    _, _, score, error, cell_error, feedback = CASES[name]
    record = graded["records"][str(suite["base"] / "submissions" / f"{name}.ipynb")]
    assert record["score"] == score, (record["error"], record["questions"], record["cell_errors"])
    assert record["max_score"] == 7
    if error is None:
        assert record["error"] is None, record["error"]
    else:
        assert re.search(error, record["error"] or ""), record["error"]
    cell_errors = " | ".join(item["error"] for item in record["cell_errors"])
    if cell_error is not None:
        assert re.search(cell_error, cell_errors), cell_errors
    for question, pattern in feedback.items():
        assert re.search(pattern, record["questions"][question]["feedback"]), record["questions"][question]
    assert set(record["questions"]) == {"q1", "q2", "q3", "q4"}


@pytest.mark.parametrize("name", list(ENTRIES))
def test_class_folder_entry(graded, suite, name):
    score, error = ENTRIES[name]
    record = graded["records"][str(suite["base"] / "submissions" / name)]
    assert record["score"] == score, (record["error"], record["questions"])
    if error is None:
        assert record["error"] is None, record["error"]
    else:
        assert re.search(error, record["error"] or ""), record["error"]


def test_no_root_and_nothing_writable_but_the_working_folder(graded, suite):
    report = _report(_record(graded, suite["base"] / "submissions" / "escape_root.ipynb"))
    assert report["uid"] == report["euid"] != 0
    if graded["mode"] == "root":  # no user namespace: the kernel's uid is the host's, one of ours
        assert report["uid_map"] == ["0", "0", "4294967295"]
        assert SANDBOX_UID <= report["uid"] < SANDBOX_UID + 2
    else:  # bubblewrap's user namespace maps uid 65534 to the (ordinary) grading user
        assert report["uid"] == 65534
    assert report["caps"] == report["bounding"] == "0000000000000000" and report["nnp"] == "1"
    assert report["groups"] in ([], [report["uid"]], [65534])
    assert report["wrote"] == ["/tmp/pwned"]


def test_disk_and_processes_are_capped(graded, suite):
    written = _report(_record(graded, suite["base"] / "submissions" / "disk_fill.ipynb"))
    assert 0 < written["/tmp"] <= DISK_MB and sum(written.values()) == written["/tmp"], written
    forks = _report(_record(graded, suite["base"] / "submissions" / "fork_bomb.ipynb"))
    assert 0 < forks["forks"] < PROCESSES and forks["error"], forks


def test_memory_is_capped_for_the_whole_process_tree(graded, suite):
    record = _record(graded, suite["base"] / "submissions" / "fork_memory.ipynb")
    if record["memory_cage"] == "poll":  # the grader saw the tree's sum pass the limit and killed it
        assert re.search(rf"used more than {MEMORY_MB} MB of memory \(all its processes together\); {RERUN}",
                         record["error"]), record["error"]
    else:  # the cgroup's OOM killer stopped some of the six children (or the kernel)
        assert 0 < record["peak_memory_mb"] <= MEMORY_MB, record
    hidden = _report(_record(graded, suite["base"] / "submissions" / "memory_outside_processes.ipynb"))
    assert "ok" not in hidden.values(), hidden


def test_forged_messages_are_bounded(graded, suite):
    for name in ("event_flood", "repeated_answers", "forged_numbers"):
        path = graded["out"] / f"{name}.json"
        assert path.stat().st_size < 20_000, (name, path.stat().st_size)
    assert _record(graded, suite["base"] / "submissions" / "forge_protocol.ipynb")["student_id"] == "forged"


def test_summary_is_utf8_without_formulas(graded):
    data = (graded["out"] / "summary.csv").read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert len(rows) == 1 + len(graded["records"])
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell
    names = [row[0] for row in rows]
    assert "'=cmd.ipynb" in names and "'-1.ipynb" in names and "bad_\\xff.ipynb" in names
    assert "surrogate_\\xed\\xa0\\x80.ipynb" in names
    ids = {row[0]: row[1] for row in rows}
    assert ids["formula_id.ipynb"] == "'=HYPERLINK(\"http://evil\", \"x\")"


def test_long_ids_are_cut_visibly(graded, suite):
    record = _record(graded, suite["base"] / "submissions" / "long_id.ipynb")
    assert record["student_id"] == "s" * 200
    assert any("longer than 200 characters" in note for note in record["notes"]), record["notes"]


def test_reference_code_cannot_be_imported_in_the_sandbox(graded, suite):
    records = graded["imports"]["records"]
    for name, message in IMPORTS.items():
        record = records[str(suite["base"] / "imports" / f"{name}.ipynb")]
        assert record["score"] == 0, record["questions"]
        assert message in " | ".join(item["error"] for item in record["cell_errors"])
    assert records[str(suite["base"] / "imports" / "clean_solution.ipynb")]["score"] == 8


def test_importing_the_reference_code_answers_everything_without_a_sandbox(suite, tmp_path, capsys):
    """The import attack is real: course_lib.rules and torch.optim compute Adam and co."""
    run = grade("07_adaptive", suite["imports"][:2], tmp_path, jobs=2, sandbox=False,
                limits=Limits(timeout=60.0), log=lambda line: None)
    assert [record["score"] for record in run.records] == [8.0, 8.0], [r["questions"] for r in run.records]
    assert "WITHOUT a sandbox" in capsys.readouterr().err


def test_nothing_outside_the_sandbox_was_touched(graded, suite):
    assert (suite["canary"] / "hidden_tests.py").read_text() == "SECRET = 42\n"
    assert all(os.path.lexists(path) for path in suite["paths"])
    package = ROOT / "course_lib"
    assert not (package / "pwned.txt").exists() and not (package / "grading" / "pwned.txt").exists()
    assert (package / "grading" / "compare.py").exists()
    assert (ROOT / "solutions" / "hidden" / f"{NAME}.py").exists()


def test_reading_hidden_files_works_only_without_the_sandbox(graded, suite, tmp_path, capsys):
    """The read_hidden attack is real: without bubblewrap it steals full marks."""
    path = suite["base"] / "submissions" / "read_hidden.ipynb"
    run = grade(NAME, [path], tmp_path, jobs=1, limits=Limits(timeout=30.0), sandbox=False,
                log=lambda line: None)
    assert run.records[0]["score"] == 7
    assert run.records[0]["sandbox"] == "none"
    assert "WITHOUT a sandbox" in capsys.readouterr().err
    assert _record(graded, path)["sandbox"] == "bubblewrap"


def test_regrading_gives_the_same_scores_and_resuming_regrades_nothing(graded, suite, tmp_path):
    again = ["clean_solution", "wrong_types", "copied_numbers", "missing_question", "not_json"]
    paths = [suite["base"] / "submissions" / f"{name}.ipynb" for name in again]
    limits = Limits(timeout=TIMEOUT, question_seconds=QUESTION_SECONDS, memory_mb=MEMORY_MB, disk_mb=DISK_MB)
    kept = grade(NAME, paths, graded["out"], jobs=2, limits=limits, log=lambda line: None)
    assert kept.reused == len(again)
    forced = grade(NAME, paths, tmp_path, jobs=2, limits=limits, log=lambda line: None)
    for record in forced.records:
        old = graded["records"][record["submission"]]
        assert record["score"] == old["score"]
        assert record["questions"] == old["questions"]
    summary = (graded["out"] / "summary.csv").read_text().splitlines()
    assert summary[0] == "submission,student_id,score,max_score,q1,q2,q3,q4,error,flags"
    row = next(line for line in summary if line.startswith("copied_numbers.ipynb,"))
    assert row.split(",")[1:4] == ["alice", "6.0", "7.0"]


def test_a_record_is_valid_json_with_the_promised_keys(graded):
    record = json.loads((graded["out"] / "os_exit.json").read_text())
    assert {"submission", "score", "max_score", "questions", "error", "peak_memory_mb",
            "memory_cage"} <= set(record)
    assert set(record["questions"]["q1"]) >= {"score", "max_score", "feedback"}

