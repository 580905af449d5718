"""notifier.emails renders faster than stock Jinja (templates compiled once, no per-call
globals merge, dict keys first, macros called directly): the text must be exactly what
stock Jinja makes from the same templates and contexts, for every kind of email the
planner builds, hostile plan text included.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier import emails
from notifier.reminders import TZ, DigestRules, ReminderRules, plan_reminders
from notifier.text import INVISIBLE

sys.path.insert(0, str(Path(__file__).parent))
from test_reminders import CAL, DEADLINES, DIRECTORY, VH, act, plan


def stock(directory: Path, *, html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(vn_date=emails.vn_date, vn_day=emails.vn_day, vn_weekday=emails.vn_weekday,
                       vn_span=emails._vn_span, one_line=emails.one_line)  # fmt: skip
    return env


PLAIN, HTML = stock(emails.TEMPLATES_DIR, html=False), stock(emails.TEMPLATES_DIR, html=True)


def stock_render(template: str, context: dict) -> tuple[str, str, str]:
    """Stock Jinja, then render()'s own finishing (one line, NFC, no invisibles, tidy)."""
    clean = INVISIBLE.sub
    subject = emails.one_line(PLAIN.get_template(f"{template}.subject.j2").render(context))
    text = PLAIN.get_template(f"{template}.text.j2").render(context)
    html = HTML.get_template(f"{template}.html.j2").render(context)
    return subject, emails._tidy(clean("", emails.nfc(text))), clean("", emails.nfc(html))


def found(contents: list[str], number: str) -> list:
    activities = [
        act(f"II.{i + 1}", [VH], date(2024, 4, 1 + i), date(2024, 6, 30), text="Quý II/2024", content=c)
        for i, c in enumerate(contents)
    ]  # fmt: skip
    p = plan(activities)
    p.number = number
    failed = [{"key": "k", "status": "failed", "to": ["a@example.org"], "subject": contents[0],
               "at": "2024-06-01T08:00:00+07:00", "error": "550 <b>"}]  # fmt: skip
    return plan_reminders([p], DIRECTORY, ReminderRules(), CAL, DEADLINES,
                          start=datetime(2024, 1, 1, tzinfo=TZ), end=datetime(2024, 12, 31, tzinfo=TZ),
                          digest=DigestRules(), deliveries=failed)  # fmt: skip


@settings(max_examples=15, deadline=None)
@given(
    contents=st.lists(st.text(min_size=1, max_size=60) | st.just("a\u200b<b>\u202e"), min_size=1, max_size=3),
    number=st.text(max_size=20),
)
def test_every_kind_renders_exactly_as_stock_jinja(contents: list[str], number: str) -> None:
    reminders = found(contents, number)
    kinds = {r.kind for r in reminders}
    assert {"activity-start", "activity-end", "report-due", "digest"} <= kinds
    seen = set()
    for r in reminders:
        if r.kind in seen:
            continue
        seen.add(r.kind)
        out = emails.render(r.template, dict(r.context))
        assert (out.subject, out.text, out.html) == stock_render(r.template, dict(r.context)), r.kind


def test_test_template_and_missing_names_behave_as_stock_jinja() -> None:
    context = {"to": "<b>admin</b>", "stamp": "2024-06-03T08:15:00+07:00", "public_url": "http://x"}
    out = emails.render("test", context)
    assert (out.subject, out.text, out.html) == stock_render("test", context)
    with pytest.raises(jinja2.UndefinedError):
        emails.render("test", {"stamp": "2024-06-03T08:15:00+07:00", "public_url": "x"})
