"""The dashboard in a real browser: Voila on a free loopback port, headless Debian Chromium
driven by Playwright; type a query, check both columns, move alpha, take a screenshot.

Runs on the toy dataset. ``make screenshot`` runs it against the real pipeline artifacts
(``DASHBOARD_TEST_HOME``) and saves the README's screenshot (``DASHBOARD_SCREENSHOT``); the
datasets offered there are movies and anime, or the JSON list ``DASHBOARD_TEST_DATASETS``
(``'["ml1m"]'``: ml1m alone, the first one shown).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, fill_toy_home, free_port, loopback_server, port_open
from workbench.settings import Settings

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    """Debian's Chromium, or a skip (a failure in CI, where .ci/run installs it)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = ("no Chromium for the browser test: install Debian's package "
                   "(`sudo apt-get install chromium`); .ci/run does this in CI")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def voila(tmp_path, toy_template):
    """Voila serving notebooks/dashboard.ipynb on 127.0.0.1 (toy data unless
    DASHBOARD_TEST_HOME points at a home with pipeline artifacts)."""
    browser = chromium()
    env = dict(os.environ)
    real_home = os.environ.get("DASHBOARD_TEST_HOME")
    if real_home:
        env["WORKBENCH_HOME"] = real_home
        # conftest clears WORKBENCH_* variables: the datasets come from DASHBOARD_TEST_DATASETS
        env["WORKBENCH_DASHBOARD_DATASETS"] = os.environ.get(
            "DASHBOARD_TEST_DATASETS", json.dumps(["movies", "anime"]))
    else:
        home = tmp_path / "home"
        home.mkdir()
        fill_toy_home(Settings(home=home, data_mirror=home / "none"), toy_template, "neumf")
        env.update({"WORKBENCH_HOME": str(home), "WORKBENCH_DATA_MIRROR": str(home / "none"),
                    "WORKBENCH_DASHBOARD_DATASETS": json.dumps(["toy"])})
    port = free_port()
    token = secrets.token_hex(16)
    # what `make dashboard` runs: Voila through its launcher (workbench.dashboard.serve)
    command = [sys.executable, "-m", "workbench.dashboard.serve",
               str(REPO / "notebooks" / "dashboard.ipynb"), "--no-browser", f"--port={port}",
               "--Voila.ip=127.0.0.1", f"--token={token}"]
    # a listening port is enough: GET / waits for the notebook to run; the checked-in
    # voila.json (kernel culling, the page's shutdown request) is read from the cwd
    with loopback_server("voila", command, lambda: port_open(port), env=env,
                         cwd=REPO) as server:
        yield f"http://127.0.0.1:{port}/?token={token}", browser, server.pid


def kernels(server_pid: int) -> int:
    """Live kernel processes under the Voila server."""
    import psutil

    count = 0
    for child in psutil.Process(server_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):  # exited (or a zombie) while we looked
            count += "ipykernel" in " ".join(child.cmdline())
    return count


AI_PICK_CHANGED = """prev => {
  const col = [...document.querySelectorAll('.wb-col')]
    .find(c => c.querySelector('h3').textContent === 'AI pick');
  if (!col) return false;
  const ids = [...col.querySelectorAll('.wb-card')].map(c => c.dataset.item);
  return ids.length > 0 && JSON.stringify(ids) !== prev;
}"""


def _ids(column) -> list[str]:
    return [c.get_attribute("data-item") for c in column.locator(".wb-card").all()]


@pytest.mark.reliability
@pytest.mark.integration
@pytest.mark.slow
def test_dashboard_in_a_real_browser(voila, tmp_path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, browser_path, server = voila
    real = bool(os.environ.get("DASHBOARD_TEST_HOME"))
    screenshot = Path(os.environ.get("DASHBOARD_SCREENSHOT") or tmp_path / "dashboard.png")
    timings = {}
    _check_token_and_host(url)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            started = time.perf_counter()
            page.goto(url, timeout=180_000)
            search = page.locator('input[placeholder^="describe a plot"]')
            search.wait_for(timeout=180_000)  # kernel start, imports, models
            timings["page_s"] = time.perf_counter() - started
            # warm-up in the background, said so; then "ready"
            # a wait, not a timing: on a loaded 2-core runner (a Ray test beside it) the
            # kernel's warm-up has taken over two minutes
            expect(page.locator(".wb-note").first).to_contain_text("ready: describe a plot",
                                                                    timeout=300_000)
            timings["ready_s"] = time.perf_counter() - started
            expect(page.locator(".wb-history")).to_contain_text("liked:")
            expect(page.get_by_text("AI pick model:")).to_be_visible()
            content = page.locator(".wb-col", has=page.locator("h3", has_text="Content match"))
            ai = page.locator(".wb-col", has=page.locator("h3", has_text="AI pick"))
            timings["first_query_ms"] = _answer(page, search, "time travel thriller")
            assert content.locator(".wb-card").count() >= 3
            assert ai.locator(".wb-card").count() >= 3
            timings["later_query_ms"] = _answer(page, search, "a detective hunts a serial killer")
            text = page.locator(".wb-col").first.inner_text()
            assert not re.search(r"\((\d{4})\)\s*\(\1\)", text), "a year shown twice"
            # an error is shown in place; the columns keep their answer
            before = _ids(content)
            modes = page.locator(".widget-toggle-buttons").first  # the input's mode
            modes.get_by_text("more like a title").click()
            titles = page.locator('input[placeholder^="type a title"]')
            titles.fill("No Such Title At All")
            titles.press("Enter")
            expect(page.locator(".wb-error")).to_contain_text("unknown title", timeout=30_000)
            assert _ids(content) == before and len(before) >= 3
            modes.get_by_text("describe a plot").click()
            timings["later_query_ms"] = min(timings["later_query_ms"],
                                            _answer(page, search, "time travel thriller"))
            if not os.environ.get("DASHBOARD_TEST_HOME"):
                # toy: one item per franchise leaves too few to re-rank; switch the filter off
                page.locator(".widget-checkbox", has_text="Franchise filter").locator(
                    "input").click()
                expect(ai.locator(".wb-card")).to_have_count(10, timeout=30_000)
            before = _ids(ai)
            slider = page.locator(".widget-hslider",
                                  has=page.locator(".widget-label", has_text="alpha"))
            readout = slider.locator(".widget-readout")  # editable: type a value, Enter
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("0")  # alpha 0: the model's order
            page.keyboard.press("Enter")
            expect(readout).to_have_text("0.00", timeout=10_000)
            page.wait_for_function(AI_PICK_CHANGED, arg=json.dumps(before), timeout=30_000)
            expect(page.locator(".wb-note").first).to_contain_text("answered in")
            page.wait_for_timeout(500)
            after = _ids(ai)
            assert after != before and len(after) >= 3
            page.screenshot(path=str(screenshot), full_page=False)
            offered = json.loads(os.environ.get("DASHBOARD_TEST_DATASETS", '["", "anime"]'))
            if real and len(offered) > 1:  # the next catalog: switch (a visible load), time
                other = offered[1]
                page.locator(".widget-dropdown", has=page.locator(
                    ".widget-label", has_text="Dataset")).locator("select").select_option(other)
                expect(page.locator(".wb-note").first).to_contain_text(f"{other}: answered in",
                                                                        timeout=120_000)
                _answer(page, search, "a boy and a girl swap bodies in their dreams")
                timings["second_dataset_later_query_ms"] = _answer(page, search,
                                                                   "time travel thriller")
            # kernels: a page left (navigation, reload) shuts its kernel down (the check of
            # its request is off in voila.json, as Voila's beacon carries no XSRF token); a
            # kernel whose page never said goodbye is culled when idle (voila.json)
            page.goto("about:blank")
            page.close()
            baseline = _settled_kernels(server, 0)
            for _ in range(5):
                other = browser.new_page()
                other.goto(url, timeout=180_000)
                other.locator('input[placeholder^="describe a plot"]').wait_for(
                    timeout=180_000)
                other.goto("about:blank")
                other.close()
            timings["kernels_after_5_visits"] = _settled_kernels(server, baseline)
        finally:
            browser.close()
    print("dashboard timings:", json.dumps({k: round(v, 3) for k, v in timings.items()}))
    assert screenshot.stat().st_size > 10_000
    assert timings["kernels_after_5_visits"] <= max(baseline, 1)
    if real:  # the targets, on the real pipeline artifacts (`make screenshot`)
        assert timings["first_query_ms"] < 1000, timings
        assert timings["later_query_ms"] < 300, timings
        assert timings.get("second_dataset_later_query_ms", 0) < 300, timings


def _check_token_and_host(url: str) -> None:
    """Without the token the dashboard is not served (the login page instead), and a request
    naming a foreign host is refused (DNS rebinding): voila.json."""
    import requests

    bare = url.split("?")[0]
    answer = requests.get(bare, allow_redirects=False, timeout=30)
    assert answer.status_code in (302, 401, 403), answer.status_code
    foreign = requests.get(url, headers={"Host": "evil.example.com"}, allow_redirects=False,
                           timeout=30)
    assert foreign.status_code == 403, foreign.status_code


def _answer(page, search, query: str) -> float:
    """Type ``query``, press Enter; ms until the status line says it answered."""
    from playwright.sync_api import expect

    latest = """() => Math.max(0, ...[...document.querySelectorAll('[data-answer]')]
                                  .map(n => Number(n.dataset.answer)))"""
    before = page.evaluate(latest)
    search.fill(query)
    started = time.perf_counter()
    search.press("Enter")
    page.wait_for_function(f"n => ({latest})() > n", arg=before, timeout=60_000)
    elapsed = (time.perf_counter() - started) * 1000
    expect(page.locator(".wb-note").first).to_contain_text("answered in")
    return elapsed


def _settled_kernels(server: int, at_most: int, timeout_s: float = 30) -> int:
    """The kernel count once it has dropped to ``at_most`` (or after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    count = kernels(server)
    while count > at_most and time.monotonic() < deadline:
        time.sleep(0.5)
        count = kernels(server)
    return count


@pytest.mark.reliability
@pytest.mark.integration
@pytest.mark.slow
def test_ten_reloads_each_reach_ready(voila) -> None:
    """Issue 26: 1 page reload in 10 stayed at "warming up" for ever: the warm-up's "ready"
    was sent while the page was restoring its widgets, and the page dropped it. Ten reloads
    in a row must each say "ready" (the status is sent again after ready), and the kernels
    of the pages left are shut down."""
    from playwright.sync_api import expect, sync_playwright

    url, browser_path, server = voila
    seconds = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url, timeout=180_000)
            for n in range(10):
                started = time.perf_counter()
                if n:
                    page.reload(timeout=180_000)
                # generous for a loaded runner; a stuck page never gets there
                expect(page.locator(".wb-note").first).to_contain_text(
                    "ready: describe a plot", timeout=120_000)
                seconds.append(round(time.perf_counter() - started, 2))
            page.goto("about:blank")
        finally:
            browser.close()
    print("reload to ready (s):", seconds)
    assert len(seconds) == 10
    assert _settled_kernels(server, 1, timeout_s=60) <= 1


@pytest.mark.integration
@pytest.mark.slow
def test_two_models_side_by_side_in_a_real_browser(voila, tmp_path) -> None:
    """Issue 27: the "Compare models" tab. Open it, pick two saved models and see both
    top-10 lists for the shown user next to their history, the items in both marked and
    "k of 10 in common"; on the toy home the lists are the ones Python computes."""
    from playwright.sync_api import expect, sync_playwright

    url, browser_path, _server = voila
    real = bool(os.environ.get("DASHBOARD_TEST_HOME"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(url, timeout=180_000)
            expect(page.locator(".wb-note").first).to_contain_text("ready: describe a plot",
                                                                    timeout=300_000)
            user = page.locator('input[placeholder="user id"]').input_value()
            tab = page.locator(".wb-compare")
            expect(tab).to_be_hidden()  # another tab is shown; nothing loaded yet
            page.get_by_role("tab", name="Compare models").click()
            status = tab.locator(".wb-overlap")
            expect(status).to_contain_text(f"user {user}: ", timeout=60_000)

            def select(label: str):
                return tab.locator(".widget-dropdown", has=page.locator(
                    ".widget-label", has_text=label)).locator("select")

            names = select("Model A").locator("option").all_inner_texts()
            assert names[0] == "champion" and len(names) >= 3, names
            first, second = names[1], names[-1]  # toy: ease-implicit, popularity-implicit
            select("Model A").select_option(first)
            expect(tab.locator(".wb-col h3").first).to_have_text(f"A: {first}", timeout=60_000)
            select("Model B").select_option(second)
            expect(tab.locator(".wb-col h3").nth(1)).to_have_text(f"B: {second}",
                                                                  timeout=60_000)
            expect(status).to_contain_text(" of 10 in common")
            columns = tab.locator(".wb-col")
            lists = [[int(i) for i in _ids(columns.nth(n))] for n in (0, 1)]
            assert [len(ids) for ids in lists] == [10, 10], lists
            common = [i for i in lists[0] if i in lists[1]]
            marked = [int(i) for i in tab.locator(".wb-col").first.locator(
                ".wb-card.wb-both").evaluate_all("cards => cards.map(c => c.dataset.item)")]
            assert marked == common
            assert columns.nth(1).locator(".wb-card.wb-both").count() == len(common)
            assert status.get_attribute("data-common") == str(len(common))
            expect(status).to_contain_text(f"user {user}: {len(common)} of 10 in common")
            expect(tab.locator(".wb-history")).to_contain_text("liked:")
        finally:
            browser.close()
    if not real:  # the same lists as the Python API gives, for the same user and models
        from workbench.hybrid import Recommender
        from workbench.hybrid.compare import compare, with_model

        home = tmp_path / "home"
        rec = Recommender.load("toy", Settings(home=home, data_mirror=home / "none"))
        expected = compare(with_model(rec, first), with_model(rec, second), int(user))
        assert lists == [x.item_ids for x in expected.lists]
