"""Every line of a chapter's code cells fits in 80 columns (no scrolling)."""
from pathlib import Path

import pytest

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
