"""CSV files an instructor opens in a spreadsheet: valid UTF-8 and never a formula.

A cell that begins with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is read
as a formula by Excel, LibreOffice and Google Sheets, so a student named
``=HYPERLINK(...)`` would run in the instructor's sheet (OWASP, "CSV Injection"). Such
cells get a leading apostrophe, which spreadsheets show as text. Numbers stay numbers.
Text that is not valid UTF-8 (a file name with undecodable bytes) is escaped, never
dropped, so that every row still names its submission.
"""
from __future__ import annotations

import csv
import io
import numbers
from pathlib import Path

from .results import write_atomic

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str | float | int:
    """``value`` as a cell that a spreadsheet shows as written."""
    if value is None:
        return ""
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return value
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([[safe_cell(cell) for cell in row] for row in rows])
    return buffer.getvalue()


def write_csv(path: str | Path, rows) -> Path:
    """Write ``rows`` (lists of cells) atomically as a UTF-8 CSV file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, csv_text(rows))
    return path
