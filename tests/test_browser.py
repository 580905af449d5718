"""The web pages in a real browser: headless Debian Chromium driven by Playwright.

One daemon (`notifier run --now 2024-06-24T09:00+07:00` on the repository's config.toml and
the 2024 seed plan, mail to aiosmtpd on 127.0.0.1; tests/browser/harness.py) serves every
test of this module; each test opens its own browser context. What the pages should show is
read from the schedule and config with tomllib (not through notifier), and from the mail
aiosmtpd accepted. What a person does is what is
checked: pages load with no console error (a Content-Security-Policy violation is one),
links lead where they say, forms filter, a reminder's link acknowledges it.
Screenshots (full page, desktop 1280 px and phone 390 px) go to $NOTIFIER_ARTIFACTS or
tests/artifacts/; the folder is printed at the end. Needs /usr/bin/chromium and playwright:
skipped without them, failed instead when NOTIFIER_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browser.harness import NOW, PLAN, ROOT, Site, artifacts_dir, launch
from icalendar import Calendar

from notifier.text import slugify

pytestmark = pytest.mark.slow

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TODAY = datetime.fromisoformat(NOW).date()
UNIT = "Sở Văn hóa, Thể thao và Du lịch"
COORDINATOR = "Sở Ngoại vụ"  # coordinator = true in config.toml; the plan reports to it


# --- the oracle: the seed schedule and config read with tomllib, not with notifier ------------


def schedule() -> dict[str, Any]:
    return tomllib.loads((ROOT / "schedules" / f"{PLAN}.toml").read_text(encoding="utf-8"))


def activities() -> list[dict[str, Any]]:
    return list(schedule()["activities"])


def dated(act: dict[str, Any]) -> bool:
    return isinstance(act.get("start"), date) and isinstance(act.get("end"), date)


def refs_naming(unit: str) -> set[str]:
    """Activities whose lead or coordinating cells name `unit` or a group listing it."""
    config = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    holders = {unit} | {g["name"] for g in config.get("groups", []) if unit in g.get("members", [])}
    return {
        a["ref"]
        for a in activities()
        if holders & set(a.get("lead", []) + a.get("coordinating", []))
    }


def refs_in_status(status: str, today: date = TODAY) -> set[str]:
    test = {
        "upcoming": lambda a: a["start"] > today,
        "in-progress": lambda a: a["start"] <= today <= a["end"],
        "over": lambda a: a["end"] < today,
    }[status]
    return {a["ref"] for a in activities() if dated(a) and test(a)}


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
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, message: Any) -> None:
        if message.type == "error":  # /favicon.ico, which Chromium asks for itself, included
            self.errors.append(f"{message.text} ({message.location.get('url', '')})")

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
    t.close()
    assert t.errors == [], f"console errors: {t.errors}"


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


def described_refs(calendar: Calendar) -> set[str]:
    """The activities of a calendar, by the "Mục II.2 (…)" line of each event's description."""
    texts = [str(e.get("DESCRIPTION", "")) for e in calendar.walk("VEVENT")]
    return {ref for t in texts for ref in re.findall(r"^Mục (\S+) ", t, re.MULTILINE)}


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
    # The plan's calendar holds each dated activity, and the page counts its events right.
    assert described_refs(calendar) == {a["ref"] for a in activities() if dated(a)}
    row = page.locator("tr", has=link)
    assert row.locator("td.count").inner_text() == str(len(calendar.walk("VEVENT")))
    assert all(p.stat().st_size > 0 for p in screenshots(browser, site, "/", "home"))


# --- the plan page ----------------------------------------------------------------------------


def shown_refs(tab: Tab) -> set[str]:
    """The Mục cells of the activity table's rows (section rows have no id)."""
    return set(tab.page.locator("table.acts tbody tr[id] > th").all_inner_texts())


def undated_refs(tab: Tab) -> set[str]:
    return set(tab.page.locator("#chua-xep-lich li > b").all_inner_texts())


def test_plan_page_is_reached_from_home_and_shows_every_activity(
    tab: Tab, browser: Any, site: Site
) -> None:
    tab.open("/")
    with tab.page.expect_navigation():
        tab.page.locator(f'#trang-ke-hoach a[href="/plans/{PLAN}"]').click()
    assert tab.page.url == f"{site.base}/plans/{PLAN}"
    plan = schedule()["plan"]
    assert tab.page.locator("h1").inner_text() == plan["title"]
    every = {a["ref"] for a in activities()}
    assert shown_refs(tab) | undated_refs(tab) == every
    assert undated_refs(tab) == {a["ref"] for a in activities() if not dated(a)}
    # The month timeline has one bar per dated activity, each linking to its table row.
    bars = tab.page.locator("#dong-thoi-gian .tl-list a.tl-label")
    assert bars.count() == len(shown_refs(tab))
    first = bars.first.get_attribute("href")
    assert first is not None and tab.page.locator(first).count() == 1
    assert all(p.stat().st_size > 0 for p in screenshots(browser, site, f"/plans/{PLAN}", "plan"))


def test_plan_page_filters_by_unit_through_its_form(tab: Tab) -> None:
    tab.open(f"/plans/{PLAN}")
    tab.page.select_option("#loc-don-vi", label=UNIT)
    with tab.page.expect_navigation():
        tab.page.click("#loc-nut")
    assert f"unit={slugify(UNIT)}" in tab.page.url
    expected = refs_naming(UNIT)
    assert expected, "the seed plan names the unit"
    assert shown_refs(tab) | undated_refs(tab) == expected
    # Each row shown names the unit as lead or coordinator.
    for row in tab.page.locator("table.acts tbody tr[id]").all():
        cells = row.locator("td").all_inner_texts()
        assert UNIT in cells[1] + cells[2], cells
    assert f"của {UNIT}" in tab.page.locator("#ket-qua").inner_text()
    assert tab.page.locator("#loc-don-vi option:checked").inner_text() == UNIT
    # "Bỏ lọc" brings every activity back.
    with tab.page.expect_navigation():
        tab.page.click("#bo-loc")
    assert len(shown_refs(tab) | undated_refs(tab)) == len(activities())


@pytest.mark.parametrize("status", ["upcoming", "in-progress", "over"])
def test_plan_page_filters_by_status_through_its_form(tab: Tab, status: str) -> None:
    tab.open(f"/plans/{PLAN}")
    tab.page.select_option("#loc-trang-thai", value=status)
    label = tab.page.locator("#loc-trang-thai option:checked").inner_text()
    with tab.page.expect_navigation():
        tab.page.click("#loc-nut")
    assert f"status={status}" in tab.page.url
    assert shown_refs(tab) == refs_in_status(status)
    assert undated_refs(tab) == set()  # an undated activity has no status
    badges = set(tab.page.locator("table.acts tbody tr[id] .badge").all_inner_texts())
    assert badges <= {label}


def test_plan_page_filters_combine(tab: Tab) -> None:
    tab.open(f"/plans/{PLAN}?unit={slugify(UNIT)}&status=upcoming")
    assert shown_refs(tab) == refs_naming(UNIT) & refs_in_status("upcoming")


def focus_ring(tab: Tab) -> dict[str, Any]:
    """The focused element: its id, whether :focus-visible applies, and its outline."""
    return tab.page.evaluate(
        """() => { const e = document.activeElement, s = getComputedStyle(e);
        return {id: e.id, tag: e.tagName, visible: e.matches(':focus-visible'),
                style: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }"""
    )


def test_keyboard_reaches_the_filter_form_and_submits_it_with_a_visible_focus(tab: Tab) -> None:
    tab.open(f"/plans/{PLAN}")
    seen = []
    for _ in range(15):  # the skip link, the breadcrumbs, then the form
        tab.page.keyboard.press("Tab")
        ring = focus_ring(tab)
        seen.append(ring)
        assert ring["visible"] and ring["style"] != "none" and ring["width"] >= 2, ring
        if ring["id"] == "loc-don-vi":
            break
    assert seen[-1]["id"] == "loc-don-vi", [r["id"] or r["tag"] for r in seen]
    tab.page.keyboard.press("Tab")
    assert focus_ring(tab)["id"] == "loc-trang-thai"
    tab.page.keyboard.press("ArrowDown")  # a closed select changes value with the arrows
    chosen = tab.page.locator("#loc-trang-thai").input_value()
    assert chosen != ""
    tab.page.keyboard.press("Tab")
    ring = focus_ring(tab)
    assert ring["id"] == "loc-nut" and ring["visible"] and ring["width"] >= 2, ring
    with tab.page.expect_navigation():
        tab.page.keyboard.press("Enter")
    assert f"status={chosen}" in tab.page.url
    assert shown_refs(tab) == refs_in_status(chosen)


# --- the unit page ----------------------------------------------------------------------------


def test_unit_page_subscribe_links_give_the_units_calendar(
    tab: Tab, browser: Any, site: Site
) -> None:
    tab.open("/")
    with tab.page.expect_navigation():
        tab.page.locator("#trang-don-vi a", has_text=UNIT).first.click()
    slug = slugify(UNIT)
    assert tab.page.url == f"{site.base}/units/{slug}"
    assert tab.page.locator("h1").inner_text() == UNIT
    feed = f"{site.base}/feeds/units/{slug}.ics"
    https = tab.page.locator("#dang-ky-https")
    assert https.get_attribute("href") == feed
    assert tab.page.locator("#dang-ky-webcal").get_attribute("href") == re.sub(
        "^http://", "webcal://", feed
    )
    assert tab.page.locator("#duong-dan").input_value() == feed
    # Following the https link: Chromium downloads a calendar (it does not display one).
    with tab.page.expect_download() as info:
        https.click(modifiers=["Alt"])  # Alt+click: "download the link", as a user may
    calendar = Calendar.from_ical(Path(info.value.path()).read_bytes())
    # The dated activities naming the unit are its calendar's activities.
    mine = {a["ref"] for a in activities() if dated(a) and a["ref"] in refs_naming(UNIT)}
    assert mine and described_refs(calendar) == mine
    assert fetch_calendar(tab, feed).to_ical() == calendar.to_ical()
    # The page's activity table lists the same activities.
    listed = set(
        tab.page.locator("#hoat-dong table.acts tbody tr:not(.sec) > th").all_inner_texts()
    )
    assert listed == refs_naming(UNIT)
    assert all(p.stat().st_size > 0 for p in screenshots(browser, site, f"/units/{slug}", "unit"))


def test_unit_page_qr_code_is_the_feed_link(tab: Tab, site: Site, tmp_path: Path) -> None:
    slug = slugify(UNIT)
    tab.open(f"/units/{slug}")
    svg = tab.page.locator("#ma-qr svg")
    assert svg.count() == 1 and svg.is_visible()
    box = svg.bounding_box()
    assert box is not None and min(box["width"], box["height"]) >= 100  # scannable on a screen
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        message = "zbarimg (apt-get install zbar-tools) reads the QR code"
        if os.environ.get("NOTIFIER_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    shot = tmp_path / "qr.png"
    tab.page.locator("#ma-qr").screenshot(path=str(shot))
    decoded = subprocess.run(
        [zbarimg, "--raw", "-q", str(shot)], check=False, capture_output=True, text=True, timeout=30
    )
    assert decoded.stdout.strip() == f"{site.base}/feeds/units/{slug}.ics", decoded


# --- the coordinator page ---------------------------------------------------------------------


def test_coordinator_page_shows_the_next_30_days_and_the_outbox(
    tab: Tab, browser: Any, site: Site
) -> None:
    sent = site.messages()
    site.wait_for("quét lần đầu xong")
    path = f"/coordinators/{slugify(COORDINATOR)}"
    tab.open(f"/units/{slugify(COORDINATOR)}")
    with tab.page.expect_navigation():
        tab.page.click("#trang-dau-moi")
    assert tab.page.url == site.base + path
    assert COORDINATOR in tab.page.locator("h1").inner_text()
    # What opens in the next 30 days, from the seed schedule.
    heading = tab.page.locator("#sap-toi-h").inner_text()
    first, last = (
        datetime.strptime(d, "%d/%m/%Y").date()
        for d in re.findall(r"\d{1,2}/\d{1,2}/\d{4}", heading)
    )
    assert first == TODAY and last - first in (timedelta(days=29), timedelta(days=30))
    for section, field in (("#bat-dau", "start"), ("#ket-thuc", "end")):
        expected = {a["ref"] for a in activities() if dated(a) and first <= a[field] <= last}
        listed = set(tab.page.locator(f"{section} li a").all_inner_texts())
        assert expected and listed == expected, section
    # The outbox: every message the SMTP server accepted is listed as sent.
    subjects = tab.page.locator("#hop-thu-di tr.ob-sent th").all_inner_texts()
    assert sorted(subjects) == sorted(str(m["Subject"]) for m in sent)
    assert f"Đã gửi {len(sent)}," in tab.page.locator("#hop-thu-di").inner_text()
    assert all(p.stat().st_size > 0 for p in screenshots(browser, site, path, "coordinator"))


# --- acknowledging a reminder -----------------------------------------------------------------


def ack_row(tab: Tab, ref: str) -> tuple[str, str]:
    """The coordinator page's (acknowledged, not yet) cells for the activity `ref`,
    found by their column headers."""
    table = tab.page.locator("#xac-nhan table")
    headers = table.locator("thead th").all_inner_texts()
    row = table.locator("tbody tr", has=tab.page.locator("th", has_text=f"[{ref}]"))
    assert row.count() == 1, ref
    cells = row.locator("th, td").all_inner_texts()
    by_header = dict(zip(headers, cells, strict=True))
    return by_header["Đã xác nhận"], by_header["Chưa xác nhận"]


def test_a_reminders_link_acknowledges_it_and_the_coordinator_sees_it(
    tab: Tab, browser: Any, site: Site
) -> None:
    coordinator = f"/coordinators/{slugify(COORDINATOR)}"
    ref = "II.7"  # Quý II/2024, led by UNIT: its "ends in 5 working days" reminder went out
    tab.open(coordinator)
    assert ack_row(tab, ref) == ("—", UNIT)
    # The email as the unit received it: its HTML part, in the browser, and its button.
    mail = next(
        m
        for m in site.messages()
        if "sovhttdl@example.org" in str(m["To"]) and "kết thúc" in str(m["Subject"])
    )
    tab.page.goto("about:blank")  # not inside the last page's origin and CSP
    tab.page.set_content(mail.get_body(("html",)).get_content())
    button = tab.page.locator("a", has_text=f"Đã hoàn thành [{ref}]")
    link = button.get_attribute("href")
    assert link is not None and link.startswith(f"{site.base}/a/")
    path = link.removeprefix(site.base)
    assert all(p.stat().st_size > 0 for p in screenshots(browser, site, path, "ack"))
    with tab.page.expect_navigation():
        button.click()
    page = tab.page
    assert page.locator("h1").inner_text() == "Đã hoàn thành"
    facts = page.locator("dl").inner_text()
    assert UNIT in facts and f"[{ref}]" in facts
    # By keyboard: Tab to the note, type it, Tab to the button (focus shown), Enter.
    note = "Đã tổ chức tại Mondulkiri ngày 20/6/2024; báo cáo gửi kèm công văn số 12/SVHTTDL."
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "note":
            break
    page.keyboard.type(note)
    page.keyboard.press("Tab")
    ring = focus_ring(tab)
    assert ring["tag"] == "BUTTON" and ring["style"] != "none" and ring["width"] >= 2, ring
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("h1").inner_text() == "Đã hoàn thành: đã ghi nhận"
    assert f"Ghi chú: {note}" in page.locator("[role=status]").inner_text()
    page.screenshot(path=str(artifacts_dir() / "ack-done-desktop.png"), full_page=True)
    # The link again: already recorded, no form to record it twice.
    tab.open(path)
    assert page.locator("h1").inner_text() == "Đã hoàn thành: đã ghi nhận"
    assert page.locator("form").count() == 0
    # The coordinator's page lists the unit as done at once (recording drops the page's read).
    tab.open(coordinator)
    done, missing = ack_row(tab, ref)
    assert done.splitlines()[0] == UNIT and missing == "—"
    assert note in done  # the coordinator reads the unit's note too


def test_a_tampered_link_is_refused_with_a_page_in_vietnamese(tab: Tab, site: Site) -> None:
    mail = next(m for m in site.messages() if "/a/" in m.get_body(("plain",)).get_content())
    token = re.search(r"/a/([\w.-]+)", mail.get_body(("plain",)).get_content())[1]  # type: ignore[index]
    payload, mac = token.split(".")
    forged = f"{payload}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BA'}"
    response = tab.page.goto(f"{site.base}/a/{forged}")
    assert response is not None and response.status == 403
    assert tab.page.locator("h1").inner_text() == "Liên kết không hợp lệ"
    assert tab.page.locator("form").count() == 0
    tab.errors.clear()  # Chromium logs the 403 itself


# --- stopping the digest ----------------------------------------------------------------------


def test_the_digests_unsubscribe_link_stops_it_after_one_click(
    tab: Tab, browser: Any, site: Site
) -> None:
    unit = "Văn phòng UBND tỉnh"  # the other coordinator: Sở Ngoại vụ's page stays as it is
    digest = next(
        m
        for m in site.messages()
        if "vanphong.ubnd@example.org" in str(m["To"]) and "Tổng hợp" in str(m["Subject"])
    )
    # The List-Unsubscribe header's https address is the link in the body.
    header = re.findall(r"<([^>]+)>", str(digest["List-Unsubscribe"]))
    link = next(h for h in header if h.startswith(f"{site.base}/u/"))
    assert link in digest.get_body(("plain",)).get_content()
    path = link.removeprefix(site.base)
    assert all(p.stat().st_size > 0 for p in screenshots(browser, site, path, "unsubscribe"))
    tab.open(path)
    page = tab.page
    assert page.locator("h1").inner_text() == "Ngừng nhận thư tổng hợp"
    assert unit in page.locator("dl").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Ngừng nhận thư tổng hợp").click()
    assert page.locator("h1").inner_text() == "Đã ngừng nhận thư tổng hợp"
    site.wait_for(f"ngừng nhận thư tổng hợp: {slugify(unit)}")
    tab.open(path)  # the link again: already done; the one button left takes it back
    assert page.locator("h1").inner_text() == "Đã ngừng nhận thư tổng hợp"
    assert page.locator("form button").all_inner_texts() == ["Nhận lại thư tổng hợp"]
    with page.expect_navigation():
        page.get_by_role("button", name="Nhận lại thư tổng hợp").click()
    assert page.locator("h1").inner_text() == "Đã nhận lại thư tổng hợp"
    site.wait_for(f"nhận lại thư tổng hợp: {slugify(unit)}")


# --- every page, as a screen reader, a keyboard or weak eyes meet it ---------------------------


def test_every_page_has_labels_text_alternatives_and_contrast(browser: Any, site: Site) -> None:
    """tests/browser/a11y.js in each page at both widths: one h1, lang="vi", a title, a label
    for each form control, text in each link and button, a text alternative for each svg,
    WCAG AA contrast for every visible text."""
    check = (Path(__file__).parent / "browser" / "a11y.js").read_text(encoding="utf-8")
    bodies = [m.get_body(("plain",)).get_content() for m in site.messages()]
    tokens = {m[0] for b in bodies for m in re.finditer(r"/[au]/[\w.-]+", b)}
    ack = next(t for t in sorted(tokens) if t.startswith("/a/"))
    stop = next(t for t in sorted(tokens) if t.startswith("/u/"))
    paths = [
        "/",
        f"/plans/{PLAN}",
        f"/plans/{PLAN}?unit={slugify(UNIT)}&status=over",
        f"/units/{slugify(UNIT)}",
        f"/coordinators/{slugify(COORDINATOR)}",
        ack,
        stop,
    ]
    problems = {}
    for viewport in (DESKTOP, PHONE):
        t = Tab(browser, site, viewport)
        try:
            for path in paths:
                t.open(path)
                if found := t.page.evaluate(check):
                    problems[f"{path[:40]} at {viewport['width']}px"] = found
        finally:
            t.close()
        assert t.errors == [], f"console errors: {t.errors}"
    assert problems == {}
