"""A real browser for the dashboard tests: Debian's chromium driven by Playwright (no browser download), and the
app served by werkzeug in a thread on 127.0.0.1 and a free port."""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("VIGIE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-dev-shm-usage"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def browser_available() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


@pytest.fixture(scope="session")
def live_server(_app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, _app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


_shared: dict = {}


def shared_browser():
    """One Playwright and one Chromium for the whole test session, however many test modules import the `browser`
    fixture (each import defines a fixture of its own: a second sync_playwright() in one process fails with
    "Sync API inside the asyncio loop")."""
    if "browser" not in _shared:
        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=15_000)  # CI machines are small and shared
        _shared["playwright"] = sync_playwright().start()
        _shared["browser"] = _shared["playwright"].chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                                    headless=True)
    return _shared["browser"]


def close_shared_browser() -> None:
    """Called once at the end of the test session (conftest.py's pytest_sessionfinish)."""
    browser = _shared.pop("browser", None)
    if browser is not None:
        browser.close()
        _shared.pop("playwright").stop()


@pytest.fixture(scope="session")
def browser():
    if not browser_available():
        pytest.skip("chromium and the playwright package are needed: apt-get install chromium; pip install playwright")
    yield shared_browser()


@pytest.fixture
def page(browser, live_server, app):
    """A fresh browser context (no cookies) on the live server, a French browser in Paris; console errors and page
    errors are collected in ``page.errors`` (a CSP violation or a script error shows up there)."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1440, "height": 900}, locale="fr-FR",
                                  timezone_id="Europe/Paris")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def browser_login(page, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/queue")


def screenshot(page, name: str, full_page: bool = False) -> None:
    """Saved under docs/screenshots/ when VIGIE_SCREENSHOTS=1 (the docs' pictures are made by the tests)."""
    if os.environ.get("VIGIE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


AXE = Path(__file__).resolve().parent / "node" / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page, impacts=("critical", "serious")) -> list[str]:
    """axe-core's WCAG 2.1 AA checks on the current page (axe from tests/node, evaluated through the DevTools
    protocol, so the page's CSP is untouched): one line per violation of these impacts."""
    if not AXE.exists():
        pytest.skip("axe-core is needed: npm ci --prefix tests/node")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
                                           resultTypes: ["violations"]});
        return r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                         targets: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
    }""")
    return [f"{v['impact']}: {v['id']} ({v['help']}) at {', '.join(v['targets'])}" for v in result
            if v["impact"] in impacts]
