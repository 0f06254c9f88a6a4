"""Every line of a chapter's code cells fits in 80 columns (no scrolling)."""
from pathlib import Path

import pytest

LECTURES = sorted((Path(__file__).parent.parent / "lectures").glob("[0-9]*.md"))
MAX_WIDTH = 80


def wide_code_lines(text, limit=MAX_WIDTH):
    """(line number, width) of each code-cell line wider than limit."""
    wide, in_cell = [], False
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith("```{code-cell}"):
            in_cell = True
        elif in_cell and line.startswith("```"):
            in_cell = False
        elif in_cell and len(line) > limit:
            wide.append((number, len(line)))
    return wide


def test_wide_code_lines_finds_a_wide_line():
    text = "x\n```{code-cell} ipython3\nok\n" + "y" * 81 + "\n```\n" + "z" * 90
    assert wide_code_lines(text) == [(4, 81)]


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_code_cells_fit_80_columns(path):
    wide = wide_code_lines(path.read_text())
    assert not wide, f"{path.name}: lines wider than {MAX_WIDTH}: " + ", ".join(
        f"line {n} ({w} chars)" for n, w in wide)
