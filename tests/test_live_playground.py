"""The live playground's JavaScript computes what course_lib computes.

``book/_static/course_playground.js`` runs in headless Chromium; for every update rule of
course_lib.rules, every surface the playgrounds use, a grid of hyperparameters and every
schedule, its 500-step trajectories must equal :func:`course_lib.descent.run`'s to 1e-9
relative (and diverge at the same step). A rule, surface or schedule that course_lib has
and the JavaScript lacks fails the test. Then the ``<course-playground>`` element itself is
driven as a reader would: keyboard and pointer move the start, sliders change the paths,
a divergent run says so.
"""
from __future__ import annotations

import functools
import http.server
import itertools
import json
import shutil
import socketserver
import threading
from pathlib import Path

import numpy as np
import pytest

from course_lib import descent, rules, schedules, surfaces
from course_lib.live import LivePlayground, Slider, schedule_from_spec, surface_spec

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "book" / "_static" / "course_playground.js"
STEPS = 500
pytestmark = pytest.mark.xdist_group("browser")

SURFACES = {  # surface -> (start, base learning rate, a bound that marks divergence)
    "quadratic": (surfaces.quadratic(condition=10.0, angle=np.pi / 6), (2.0, 1.5), 0.5),
    "valley": (surfaces.wb_valley(), (0.5, 2.0), 0.05),
    "rosenbrock": (surfaces.rosenbrock, (-1.5, 2.0), 1e-3),
    "beale": (surfaces.beale, (1.0, 1.5), 1e-3),
    "himmelblau": (surfaces.himmelblau, (0.5, 0.5), 0.01),
    "saddle": (surfaces.saddle, (1.5, 1e-3), 0.05),
    "monkey_saddle": (surfaces.monkey_saddle, (0.5, 0.3), 0.02),
}

GRIDS = {  # options of each rule, every combination is run
    "sgd": {"weight_decay": [0.0, 0.1]},
    "momentum": {"momentum": [0.5, 0.9], "dampening": [0.0, 0.3], "weight_decay": [0.0, 0.05]},
    "nesterov": {"momentum": [0.5, 0.9]},
    "adagrad": {"lr_decay": [0.0, 0.01], "initial_accumulator_value": [0.0, 0.1],
                "weight_decay": [0.0, 0.1]},
    "rmsprop": {"alpha": [0.9, 0.99], "momentum": [0.0, 0.5], "centered": [False, True]},
    "adam": {"amsgrad": [False, True], "weight_decay": [0.0, 0.01],
             "bias_correction": [True, False], "betas": [(0.9, 0.999), (0.5, 0.9)]},
    "adamw": {"amsgrad": [False, True], "weight_decay": [0.0, 0.1]},
    "adadelta": {"rho": [0.9, 0.95], "eps": [1e-6, 1e-3]},
    "newton": {},
}
LR_SCALE = {"sgd": 1, "momentum": 0.3, "nesterov": 0.3, "adagrad": 20, "rmsprop": 2,
            "adam": 10, "adamw": 10, "adadelta": 1, "newton": 1}


def cases():
    found = []
    for rule, grid in GRIDS.items():
        for name, (surface, start, lr) in SURFACES.items():
            for values in itertools.product(*grid.values()):
                hyper = dict(zip(grid, values))
                if rule == "adadelta":
                    hyper["lr"] = 1.0
                elif rule == "newton":
                    hyper["lr"] = 0.5
                else:
                    hyper["lr"] = lr * LR_SCALE[rule]
                found.append(dict(rule=rule, surface=name, start=start, hyper=hyper))
    for spec in ({"name": "step_decay", "step_size": 0.25, "gamma": 0.5},
                 {"name": "exponential", "gamma": 0.99},
                 {"name": "cosine", "total_steps": 0.8, "min_lr": 0.0},
                 {"name": "linear_warmup", "warmup_steps": 0.1,
                  "schedule": {"name": "cosine", "total_steps": 1.0}},
                 {"name": "inverse_sqrt", "d_model": 4, "warmup_steps": 0.1},
                 {"name": "inverse_power", "tau": 20.0, "power": 0.75}):
        for rule in ("sgd", "adam"):
            found.append(dict(rule=rule, surface="rosenbrock", start=(-1.5, 2.0),
                              hyper={"lr": 1e-3 * LR_SCALE[rule]}, schedule=spec))
    return found


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A page served over HTTP (ES modules need it) holding the module, in Chromium."""
    import browser_check

    site = tmp_path_factory.mktemp("site")
    shutil.copy(SCRIPT, site / SCRIPT.name)
    (site / "index.html").write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<script type='module' src='{SCRIPT.name}'></script></head><body></body></html>")
    server = socketserver.TCPServer(("127.0.0.1", 0),
                                    functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = browser_check._driver(tmp_path_factory.mktemp("profile"))
    driver.set_script_timeout(120)
    driver.get(f"http://127.0.0.1:{server.server_address[1]}/index.html")
    yield driver
    driver.quit()
    server.shutdown()


def _in_page(driver, body: str, *args):
    """Run ``body`` with the module as ``m``; it must return JSON-able data."""
    script = ("const done = arguments[arguments.length - 1];"
              f"import('./{SCRIPT.name}').then(m => done(JSON.stringify((function(m, args) {{"
              f"{body} }})(m, Array.from(arguments).slice(0, -1)))))"
              ".catch(e => done(JSON.stringify({error: String(e)})));")
    result = json.loads(driver.execute_async_script(script, *args))
    if isinstance(result, dict) and "error" in result:
        raise AssertionError(result["error"])
    return result


def test_the_javascript_has_every_rule_surface_and_schedule(browser):
    names = _in_page(browser, "return [Object.keys(m.rules), Object.keys(m.surfaces),"
                              " Object.keys(m.schedules)];")
    assert sorted(names[0]) == rules.names()
    assert sorted(names[1]) == sorted([*surfaces.ALL, "quadratic"])
    python_schedules = [name for name in schedules.__all__ if not name.startswith("to_")]
    assert sorted(names[2]) == sorted(python_schedules)


def test_trajectories_equal_the_numpy_engine(browser):
    all_cases = cases()
    specs = {name: surface_spec(name, surface) for name, (surface, _, _) in SURFACES.items()}
    payload = [{"rule": c["rule"], "surface": specs[c["surface"]], "start": c["start"],
                "hyper": c["hyper"], "schedule": c.get("schedule")} for c in all_cases]
    results = _in_page(browser, """
        return args[0].map(c => {
          const resolve = (s) => {
            const out = {...s, lr: c.hyper.lr};
            for (const key of ['step_size', 'total_steps', 'warmup_steps'])
              if (key in s) out[key] = Math.max(1, Math.round(s[key] * %d));
            if (s.schedule) out.schedule = resolve(s.schedule);
            return out;
          };
          const schedule = c.schedule ? m.makeSchedule(resolve(c.schedule)) : null;
          const r = m.run(c.rule, m.makeSurface(c.surface), c.start, %d, c.hyper,
                          schedule, 1e6);
          return [r.trajectory, r.divergedAt];
        });""" % (STEPS, STEPS), payload)
    assert len(results) == len(all_cases) > 250
    worst, diverged = 0.0, 0
    for case, (trajectory, diverged_at) in zip(all_cases, results):
        surface = SURFACES[case["surface"]][0]
        hyper = dict(case["hyper"])
        schedule = None
        if case.get("schedule"):
            schedule = schedule_from_spec(case["schedule"], hyper["lr"], STEPS)
        ours = descent.run(case["rule"], surface, np.array([case["start"]]), STEPS,
                           schedule=schedule, **hyper)
        label = f"{case['rule']} on {case['surface']} with {case.get('schedule') or hyper}"
        assert diverged_at == int(ours.diverged_at[0]), label
        stop = len(trajectory)
        expected = ours.trajectory[:stop, 0]
        np.testing.assert_allclose(np.array(trajectory, dtype=float), expected, rtol=1e-9,
                                   atol=1e-12, err_msg=label)
        scale = np.maximum(np.abs(expected), 1e-3)
        worst = max(worst, float(np.max(np.abs(np.array(trajectory) - expected) / scale)))
        diverged += diverged_at >= 0
    print(f"{len(all_cases)} cases, {diverged} diverged, worst relative difference {worst:.2e}")


def _playground_page(browser, playground: LivePlayground) -> None:
    browser.execute_script(
        "document.body.innerHTML = arguments[0];", playground.to_html())
    browser.execute_script("return customElements.whenDefined('course-playground')")


def _status(browser) -> str:
    import time

    time.sleep(0.15)     # one animation frame or a few
    return browser.execute_script(
        "return document.querySelector('course-playground .cp-status').textContent")


def test_the_element_responds_as_a_reader_expects(browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    playground = LivePlayground(
        surfaces={"Rosenbrock": surfaces.rosenbrock,
                  "ill-conditioned quadratic": surfaces.quadratic(condition=20.0)},
        rules=[dict(rule="sgd", label="GD", hyper={"lr": Slider(1e-4, 1.0, 1e-3, log=True)}),
               dict(rule="adam", label="Adam", hyper={"lr": Slider(1e-3, 1, 0.05, log=True),
                                                      "beta1": Slider(0, 0.99, 0.9)})],
        start=(-1.5, 2.0), steps=200, schedule=True)
    _playground_page(browser, playground)
    first = _status(browser)
    assert "GD: loss" in first and "Adam: loss" in first and "start (-1.50, 2.00)" in first
    labels = browser.find_elements(By.CSS_SELECTOR, "course-playground input[type=range]")
    assert all(box.get_attribute("aria-label") for box in labels)
    assert len(labels) == 1 + 1 + 2     # steps, GD's lr, Adam's lr and beta1

    canvas = browser.find_element(By.CSS_SELECTOR, "course-playground canvas")
    canvas.send_keys(Keys.ARROW_RIGHT)
    moved = _status(browser)
    assert "start (-1.42, 2.00)" in moved and moved != first
    ActionChains(browser).move_to_element_with_offset(canvas, 0, 0).click().perform()
    clicked = _status(browser)
    assert "start (-1.42, 2.00)" not in clicked

    gd_lr = labels[1]
    browser.execute_script("arguments[0].value = arguments[0].max;"
                           "arguments[0].dispatchEvent(new Event('input'));", gd_lr)
    diverging = _status(browser)
    assert "GD: diverged at step" in diverging, diverging
    assert browser.execute_script(
        "return document.querySelector('course-playground output').textContent") == "200"


def test_python_side_refuses_what_the_browser_cannot_run():
    from course_lib.experiments.gradient_descent import quartic

    with pytest.raises(ValueError, match="run in the browser"):
        surface_spec("quartic", quartic)
    with pytest.raises(ValueError, match="hyperparameter 'beta1' for rule 'sgd'"):
        LivePlayground({"r": surfaces.rosenbrock}, [dict(rule="sgd", hyper={
            "beta1": Slider(0, 1, 0.5)})], start=(0, 0))
    with pytest.raises(ValueError, match="Invalid rule"):
        LivePlayground({"r": surfaces.rosenbrock}, [dict(rule="lion")], start=(0, 0))
    with pytest.raises(ValueError, match="outside"):
        Slider(0, 1, 2)
