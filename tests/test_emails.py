"""Email rendering (notifier.emails) on contexts the real planner builds.

Checks what a unit reads: Vietnamese kept intact and NFC in both bodies, hostile plan text
escaped in HTML and kept off the header line, the formal register, the links, and an .ics
attachment that icalendar parses back into the right all-day dates.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from datetime import date, datetime, timedelta
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from notifier.acks import Links, Signer
from notifier.emails import build_ics, render, render_subject, vn_date, vn_day
from notifier.reminders import TZ, DigestRules, ReminderRules, plan_reminders

sys.path.insert(0, str(Path(__file__).parent))
from test_reminders import CAL, DEADLINES, DIRECTORY, SNGV, VH, act, plan

HOSTILE = "Giao lưu <script>alert('x')</script> & \"trích dẫn\""


LINKS = Links(Signer(b"k" * 32), "http://127.0.0.1:8080")


def reminders(activities, *, rules=None, digest=None, number="34/KH-UBND", **kw):
    p = plan(activities, **kw)
    p.number = number
    return plan_reminders([p], DIRECTORY, rules or ReminderRules(), CAL, DEADLINES,
                          start=datetime(2024, 1, 1, tzinfo=TZ), end=datetime(2025, 7, 1, tzinfo=TZ),
                          digest=digest)


def first(found, kind):
    return next(r for r in found if r.kind == kind)


SAMPLE = [
    act("II.7", [VH], date(2024, 4, 1), date(2024, 6, 30), text="Quý II/2024",
        content="Ngày quốc tế Yoga lần thứ 10"),
    act("II.9", [VH], date(2024, 4, 1), date(2024, 4, 30), text="Tháng 4/2024", content=HOSTILE),
]


def test_vietnamese_dates_follow_decree_30() -> None:
    assert vn_date(date(2026, 6, 15)) == "thứ Hai, ngày 15/6/2026"
    assert vn_date("2024-12-29") == "Chủ nhật, ngày 29/12/2024"
    assert vn_day(date(2024, 2, 22)) == "22/02/2024"  # months 1 and 2 take a zero
    assert vn_day(date(2024, 1, 5)) == "05/01/2024"  # so do days below 10
    assert vn_day(date(2024, 10, 9)) == "09/10/2024"


@pytest.mark.parametrize("kind", ["activity-start", "activity-end", "report-due", "report-overdue",
                                  "digest"])
def test_every_kind_renders_in_the_formal_register(kind: str) -> None:
    r = first(reminders(SAMPLE, digest=DigestRules()), kind)
    out = render(r.template, r.context)
    assert out.subject == r.subject
    for body in (out.text, out.html):
        assert f"Kính gửi: {r.to_names[0]}" in body
        assert "Trân trọng" in body
        assert "không phải văn bản hành chính chính thức" in body
        assert "Khẩn" not in body and "Hỏa tốc" not in body and "Hoả tốc" not in body
    if kind != "digest":
        slug = r.context["recipient"]["slug"]
        for body in (out.text, out.html):
            assert "Thực hiện Kế hoạch số 34/KH-UBND ngày 22/02/2024 của UBND tỉnh Đắk Lắk" in body
            assert "Quý cơ quan/đơn vị" in body and "đề nghị" in body
            assert f"http://127.0.0.1:8080/feeds/units/{slug}.ics" in body
            assert f"http://127.0.0.1:8080/units/{slug}" in body
    if kind == "report-overdue":
        assert "khẩn trương" in out.text and "xin bỏ qua thư này" in out.text


def test_both_bodies_keep_vietnamese_intact_and_nfc_even_from_nfd_input() -> None:
    nfd = unicodedata.normalize("NFD", "Quý II/2024")
    activities = [act("II.7", [VH], date(2024, 4, 1), date(2024, 6, 30), text=nfd,
                      content=unicodedata.normalize("NFD", "Ngày quốc tế Yoga"))]
    r = first(reminders(activities), "activity-start")
    out = render(r.template, r.context)
    for part in (out.subject, out.text, out.html):
        assert unicodedata.is_normalized("NFC", part)
    for body in (out.text, out.html):
        assert "Quý II/2024" in body
        assert "Sở Văn hóa, Thể thao và Du lịch" in body
        assert "Ngày quốc tế Yoga" in body
        assert "thứ Hai, ngày 01/4/2024" in body


def test_html_escapes_hostile_plan_text_and_plain_text_keeps_it() -> None:
    r = first(reminders(SAMPLE), "activity-start")
    out = render(r.template, r.context)
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;trích dẫn&#34;" in out.html
    assert HOSTILE in out.text


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=80))
def test_plan_text_never_breaks_the_subject_line(number: str) -> None:
    r = first(reminders(SAMPLE[:1], number=number), "activity-start")
    subject = render(r.template, r.context).subject
    assert subject == r.subject
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", subject)
    assert subject == subject.strip() and "  " not in subject
    assert len(subject) <= 200


def test_header_injection_in_the_plan_number_stays_on_one_line() -> None:
    r = first(reminders(SAMPLE[:1], number="34/KH-UBND\r\nBcc: attacker@example.org"),
              "activity-start")
    assert "\n" not in r.subject and "\r" not in r.subject
    assert r.subject.endswith("Kế hoạch số 34/KH-UBND Bcc: attacker@example.org")


def _events(data: bytes):
    cal = Calendar.from_ical(data)
    return [c for c in cal.walk("VEVENT")]


def test_reminder_ics_attachment_has_all_day_dates_and_key_based_uids() -> None:
    r = first(reminders(SAMPLE), "activity-start")
    (attachment,) = render(r.template, r.context).attachments
    assert attachment.content_type == "text/calendar"
    assert attachment.filename.endswith(".ics") and attachment.filename.isascii()
    events = {str(e["UID"]): e for e in _events(attachment.data)}
    assert set(events) == {f"ke-hoach-34-kh-ubnd/{ref}/so-van-hoa-the-thao-va-du-lich@notifier"
                           for ref in ("II.7", "II.9")}
    quarter = events["ke-hoach-34-kh-ubnd/II.7/so-van-hoa-the-thao-va-du-lich@notifier"]
    start, end = quarter.decoded("DTSTART"), quarter.decoded("DTEND")
    assert type(start) is date and type(end) is date  # all-day, not datetimes
    assert (start, end) == (date(2024, 4, 1), date(2024, 7, 1))  # DTEND is exclusive
    assert "Quý II/2024" in str(quarter["DESCRIPTION"])
    assert str(quarter["SUMMARY"]).startswith("[II.7] Ngày quốc tế Yoga")


def test_report_ics_is_the_deadline_day() -> None:
    r = first(reminders(SAMPLE), "report-due")
    (attachment,) = render(r.template, r.context).attachments
    (event,) = _events(attachment.data)
    # "trước ngày 15/6/2024": the last day is Friday 14/6.
    assert (event.decoded("DTSTART"), event.decoded("DTEND")) == (date(2024, 6, 14), date(2024, 6, 15))
    assert "6 tháng đầu năm 2024" in str(event["SUMMARY"])


def test_report_mail_names_deadline_cutoff_and_receiver() -> None:
    r = next(r for r in reminders(SAMPLE) if r.kind == "report-due" and r.units == (VH,))
    text = render(r.template, r.context).text
    assert f"gửi về {SNGV} trước ngày 15/6/2024" in text
    assert "Số liệu báo cáo tính từ ngày 15/12/2023 đến ngày 14/6/2024" in text
    assert "[II.7] Ngày quốc tế Yoga lần thứ 10" in text
    other = next(r for r in reminders(SAMPLE) if r.kind == "report-due" and r.units != (VH,))
    assert "không giao Quý cơ quan/đơn vị chủ trì" in render(other.template, other.context).text


def test_a_deadline_moved_off_a_day_off_is_explained() -> None:
    from notifier.reporting import DeadlineRule

    p = plan(SAMPLE)
    rules = [DeadlineRule("half-year", 2024, date(2024, 6, 15), "by", to=SNGV)]  # Saturday
    found = plan_reminders([p], DIRECTORY, ReminderRules(), CAL, rules,
                           start=datetime(2024, 1, 1, tzinfo=TZ), end=datetime(2025, 1, 1, tzinfo=TZ))
    r = first(found, "report-due")
    text = render(r.template, r.context).text
    assert "chậm nhất thứ Hai, ngày 17/6/2024" in text
    assert "ngày nghỉ" in text


def test_successor_letter_says_who_the_plan_named() -> None:
    p = plan([act("I.1", [SNGV], date(2025, 9, 1), date(2025, 9, 30))], reports=False, year=2025)
    found = plan_reminders([p], DIRECTORY, ReminderRules(), CAL, DEADLINES,
                           start=datetime(2025, 1, 1, tzinfo=TZ), end=datetime(2026, 1, 1, tzinfo=TZ))
    out = render(found[0].template, found[0].context)
    assert "Kính gửi: Văn phòng UBND tỉnh" in out.text
    assert f"đơn vị chủ trì là {SNGV}" in out.text and f"đơn vị chủ trì là {SNGV}" in out.html


def test_digest_lists_failed_deliveries_and_unsubscribe_link() -> None:
    failed = [{"key": "k", "status": "failed", "to": ["sotaichinh@example.org"],
               "subject": "Nhắc việc <b>", "at": "2024-06-01T08:00:00+07:00",
               "error": "550 5.1.1 mailbox unavailable"}]
    p = plan(SAMPLE)
    found = plan_reminders([p], DIRECTORY, ReminderRules(), CAL, DEADLINES,
                           start=datetime(2024, 6, 17, tzinfo=TZ), end=datetime(2024, 6, 18, tzinfo=TZ),
                           digest=DigestRules(), deliveries=failed, links=LINKS)
    r = first(found, "digest")
    out = render(r.template, r.context)
    assert "550 5.1.1 mailbox unavailable" in out.text and "Nhắc việc &lt;b&gt;" in out.html
    assert "Báo cáo công tác đối ngoại 6 tháng đầu năm 2024" in out.text  # overdue section
    # The signed one-click link of acks.py (issue 7) in both bodies and the header.
    assert "/u/" in r.context["links"]["unsubscribe"]
    assert r.context["links"]["unsubscribe"] in out.text
    assert r.context["headers"]["List-Unsubscribe"] == f"<{r.context['links']['unsubscribe']}>"
    assert out.attachments == ()


def test_test_template_renders() -> None:
    out = render("test", {"to": "admin@example.org", "stamp": "2024-06-03T08:15:00+07:00",
                          "public_url": "http://127.0.0.1:8080"})
    assert out.subject == "Thư thử nghiệm từ hệ thống nhắc việc"
    assert "08:15 thứ Hai, ngày 03/6/2024" in out.text and "Quý II/2024" in out.html


def test_missing_context_fails_loudly_and_names_are_checked() -> None:
    r = first(reminders(SAMPLE), "activity-start")
    broken = {k: v for k, v in r.context.items() if k != "recipient"}
    with pytest.raises(jinja2.UndefinedError):
        render(r.template, broken)
    with pytest.raises(ValueError):
        render_subject("../reminder", r.context)


def test_build_ics_is_deterministic_and_dtend_never_precedes_dtstart() -> None:
    events = [{"uid": "a@notifier", "summary": "x\r\ny", "start": "2024-04-01", "end": "2024-03-01"}]
    data = build_ics(events, stamp="2024-03-29T08:00:00+07:00")
    assert data == build_ics(events, stamp=datetime(2024, 3, 29, 1, 0, tzinfo=TZ) + timedelta(hours=7))
    (event,) = _events(data)
    assert event.decoded("DTEND") == date(2024, 4, 2)
    assert str(event["SUMMARY"]) == "x y"
