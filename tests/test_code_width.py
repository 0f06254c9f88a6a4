"""Every line of a chapter's code cells, and of the code it shows with literalinclude,
fits in 80 columns (no scrolling)."""
import ast
from pathlib import Path

import pytest
from literal_includes import literal_includes

LECTURES = sorted((Path(__file__).parent.parent / "lectures").glob("[0-9]*.md"))
MAX_WIDTH = 80


def wide_code_lines(text, limit=MAX_WIDTH):
    """(line number, width) of each code-cell line wider than limit.

    A cell's option block (YAML between ``---`` lines, e.g. a figure caption) is not
    code the reader sees as code, so it is not counted.
    """
    wide, in_cell, in_options, first = [], False, False, False
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith("```{code-cell}"):
            in_cell, first = True, True
            continue
        if in_cell and first and line.strip() == "---":
            in_options = True
        elif in_options and line.strip() == "---":
            in_options = False
        elif in_cell and line.startswith("```"):
            in_cell = False
        elif in_cell and not in_options and len(line) > limit:
            wide.append((number, len(line)))
        first = False
    return wide


def test_wide_code_lines_skips_cell_options():
    text = "```{code-cell} ipython3\n---\ncaption: " + "c" * 90 + "\n---\nok\n```"
    assert wide_code_lines(text) == []


def test_wide_code_lines_finds_a_wide_line():
    text = "x\n```{code-cell} ipython3\nok\n" + "y" * 81 + "\n```\n" + "z" * 90
    assert wide_code_lines(text) == [(4, 81)]


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_code_cells_fit_80_columns(path):
    wide = wide_code_lines(path.read_text())
    assert not wide, f"{path.name}: lines wider than {MAX_WIDTH}: " + ", ".join(
        f"line {n} ({w} chars)" for n, w in wide)


def test_print_wrapped_fits_a_diagnosis_in_80_columns(capsys):
    from course_lib import diagnose
    from course_lib.experiments.general_guide import example_curves, print_wrapped

    report = str(diagnose(**example_curves()["mismatch"]))
    assert max(len(line) for line in report.splitlines()) > MAX_WIDTH  # needs wrapping
    print_wrapped(diagnose(**example_curves()["mismatch"]))
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= MAX_WIDTH
    assert " ".join(lines).split() == report.split()   # same words, same order
    continued = [line for line in lines
                 if not line.startswith(("verdict", "  - ", "  try"))]
    assert continued and all(line.startswith("    ") for line in continued)


def test_print_wrapped_rejects_a_width_too_narrow_to_read():
    from course_lib.experiments.general_guide import print_wrapped

    with pytest.raises(ValueError, match="width must be an integer >= 20, got 10"):
        print_wrapped("verdict: healthy", width=10)


def included_lines(chapter: Path):
    """(what, line) for every line of code that ``chapter`` shows with literalinclude:
    a :pyobject: (function, class or method, decorators included) or the text between
    :start-after: and :end-before: markers."""
    for source, options in literal_includes(chapter):
        text = source.read_text()
        if "pyobject" in options:
            body = ast.parse(text).body
            for name in options["pyobject"].split("."):
                node = next(n for n in body if getattr(n, "name", None) == name)
                body = node.body
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            lines = text.splitlines()[first - 1:node.end_lineno]
            what = f"{source.name}:{options['pyobject']}"
        else:
            lines = text.splitlines()   # Sphinx: after the line holding start-after,
            start = next(i for i, line in enumerate(lines)   # before the one holding
                         if options["start-after"] in line)  # end-before
            end = next(i for i, line in enumerate(lines)
                       if i > start and options["end-before"] in line)
            lines = lines[start + 1:end]
            what = f"{source.name}:{options['start-after']}"
        yield from ((what, line) for line in lines)


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_included_code_fits_80_columns(path):
    wide = sorted({f"{what} ({len(line)} chars)"
                   for what, line in included_lines(path) if len(line) > MAX_WIDTH})
    assert not wide, f"{path.name} includes lines wider than {MAX_WIDTH}: {wide}"


def test_included_lines_reads_a_pyobject_and_markers(tmp_path):
    (tmp_path / "m.py").write_text(
        "def f():\n    return 1\n\n\n# [start-g]\nx = 2\n# [end-g]\n")
    chapter = tmp_path / "c.md"
    chapter.write_text("```{literalinclude} m.py\n:pyobject: f\n```\n"
                       "```{literalinclude} m.py\n:start-after: [start-g]\n"
                       ":end-before: [end-g]\n```\n")
    assert [line for _, line in included_lines(chapter)] == [
        "def f():", "    return 1", "x = 2"]
