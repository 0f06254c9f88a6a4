"""Sphinx extension: an "Open in local Jupyter" button on every chapter page.

The course runs in the reader's own Jupyter (``make jupyter`` serves the repository on
http://localhost:8888, with jupytext so that ``lectures/*.md`` open as notebooks), not on a
remote hub. Every page that is a notebook (it has a kernelspec) gets a header button linking
to its source there; exercises are linked from the appendix page on exercises.
"""
from __future__ import annotations

from pathlib import Path

#: Where ``make jupyter`` serves the repository.
LOCAL_JUPYTER = "http://localhost:8888"


def _add_button(app, pagename, templatename, context, doctree):
    if "kernelspec" not in app.env.metadata.get(pagename, {}):
        return
    source = Path(app.env.doc2path(pagename)).relative_to(app.srcdir).as_posix()
    context.setdefault("header_buttons", []).append({
        "type": "link",
        "url": f"{LOCAL_JUPYTER}/notebooks/{source}",
        "tooltip": "Open this chapter in your local Jupyter (start it with `make jupyter`)",
        "icon": "fas fa-rocket",
        "label": "local-jupyter-button",
    })


def setup(app):
    # after sphinx-book-theme creates the header buttons (priority 500/501)
    app.connect("html-page-context", _add_button, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
