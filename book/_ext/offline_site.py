"""Sphinx extension: keep the built site self-contained (it must work offline).

Jupyter Book 1.x always loads sphinx-thebe, which declares a script pointing at a CDN (and,
in this version, declares it twice, a console error on every page). The course launches
notebooks in a *local* Jupyter instead, so the thebe scripts are dropped from every page.
"""
from __future__ import annotations


def _is_thebe(script) -> bool:
    filename = getattr(script, "filename", script) or ""
    body = getattr(script, "attributes", {}).get("body", "") if hasattr(script, "attributes") else ""
    return "thebe" in str(filename) or "THEBE_JS_URL" in str(body)


def _drop_thebe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if scripts:
        context["script_files"] = [s for s in scripts if not _is_thebe(s)]
    styles = context.get("css_files")
    if styles:
        context["css_files"] = [s for s in styles if "thebe" not in str(getattr(s, "filename", s))]


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
