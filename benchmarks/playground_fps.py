"""Frame rate of the live playground (issue 22's bar: 60 frames per second for 3 rules x
500 steps) in headless Chromium.

Serves ``book/_static/course_playground.js`` with one ``<course-playground>`` running
momentum, RMSProp and Adam for 500 steps on Rosenbrock's function, moves the start 200
times and times each full recompute and repaint in the page (``performance.now``). Prints
milliseconds per frame and the frames per second that allows.

    python benchmarks/playground_fps.py
"""
from __future__ import annotations

import functools
import shutil
import socketserver
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

MEASURE = """
const element = document.querySelector('course-playground');
const frames = 200, started = performance.now();
for (let i = 0; i < frames; i++) {
  element.start = [-1.5 + i * 1e-3, 2.0];
  element.compute();
  element.paint();
}
return [(performance.now() - started) / frames, element.runs.length,
        element.runs[0].result.loss.length - 1];
"""


def main() -> int:
    import browser_check
    from course_lib import surfaces
    from course_lib.live import LivePlayground, Slider

    playground = LivePlayground(
        surfaces={"Rosenbrock": surfaces.rosenbrock},
        rules=[dict(rule="momentum", hyper={"lr": Slider(1e-4, 1e-2, 1e-3, log=True)}),
               dict(rule="rmsprop", hyper={"lr": Slider(1e-3, 1.0, 0.01, log=True)}),
               dict(rule="adam", hyper={"lr": Slider(1e-3, 1.0, 0.05, log=True)})],
        start=(-1.5, 2.0), steps=500, max_steps=500)
    with tempfile.TemporaryDirectory() as work:
        site = Path(work)
        script = ROOT / "book" / "_static" / "course_playground.js"
        shutil.copy(script, site / script.name)
        (site / "index.html").write_text(
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<script type='module' src='{script.name}'></script></head>"
            f"<body>{playground.to_html()}</body></html>")
        handler = functools.partial(browser_check._QuietHandler, directory=str(site))
        server = socketserver.TCPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        driver = browser_check._driver(site / "profile")
        try:
            driver.get(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            time.sleep(2)
            ms, rules, steps = driver.execute_script(MEASURE)
        finally:
            driver.quit()
            server.shutdown()
    verdict = "met " if 1000 / ms >= 60 else "MISS"
    print(f"{verdict} live playground: {rules} rules x {steps} steps, {ms:.2f} ms per "
          f"recompute and repaint = {1000 / ms:.0f} frames/s (bar: 60)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
