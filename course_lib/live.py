"""Live playgrounds: the optimizers run in the reader's browser, or in the kernel.

A :class:`LivePlayground` shows a surface's contour plot, the paths of several update
rules from a start the reader sets by clicking (or with the arrow keys), a slider for every
hyperparameter, and the loss against the step. It has two faces:

* on the static site, a ``<course-playground>`` element run by ``book/_static/
  course_playground.js``: the same rules, surfaces and schedules as :mod:`course_lib.rules`,
  :mod:`course_lib.surfaces` and :mod:`course_lib.schedules`, written line for line in
  JavaScript, so it needs no kernel and no network (``tests/test_live_playground.py`` checks
  that both give the same trajectories to 1e-9);
* in Jupyter, ipywidgets that run :func:`course_lib.descent.run` in the kernel.

Example
-------
>>> from course_lib import surfaces
>>> from course_lib.live import LivePlayground, Slider
>>> pg = LivePlayground(
...     surfaces={"rosenbrock": surfaces.rosenbrock},
...     rules=[dict(rule="sgd", label="GD", hyper={"lr": Slider(1e-4, 1e-2, 1e-3, log=True)}),
...            dict(rule="adam", label="Adam", hyper={"lr": Slider(1e-3, 1, 0.05, log=True)})],
...     start=(-1.5, 2.0), steps=200)
>>> sorted(pg.config())[:3]
['bound', 'maxSteps', 'rules']
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass

import numpy as np

from . import _checks, descent, rules as rule_book, schedules as schedule_book
from .surfaces import ALL, Quadratic, Surface
from .widgets import static_and_live

#: Colours of the rules, in order (the same list as the JavaScript's).
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

#: Schedules the reader can pick on chapter 8's playground; step counts are fractions of
#: the run, so a schedule follows the steps slider.
SCHEDULES = {
    "constant": {"name": "constant"},
    "step decay (x0.5 every quarter)": {"name": "step_decay", "step_size": 0.25,
                                        "gamma": 0.5},
    "exponential (x0.99 per step)": {"name": "exponential", "gamma": 0.99},
    "cosine to 0": {"name": "cosine", "total_steps": 1.0},
    "1/t (Robbins-Monro)": {"name": "inverse_power", "tau": 20.0, "power": 1.0},
    "10% warm-up, then cosine": {"name": "linear_warmup", "warmup_steps": 0.1,
                                 "schedule": {"name": "cosine", "total_steps": 1.0}},
}


@dataclass(frozen=True)
class Slider:
    """A hyperparameter's range: ``log=True`` moves evenly in its logarithm."""

    min: float
    max: float
    value: float
    log: bool = False
    label: str = ""

    def __post_init__(self):
        if not self.min <= self.value <= self.max:
            raise ValueError(f"Invalid Slider: value {self.value!r} outside "
                             f"[{self.min!r}, {self.max!r}]")
        if self.log and not self.min > 0:
            raise ValueError(f"Invalid Slider: a log slider needs min > 0, got {self.min!r}")

    def to_json(self) -> dict:
        spec = {"min": self.min, "max": self.max, "value": self.value, "log": self.log}
        return {**spec, "label": self.label} if self.label else spec


def surface_spec(label: str, surface: Surface, start=None) -> dict:
    """What the JavaScript needs to rebuild ``surface`` exactly."""
    if isinstance(surface, Quadratic):
        minimum = surface.minima[0]
        spec = {"kind": "quadratic", "A": surface.A.tolist(), "minimum": minimum.tolist(),
                "minValue": float(surface.value(minimum))}
    elif ALL.get(surface.name) is surface:
        spec = {"kind": surface.name}
    else:
        raise ValueError(f"Invalid surface {surface.name!r}: only the quadratics and the named "
                         f"surfaces of course_lib.surfaces ({', '.join(ALL)}) run in the browser")
    floor = float(surface.value(surface.minima).min()) if len(surface.minima) else None
    spec.update(label=label, bounds=[list(map(float, b)) for b in surface.bounds],
                minima=surface.minima.tolist(), minValue=floor if floor is not None
                else spec.get("minValue"))
    if spec["minValue"] is None:
        del spec["minValue"]
    if start is not None:
        spec["start"] = [float(v) for v in start]
    return spec


def rule_hyper(rule: str, values: dict) -> dict:
    """The hyperparameters of ``descent.run`` from slider values (``beta1``/``beta2`` are
    Adam's pair)."""
    hyper = dict(values)
    if "beta1" in hyper or "beta2" in hyper:
        beta1, beta2 = hyper.pop("betas", rule_book.get(rule).defaults["betas"])
        hyper["betas"] = (hyper.pop("beta1", beta1), hyper.pop("beta2", beta2))
    return hyper


def schedule_from_spec(spec: dict, lr: float, steps: int):
    """The :mod:`course_lib.schedules` function a :data:`SCHEDULES` entry describes."""
    spec = dict(spec, lr=lr)
    for key in ("step_size", "total_steps", "warmup_steps"):
        if key in spec:
            spec[key] = max(1, int(round(spec[key] * steps)))
    name = spec.pop("name")
    if "schedule" in spec:
        spec["schedule"] = schedule_from_spec(spec["schedule"], lr, steps)
        spec.pop("lr")
    if name == "inverse_sqrt":
        spec.pop("lr")
    return getattr(schedule_book, name)(**spec)


class LivePlayground:
    """Several update rules on one of several surfaces, every hyperparameter on a slider.

    Parameters
    ----------
    surfaces : dict label -> Surface, or label -> (Surface, start)
    rules : list of dict
        Each ``dict(rule="adam", label="Adam", hyper={"lr": Slider(...)}, fixed={...},
        enabled=True)``: ``hyper`` are the sliders (``beta1``, ``beta2`` for Adam's betas),
        ``fixed`` hyperparameters without a slider.
    start : (x, y)
    steps, max_steps : int
        Initial and largest value of the steps slider.
    schedule : bool
        Offer the :data:`SCHEDULES` (the rule's ``lr`` is the base rate).
    """

    def __init__(self, surfaces: dict, rules: list, start, steps: int = 100,
                 max_steps: int = 500, schedule: bool = False, bound: float = 1e6):
        if not surfaces or not rules:
            raise ValueError("a LivePlayground needs at least one surface and one rule")
        _checks.integer("steps", steps, 1, max_steps)
        self.surfaces = {}
        for label, entry in surfaces.items():
            surface, own_start = entry if isinstance(entry, tuple) else (entry, None)
            self.surfaces[label] = (surface, own_start)
        self.rules = [self._checked(spec) for spec in rules]
        self.start = tuple(float(v) for v in start)
        self.steps, self.max_steps, self.schedule, self.bound = steps, max_steps, schedule, bound

    @staticmethod
    def _checked(spec: dict) -> dict:
        rule = rule_book.get(spec["rule"])
        names = set(rule.defaults) | ({"beta1", "beta2"} if "betas" in rule.defaults else set())
        unknown = sorted((set(spec.get("hyper", {})) | set(spec.get("fixed", {}))) - names)
        if unknown:
            raise ValueError(f"Invalid hyperparameter {unknown[0]!r} for rule {rule.name!r}; "
                             f"known: {sorted(names)}")
        return {"rule": rule.name, "label": spec.get("label", rule.name),
                "hyper": dict(spec.get("hyper", {})), "fixed": dict(spec.get("fixed", {})),
                "enabled": spec.get("enabled", True)}

    def config(self) -> dict:
        """The JSON the ``<course-playground>`` element reads."""
        config = {
            "surfaces": [surface_spec(label, surface, start)
                         for label, (surface, start) in self.surfaces.items()],
            "rules": [{"rule": spec["rule"], "label": spec["label"], "enabled": spec["enabled"],
                       "fixed": spec["fixed"],
                       "hyper": {key: slider.to_json() for key, slider in spec["hyper"].items()}}
                      for spec in self.rules],
            "start": list(self.start), "steps": self.steps, "maxSteps": self.max_steps,
            "bound": self.bound,
        }
        if self.schedule:
            config["schedule"] = {"options": SCHEDULES, "value": "constant"}
        return config

    def to_html(self) -> str:
        data = html.escape(json.dumps(self.config()), quote=True)
        note = ("Interactive playground: it needs JavaScript (the book's "
                "course_playground.js); in Jupyter it runs in the kernel.")
        return (f'<course-playground class="course-live-playground" data-config="{data}">'
                f"<p>{note}</p></course-playground>")

    # -- in the kernel --------------------------------------------------------------------
    def runs(self, surface_label: str, start, steps: int, values: dict, schedule_name=None):
        """``label -> descent.Result`` for the enabled rules (what the kernel draws)."""
        surface = self.surfaces[surface_label][0]
        out = {}
        for spec in self.rules:
            hyper = rule_hyper(spec["rule"], {**spec["fixed"], **values[spec["label"]]})
            schedule = None
            if schedule_name and schedule_name != "constant":
                schedule = schedule_from_spec(SCHEDULES[schedule_name], hyper["lr"], steps)
            out[spec["label"]] = descent.run(spec["rule"], surface, np.array([start]), steps,
                                             schedule=schedule, bound=self.bound, **hyper)
        return out

    def widget(self):
        from ._live_widget import build_widget

        return build_widget(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        labels = ", ".join(spec["label"] for spec in self.rules)
        return static_and_live(self.to_html(), f"<LivePlayground: {labels}>", self.widget)


def loss_floor(result) -> float:
    """The loss above which the kernel's plot is drawn on a log scale (the minimum)."""
    minima = result.surface.minima
    return float(result.surface.value(minima).min()) if len(minima) else -math.inf
