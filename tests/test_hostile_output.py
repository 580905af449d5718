"""Malicious plan text never injects: no mail header, no ICS property or component, no HTML,
no path component.

Every hostile string (CRLF, bare CR and LF, NUL and other controls, Unicode line breaks,
HTML and attribute breakers, RFC 2047 look-alikes, ICS property and component look-alikes,
RTL/bidi overrides and zero-width marks, 100 kB cells) is put in activity content, section
titles, unit names, the plan's title and number and report titles, then goes the real way:
reminders.plan_reminders → emails.render → mailer.compose, read back with the standard
email package; publish.build_snapshot → ICS bytes, read back with icalendar; the web page
served by the real app, read back with html.parser; slugs and schedule file names.

Bidi and zero-width marks are stripped, never shown (docs/security.md): Vietnamese text
never needs them, and they can make a name or a date read differently from what it is.
"""

from __future__ import annotations

import email
import email.policy
import re
import unicodedata
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from feedkit import NOW, running
from icalendar import Calendar

from notifier.clock import FixedClock
from notifier.emails import render
from notifier.errors import ScheduleError
from notifier.feeds import FeedSettings, FeedState
from notifier.mailer import Address, compose
from notifier.plan import Activity, Plan, ReportDuty
from notifier.publish import Catalog, FeedCache, build_snapshot
from notifier.acks import Links, Signer  # signed links: digests carry List-Unsubscribe (issue 7)
from notifier.reminders import TZ, DigestRules, ReminderRules, plan_reminders
from notifier.reporting import DeadlineRule
from notifier.schedules import load_schedule, valid_slug, write_schedule
from notifier.text import slugify
from notifier.timing import Timing
from notifier.timing import TimingKind as K
from notifier.units import Directory, Unit, resolve_plan
from notifier.web import create_app
from notifier.workdays import WorkCalendar

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
HOSTILE = [
    "Giao lưu\r\nBcc: attacker@example.com",
    "Tiêu đề\rX-Injected: bare-cr",
    "Tiêu đề\nX-Injected: bare-lf",
    "NUL\x00ở giữa\x01\x1b[31m\x7f\x85\u2028\u2029\x0b\x0c",
    "<script>alert('x')</script> & \"trích\" 'dẫn'",
    '"><img src=x onerror=alert(1)><a href="javascript:alert(2)">',
    "=?utf-8?b?QmNjOiBhdHRhY2tlckBleGFtcGxlLmNvbQ==?=",
    "x\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil\r\nSUMMARY:tiêm",
    "a;b,c\\nd:DESCRIPTION;X-EVIL=1:e",
    "\u202eKế hoạch gnp.exe\u202c đảo chiều \u2066cô lập\u2069",
    "không\u200brộng\u200d\ufeffgiữa\u2060",
    "Kế hoạch " + "dài " * 25_000,  # a 100 kB cell
]

FOLDER = "/etc/passwd"


def hostile_units() -> list[Unit]:
    """Units whose names carry every hostile string (Unit tidies names to one line)."""
    units = [
        Unit(
            f"Sở Thử {n} {text[:200]}",
            slug=f"so-thu-{n}",
            email=f"so{n}@example.org",
            coordinator=n == 0,
        )
        for n, text in enumerate(HOSTILE)
    ]
    return [*units, Unit("Sở Ngoại vụ", email="songoaivu@example.org", coordinator=True)]


def hostile_plan(directory: Directory) -> Plan:
    names = [u.name for u in directory]
    p = Plan(
        slug="34-kh-ubnd",
        title=" ".join(HOSTILE),
        number="34/KH-UBND\r\nBcc: attacker@example.com\u202e",
        date=date(2024, 2, 22),
        issuer="UBND tỉnh <b>Đắk Lắk</b>\r\nX-Issuer: 1",
        year=2024,
    )
    for n, text in enumerate(HOSTILE):
        start = date(2024, 4, 1) + timedelta(days=7 * n)
        p.activities.append(
            Activity(
                f"II.{n + 1}",
                text,
                Timing(f"Tháng 4/2024 {text[:50]}", K.RANGE, start, start + timedelta(days=20)),
                section="II",
                section_title=HOSTILE[(n + 1) % len(HOSTILE)],
                lead_text=names[n],
                coordinating_text=names[-1],
                funding=text,
            )
        )
    p.reports.append(
        ReportDuty("half-year", "half-year", "Báo cáo\r\nBcc: x " + HOSTILE[4], to="",
                   to_text="Sở Ngoại vụ", owners_text=names[0])
    )  # fmt: skip
    resolve_plan(p, directory, on=date(2024, 3, 1))
    return p


@pytest.fixture(scope="module")
def world() -> tuple[Directory, Plan]:
    directory = Directory(hostile_units(), province="Đắk Lắk")
    return directory, hostile_plan(directory)


def no_bidi_or_zero_width(text: str) -> bool:
    return not any(c in BIDI or c in ZERO_WIDTH for c in text)


# --- (a) email: exactly the expected headers ---------------------------------------------------

EXPECTED_HEADERS = {"from", "to", "subject", "date", "message-id", "mime-version", "auto-submitted",
                    "content-type"}  # fmt: skip
DIGEST_HEADERS = EXPECTED_HEADERS | {"list-unsubscribe", "list-unsubscribe-post"}


class _Tags(HTMLParser):
    """Every start tag and attribute name of a page, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def tags_of(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def assert_no_injected_html(html: str, allowed_scripts: int = 0) -> str:
    """No tag, attribute or URL from plan text; returns the text a reader sees."""
    found = tags_of(html)
    names = [t for t, _ in found.tags]
    assert names.count("script") == allowed_scripts, "a <script> from plan text"
    assert "img" not in names
    for tag, attrs in found.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)  # no event handler from plan text
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, name, value)
    return "".join(found.text)


def test_plan_text_never_adds_or_breaks_a_mail_header(world) -> None:
    directory, plan = world
    found = plan_reminders([plan], directory, ReminderRules(), WorkCalendar(),
                           [DeadlineRule("half-year", 2024, date(2024, 6, 15), "before")],
                           start=datetime(2024, 1, 1, tzinfo=TZ), end=datetime(2025, 1, 1, tzinfo=TZ),
                           digest=DigestRules(),
                           links=Links(Signer(b"k" * 32), "https://lich.example.org"))  # fmt: skip
    kinds = {r.kind for r in found}
    assert {"activity-start", "activity-end", "digest"} <= kinds
    seen, shown = set(), []
    for r in found:
        if (r.kind, r.units) in seen:
            continue
        seen.add((r.kind, r.units))
        rendered = render(r.template, r.context)
        to = [Address(name, address) for name, address in zip(r.to_names, r.to)]
        raw = compose(rendered, sender=Address("Hệ thống nhắc việc", "nhacviec@example.org"), to=to,
                      key=r.key, date=r.due_at, headers=r.context.get("headers") or {})  # fmt: skip
        assert raw.isascii()
        for line in raw.split(b"\r\n"):
            assert (
                b"\r" not in line and b"\n" not in line and b"\x00" not in line
            )  # only CRLF ends lines
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert msg.defects == []
        names = {k.lower() for k in msg}
        assert names == (DIGEST_HEADERS if r.kind == "digest" else EXPECTED_HEADERS), names
        assert len(msg.keys()) == len(names)  # none twice
        assert [a.addr_spec for a in msg["to"].addresses] == list(r.to)
        for key in ("subject", "to", "from"):
            value = str(msg[key])
            assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", value), (key, value)
            assert no_bidi_or_zero_width(value), (key, value)
        assert "bcc" not in names and "x-injected" not in names and "x-issuer" not in names
        html_part = msg.get_body(("html",)).get_content()
        text_part = msg.get_body(("plain",)).get_content()
        shown.append(assert_no_injected_html(html_part))
        for body in (html_part, text_part):
            assert no_bidi_or_zero_width(body), r.kind
        for part in msg.iter_attachments():
            assert part.get_content_type() == "text/calendar"
            check_calendar(part.get_payload(decode=True), expected_events=len(r.context["events"]))
    assert any("<script>alert('x')</script>" in text for text in shown)  # shown as text, escaped


# --- (b) ICS: one VEVENT per activity, no injected property ------------------------------------

VEVENT_PROPERTIES = {"UID", "DTSTAMP", "CREATED", "LAST-MODIFIED", "SEQUENCE", "DTSTART", "DTEND",
                     "RRULE", "SUMMARY", "DESCRIPTION", "CATEGORIES", "URL", "STATUS", "CLASS",
                     "TRANSP", "X-MICROSOFT-CDO-ALLDAYEVENT", "X-MICROSOFT-CDO-BUSYSTATUS"}  # fmt: skip
CALENDAR_PROPERTIES = {"PRODID", "VERSION", "CALSCALE", "METHOD", "NAME", "X-WR-CALNAME",
                       "DESCRIPTION", "X-WR-CALDESC", "X-WR-TIMEZONE", "REFRESH-INTERVAL",
                       "X-PUBLISHED-TTL"}  # fmt: skip


def check_calendar(data: bytes, *, expected_events: int | None = None) -> Calendar:
    """Parse with icalendar; no stray line, component or property; text free of controls."""
    for line in data.split(b"\r\n")[:-1]:
        assert b"\r" not in line and b"\n" not in line, line[:80]
        assert re.match(rb"^(?: |[A-Z][A-Z0-9-]*[;:])", line), line[:80]  # a property or a fold
    cal = Calendar.from_ical(data)
    assert [c.name for c in cal.subcomponents if c.name != "VEVENT"] == []
    events = [c for c in cal.subcomponents if c.name == "VEVENT"]
    if expected_events is not None:
        assert len(events) == expected_events
    assert set(cal.keys()) <= CALENDAR_PROPERTIES | {"METHOD"}, (
        set(cal.keys()) - CALENDAR_PROPERTIES
    )
    for ev in events:
        assert set(ev.keys()) <= VEVENT_PROPERTIES | {"DTSTAMP", "SEQUENCE", "TRANSP"}, set(
            ev.keys()
        )
        assert [c.name for c in ev.subcomponents] in ([], ["VALARM"], ["VALARM", "VALARM"])
        assert ev.get("X-EVIL") is None and str(ev["UID"]) != "evil"
        for key in ("SUMMARY", "DESCRIPTION"):
            if key in ev:
                value = str(ev[key])
                assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", value), (
                    key,
                    value[:80],
                )
                assert no_bidi_or_zero_width(value), (key, value[:80])
    return cal


def test_plan_text_never_adds_an_ics_property_or_component(world) -> None:
    directory, plan = world
    catalog = Catalog(plans=(plan,), directory=directory,
                      settings=FeedSettings(public_url="https://lich.example.org"))  # fmt: skip
    snap, _ = build_snapshot(catalog, FeedState(), now=NOW)
    plan_feed = snap.entries["plans/34-kh-ubnd.ics"].body
    cal = check_calendar(plan_feed)
    uids = [str(e["UID"]) for e in cal.subcomponents if e.name == "VEVENT"]
    assert len(uids) == len(set(uids))
    for a in plan.activities:  # one VEVENT per activity, whatever its text
        assert (
            sum(u.startswith(f"34-kh-ubnd.{a.ref.lower().replace('.', '-')}@") for u in uids) == 1
        ), a.ref
    for path, entry in snap.entries.items():
        assert valid_path(path), path
        if path.endswith(".ics"):
            check_calendar(entry.body)


def valid_path(path: str) -> bool:
    """A feed path is folder/slug.ics or index.json: never '..', '/', NUL or a device name."""
    if path == "index.json":
        return True
    folder, _, name = path.partition("/")
    return (
        folder in ("plans", "units", "coordinators")
        and name.endswith(".ics")
        and valid_slug(name[:-4])
    )


# --- (c) the web page ------------------------------------------------------------------------


def test_plan_text_and_unit_names_are_escaped_on_the_web_page(world) -> None:
    directory, plan = world

    def loader(now: datetime) -> Catalog:
        return Catalog(plans=(plan,), directory=directory,
                       settings=FeedSettings(public_url="https://lich.example.org"))  # fmt: skip

    cache = FeedCache(loader, clock=FixedClock(NOW).now)
    with running(create_app(cache, poll_interval=None)) as base:
        page = httpx.get(base + "/", timeout=10).text
    shown = assert_no_injected_html(page, allowed_scripts=1)  # the page's own copy-button script
    assert "<script>alert('x')</script>" in shown
    assert no_bidi_or_zero_width(page)


# --- (d) never a path component --------------------------------------------------------------

WINDOWS_DEVICES = [
    "con",
    "prn",
    "aux",
    "nul",
    "com1",
    "com9",
    "lpt1",
    "lpt9",
    "CON",
    "Nul",
    "coM3",
    "conin$",
]
PATHS = ["../../etc/passwd", FOLDER, "..", ".", "a/../../b", "C:\\Windows\\system32", "\\\\server\\share",
         "x\x00.toml", "~root", "%2e%2e%2f", "..\u2215..\u2215etc", "．．／", *WINDOWS_DEVICES]  # fmt: skip


@pytest.mark.parametrize("text", PATHS + HOSTILE[:4])
def test_slugs_are_plain_names_in_their_folder(text: str, tmp_path: Path) -> None:
    slug = slugify(text)
    assert valid_slug(slug), slug
    assert slug not in {d.lower() for d in WINDOWS_DEVICES}
    plan = Plan(slug=slug, title=text, number=text)
    out = write_schedule(plan, tmp_path)
    assert out.parent == tmp_path and out.name == f"{slug}.toml"
    assert load_schedule(out).title == unicodedata.normalize("NFC", text)


@pytest.mark.parametrize(
    "slug", PATHS + ["ke-hoach/../x", "ke-hoach.toml", "Ke-Hoach", "ke--hoach", ""]
)
def test_a_plan_slug_that_is_not_a_plain_name_is_refused_not_written(
    slug: str, tmp_path: Path
) -> None:
    if valid_slug(slug):
        pytest.skip("a plain name")  # only the device names can get here, and they must not
    with pytest.raises(ScheduleError):
        write_schedule(Plan(slug=slug, title="x"), tmp_path / "schedules")
    assert not (tmp_path / "schedules").exists() or list((tmp_path / "schedules").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["schedules"])


@pytest.mark.parametrize("name", WINDOWS_DEVICES[:8])
def test_windows_device_names_are_never_slugs(name: str) -> None:
    # CON, NUL, COM1 … name devices on Windows whatever the extension: a schedule or feed
    # file called nul.toml or con.ics cannot be copied to a Windows share or opened there.
    assert slugify(name).lower() not in {d.lower() for d in WINDOWS_DEVICES}
    assert not valid_slug(name.lower())


@pytest.mark.parametrize(
    "name", ["../x.toml", ".hidden.toml", "Kế hoạch.toml", "a b.toml", "nul.toml"]
)
def test_schedule_files_with_unsafe_names_are_reported_not_loaded(
    name: str, tmp_path: Path
) -> None:
    folder = tmp_path / "schedules"
    folder.mkdir()
    target = (folder / name) if "/" not in name else (tmp_path / "x.toml")
    target.write_text('[plan]\ntitle = "x"\n', encoding="utf-8")
    from notifier.schedules import load_schedules

    plans, problems = load_schedules(folder)
    assert all(valid_slug(p.slug) for p in plans)
    if not name.startswith(".") and "/" not in name:
        assert problems and not plans


def test_unit_slugs_from_config_must_be_plain_names() -> None:
    from notifier.errors import ConfigError

    for slug in ["../x", "a/b", "x\x00", "UPPER", "nul"]:
        with pytest.raises(ConfigError):
            Directory([Unit("Sở Ngoại vụ", slug=slug)])
