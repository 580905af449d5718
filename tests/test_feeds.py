"""feeds.py: the ICS bytes calendar users depend on, and which events each feed holds."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from datetime import date, timedelta

import icalendar
import pytest
from hypothesis import example, given, settings, strategies as st

from feedkit import GROUP, HLAO, LH, NOW, SNV, SVH, VP, directory, plan
from notifier.events import DutyDeadline, plan_events
from notifier.feeds import FeedSettings, FeedState, build_feeds, fold_line, index_entries, safe_text
from notifier.plan import Activity
from notifier.timing import Timing, TimingKind as K

HALF = {"half-year": [DutyDeadline("half-year", "2024", date(2024, 6, 14), "6 tháng đầu năm 2024")]}


def build(p=None, *, previous=None, now=NOW, feed_settings=FeedSettings(), on=None):
    pe = plan_events(p or plan(), deadlines=HALF, base_url="https://lich.example.org", uid_domain="dak-lak.notifier")
    return build_feeds([pe], directory(), settings=feed_settings, previous=previous, now=now, on=on)


def feed(feeds, path):
    return next(f for f in feeds if f.path == path)


def vevents(body: bytes):
    cal = icalendar.Calendar.from_ical(body)
    return [c for c in cal.walk("VEVENT")]


def refs(body: bytes) -> set[str]:
    return {str(e["UID"]).split("@")[0].removeprefix("34-kh-ubnd.") for e in vevents(body)}


# --- same data, same bytes ----------------------------------------------------------------


def test_same_data_gives_same_bytes_at_any_later_time():
    first, state = build()
    again, state2 = build(previous=state, now=NOW + timedelta(days=90))
    assert [f.body for f in first] == [f.body for f in again]
    assert state2.as_json() == state.as_json()


def test_no_random_uid_or_current_time_leaks_in():
    a, _ = build()
    b, _ = build()  # fresh state both times: only `now` may appear
    assert [f.body for f in a] == [f.body for f in b]
    body = feed(a, "plans/34-kh-ubnd.ics").body.decode()
    stamps = set(re.findall(r"^(?:DTSTAMP|LAST-MODIFIED|CREATED):(\S+)\r$", body, re.M))
    assert stamps == {"20240301T010000Z"}  # 08:00 ICT = the `now` of the first build
    assert "UID:" not in body.split("BEGIN:VEVENT")[0]  # icalendar's Calendar.new() adds one


def test_state_round_trips_through_json():
    _, state = build()
    assert FeedState.from_json(state.as_json()).as_json() == state.as_json()


# --- what every client needs ----------------------------------------------------------------


def test_all_day_events_have_exclusive_dtend_after_dtstart():
    feeds, _ = build()
    for f in feeds:
        for ev in vevents(f.body):
            start, end = ev["DTSTART"].dt, ev["DTEND"].dt
            assert type(start) is date and type(end) is date
            assert end > start
            assert ev["DTSTART"].params.get("VALUE") == "DATE"
    q2 = next(e for e in vevents(feed(feeds, "plans/34-kh-ubnd.ics").body) if "ii-7" in str(e["UID"]))
    assert (q2["DTSTART"].dt, q2["DTEND"].dt) == (date(2024, 4, 1), date(2024, 7, 1))


def test_calendar_header_names_method_refresh_and_timezone():
    feeds, _ = build(feed_settings=FeedSettings(refresh_interval=timedelta(hours=2), published_ttl=timedelta(hours=3)))
    head = feed(feeds, "plans/34-kh-ubnd.ics").body.split(b"BEGIN:VEVENT")[0].decode()
    lines = head.replace("\r\n ", "").split("\r\n")
    assert "METHOD:PUBLISH" in lines
    assert "VERSION:2.0" in lines
    assert "NAME:34/KH-UBND – Kế hoạch Ngoại giao văn hóa năm 2024 của tỉnh Đắk Lắk" in lines
    assert "X-WR-CALNAME:34/KH-UBND – Kế hoạch Ngoại giao văn hóa năm 2024 của tỉnh Đắk Lắk" in lines
    assert "X-WR-TIMEZONE:Asia/Ho_Chi_Minh" in lines
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT2H" in lines
    assert "X-PUBLISHED-TTL:PT3H" in lines


def test_crlf_everywhere_including_the_last_line():
    for f in build()[0]:
        assert f.body.endswith(b"END:VCALENDAR\r\n")
        assert b"\n" not in f.body.replace(b"\r\n", b"")
        assert b"\r" not in f.body.replace(b"\r\n", b"")


def test_text_is_nfc_and_folded_within_75_octets():
    p = plan()
    act = p.activity("II.7")
    assert act is not None
    act.content = unicodedata.normalize("NFD", "Tổ chức Tết cổ truyền Bun Pi May Lào năm 2024 tại huyện Buôn Đôn " * 3)
    body = feed(build(p)[0], "plans/34-kh-ubnd.ics").body
    text = body.decode("utf-8")
    assert unicodedata.normalize("NFC", text) == text
    for line in body.split(b"\r\n"):
        assert len(line) <= 75
        assert not unicodedata.combining(line.decode()[1:2] or "a")
    assert "Tổ chức Tết cổ truyền Bun Pi May" in text.replace("\r\n ", "")


def test_plan_text_cannot_inject_properties_or_components():
    p = plan()
    act = p.activity("II.7")
    assert act is not None
    act.content = "Xấu\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil\nX-EVIL:1\rSUMMARY:x\x00\x1b[31m\u2028DTSTART:19700101\x85ok"
    act.funding = "a;b,c\\n"
    body = feed(build(p)[0], "plans/34-kh-ubnd.ics").body
    cal = icalendar.Calendar.from_ical(body)
    evs = list(cal.walk("VEVENT"))
    assert len(evs) == len(vevents(feed(build()[0], "plans/34-kh-ubnd.ics").body))
    assert all("X-EVIL" not in ev and str(ev["UID"]) != "evil" for ev in evs)
    bad = next(ev for ev in evs if "ii-7" in str(ev["UID"]))
    desc = str(bad["DESCRIPTION"])
    assert "END:VEVENT" in desc and "\x00" not in desc and "\x1b" not in desc
    assert "Kinh phí: a;b,c\\n" in desc  # escapes survive a round trip
    for raw in body.split(b"\r\n"):
        assert not re.match(rb"(X-EVIL|UID:evil|DTSTART:1970)", raw)


def test_removed_activity_disappears_and_last_modified_moves_forward():
    feeds, state = build()
    p = plan()
    p.activities = [a for a in p.activities if a.ref != "II.7"]
    later = NOW + timedelta(days=5)
    after, state2 = build(p, previous=state, now=later)
    plan_feed = feed(after, "plans/34-kh-ubnd.ics")
    assert "ii-7" not in refs(plan_feed.body)
    assert plan_feed.modified == later > feed(feeds, "plans/34-kh-ubnd.ics").modified
    # Sở Văn hóa's feed lost its only change too: its Last-Modified moves, never back.
    svh = feed(after, "units/so-van-hoa-the-thao-va-du-lich.ics")
    assert svh.modified == later
    earlier, _ = build(plan(), previous=state2, now=NOW - timedelta(days=10))
    assert feed(earlier, "plans/34-kh-ubnd.ics").modified == later


def test_edited_event_keeps_uid_and_its_sequence_grows():
    _, state = build()
    p = plan()
    act = p.activity("II.7")
    assert act is not None
    act.timing = Timing("Quý III/2024", K.RANGE, date(2024, 7, 1), date(2024, 9, 30))
    after, _ = build(p, previous=state, now=NOW + timedelta(days=1))
    ev = next(e for e in vevents(feed(after, "plans/34-kh-ubnd.ics").body) if "ii-7" in str(e["UID"]))
    assert int(ev["SEQUENCE"]) == 1 and ev["DTSTART"].dt == date(2024, 7, 1)
    assert ev["LAST-MODIFIED"].dt > ev["CREATED"].dt
    others = [e for e in vevents(feed(after, "plans/34-kh-ubnd.ics").body) if "ii-7" not in str(e["UID"])]
    assert {int(e["SEQUENCE"]) for e in others} == {0}


def test_alarms_are_off_by_default_and_optional():
    assert b"VALARM" not in b"".join(f.body for f in build()[0])
    feeds, _ = build(feed_settings=FeedSettings(alarms=(timedelta(hours=-15),)))
    ev = vevents(feed(feeds, "plans/34-kh-ubnd.ics").body)[0]
    (alarm,) = ev.walk("VALARM")
    assert alarm["TRIGGER"].dt == timedelta(hours=-15) and str(alarm["ACTION"]) == "DISPLAY"


def test_undated_activities_are_a_note_in_the_calendar_description():
    cal = icalendar.Calendar.from_ical(feed(build()[0], "plans/34-kh-ubnd.ics").body)
    desc = str(cal["DESCRIPTION"])
    assert "Chưa xếp lịch" in desc and "I.3" in desc and "IV.9" in desc
    assert "i-3" not in refs(feed(build()[0], "plans/34-kh-ubnd.ics").body)


# --- which events go where -------------------------------------------------------------------


def test_unit_feed_holds_exactly_what_the_unit_leads_or_coordinates():
    feeds, _ = build()
    p = plan()
    events = plan_events(p, deadlines=HALF).events
    for unit in directory():
        expected = set()
        for e in events:
            if unit.name in e.lead or unit.name in e.coordinating:
                expected.add(e.uid.split("@")[0].removeprefix("34-kh-ubnd."))
        got = refs(feed(feeds, f"units/{unit.slug}.ics").body)
        if unit.name == HLAO:  # also a member of "Các Hội thành viên", which coordinates III.1
            expected.add("iii-1")
        assert got == expected, unit.name


def test_coordinating_is_marked_in_summary_and_categories_lead_is_not():
    svh = vevents(feed(build()[0], "units/so-van-hoa-the-thao-va-du-lich.ics").body)
    roles = {str(e["UID"]).split("@")[0].removeprefix("34-kh-ubnd."): e for e in svh}
    lead, coord, report = roles["ii-7"], roles["iv-3"], roles["bao-cao.half-year.2024"]
    assert not str(lead["SUMMARY"]).startswith("[Phối hợp]") and "Chủ trì" in lead["CATEGORIES"].cats
    assert str(coord["SUMMARY"]).startswith("[Phối hợp] ") and "Phối hợp" in coord["CATEGORIES"].cats
    assert "Phải báo cáo" in report["CATEGORIES"].cats


def test_successor_feed_gets_its_predecessor_activities_after_the_change():
    before, _ = build(on=date(2025, 6, 30))
    after, _ = build(on=date(2025, 7, 1))
    snv = refs(feed(after, "units/so-ngoai-vu.ics").body)
    assert refs(feed(before, "units/van-phong-ubnd-tinh.ics").body) == set()
    assert refs(feed(after, "units/van-phong-ubnd-tinh.ics").body) == snv
    assert refs(feed(before, "units/so-ngoai-vu.ics").body) == snv  # the old URL keeps working


def test_coordinator_feed_follows_plans_whose_reports_go_to_it():
    feeds, _ = build(on=date(2024, 3, 1))
    plan_refs = refs(feed(feeds, "plans/34-kh-ubnd.ics").body)
    assert refs(feed(feeds, "coordinators/so-ngoai-vu.ics").body) == plan_refs
    assert refs(feed(feeds, "coordinators/van-phong-ubnd-tinh.ics").body) == set()
    receiving = vevents(feed(feeds, "coordinators/so-ngoai-vu.ics").body)
    report = next(e for e in receiving if "bao-cao" in str(e["UID"]))
    assert "Nhận báo cáo" in report["CATEGORIES"].cats


def test_a_plan_without_report_receiver_is_followed_by_every_coordinator():
    p = plan()
    p.reports = []
    feeds, _ = build(p, on=date(2024, 3, 1))
    assert refs(feed(feeds, "coordinators/van-phong-ubnd-tinh.ics").body) == refs(
        feed(feeds, "plans/34-kh-ubnd.ics").body
    )


def test_index_lists_every_feed_with_relative_paths_and_counts():
    feeds, _ = build()
    entries = index_entries(feeds)
    assert {e["kind"] for e in entries} == {"plan", "unit", "coordinator"}
    plan_entry = next(e for e in entries if e["kind"] == "plan")
    assert plan_entry == {"kind": "plan", "name": feed(feeds, "plans/34-kh-ubnd.ics").name,
                          "slug": "34-kh-ubnd", "path": "plans/34-kh-ubnd.ics",
                          "events": len(vevents(feed(feeds, "plans/34-kh-ubnd.ics").body))}  # fmt: skip
    assert all(str(e["path"]).isascii() and ".." not in str(e["path"]) for e in entries)
    assert {e["slug"] for e in entries if e["kind"] == "unit"} == {u.slug for u in directory()}


def test_group_member_and_group_names_resolve_through_the_directory():
    feeds, _ = build()
    assert "iii-1" in refs(feed(feeds, f"units/{next(u.slug for u in directory() if u.name == LH)}.ics").body)
    group_slug = next(u.slug for u in directory() if u.name == GROUP)
    assert {"i-1", "ii-7", "iii-11"} <= refs(feed(feeds, f"units/{group_slug}.ics").body)
    assert SVH and SNV and VP  # names used above come from feedkit


# --- folding and text safety properties -----------------------------------------------------

LINE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=400
)


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(["SUMMARY:", "DESCRIPTION;LANGUAGE=vi:", "X:"]), text=LINE_TEXT)
def test_folding_round_trips_and_never_splits_a_character_mark_or_escape(prefix, text):
    line = prefix + text
    folded = fold_line(line)
    assert folded.replace("\r\n ", "") == line
    pieces = folded.split("\r\n ")
    for i, piece in enumerate(pieces):
        raw = piece.encode()
        clustered = len(piece) > 1 and all(unicodedata.combining(c) for c in piece[1:])
        assert len(raw) + (1 if i else 0) <= 75 or clustered
        if i:
            assert not unicodedata.combining(piece[0])
        if i < len(pieces) - 1:
            run = len(piece) - len(piece.rstrip("\\"))
            assert run % 2 == 0  # an escape never ends a line


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_safe_text_is_nfc_and_free_of_controls(text):
    out = safe_text(text)
    assert unicodedata.normalize("NFC", out) == out
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", out)
    assert "\n" not in safe_text(text, single_line=True)


@settings(max_examples=60, deadline=None)
@given(content=st.text(min_size=1, max_size=300), funding=st.text(max_size=80))
def test_any_plan_text_gives_a_parsable_feed_with_the_same_events(content, funding):
    p = plan()
    p.activities = [Activity("A.1", content, Timing("Tháng 4/2024", K.RANGE, date(2024, 4, 1), date(2024, 4, 30)),
                             lead_text=SVH, funding=funding)]  # fmt: skip
    body = feed(build(p)[0], "plans/34-kh-ubnd.ics").body
    evs = vevents(body)
    assert len(evs) == 2  # the activity and the report deadline
    assert all(len(line) <= 75 or b"\r\n" not in line for line in body.split(b"\r\n"))
    act = next(e for e in evs if "a-1" in str(e["UID"]))
    events = plan_events(p, base_url="https://lich.example.org", uid_domain="dak-lak.notifier").events
    (meant,) = [e for e in events if e.ref == "A.1"]
    assert str(act["DESCRIPTION"]) == safe_text(meant.description)  # what was written is what is read
    assert str(act["SUMMARY"]) == safe_text(meant.summary, single_line=True)


def test_end_before_start_is_refused_not_written():
    from notifier.events import Stamped, version_events
    from notifier.feeds import Role, render_calendar

    (e,) = plan_events(plan()).events[:1]
    bad = replace(e, start=e.end + timedelta(days=1))
    (stamped,), _ = version_events([bad], {}, now=NOW)
    with pytest.raises(ValueError):
        render_calendar("x", "", [(stamped, Role.PLAN)], FeedSettings())
    assert isinstance(stamped, Stamped)


# --- the direct writer is byte for byte what icalendar's Component writes -------------------


def _reference(item, role, feed_settings):
    from notifier.feeds import _serialize, vevent_component

    return "\r\n".join(_serialize(vevent_component(item, role, feed_settings))) + "\r\n"


@settings(max_examples=150, deadline=None)
@example(content="a\\Nb, c; d\\ e\r\nf\x00g\u2028h Tie\u0302\u0301ng Vie\u0323t " * 4, funding="x,y;z",
         section="Mục; I", role=__import__("notifier.feeds", fromlist=["Role"]).Role.COORDINATING,
         alarms=[timedelta(hours=-15)], recurring=True)  # fmt: skip
@given(
    content=st.text(max_size=250),
    funding=st.text(max_size=60),
    section=st.text(max_size=30),
    role=st.sampled_from(list(__import__("notifier.feeds", fromlist=["Role"]).Role)),
    alarms=st.lists(st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(0)), max_size=2),
    recurring=st.booleans(),
)
def test_writer_matches_icalendar_component_byte_for_byte(content, funding, section, role, alarms, recurring):
    from notifier.events import version_events
    from notifier.feeds import _Writer

    timing = (Timing("hằng tháng", K.RECURRING, date(2024, 1, 1), date(2024, 12, 31), rule="FREQ=MONTHLY;BYMONTHDAY=25")
              if recurring else Timing("Quý II/2024", K.RANGE, date(2024, 4, 1), date(2024, 6, 30)))  # fmt: skip
    p = plan()
    p.activities = [Activity("II.7", content, timing, section="II", section_title=section,
                             lead_text=SVH, coordinating_text=SNV, funding=funding)]  # fmt: skip
    events = plan_events(p, deadlines=HALF, base_url="https://lich.example.org/a b", uid_domain="dak-lak.notifier").events
    stamped, _ = version_events(events, {}, now=NOW)
    fs = FeedSettings(alarms=tuple(alarms))
    writer = _Writer(fs)
    for item in stamped:
        assert writer.vevent(item, role) == _reference(item, role, fs)


# --- the 2024 seed plan, imported for real ----------------------------------------------------

SEED = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_6a99d0bb3ce2a896.txt"
YEAR = (date(2024, 1, 1), date(2025, 1, 1))
# Spans other than the whole of 2024, read off the seed's timing column (DTEND exclusive).
SEED_SPANS = {
    "II.6": (date(2024, 4, 1), date(2024, 7, 1)), "II.7": (date(2024, 4, 1), date(2024, 7, 1)),
    "II.8": (date(2024, 7, 1), date(2024, 10, 1)), "II.9": (date(2024, 7, 1), date(2024, 10, 1)),
    "II.10": (date(2024, 10, 1), date(2024, 11, 1)), "III.9": (date(2024, 4, 1), date(2024, 5, 1)),
    "III.10": (date(2024, 6, 1), date(2024, 7, 1)), "III.11": (date(2024, 12, 1), date(2025, 1, 1)),
}  # fmt: skip
SEED_REFS = [f"I.{i}" for i in range(1, 4)] + [f"II.{i}" for i in range(1, 11)] + \
            [f"III.{i}" for i in range(1, 12)] + [f"IV.{i}" for i in range(1, 8)]  # fmt: skip


def seed_feeds(text: str | None = None, previous=None, now=NOW):
    importers = pytest.importorskip("notifier.importers")
    if not hasattr(importers, "parse_text") or not SEED.exists():
        pytest.skip("importer or seed not available")
    from pathlib import Path

    from notifier.config import load_config
    from notifier.units import resolve_plan

    config = load_config(Path(__file__).resolve().parents[1] / "config.toml")
    directory_ = config.directory()
    p = importers.parse_text(text or SEED.read_text(encoding="utf-8"), source=str(SEED))
    resolve_plan(p, directory_, on=date(2024, 3, 1))
    pe = plan_events(p, base_url="https://lich.example.org", uid_domain="dak-lak.notifier")
    feeds, state = build_feeds([pe], directory_, settings=FeedSettings(), previous=previous, now=now,
                               on=date(2024, 3, 1))  # fmt: skip
    seed_feeds.directory = directory_  # type: ignore[attr-defined]
    return p, feeds, state


def _by_ref(body: bytes) -> dict[str, tuple[date, date, str]]:
    out = {}
    for ev in vevents(body):
        desc = str(ev["DESCRIPTION"])
        ref = re.search(r"^Mục ([IVX]+\.\d+)", desc, re.M)
        assert ref, desc
        out[ref.group(1)] = (ev["DTSTART"].dt, ev["DTEND"].dt, str(ev["SUMMARY"]))
    return out


def test_seed_plan_feed_holds_its_31_activities_on_their_all_day_dates():
    p, feeds, _ = seed_feeds()
    plan_feed = feed(feeds, f"plans/{p.slug}.ics")
    got = _by_ref(plan_feed.body)
    assert sorted(got) == sorted(SEED_REFS) and len(got) == 31
    for ref in SEED_REFS:
        assert got[ref][:2] == SEED_SPANS.get(ref, YEAR), ref


def test_seed_unit_feeds_hold_exactly_what_each_unit_leads_or_coordinates():
    p, feeds, _ = seed_feeds()
    svh = _by_ref(feed(feeds, "units/so-van-hoa-the-thao-va-du-lich.ics").body)
    lead = {"II.2", "II.4", "II.7", "II.8", "II.10", "III.10", "IV.3"}
    assert set(svh) == lead | {"IV.6"}
    assert svh["IV.6"][2].startswith("[Phối hợp] ")
    assert not any(svh[r][2].startswith("[Phối hợp]") for r in lead)
    lao = _by_ref(feed(feeds, "units/hoi-huu-nghi-viet-nam-lao-tinh.ics").body)
    assert set(lao) == {"II.5", "III.9", "III.11"} | {"II.1"}  # II.1 through "các Hội thành viên"
    for unit in seed_feeds.directory:  # type: ignore[attr-defined]
        named = {a.ref for a in p.activities if unit.name in a.lead or unit.name in a.coordinating}
        got = set(_by_ref(feed(feeds, f"units/{unit.slug}.ics").body))
        assert named <= got, unit.name  # named directly → always there
        extra = got - named  # anything else comes through a group member list or a successor
        for ref in extra:
            act = p.activity(ref)
            assert act is not None and any(n != unit.name for n in act.lead + act.coordinating)


def test_reimporting_the_seed_changes_no_uid_and_no_byte():
    import unicodedata as ud

    p, first, state = seed_feeds()
    _, again, _ = seed_feeds(previous=state, now=NOW + timedelta(days=7))
    nfd = ud.normalize("NFD", SEED.read_text(encoding="utf-8"))
    _, decomposed, _ = seed_feeds(nfd, previous=state, now=NOW + timedelta(days=8))
    for other in (again, decomposed):
        assert [f.path for f in other] == [f.path for f in first]
        for a, b in zip(first, other, strict=True):
            assert {str(e["UID"]) for e in vevents(a.body)} == {str(e["UID"]) for e in vevents(b.body)}
        assert feed(other, f"plans/{p.slug}.ics").body == feed(first, f"plans/{p.slug}.ics").body
