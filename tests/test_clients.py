"""Proof with real clients: vdirsyncer subscribes over HTTP, khal lists the days, and
independent parsers (ical, vobject) read every feed the same way icalendar does.

vdirsyncer's read-only `http` storage fetches a feed from the running server (uvicorn on
127.0.0.1, port 0) and syncs it into a `filesystem` storage; khal reads that folder and
lists what falls on given days, once with Asia/Ho_Chi_Minh and once with UTC as its
local zone: all-day dates must not move. vdirsyncer's http storage replaces every UID
with a hash of the item (it distrusts feeds' UIDs), so events are matched by summary.
Marked slow: each test runs subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import icalendar
import pytest

from feedkit import NOW, running
from notifier.clock import FixedClock
from notifier.publish import FeedCache
from notifier.web import create_app
from test_publish import Source

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
VDIRSYNCER = shutil.which("vdirsyncer", path=str(BIN)) or shutil.which("vdirsyncer")
KHAL = shutil.which("khal", path=str(BIN)) or shutil.which("khal")
needs_clients = pytest.mark.skipif(
    not (VDIRSYNCER and KHAL), reason="vdirsyncer/khal not installed: pip install -e '.[test]'"
)


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def subscribe(tmp: Path, url: str) -> tuple[Path, dict[str, str]]:
    """Sync `url` into a vdir with vdirsyncer; return the folder and the environment used."""
    cal = tmp / "vdir"
    cal.mkdir(parents=True)
    env = {**os.environ, "HOME": str(tmp), "XDG_CONFIG_HOME": str(tmp / "config"),
           "XDG_DATA_HOME": str(tmp / "data"), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}  # fmt: skip
    config = tmp / "vdirsyncer.conf"
    config.write_text(
        f"""[general]
status_path = "{tmp / 'status'}/"

[pair feed]
a = "remote"
b = "local"
collections = null
conflict_resolution = "a wins"

[storage remote]
type = "http"
url = "{url}"

[storage local]
type = "filesystem"
path = "{cal}/"
fileext = ".ics"
""",
        encoding="utf-8",
    )
    _run([VDIRSYNCER, "-c", str(config), "discover"], env)  # type: ignore[list-item]
    _run([VDIRSYNCER, "-c", str(config), "sync"], env)  # type: ignore[list-item]
    return cal, env


def khal_days(tmp: Path, cal: Path, env: dict[str, str], zone: str, start: date, days: int) -> dict[str, set[str]]:
    """khal list, day by day: {ISO day: set of summaries on that day}."""
    config = tmp / f"khal-{zone.replace('/', '-')}.conf"
    config.write_text(
        f"""[calendars]
[[feed]]
path = {cal}/
type = calendar
readonly = True

[sqlite]
path = {tmp / ('khal-' + zone.replace('/', '-') + '.db')}

[locale]
local_timezone = {zone}
default_timezone = {zone}
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = %Y-%m-%d %H:%M
firstweekday = 0
""",
        encoding="utf-8",
    )
    end = start + timedelta(days=days - 1)
    out = _run(
        [KHAL, "-c", str(config), "list", "--day-format", "DAY {date}", "--format", "{title}",  # type: ignore[list-item]
         start.isoformat(), end.isoformat()],
        env,
    )  # fmt: skip
    result: dict[str, set[str]] = {}
    day = ""
    for line in out.splitlines():
        if line.startswith("DAY "):
            day = line[4:].strip()
            result.setdefault(day, set())
        elif line.strip():
            result[day].add(line.strip())
    return result


def expected_days(body: bytes, start: date, days: int) -> dict[str, set[str]]:
    """The same question answered from icalendar's parse of the bytes (RRULEs expanded)."""
    from dateutil.rrule import rrulestr

    cal = icalendar.Calendar.from_ical(body)
    out: dict[str, set[str]] = {}
    for ev in cal.walk("VEVENT"):
        first, end = ev["DTSTART"].dt, ev["DTEND"].dt
        length = end - first
        starts = [first]
        if "RRULE" in ev:
            rule = ev["RRULE"].to_ical().decode()
            from datetime import datetime as dt

            starts = [d.date() for d in rrulestr(rule, dtstart=dt(first.year, first.month, first.day))]
        for s in starts:
            d = s
            while d < s + length:
                if start <= d < start + timedelta(days=days):
                    out.setdefault(d.isoformat(), set()).add(str(ev["SUMMARY"]))
                d += timedelta(days=1)
    return out


@pytest.fixture
def served(tmp_path):
    cache = FeedCache(Source(tmp_path / "src"), clock=FixedClock(NOW).now)
    app = create_app(cache, public_url="", poll_interval=None)
    with running(app) as base:
        yield base, cache


@needs_clients
def test_vdirsyncer_subscribes_and_khal_lists_the_right_days_in_both_zones(served, tmp_path):
    base, cache = served
    cal, env = subscribe(tmp_path / "client", f"{base}/feeds/plans/34-kh-ubnd.ics")
    body = cache.lookup("plans/34-kh-ubnd.ics").body
    synced = list(cal.glob("*.ics"))
    assert len(synced) == len(icalendar.Calendar.from_ical(body).walk("VEVENT"))
    # Around the edges of Quý II (II.7), the deadline (IV.2), the key date and a recurrence.
    for start, days in ((date(2024, 3, 30), 4), (date(2024, 6, 13), 20), (date(2024, 11, 30), 4)):
        want = expected_days(body, start, days)
        hcm = khal_days(tmp_path / "client", cal, env, "Asia/Ho_Chi_Minh", start, days)
        utc = khal_days(tmp_path / "client", cal, env, "UTC", start, days)
        assert hcm == utc
        assert {d: u for d, u in hcm.items() if u} == want
    q2 = "Chương trình nghệ thuật giao lưu văn hóa tại tỉnh Mondulkiri…"
    around = khal_days(tmp_path / "client", cal, env, "Asia/Ho_Chi_Minh", date(2024, 3, 31), 2)
    assert q2 not in around.get("2024-03-31", set()) and q2 in around["2024-04-01"]
    around = khal_days(tmp_path / "client", cal, env, "UTC", date(2024, 6, 30), 2)
    assert q2 in around["2024-06-30"] and q2 not in around.get("2024-07-01", set())


@needs_clients
def test_vdirsyncer_copies_a_unit_feed_whole(served, tmp_path):
    base, cache = served
    url = f"{base}/feeds/units/so-van-hoa-the-thao-va-du-lich.ics"
    cal, _ = subscribe(tmp_path / "client", url)
    names = sorted(p.name for p in cal.glob("*.ics"))
    assert names and all(n.isascii() for n in names)
    synced = [icalendar.Calendar.from_ical(p.read_bytes()).walk("VEVENT")[0] for p in cal.glob("*.ics")]
    index = json.loads(cache.lookup("index.json").body)
    entry = next(e for e in index if e["path"] == "units/so-van-hoa-the-thao-va-du-lich.ics")
    assert len(synced) == entry["events"]
    body = cache.lookup("units/so-van-hoa-the-thao-va-du-lich.ics").body
    served = {(str(e["SUMMARY"]), e["DTSTART"].dt) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}
    assert {(str(e["SUMMARY"]), e["DTSTART"].dt) for e in synced} == served
    assert any(str(e["SUMMARY"]).startswith("[Phối hợp] ") for e in synced)


def _all_feeds(cache: FeedCache) -> list[tuple[str, bytes]]:
    snap = cache.snapshot
    return [(p, e.body) for p, e in snap.entries.items() if p.endswith(".ics")]


def _icalendar_view(body: bytes) -> set[tuple[str, str, str, str]]:
    cal = icalendar.Calendar.from_ical(body)
    return {(str(e["UID"]), e["DTSTART"].dt.isoformat(), e["DTEND"].dt.isoformat(), str(e["SUMMARY"]))
            for e in cal.walk("VEVENT")}  # fmt: skip


def test_every_feed_parses_the_same_with_vobject(served):
    vobject = pytest.importorskip("vobject")
    _, cache = served
    for path, body in _all_feeds(cache):
        cal = vobject.readOne(body.decode("utf-8"))
        events = getattr(cal, "vevent_list", [])
        seen = set()
        for ev in events:
            start, end = ev.dtstart.value, ev.dtend.value
            assert type(start) is date and type(end) is date and end > start, path
            seen.add((ev.uid.value, start.isoformat(), end.isoformat(), ev.summary.value))
        assert seen == _icalendar_view(body), path
        assert cal.contents["x-wr-calname"][0].value


def test_every_feed_parses_the_same_with_ical(served):
    pytest.importorskip("ical")
    from ical.calendar_stream import IcsCalendarStream

    _, cache = served
    for path, body in _all_feeds(cache):
        calendar = IcsCalendarStream.calendar_from_ics(body.decode("utf-8"))
        seen = set()
        for ev in calendar.events:
            assert type(ev.dtstart) is date and type(ev.dtend) is date and ev.dtend > ev.dtstart, path
            seen.add((ev.uid, ev.dtstart.isoformat(), ev.dtend.isoformat(), ev.summary))
        assert seen == _icalendar_view(body), path


def expected_instances(body: bytes) -> set[tuple[str, str, str]]:
    """(summary, first day, day after) of every instance, from icalendar + dateutil."""
    from datetime import datetime as dt

    from dateutil.rrule import rrulestr

    out = set()
    for ev in icalendar.Calendar.from_ical(body).walk("VEVENT"):
        first, end = ev["DTSTART"].dt, ev["DTEND"].dt
        starts = [first]
        if "RRULE" in ev:
            rule = ev["RRULE"].to_ical().decode()
            starts = [d.date() for d in rrulestr(rule, dtstart=dt(first.year, first.month, first.day))]
        out |= {(str(ev["SUMMARY"]), s.isoformat(), (s + (end - first)).isoformat()) for s in starts}
    return out


def test_ical_timeline_agrees_in_ho_chi_minh_and_utc(served):
    """`ical` expands every feed's events in either zone to the same all-day dates.

    (Its `on_date()` shifts floating all-day events by the zone's offset, even for a
    minimal hand-written VEVENT, so the check uses the instances themselves.)
    """
    pytest.importorskip("ical")
    from zoneinfo import ZoneInfo

    from ical.calendar_stream import IcsCalendarStream

    _, cache = served
    for path, body in _all_feeds(cache):
        calendar = IcsCalendarStream.calendar_from_ics(body.decode("utf-8"))
        want = expected_instances(body)
        for zone in ("Asia/Ho_Chi_Minh", "UTC"):
            got = set()
            for e in calendar.timeline_tz(ZoneInfo(zone)):
                assert type(e.start) is date and type(e.end) is date, (path, zone)
                got.add((e.summary, e.start.isoformat(), e.end.isoformat()))
            assert got == want, (path, zone)
    plan_view = expected_instances(cache.lookup("plans/34-kh-ubnd.ics").body)
    assert ("Chương trình nghệ thuật giao lưu văn hóa tại tỉnh Mondulkiri…", "2024-04-01", "2024-07-01") in plan_view
    assert sum(1 for s, *_ in plan_view if s == "Họp giao ban đối ngoại") == 12
