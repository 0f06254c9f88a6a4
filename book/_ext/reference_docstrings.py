"""Sphinx extension: the docstrings of course_lib.reference's functions appear verbatim.

Those docstrings state a formula in plain text (``E |g_B - g|^2 = sigma^2 / B``), the
way the chapters show them under their equations; reStructuredText would read ``|g|`` as
a substitution and ``f_`` as a link. On the API page each becomes a literal block, as
it reads in the code. Module docstrings stay reStructuredText.
"""
from __future__ import annotations

PACKAGE = "course_lib.reference."


def as_literal_block(app, what, name, obj, options, lines):
    if what == "function" and name.startswith(PACKAGE) and lines:
        lines[:] = ["::", ""] + ["   " + line for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", as_literal_block)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
