"""The reminder's .ics attachment (notifier.emails.build_ics) against icalendar itself.

build_ics writes its lines by hand for speed; icalendar's Component, fed the same values,
is the reference: the bytes must be the same, line for line and fold for fold, for any
text a plan may hold (Vietnamese in NFC or NFD, commas, semicolons, backslashes, line
breaks, control characters), and icalendar must read back exactly the values written.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Event

from notifier.emails import _stamp, build_ics, ics_fields
from notifier.feeds import fold_line

VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂĐÊÔƠƯ"
    "áàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
    "\u0300\u0301\u0303\u0309\u0323"  # the five tone marks, as NFD input carries them
)
TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(VIETNAMESE),
        st.sampled_from(" ,;:\\\"'()/-.\n\r\t0123456789"),
        st.characters(blacklist_categories=("Cs",)),  # anything else, now and then
    ),
    max_size=300,
)
DAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


def reference(events: list[dict], stamp: datetime | str | None) -> bytes:
    """What icalendar writes for the same values, folded by the same fold_line."""
    cal = Calendar()
    cal.add("prodid", "-//notifier//nhac viec//VI")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    for item in events:
        f = ics_fields(item)
        event = Event()
        event.add("uid", f["uid"])
        event.add("dtstamp", _stamp(stamp))
        event.add("summary", f["summary"])
        event.add("dtstart", f["dtstart"])
        event.add("dtend", f["dtend"])
        event.add("transp", "TRANSPARENT")
        if "description" in f:
            event.add("description", f["description"])
        if "url" in f:
            event.add("url", f["url"])
        cal.add_component(event)
    lines = [fold_line(str(line)) for line in cal.content_lines() if line]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def read(text: str) -> str:
    """What a reader gets back: icalendar's vText (and so build_ics) writes the two
    characters "\\N" as an escaped line break."""
    return text.replace("\\N", "\n")


event_items = st.fixed_dictionaries(
    {"uid": TEXT.filter(lambda t: t.strip()), "summary": TEXT, "start": DAYS, "end": DAYS},
    optional={"description": TEXT, "url": st.sampled_from(["http://127.0.0.1:8080/units/so-noi-vu",
                                                           "https://lich.example.org/a?b=1,2;c"])},
).map(lambda e: {**e, "start": e["start"].isoformat(), "end": e["end"].isoformat()})


@settings(max_examples=300, deadline=None)
@example(events=[{"uid": "a,b;c@x", "summary": "Tie\u0302\u0301ng Vie\u0323t, " * 12 + "\\N;",
                  "start": "2024-04-01", "end": "2024-03-01",
                  "description": "Quý II/2024\r\nKế hoạch số 34/KH-UBND\x00\u2028x"}],
         stamp="2024-03-29T08:00:00+07:00")  # fmt: skip
@given(
    events=st.lists(event_items, min_size=1, max_size=3),
    stamp=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)),
)
def test_ics_bytes_equal_icalendars_and_read_back(events, stamp) -> None:
    data = build_ics(events, stamp=stamp)
    assert data == reference(events, stamp)
    for line in data.split(b"\r\n")[:-1]:
        assert len(line) <= 75 and b"\r" not in line and b"\n" not in line
    parsed = [c for c in Calendar.from_ical(data).walk("VEVENT")]
    assert len(parsed) == len(events)
    for item, event in zip(events, parsed, strict=True):
        f = ics_fields(item)
        assert str(event["UID"]) == read(f["uid"]) and str(event["SUMMARY"]) == read(f["summary"])
        assert str(event.get("DESCRIPTION", "")) == read(f.get("description", ""))
        assert (event.decoded("DTSTART"), event.decoded("DTEND")) == (f["dtstart"], f["dtend"])
        assert f["dtend"] > f["dtstart"]
        assert unicodedata.is_normalized("NFC", f["summary"] + f.get("description", ""))


def test_ics_fields_make_text_safe_and_the_end_exclusive() -> None:
    f = ics_fields({"uid": "u\r\n@x", "summary": "a\r\nb  c", "start": "2024-06-14",
                    "end": "2024-06-14", "description": "Quy\u0301 II\r\n\x00x"})  # fmt: skip
    assert f["uid"] == "u @x" and f["summary"] == "a b c"
    assert f["description"] == "Quý II\nx"
    assert (f["dtstart"], f["dtend"]) == (date(2024, 6, 14), date(2024, 6, 14) + timedelta(days=1))
