"""Reading notebooks: the code cells of a submission, or a clear reason why there are none.

A submission is untrusted bytes under an untrusted name. :func:`read_submission` opens
only a regular file, never through a symbolic link, and checks its size before reading
it; anything else raises :class:`SubmissionFileError`. :func:`code_cells` accepts any
nbformat 4 notebook (older versions are upgraded by ``nbformat``) and raises
:class:`InvalidNotebook` with a message a student understands for everything else: not
JSON, not a notebook, too large, too many cells.
"""
from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

#: Larger files are refused before reading (a notebook of this course is ~10 kB, a few MB
#: with plots); parsing takes up to 25 times the file's size in memory.
MAX_BYTES = 10_000_000
MAX_CODE_CELLS = 1000
_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}


class InvalidNotebook(ValueError):
    """The submission cannot be read as a Jupyter notebook."""


class SubmissionFileError(InvalidNotebook):
    """The submission is not a regular file that can be read: not graded at all."""


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


def _too_big(size: int) -> InvalidNotebook:
    return SubmissionFileError(f"the file is {size} bytes, more than the {MAX_BYTES} allowed")


def read_submission(path: str | Path) -> bytes:
    """The bytes of the regular file ``path`` (at most MAX_BYTES), or SubmissionFileError.

    A symbolic link is not followed, and a FIFO or device is never read from.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except UnicodeEncodeError:
        raise SubmissionFileError("the file name cannot be encoded (it holds a lone surrogate)") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise SubmissionFileError("it is a symbolic link, which the grader does not follow; "
                                      "submit the notebook file itself") from None
        raise SubmissionFileError(f"cannot open the file ({error.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise SubmissionFileError(f"it is {kind}, not a notebook file")
        if info.st_size > MAX_BYTES:
            raise _too_big(info.st_size)
        chunks, size = [], 0
        while size <= MAX_BYTES and (chunk := os.read(fd, 1 << 20)):
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as error:
        raise SubmissionFileError(f"cannot read the file ({error.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:  # it grew while we looked
        raise _too_big(len(data))
    return data


def parse(data: bytes) -> dict:
    """The notebook as a dict (nbformat 4), or :class:`InvalidNotebook`."""
    if len(data) > MAX_BYTES:
        raise _too_big(len(data))
    try:
        notebook = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidNotebook(f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise InvalidNotebook(f"not valid JSON ({error.msg} at line {error.lineno}, "
                              f"column {error.colno})") from None
    except RecursionError:
        raise InvalidNotebook("not valid JSON (nested too deeply)") from None
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise InvalidNotebook(f"not valid JSON ({str(error)[:100]})") from None
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
    if len(cells) > MAX_CODE_CELLS:
        raise InvalidNotebook(f"{len(cells)} code cells, more than the {MAX_CODE_CELLS} allowed")
    return cells


def handed_out_for(notebook: dict) -> str | None:
    """The assignment named in the notebook's metadata (``course_lib.assignment``), if any."""
    metadata = notebook.get("metadata")
    course = metadata.get("course_lib") if isinstance(metadata, dict) else None
    name = course.get("assignment") if isinstance(course, dict) else None
    return name if isinstance(name, str) else None


def read(path: str | Path) -> dict:
    """Parse the notebook file at ``path`` (a regular file, see :func:`read_submission`)."""
    return parse(read_submission(path))


def dumps(notebook: dict) -> str:
    """The text of ``notebook`` the way Jupyter writes it (indent 1, sorted keys, final newline)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def write(notebook: dict, path: str | Path) -> None:
    """Write ``notebook`` to ``path`` as :func:`dumps` formats it."""
    Path(path).write_text(dumps(notebook), encoding="utf-8")
