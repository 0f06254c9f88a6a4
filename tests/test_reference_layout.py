"""The reference code of course_lib.reference is what the chapters show: every line fits the
page (80 columns), every ``# [start-NAME]`` marker has its ``# [end-NAME]``, every marked
function is shown by some page, and every page's include points at a marked function."""
import ast
import re
from pathlib import Path

import pytest
from literal_includes import literal_includes

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "course_lib" / "reference"
MODULES = sorted(REFERENCE.glob("*.py"))
PAGES = sorted((ROOT / "lectures").glob("*.md")) + sorted((ROOT / "book").rglob("*.md"))
MARKER = re.compile(r"^# \[(start|end)-([A-Za-z0-9_]+)\]$")


def _markers(path):
    """{name: (start line, end line)} of one module, 0-based; fails on a broken pair."""
    opened, pairs = {}, {}
    for number, line in enumerate(path.read_text().splitlines()):
        if line.lstrip().startswith("# ["):
            match = MARKER.match(line.strip())
            assert match, f"{path.name}:{number + 1}: malformed marker {line!r}"
            kind, name = match.groups()
            if kind == "start":
                assert name not in opened and name not in pairs, f"{path.name}: {name} twice"
                opened[name] = number
            else:
                assert name in opened, f"{path.name}:{number + 1}: [end-{name}] without start"
                pairs[name] = (opened.pop(name), number)
    assert not opened, f"{path.name}: [start-...] without end: {sorted(opened)}"
    return pairs


def _includes():
    """(page, module path, start name, end name) for every include of course_lib/reference."""
    found = []
    for page in PAGES:
        for target, options in literal_includes(page):
            if REFERENCE.resolve() not in target.parents:
                continue
            start = re.fullmatch(r"\[start-(\w+)\]", options.get("start-after", ""))
            end = re.fullmatch(r"\[end-(\w+)\]", options.get("end-before", ""))
            found.append((page.name, target, start and start.group(1), end and end.group(1)))
    return found


def test_there_is_reference_code_and_pages_that_show_it():
    assert len(MODULES) >= 2
    assert len(_includes()) >= 10


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_every_line_fits_in_80_columns(path):
    long = [(n + 1, len(line)) for n, line in enumerate(path.read_text().splitlines())
            if len(line) > 80]
    assert not long, f"{path.name}: lines over 80 columns (line, length): {long}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_every_marked_region_is_one_documented_function(path):
    lines = path.read_text().splitlines()
    for name, (start, end) in _markers(path).items():
        region = "\n".join(lines[start + 1:end])
        tree = ast.parse(region)
        assert len(tree.body) == 1 and isinstance(tree.body[0], ast.FunctionDef), (
            f"{path.name}: [start-{name}] must enclose exactly one function")
        assert tree.body[0].name == name, (
            f"{path.name}: marker {name} encloses {tree.body[0].name}")
        assert ast.get_docstring(tree.body[0]), f"{path.name}: {name} has no docstring"


def test_every_include_points_at_a_marked_function():
    for page, target, start, end in _includes():
        assert target.exists(), f"{page}: includes missing {target}"
        assert start and start == end, (
            f"{page}: include of {target.name} needs :start-after: [start-X] and "
            f":end-before: [end-X] with the same X, got {start!r}, {end!r}")
        assert start in _markers(target), f"{page}: {target.name} has no marker {start}"


def test_every_marked_function_is_shown_by_a_page():
    shown = {(target, start) for _, target, start, _ in _includes()}
    orphans = [f"{path.name}:{name}" for path in MODULES for name in _markers(path)
               if (path.resolve(), name) not in shown]
    assert not orphans, f"reference code no page shows: {orphans}"


def test_a_broken_pair_is_caught(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("# [start-f]\ndef f():\n    pass\n# [end-g]\n")
    with pytest.raises(AssertionError, match="without start"):
        _markers(path)
    path.write_text("# [start-f]\ndef f():\n    pass\n")
    with pytest.raises(AssertionError, match="without end"):
        _markers(path)
