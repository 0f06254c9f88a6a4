"""The kernel face of :class:`course_lib.live.LivePlayground`: ipywidgets + matplotlib."""
from __future__ import annotations

import numpy as np


def _slider(widgets, name: str, spec):
    style, layout = {"description_width": "9em"}, widgets.Layout(width="420px")
    label = spec.label or name
    if spec.log:
        return widgets.FloatLogSlider(value=spec.value, base=10, min=np.log10(spec.min),
                                      max=np.log10(spec.max), step=0.01, description=label,
                                      readout_format=".3g", style=style, layout=layout)
    return widgets.FloatSlider(value=spec.value, min=spec.min, max=spec.max,
                               step=(spec.max - spec.min) / 200, description=label,
                               readout_format=".3g", style=style, layout=layout)


def _draw(playground, surface_label, start, steps, values, schedule_name):
    import matplotlib.pyplot as plt

    from .live import COLORS, loss_floor
    from .plotting import contour

    runs = playground.runs(surface_label, start, steps, values, schedule_name)
    surface = playground.surfaces[surface_label][0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    contour(left, surface, levels=20, n=120)
    left.plot(*start, "o", color="white", markeredgecolor="black")
    for color, (label, result) in zip(COLORS, runs.items()):
        stop = result.diverged_at[0] + 1 if result.diverged[0] else steps + 1
        path = result.trajectory[:stop, 0]
        left.plot(path[:, 0], path[:, 1], color=color, linewidth=1.2)
        floor = loss_floor(result)
        loss = result.loss[:stop, 0]
        gap = np.maximum(loss - floor, 1e-16) if np.isfinite(floor) else loss
        tail = " (diverged)" if result.diverged[0] else f": {loss[-1]:.3g}"
        right.plot(gap, color=color, label=label + tail)
        if np.isfinite(floor):
            right.set_yscale("log")
    left.set_xlabel("x")
    left.set_ylabel("y")
    left.set_title(surface_label, fontsize=10)
    right.set_xlabel("step")
    right.set_ylabel("loss - minimum" if right.get_yscale() == "log" else "loss")
    right.legend(fontsize="small")
    return fig


def build_widget(playground):
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    from .live import SCHEDULES

    surface_box = widgets.Dropdown(options=list(playground.surfaces), description="surface")
    steps = widgets.IntSlider(value=playground.steps, min=1, max=playground.max_steps,
                              description="steps")
    start = [widgets.FloatText(value=value, description=name, layout=widgets.Layout(width="180px"))
             for name, value in zip(("start x", "start y"), playground.start)]
    sliders = {spec["label"]: {key: _slider(widgets, key, slider)
                               for key, slider in spec["hyper"].items()}
               for spec in playground.rules}
    schedule = (widgets.Dropdown(options=list(SCHEDULES), description="schedule")
                if playground.schedule else None)
    output = widgets.Output()

    def redraw(_change=None):
        values = {label: {key: box.value for key, box in boxes.items()}
                  for label, boxes in sliders.items()}
        with output:
            output.clear_output(wait=True)
            fig = _draw(playground, surface_box.value, (start[0].value, start[1].value),
                        steps.value, values, schedule.value if schedule else None)
            display(fig)
            plt.close(fig)

    boxes = [surface_box, steps, *start, *(schedule and [schedule] or [])]
    for label, group in sliders.items():
        boxes.append(widgets.HTML(f"<b>{label}</b>"))
        boxes += list(group.values())
    for box in boxes:
        if hasattr(box, "observe"):
            box.observe(redraw, names="value")
    redraw()
    return widgets.HBox([widgets.VBox(boxes), output])
