"""The web pages in a real browser: headless Debian Chromium driven by Playwright.

One daemon (`notifier run --now 2024-03-25T09:00+07:00` on the repository's config.toml and
the 2024 seed plan, mail to aiosmtpd on 127.0.0.1; tests/browser/harness.py) serves every
test of this module; each test opens its own browser context. What a person does is what is
checked: pages load with no console error (a Content-Security-Policy violation is one),
links lead where they say, forms filter, a reminder's link acknowledges it.
Screenshots (full page, desktop 1280 px and phone 390 px) go to $NOTIFIER_ARTIFACTS or
tests/artifacts/; the folder is printed at the end. Needs /usr/bin/chromium and playwright:
skipped without them, failed instead when NOTIFIER_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser.harness import PLAN, Site, artifacts_dir, launch
from icalendar import Calendar

pytestmark = pytest.mark.slow

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, chromium_executable: str) -> Iterator[Site]:
    # chromium_executable first: without a browser, skip before starting a daemon.
    with Site(tmp_path_factory.mktemp("site")) as running:
        yield running


@pytest.fixture(scope="module")
def browser(chromium_executable: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p, chromium_executable)
        yield chromium
        chromium.close()
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nbrowser screenshots: {artifacts_dir()}")


class Tab:
    """A page in a fresh context, with the console errors it logged."""

    def __init__(self, browser: Any, site: Site, viewport: dict[str, int] = DESKTOP) -> None:
        self.context = browser.new_context(
            viewport=viewport, locale="vi-VN", is_mobile=viewport["width"] < 500
        )
        self.page = self.context.new_page()
        self.site = site
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: str) -> Any:
        response = self.page.goto(self.site.base + path)
        assert response is not None and response.status == 200, (path, response)
        return response

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any, site: Site) -> Iterator[Tab]:
    t = Tab(browser, site)
    yield t
    assert t.errors == [], f"console errors: {t.errors}"
    t.close()


def screenshots(browser: Any, site: Site, path: str, name: str) -> list[Path]:
    """Full-page PNGs of `path` at desktop and phone widths, into the artifact folder."""
    out = []
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        t = Tab(browser, site, viewport)
        try:
            t.open(path)
            target = artifacts_dir() / f"{name}-{label}.png"
            t.page.screenshot(path=str(target), full_page=True)
            # A phone page that scrolls sideways is not readable on a phone.
            wide = t.page.evaluate("document.documentElement.scrollWidth")
            assert wide <= viewport["width"], f"{path} is {wide}px wide at {viewport['width']}px"
            assert t.errors == [], f"console errors: {t.errors}"
        finally:
            t.close()
        out.append(target)
    return out


def fetch_calendar(tab: Tab, url: str) -> Calendar:
    """GET a feed from the page's own context, as following the link does; parsed."""
    response = tab.page.request.get(url)
    assert response.status == 200, url
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.body())
    assert calendar.walk("VEVENT"), f"{url}: no event"
    return calendar


# --- the home page ----------------------------------------------------------------------------


def test_home_lists_the_plan_feed_with_working_links(tab: Tab, browser: Any, site: Site) -> None:
    tab.open("/")
    page = tab.page
    assert page.locator("html").get_attribute("lang") == "vi"
    assert page.locator("h1").inner_text() == "Lịch kế hoạch"
    link = page.locator(f'a[href$="/feeds/plans/{PLAN}.ics"]').filter(has_text="tải .ics")
    href = link.get_attribute("href")
    assert href == f"{site.base}/feeds/plans/{PLAN}.ics"
    webcal = page.locator(f'a[href$="/feeds/plans/{PLAN}.ics"]').filter(has_text="webcal")
    assert webcal.get_attribute("href") == re.sub("^http://", "webcal://", href)
    calendar = fetch_calendar(tab, href)
    assert "34/KH-UBND" in str(calendar.get("X-WR-CALNAME", "")) + calendar.to_ical().decode()
    assert all(p.stat().st_size > 0 for p in screenshots(browser, site, "/", "home"))
