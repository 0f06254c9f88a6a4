"""Look at the built book in a real browser (headless Chromium), as a reader would.

Serves ``_build/html`` on a local port, loads every chapter page and checks that

* MathJax rendered every formula (each ``.math`` element holds an ``mjx-container``, so no
  raw TeX is left) and none of them is a TeX error (``mjx-merror``),
* the page has at least one figure and one static Playground control,
* moving the first slider of the page changes the figure it drives,
* every live playground (``course_lib.live``) computes its paths in the page and answers a
  slider and the arrow keys, with no kernel,
* the page links to its notebook in a local Jupyter,
* the browser console logged no error,

and saves a screenshot of each page under ``_build/screenshots/``. Before opening the browser it
checks every internal link and image of every HTML page of the site (a linkcheck limited to
internal links: the site must work offline, so nothing may point to a missing local file). Exits non-zero, naming the
page and the failed check, when any check fails.

Usage: ``python tests/browser_check.py [--build _build/html]`` (``make browser``).
"""
from __future__ import annotations

import argparse
import functools
import html.parser
import http.server
import shutil
import socketserver
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,1600",
                  # Offline, provably: every host name but the local server's fails to resolve,
                  # so a page that fetched anything from the internet would log an error.
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"]


class _LinkCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.targets.append(value)


def broken_internal_links(build: Path) -> list[str]:
    """Every ``href``/``src`` of the built site that points to a missing local file, as
    ``"page -> target"``; external (``http:``, ``mailto:``, ...) and in-page links are skipped."""
    broken = []
    for page in sorted(build.rglob("*.html")):
        if page.relative_to(build).parts[0] in ("_static", "_sources"):
            continue  # theme templates and sources, not pages
        collector = _LinkCollector()
        collector.feed(page.read_text(encoding="utf-8", errors="replace"))
        for target in collector.targets:
            parts = urllib.parse.urlsplit(target)
            if parts.scheme or parts.netloc or not parts.path:
                continue
            path = urllib.parse.unquote(parts.path)
            resolved = (build / path.lstrip("/")) if path.startswith("/") else (page.parent / path)
            if resolved.is_dir():
                resolved = resolved / "index.html"
            if not resolved.exists():
                broken.append(f"{page.relative_to(build)} -> {target}")
    return broken


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _serve(directory: Path):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = socketserver.TCPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _driver(user_data: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        sys.exit("browser check: Chromium and ChromeDriver are needed "
                 "(Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={user_data}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)


def _wait(predicate, timeout=20.0, interval=0.2):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def check_page(driver, url: str, shot: Path) -> list[str]:
    """Run the checks on one page; return the failures (empty when it passed)."""
    from selenium.webdriver.common.by import By

    failures = []
    driver.get(url)
    _wait(lambda: driver.execute_script("return document.readyState") == "complete")
    has_math = driver.execute_script("return document.querySelectorAll('.math').length > 0")
    if has_math:
        unrendered = "return Array.from(document.querySelectorAll('.math'))" \
                     ".filter(e => !e.querySelector('mjx-container')).length"
        left = _wait(lambda: driver.execute_script(unrendered) == 0) or driver.execute_script(unrendered)
        if left is not True:
            failures.append(f"math did not render: {left} formula(s) left as raw TeX")
        errors = driver.execute_script("return document.querySelectorAll('mjx-merror').length")
        if errors:
            failures.append(f"{errors} formula(s) rendered as MathJax errors (mjx-merror)")
    else:
        failures.append("no math on the page")
    figures = driver.execute_script(
        "return document.querySelectorAll('img[src^=\"data:image/png\"], .cell_output img').length")
    if not figures:
        failures.append("no figure")
    sliders = driver.find_elements(By.CSS_SELECTOR, ".course-playground input.course-playground-control")
    if not sliders:
        failures.append("no static control (Playground)")
    else:
        slider = sliders[0]
        root = slider.find_element(By.XPATH, "./ancestor::div[contains(@class,'course-playground')]")
        image = root.find_element(By.CSS_SELECTOR, "img.course-playground-figure")
        before = image.get_attribute("src")
        driver.execute_script(
            "var s = arguments[0]; s.value = (parseInt(s.value) + 1) % (parseInt(s.max) + 1);"
            "s.dispatchEvent(new Event('input'));", slider)
        after = image.get_attribute("src")
        if not before or before == after:
            failures.append("moving the first slider did not change its figure")
        driver.execute_script("arguments[0].scrollIntoView()", root)
    failures += check_live_playgrounds(driver)
    if not driver.find_elements(By.CSS_SELECTOR, 'a[href^="http://localhost:8888/notebooks/"]'):
        failures.append("no button opening the chapter in a local Jupyter")
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    if errors:
        failures.append("console errors: " + "; ".join(errors[:3]))
    driver.save_screenshot(str(shot))
    return failures


def check_live_playgrounds(driver) -> list[str]:
    """Every live playground of the page computes, and answers a slider and a key press."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    failures = []
    status = "return arguments[0].querySelector('.cp-status').textContent"
    for index, element in enumerate(driver.find_elements(By.CSS_SELECTOR, "course-playground")):
        name = f"live playground {index + 1}"
        before = _wait(lambda: driver.execute_script(status, element))
        if not before or "loss" not in before:
            failures.append(f"{name} computed nothing (status {before!r})")
            continue
        slider = element.find_elements(By.CSS_SELECTOR, "fieldset input[type=range]")[0]
        driver.execute_script("var s = arguments[0]; s.value = s.min;"
                              "s.dispatchEvent(new Event('input'));", slider)
        after = _wait(lambda: driver.execute_script(status, element) != before and
                      driver.execute_script(status, element))
        if not after:
            failures.append(f"{name}: moving a slider changed nothing")
        canvas = element.find_element(By.CSS_SELECTOR, "canvas")
        driver.execute_script("arguments[0].scrollIntoView()", canvas)
        canvas.send_keys(Keys.ARROW_UP)
        moved = _wait(lambda: driver.execute_script(status, element) != after)
        if not moved:
            failures.append(f"{name}: the arrow keys did not move the start")
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "_build" / "screenshots")
    args = parser.parse_args(argv)
    pages = sorted((args.build / "lectures").glob("[0-9][0-9]_*.html"))
    if not pages:
        print(f"browser check: no chapter pages under {args.build}/lectures: run `make book` first")
        return 1
    broken = broken_internal_links(args.build)
    for link in broken[:20]:
        print(f"FAIL broken internal link: {link}")
    print(f"link check: {len(broken)} broken internal links")
    args.screenshots.mkdir(parents=True, exist_ok=True)
    server = _serve(args.build)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    profile = args.screenshots / ".chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    driver = _driver(profile)
    failed = 0
    try:
        for page in pages:
            shot = args.screenshots / f"{page.stem}.png"
            problems = check_page(driver, f"{base}/lectures/{page.name}", shot)
            status = "ok  " if not problems else "FAIL"
            print(f"{status} {page.name}: " + ("; ".join(problems) if problems else f"screenshot {shot}"))
            failed += bool(problems)
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    print(f"browser check: {len(pages) - failed} of {len(pages)} chapter pages passed")
    return 1 if failed or broken else 0


if __name__ == "__main__":
    sys.exit(main())
