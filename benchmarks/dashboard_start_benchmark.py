"""Dashboard start benchmark: from launching Voila (what `make dashboard` runs) to a usable
page, and where the time goes.

Each run starts a fresh Voila server (as `make dashboard` does: ``python -m
workbench.dashboard.serve``) on a free loopback port, opens the page in headless
Chromium (Playwright) as soon as the port answers, and records, in seconds from the launch:

- ``listening``: the server accepts connections;
- ``kernel_started``: the page's kernel process exists (``psutil`` create time, reported by
  the dashboard);
- ``imported``: ``workbench.dashboard`` and what it imports are loaded in the kernel;
- ``built``: the dashboard is built (first dataset loaded, widgets, first feed);
- ``usable``: the search box is visible in the browser (a query can be typed);
- ``ready``: the status line says "ready" (the background warm-up is done);
- ``first_answer_s``: from Enter on a first query to its answer, typed at ``usable``.

The dashboard puts its own timestamps in the page (``data-timings``). Prints one JSON
document: each run and the median of each figure. Prerequisite: ``make pipeline`` (or point
``WORKBENCH_HOME`` at a home that has its artifacts); needs Chromium (``/usr/bin/chromium``).

    .venv/bin/python benchmarks/dashboard_start_benchmark.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = ("listening", "kernel_started", "imported", "built", "usable", "ready")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]
TIMINGS = """() => { const n = document.querySelector('.wb-timings');
                     return n ? n.dataset.timings : null; }"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def one_run(browser, extra: list[str], query: str, timeout_s: float,
            plain: bool = False) -> dict[str, float]:
    """Launch Voila, open the page as soon as it listens, time each stage (seconds from the
    launch) and a first query; stop the server. ``plain``: the ``voila`` command instead of
    ``make dashboard``'s launcher (:mod:`workbench.dashboard.serve`)."""
    port, token = free_port(), secrets.token_hex(16)
    launcher = ([str(Path(sys.executable).parent / "voila")] if plain else
                [sys.executable, "-m", "workbench.dashboard.serve"])
    command = [*launcher, str(REPO / "notebooks" / "dashboard.ipynb"), "--no-browser",
               f"--port={port}",
               "--Voila.ip=127.0.0.1", f"--token={token}", *extra]
    launched = time.time()
    server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    figures: dict[str, float] = {}
    try:
        while not listening(port):
            if server.poll() is not None or time.time() - launched > timeout_s:
                raise SystemExit("error: voila did not start (run it by hand to see why)")
            time.sleep(0.02)
        figures["listening"] = time.time() - launched
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/?token={token}", timeout=timeout_s * 1000)
        search = page.locator('input[placeholder^="describe a plot"]')
        search.wait_for(timeout=timeout_s * 1000)
        figures["usable"] = time.time() - launched
        search.fill(query)
        asked = time.time()
        search.press("Enter")
        page.locator("[data-answer]").first.wait_for(timeout=timeout_s * 1000)
        figures["first_answer_s"] = time.time() - asked
        page.locator(".wb-note", has_text="ready").or_(page.locator("[data-answer]")).first \
            .wait_for(timeout=timeout_s * 1000)
        page.wait_for_function(f"() => JSON.parse(({TIMINGS})() || '{{}}').ready",
                               timeout=timeout_s * 1000)
        stamps = json.loads(page.evaluate(TIMINGS))
        for stage in ("kernel_started", "imported", "built", "ready"):
            figures[stage] = stamps[stage] - launched
        page.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    return {k: round(v, 2) for k, v in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--query", default="time travel thriller")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per stage")
    parser.add_argument("--plain-voila", action="store_true",
                        help="start the `voila` command instead of make dashboard's launcher")
    parser.add_argument("--voila-arg", action="append", default=[],
                        help="an extra Voila option, e.g. --voila-arg=--preheat_kernel=False")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("error: no Chromium: install Debian's package (apt-get install "
                         "chromium)")
    runs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for _ in range(args.runs):
                runs.append(one_run(browser, args.voila_arg, args.query, args.timeout,
                                    args.plain_voila))
                print(json.dumps(runs[-1]), file=sys.stderr)
        finally:
            browser.close()
    keys = [*STAGES, "first_answer_s"]
    print(json.dumps({"home": os.environ.get("WORKBENCH_HOME", str(REPO)),
                      "launcher": "voila" if args.plain_voila else "workbench.dashboard.serve",
                      "voila_args": args.voila_arg, "load_average": os.getloadavg(),
                      "median": {k: round(statistics.median(r[k] for r in runs), 2)
                                 for k in keys},
                      "max": {k: round(max(r[k] for r in runs), 2) for k in keys},
                      "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
