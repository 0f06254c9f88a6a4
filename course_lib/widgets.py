"""Controls that drive a figure: live in Jupyter, still responsive on the static website.

A :class:`Playground` is displayed as one notebook output carrying two representations:

* ``application/vnd.jupyter.widget-view+json``: ipywidgets sliders and dropdowns that redraw
  the figure by calling your function, used by any live Jupyter kernel;
* ``text/html``: every combination of control values drawn in advance as a PNG frame, and a
  few lines of JavaScript that show the frame matching the HTML sliders. The book's
  ``_config.yml`` tells myst-nb to prefer this one, so the website needs no kernel.

Example
-------
>>> import matplotlib.pyplot as plt, numpy as np
>>> def draw(freq):
...     fig, ax = plt.subplots()
...     x = np.linspace(0, 1, 100)
...     ax.plot(x, np.sin(2 * np.pi * freq * x))
...     return fig
>>> pg = Playground(draw, freq=Control([1, 2, 3], "frequency (Hz)"))
>>> len(pg.frame_keys())
3
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import json
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import matplotlib

from course_lib import config

MAX_FRAMES = 64


@dataclass(frozen=True)
class Control:
    """One control: the values it can take, a label, and its initial value.

    ``values`` must be a short list: each combination of all controls becomes one frame on
    the static page. Numbers give a slider, strings a dropdown.
    """

    values: Sequence[Any]
    description: str = ""
    value: Any = None

    def __post_init__(self):
        if len(self.values) == 0:
            raise ValueError("a Control needs at least one value")
        if self.value is not None and self.value not in list(self.values):
            raise ValueError(f"initial value {self.value!r} is not among the values {list(self.values)!r}")

    @property
    def initial(self):
        return self.values[0] if self.value is None else self.value

    @property
    def is_numeric(self) -> bool:
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)


def _as_control(name: str, spec) -> Control:
    if isinstance(spec, Control):
        return spec
    if isinstance(spec, (list, tuple)):
        return Control(list(spec), name)
    raise TypeError(f"control {name!r} must be a Control or a list of values, got {type(spec).__name__}")


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class Playground:
    """A figure ``draw(**values)`` driven by named controls (see the module docstring).

    Parameters
    ----------
    draw : callable
        Called with one keyword argument per control; returns a matplotlib Figure.
    dpi : int
        Resolution of the precomputed frames of the static page.
    **controls : Control or list
        The controls, by the keyword argument of ``draw`` they set.
    """

    def __init__(self, draw: Callable[..., "matplotlib.figure.Figure"], *, dpi: int = 80, **controls):
        if not controls:
            raise ValueError("a Playground needs at least one control")
        self.draw = draw
        self.dpi = dpi
        self.controls = {name: _as_control(name, spec) for name, spec in controls.items()}
        n_frames = len(self.frame_keys())
        if n_frames > MAX_FRAMES:
            raise ValueError(
                f"{n_frames} combinations of control values: at most {MAX_FRAMES} frames fit on a "
                "static page; give the controls fewer values")
        self._frames: dict[tuple, str] | None = None

    def frame_keys(self) -> list[tuple]:
        """Every combination of control values, in the order the static page stores them."""
        return list(itertools.product(*(c.values for c in self.controls.values())))

    def _render(self, values: dict) -> str:
        import matplotlib.pyplot as plt

        fig = self.draw(**values)
        if fig is None:
            raise TypeError("the draw function of a Playground must return its matplotlib Figure")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight")
        plt.close(fig)
        return base64.b64encode(buffer.getvalue()).decode("ascii")

    def frames(self) -> dict[tuple, str]:
        """The base64 PNG of every frame, drawn once and cached."""
        if self._frames is None:
            names = list(self.controls)
            keys = config.progress(self.frame_keys(), desc="precomputing the static frames")
            self._frames = {key: self._render(dict(zip(names, key))) for key in keys}
        return self._frames

    # -- static page ---------------------------------------------------------------------
    def to_html(self) -> str:
        """A self-contained HTML snippet: sliders/dropdowns and an image switched by JavaScript."""
        frames = self.frames()
        uid = "pg-" + uuid.uuid4().hex[:10]
        controls = list(self.controls.items())
        sizes = [len(c.values) for _, c in controls]
        rows = []
        for i, (name, control) in enumerate(controls):
            label = html.escape(control.description or name)
            start = list(control.values).index(control.initial)
            labels = json.dumps([_format(v) for v in control.values])
            rows.append(
                f'<label style="display:flex;gap:.6em;align-items:center;margin:.2em 0">'
                f'<span style="min-width:11em">{label}</span>'
                f'<input type="range" class="course-playground-control" data-index="{i}" '
                f'min="0" max="{len(control.values) - 1}" step="1" value="{start}" '
                f'aria-label="{label}" data-labels=\'{html.escape(labels)}\' style="flex:1">'
                f'<output style="min-width:5em;font-family:monospace"></output></label>')
        images = json.dumps(["data:image/png;base64," + frames[key] for key in self.frame_keys()])
        return f"""<div class="course-playground" id="{uid}" style="max-width:100%">
{''.join(rows)}
<img class="course-playground-figure" alt="figure controlled by the sliders above" style="max-width:100%">
<script>
(function() {{
  var root = document.getElementById("{uid}");
  var frames = {images};
  var sizes = {json.dumps(sizes)};
  var inputs = root.querySelectorAll("input.course-playground-control");
  function update() {{
    var index = 0;
    inputs.forEach(function(input, i) {{
      index = index * sizes[i] + parseInt(input.value, 10);
      var labels = JSON.parse(input.dataset.labels);
      input.parentNode.querySelector("output").textContent = labels[parseInt(input.value, 10)];
    }});
    root.querySelector("img.course-playground-figure").src = frames[index];
  }}
  inputs.forEach(function(input) {{ input.addEventListener("input", update); }});
  update();
}})();
</script></div>"""

    # -- live kernel ---------------------------------------------------------------------
    def widget(self):
        """The ipywidgets version: one slider or dropdown per control, redrawing live."""
        import ipywidgets as widgets
        import matplotlib.pyplot as plt
        from IPython.display import display

        boxes = {}
        for name, control in self.controls.items():
            options = [(_format(v), v) for v in control.values]
            cls = widgets.SelectionSlider if control.is_numeric else widgets.Dropdown
            boxes[name] = cls(options=options, value=control.initial,
                              description=control.description or name,
                              style={"description_width": "initial"},
                              layout=widgets.Layout(width="480px"))
        output = widgets.Output()

        def redraw(_change=None):
            with output:
                output.clear_output(wait=True)
                fig = self.draw(**{name: box.value for name, box in boxes.items()})
                display(fig)
                plt.close(fig)

        for box in boxes.values():
            box.observe(redraw, names="value")
        redraw()
        return widgets.VBox([*boxes.values(), output])

    def _repr_mimebundle_(self, include=None, exclude=None):
        return static_and_live(self.to_html(),
                               f"<Playground with controls {', '.join(self.controls)}>",
                               self.widget)


def static_and_live(html_text: str, plain: str, make_widget: Callable) -> dict:
    """The output bundle of a control: ``html_text`` for the static site, plus the
    ipywidgets view ``make_widget()`` when a live IPython kernel with ipywidgets runs."""
    bundle = {"text/html": html_text, "text/plain": plain}
    try:
        import ipywidgets  # noqa: F401  (optional dependency)
        from IPython import get_ipython
    except ImportError:
        return bundle
    if get_ipython() is None:
        return bundle
    view = make_widget()._repr_mimebundle_()
    if view:
        bundle.update({k: v for k, v in view.items() if k != "text/plain"})
    return bundle
