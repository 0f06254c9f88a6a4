"""Reading notebooks: the code cells of a submission, or a clear reason why there are none.

A submission is untrusted bytes. :func:`code_cells` accepts any nbformat 4 notebook
(older versions are upgraded by ``nbformat``) and raises :class:`InvalidNotebook` with a
message a student understands for everything else: not JSON, not a notebook, too large.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

#: Larger files are refused before parsing (a notebook of this course is ~20 kB).
MAX_BYTES = 20_000_000


class InvalidNotebook(ValueError):
    """The submission cannot be read as a Jupyter notebook."""


@dataclass(frozen=True)
class Cell:
    """A code cell: its 1-based position among all cells and its source."""

    number: int
    source: str

    def label(self) -> str:
        first = next((line.strip() for line in self.source.splitlines() if line.strip()), "")
        if len(first) > 40:
            first = first[:37] + "..."
        return f"cell {self.number} ({first!r})" if first else f"cell {self.number}"


def _source(cell: dict, number: int) -> str:
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    if isinstance(source, str):
        return source
    raise InvalidNotebook(f"cell {number} has a source that is neither text nor a list of lines")


def parse(data: bytes) -> dict:
    """The notebook as a dict (nbformat 4), or :class:`InvalidNotebook`."""
    if len(data) > MAX_BYTES:
        raise InvalidNotebook(f"the file is {len(data)} bytes, more than the {MAX_BYTES} allowed")
    try:
        notebook = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidNotebook(f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise InvalidNotebook(f"not valid JSON ({error.msg} at line {error.lineno}, "
                              f"column {error.colno})") from None
    except RecursionError:
        raise InvalidNotebook("not valid JSON (nested too deeply)") from None
    if not isinstance(notebook, dict):
        raise InvalidNotebook(f"the JSON holds a {type(notebook).__name__}, not a notebook")
    major = notebook.get("nbformat")
    if isinstance(major, int) and 1 <= major < 4:
        import nbformat

        try:
            notebook = dict(nbformat.convert(nbformat.from_dict(notebook), 4))
        except Exception as error:  # nbformat raises many types on malformed input
            raise InvalidNotebook(f"an nbformat {major} notebook that cannot be upgraded: {error}") from None
    elif major != 4:
        raise InvalidNotebook(f"not a Jupyter notebook (nbformat is {major!r}, expected 4)")
    if not isinstance(notebook.get("cells"), list):
        raise InvalidNotebook("not a Jupyter notebook (no list of cells)")
    return notebook


def code_cells(notebook: dict) -> list[Cell]:
    """The code cells of a parsed notebook, in order."""
    cells = []
    for number, cell in enumerate(notebook["cells"], start=1):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise InvalidNotebook(f"cell {number} is malformed (no cell_type)")
        if cell["cell_type"] == "code":
            cells.append(Cell(number, _source(cell, number)))
    return cells


def read(path: str | Path) -> dict:
    """Parse the notebook file at ``path``."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InvalidNotebook(f"cannot read the file ({error.strerror})") from None
    return parse(data)


def dumps(notebook: dict) -> str:
    """The text of ``notebook`` the way Jupyter writes it (indent 1, sorted keys, final newline)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def write(notebook: dict, path: str | Path) -> None:
    """Write ``notebook`` to ``path`` as :func:`dumps` formats it."""
    Path(path).write_text(dumps(notebook), encoding="utf-8")
