"""events.py: which activities become which all-day events, stable UIDs, versions."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from feedkit import HLAO, NOW, SNV, SVH, plan
from notifier.events import (
    DutyDeadline,
    EventKind,
    EventVersion,
    plan_events,
    short_summary,
    version_events,
)
from notifier.plan import Activity
from notifier.timing import Timing, TimingKind as K

HALF = {"half-year": [DutyDeadline("half-year", "2024", date(2024, 6, 14), "6 tháng đầu năm 2024",
                                   "trước ngày 15/6/2024")]}  # fmt: skip


def by_uid(pe):
    return {e.uid.split("@")[0]: e for e in pe.events}


def test_each_timing_kind_gets_its_span():
    ev = by_uid(plan_events(plan(), deadlines=HALF, uid_domain="dak-lak.notifier"))
    cont = ev["34-kh-ubnd.i-1"]
    assert (cont.start, cont.end, cont.kind) == (date(2024, 1, 1), date(2024, 12, 31), EventKind.ACTIVITY)
    q2 = ev["34-kh-ubnd.ii-7"]
    assert (q2.start, q2.end) == (date(2024, 4, 1), date(2024, 6, 30))
    deadline = ev["34-kh-ubnd.iv-2"]
    assert (deadline.start, deadline.end, deadline.kind) == (date(2024, 6, 14),) * 2 + (EventKind.DEADLINE,)
    assert deadline.summary.startswith("Hạn: ")


def test_recurring_starts_on_first_occurrence_and_ends_with_until():
    ev = by_uid(plan_events(plan()))["34-kh-ubnd.iv-3"]
    assert ev.start == ev.end == date(2024, 1, 25)
    assert ev.rule is not None and "FREQ=MONTHLY" in ev.rule and "UNTIL=20241231" in ev.rule


def test_recurring_rule_without_occurrence_is_undated_not_invented():
    p = plan()
    p.activities = [Activity("X.1", "Họp", Timing("ngày 31 hằng tháng 2", K.RECURRING, date(2024, 2, 1),
                                                  date(2024, 2, 29), rule="FREQ=MONTHLY;BYMONTHDAY=31"))]
    pe = plan_events(p)
    assert pe.events == () and [u.ref for u in pe.undated] == ["X.1"]


def test_conditional_and_undatable_are_listed_with_reasons_not_dated():
    pe = plan_events(plan())
    undated = {u.ref: u for u in pe.undated}
    assert set(undated) == {"I.3", "IV.9"}
    assert "phê duyệt" in undated["I.3"].reason
    assert undated["IV.9"].lead == (SVH,)
    assert not any(e.ref in undated for e in pe.events)


def test_conditional_with_a_window_is_placed_and_says_so():
    p = plan()
    p.activities = [Activity("I.4", "Tham dự sự kiện (nếu có)", Timing("Quý II/2024 (nếu có)", K.CONDITIONAL,
                    date(2024, 4, 1), date(2024, 6, 30), reason="nếu có sự kiện"))]  # fmt: skip
    (ev,) = plan_events(p).events
    assert ev.conditional and "Có điều kiện" in ev.categories
    assert "Điều kiện: nếu có sự kiện" in ev.description


def test_start_after_end_is_reported_not_swapped():
    p = plan()
    p.activities = [Activity("X.2", "Lỗi", Timing("?", K.RANGE, date(2024, 5, 2), date(2024, 5, 1)))]
    pe = plan_events(p)
    assert pe.events == () and "sau ngày kết thúc" in pe.undated[0].reason


def test_accepted_key_date_adds_one_day_event_suggested_one_does_not():
    ev = by_uid(plan_events(plan()))
    key = ev["34-kh-ubnd.iii-11.20241202"]
    assert (key.start, key.end, key.kind) == (date(2024, 12, 2), date(2024, 12, 2), EventKind.KEY_DATE)
    assert not any(k.startswith("34-kh-ubnd.iii-1.") for k in ev)
    assert "Ngày đáng chú ý (gợi ý): 11/01/2024" in ev["34-kh-ubnd.iii-1"].description


def test_report_duty_gives_deadline_events_owed_by_owners():
    ev = by_uid(plan_events(plan(), deadlines=HALF))
    rep = ev["34-kh-ubnd.bao-cao.half-year.2024"]
    assert (rep.kind, rep.start, rep.end) == (EventKind.REPORT, date(2024, 6, 14), date(2024, 6, 14))
    assert rep.lead == (SVH, HLAO) and rep.receiver == SNV
    assert "trước ngày 15/6/2024" in rep.description
    assert not any(e.kind is EventKind.REPORT for e in plan_events(plan()).events)  # no config, no date


def test_description_carries_content_units_funding_plan_ref_and_link():
    ev = by_uid(plan_events(plan(), base_url="https://lich.example.org/"))["34-kh-ubnd.ii-7"]
    for part in ("Mondulkiri, Vương quốc Campuchia", f"Chủ trì: {SVH}", f"Phối hợp: {SNV}",
                 "Kinh phí: Nguồn ngân sách", "Mục II.7", "Kế hoạch số 34/KH-UBND ngày 22/02/2024",
                 "Quý II/2024 (01/04/2024 – 30/06/2024)"):  # fmt: skip
        assert part in ev.description
    assert ev.url == "https://lich.example.org/plans/34-kh-ubnd#hd-ii-7"


def test_uid_depends_on_plan_ref_and_domain_not_content():
    first = by_uid(plan_events(plan(), uid_domain="dak-lak.notifier"))
    p = plan()
    act = p.activity("II.7")
    assert act is not None
    act.content = "Nội dung đã sửa hoàn toàn"
    act.timing = Timing("Quý III/2024", K.RANGE, date(2024, 7, 1), date(2024, 9, 30))
    second = by_uid(plan_events(p, uid_domain="dak-lak.notifier"))
    assert set(first) == set(second)
    assert first["34-kh-ubnd.ii-7"].fingerprint() != second["34-kh-ubnd.ii-7"].fingerprint()
    other = plan_events(plan(), uid_domain="phu-yen.notifier")
    assert {e.uid for e in other.events}.isdisjoint(e.uid for e in plan_events(plan()).events)


def test_duplicate_refs_never_share_a_uid():
    p = plan()
    p.activities.append(replace(p.activities[1], content="Dòng trùng số thứ tự"))
    uids = [e.uid for e in plan_events(p).events]
    assert len(uids) == len(set(uids))


def test_short_summary_fits_a_phone():
    long = "Gặp mặt tặng quà cho các em học sinh, sinh viên Lào tại Trường Đại học Tây Nguyên và Trường Phổ thông"
    s = short_summary(long)
    assert len(s) <= 72 and s.endswith("…") and long.startswith(s[:-1])
    assert short_summary("Ngắn gọn") == "Ngắn gọn"


# --- versions ---------------------------------------------------------------------------


def test_unchanged_events_keep_their_stamps_whatever_now_is():
    events = plan_events(plan()).events
    _, first = version_events(events, {}, now=NOW)
    stamped, second = version_events(events, first, now=NOW + timedelta(days=30))
    assert second == first
    assert all(s.version.modified == NOW and s.version.sequence == 0 for s in stamped)


def test_edited_event_keeps_uid_and_sequence_grows():
    events = list(plan_events(plan()).events)
    _, v1 = version_events(events, {}, now=NOW)
    later = NOW + timedelta(days=3)
    edited = [replace(e, summary="Đổi") if e.ref == "II.7" else e for e in events]
    stamped, v2 = version_events(edited, v1, now=later)
    changed = [s for s in stamped if s.event.ref == "II.7"]
    assert [s.version.sequence for s in changed] == [1]
    assert changed[0].version.modified == later and changed[0].version.created == NOW
    assert all(s.version == v1[s.event.uid] for s in stamped if s.event.ref != "II.7")


def test_removed_event_is_remembered_and_returns_with_higher_sequence():
    events = list(plan_events(plan()).events)
    _, v1 = version_events(events, {}, now=NOW)
    gone = [e for e in events if e.ref != "II.7"]
    uid = next(e.uid for e in events if e.ref == "II.7")
    _, v2 = version_events(gone, v1, now=NOW + timedelta(days=1))
    assert v2[uid].removed == NOW + timedelta(days=1)
    stamped, v3 = version_events(events, v2, now=NOW + timedelta(days=2))
    back = next(s for s in stamped if s.event.uid == uid)
    assert back.version.sequence == 1 and back.version.removed is None


def test_modified_never_moves_backwards_when_the_clock_does():
    events = list(plan_events(plan()).events)
    _, v1 = version_events(events, {}, now=NOW)
    edited = [replace(e, summary="Đổi") for e in events]
    stamped, _ = version_events(edited, v1, now=NOW - timedelta(days=400))
    assert all(s.version.modified == NOW for s in stamped)


def test_version_round_trips_through_json():
    _, versions = version_events(plan_events(plan()).events, {}, now=NOW)
    for v in versions.values():
        assert EventVersion.from_json(v.as_json()) == v


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        version_events([], {}, now=datetime(2024, 1, 1))


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from([K.RANGE, K.DATE, K.DEADLINE, K.CONTINUOUS, K.CONDITIONAL, K.UNDATABLE]),
    start=st.one_of(st.none(), st.dates(date(2000, 1, 1), date(2060, 12, 31))),
    length=st.one_of(st.none(), st.integers(-3, 800)),
    content=st.text(max_size=200),
)
def test_any_timing_gives_sane_events_or_a_reason(kind, start, length, content):
    end = start + timedelta(days=length) if start is not None and length is not None else None
    p = plan()
    p.activities = [Activity("Z.1", content, Timing("x", kind, start, end, reason="lý do"))]
    pe = plan_events(p)
    assert len(pe.events) + len(pe.undated) == 1
    for e in pe.events:
        assert e.start <= e.end
        if kind is K.DEADLINE:
            assert e.start == e.end == end
        elif start is not None and end is not None:
            assert (e.start, e.end) == (start, end)
    if kind is K.UNDATABLE or end is None:
        assert pe.undated and pe.undated[0].reason
