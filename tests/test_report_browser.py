"""report.html in a real browser: headless Chromium (Debian's, driven by Playwright) loads every image, logs no error.

Chromium comes from the system (``.ci/run`` installs Debian's ``chromium`` when it is missing); the
Playwright driver never downloads a browser.  Where no Chromium can be had the test is skipped with
the reason printed; in CI (``CI`` set) that is a failure, so the check can never vanish silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import SAMPLE_CONFIG, in_ci

from pipeline.config import load_config
from pipeline.report import write_report

#: Flags for a root user on a machine without network (no sandbox, no background connections).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-default-apps", "--no-first-run",
                  "--disable-quic"]


def chromium() -> str:
    """The system's Chromium; skips (fails in CI) when there is none or no driver for it."""
    found = os.environ.get("IPSEC_DROPS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    reason = None
    if not found or not os.path.exists(found):
        reason = "no Chromium on this machine (apt-get install chromium; .ci/run does)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "Playwright is not installed (pip install -e '.[dev]')"
    if reason:
        print(f"skipping the browser test: {reason}")
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    assert found
    return found


def test_report_page_loads_every_image_without_console_errors(sample_warehouse, tmp_path: Path):
    browser_path = chromium()
    from playwright.sync_api import sync_playwright

    write_report(sample_warehouse, load_config(SAMPLE_CONFIG), tmp_path, only=["html"])
    page_file = tmp_path / "report.html"
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri(), wait_until="load")
            images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
            title = page.title()
        finally:
            browser.close()
    assert len(images) == 5
    assert [alt for alt, complete, width in images if not complete or width == 0] == []
    assert problems == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []  # nothing from the network
    assert title.startswith("IPSec and firewall drops")
