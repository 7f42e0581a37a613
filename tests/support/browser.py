"""Chromium on a Label Studio page: Debian's browser driven by Playwright (never a downloaded one)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
"""Screenshots the browser tests leave for a person to look at (tests/artifacts/, not committed)."""
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def logged_in_page(labelstudio, width: int = 1400, height: int = 1000) -> Iterator[Page]:
    """A Chromium page logged in to the `labelstudio` server (ServerInfo) as its admin."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(30_000)
            page.goto(f"{labelstudio.url}/user/login/")
            page.fill("input[name=email]", labelstudio.email)
            page.fill("input[name=password]", labelstudio.password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda u: "/user/login" not in u)
            yield page
        finally:
            browser.close()
