"""schedules.py: writing, re-writing (comments and hand edits kept), loading with file:line errors."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import unicodedata
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.errors import ScheduleError
from notifier.plan import Activity, KeyDate, Plan, ReportDuty
from notifier.reporting import Period
from notifier.schedules import (
    SCHEMA_DIRECTIVE,
    load_schedule,
    load_schedules,
    read_schedule,
    schedule_schema,
    write_schedule,
)
from notifier.text import nfc
from notifier.timing import Timing, TimingKind


def line_of(text: str, needle: str, start: int = 1) -> int:
    """1-based number of the first line at or after `start` that contains `needle`."""
    for number, line in enumerate(text.splitlines(), 1):
        if number >= start and needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def sample_plan(slug: str = "kh-34-2024") -> Plan:
    return Plan(
        slug=slug,
        title="Kế hoạch công tác ngoại giao văn hóa năm 2024",
        number="34/KH-UBND",
        date=date(2024, 2, 22),
        issuer="UBND tỉnh Đắk Lắk",
        year=2024,
        activities=[
            Activity(
                ref="I.1",
                section="I",
                section_title="Quảng bá",
                content="Gặp mặt nhân dịp Quốc khánh Lào (02/12/2024)",
                timing=Timing(
                    "Tháng 12/2024", TimingKind.RANGE, date(2024, 12, 1), date(2024, 12, 31)
                ),
                lead_text="Sở Ngoại vụ",
                lead=["Sở Ngoại vụ"],
                coordinating_text="Sở Văn hóa, Thể thao và Du lịch",
                coordinating=["Sở Văn hóa, Thể thao và Du lịch"],
                key_dates=[KeyDate(date(2024, 12, 2), "Quốc khánh Lào")],
                line=120,
            ),
            Activity(
                ref="II.7",
                content="Hội thảo",
                timing=Timing("Quý II/2024", TimingKind.RANGE, date(2024, 4, 1), date(2024, 6, 30)),
                lead_text="Sở Ngoại vụ",
                lead=["Sở Ngoại vụ"],
            ),
        ],
        reports=[
            ReportDuty(
                id="half-year", period="half-year", title="Báo cáo 6 tháng", to="Sở Ngoại vụ"
            )
        ],
    )


# --- writing and reading -------------------------------------------------------------------------


def test_written_file_is_readable_toml_with_comments_and_directive(tmp_path: Path) -> None:
    path = write_schedule(sample_plan(), tmp_path)
    assert path == tmp_path / "kh-34-2024.toml"
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == SCHEMA_DIRECTIVE
    assert (
        "# Lịch của kế hoạch: Kế hoạch số 34/KH-UBND ngày 22/02/2024 của UBND tỉnh Đắk Lắk" in text
    )
    assert 'timing = "Quý II/2024"' in text
    assert "start = 2024-04-01" in text and "end = 2024-06-30" in text
    assert "accepted = false" in text
    assert load_schedule(path) == sample_plan()


def test_newlines_in_plan_title_cannot_break_the_header_comment(tmp_path: Path) -> None:
    plan = dataclasses.replace(sample_plan(), title='Dòng một\n[plan]\ntitle = "giả"')
    path = write_schedule(plan, tmp_path)
    assert load_schedule(path).title == plan.title


@pytest.mark.parametrize("slug", ["../evil", "a/b", "..", "", "Kế-hoạch", "a..b", "/abs", "a.b"])
def test_unsafe_slugs_are_refused_and_nothing_is_written(tmp_path: Path, slug: str) -> None:
    target = tmp_path / "schedules"
    with pytest.raises(ScheduleError):
        write_schedule(dataclasses.replace(sample_plan(), slug=slug), target)
    assert not any(tmp_path.rglob("*.toml"))


def test_atomic_write_keeps_the_old_file_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_schedule(sample_plan(), tmp_path)
    before = path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    changed = sample_plan()
    changed.activities[1].content = "Nội dung mới"
    with pytest.raises(OSError):
        write_schedule(changed, tmp_path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left


def test_a_broken_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "kh-34-2024.toml"
    path.write_text('[plan]\ntitle = "chưa đóng\n', encoding="utf-8")
    with pytest.raises(ScheduleError):
        write_schedule(sample_plan(), tmp_path)
    assert path.read_text(encoding="utf-8") == '[plan]\ntitle = "chưa đóng\n'


# --- re-writing keeps comments and hand edits -----------------------------------------------------


def _edit(path: Path, old: str, new: str, after: str | None = None) -> None:
    text = path.read_text(encoding="utf-8")
    start = text.index(after) if after else 0
    at = text.index(old, start)
    path.write_text(text[:at] + new + text[at + len(old) :], encoding="utf-8")


def test_rewrite_keeps_comments_and_hand_edits_when_the_source_did_not_change(
    tmp_path: Path,
) -> None:
    path = write_schedule(sample_plan(), tmp_path)
    _edit(
        path,
        "start = 2024-04-01",
        "start = 2024-04-15 # họp chốt lịch ngày 10/3",
        after='ref = "II.7"',
    )
    _edit(path, "accepted = false}", "accepted = true}")
    _edit(path, "\n[[activities]]", "\n# Ghi chú của cán bộ quản trị\n[[activities]]")
    _edit(path, 'lead = ["Sở Ngoại vụ"]', 'lead = ["Văn phòng UBND tỉnh"]', after='ref = "II.7"')
    write_schedule(sample_plan(), tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "# Ghi chú của cán bộ quản trị" in text
    assert "start = 2024-04-15 # họp chốt lịch ngày 10/3" in text
    plan = load_schedule(path)
    assert plan.activities[1].timing.start == date(2024, 4, 15)
    assert plan.activities[1].lead == ["Văn phòng UBND tỉnh"]
    assert plan.activities[0].key_dates[0].accepted is True


def test_rewrite_takes_new_dates_when_the_timing_text_changed(tmp_path: Path) -> None:
    path = write_schedule(sample_plan(), tmp_path)
    _edit(path, "start = 2024-04-01", "start = 2024-04-15", after='ref = "II.7"')
    _edit(path, 'ref = "II.7"', '# giữ ghi chú này\nref = "II.7"')
    changed = sample_plan()
    changed.activities[1].timing = Timing(
        "Quý III/2024", TimingKind.RANGE, date(2024, 7, 1), date(2024, 9, 30)
    )
    write_schedule(changed, tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "# giữ ghi chú này" in text
    act = load_schedule(path).activities[1]
    assert (act.timing.text, act.timing.start, act.timing.end) == (
        "Quý III/2024",
        date(2024, 7, 1),
        date(2024, 9, 30),
    )


def test_rewrite_follows_added_removed_and_reordered_activities(tmp_path: Path) -> None:
    path = write_schedule(sample_plan(), tmp_path)
    _edit(path, 'ref = "I.1"', '# về Lào\nref = "I.1"')
    changed = sample_plan()
    new = Activity(
        ref="III.1",
        content="Mới",
        timing=Timing("2024", TimingKind.RANGE, date(2024, 1, 1), date(2024, 12, 31)),
    )
    changed.activities = [changed.activities[0], new]  # II.7 dropped, III.1 added
    write_schedule(changed, tmp_path)
    plan = load_schedule(path)
    assert [a.ref for a in plan.activities] == ["I.1", "III.1"]
    assert "# về Lào" in path.read_text(encoding="utf-8")


def test_rewrite_with_existing_is_a_three_way_merge(tmp_path: Path) -> None:
    base = sample_plan()
    path = write_schedule(base, tmp_path)
    _edit(path, 'content = "Hội thảo"', 'content = "Hội thảo (đã sửa tay)"')
    _edit(path, 'funding = ""', 'funding = "Ngân sách tỉnh"', after='ref = "II.7"')
    source = sample_plan()
    source.activities[0].content = "Gặp mặt (bản sửa của văn bản)"
    source.activities[1].funding = "Xã hội hóa"
    write_schedule(source, tmp_path, existing=base)
    plan = load_schedule(path)
    assert plan.activities[1].content == "Hội thảo (đã sửa tay)"  # source unchanged: hand edit kept
    assert plan.activities[0].content == "Gặp mặt (bản sửa của văn bản)"  # source changed: new text
    assert plan.activities[1].funding == "Xã hội hóa"  # both changed: the source wins


def test_rewrite_without_changes_leaves_the_file_byte_identical(tmp_path: Path) -> None:
    path = write_schedule(sample_plan(), tmp_path)
    before = path.read_bytes()
    write_schedule(sample_plan(), tmp_path)
    assert path.read_bytes() == before


# --- loading errors: file, line, key -------------------------------------------------------------

BROKEN = """\
[plan]
title = "Kế hoạch"
year = 2024

[[activities]]
ref = "I.1"
timing = "Quý II/2024"
kind = "range"
start = 2024-06-30
end = 2024-04-01
lead_txt = "Sở Ngoại vụ"

[[activities]]
ref = "I.1"
kind = "weekly"
start = "2024-02-30"

[[reports]]
id = "half-year"
period = "6 months"
"""


def test_every_schedule_error_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "ke-hoach.toml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(ScheduleError) as caught:
        load_schedule(path)
    found = {(p.line, p.key.split(" =")[0]): p for p in caught.value.problems}
    assert all(p.file == str(path) for p in caught.value.problems)
    typo = found[(line_of(BROKEN, "lead_txt"), "[[activities]] lead_txt")]
    assert "có phải là “lead_text”?" in typo.message
    kind = found[(line_of(BROKEN, 'kind = "weekly"'), "[[activities]] kind")]
    assert '"range"' in kind.message and '"undatable"' in kind.message
    bad_day = found[(line_of(BROKEN, '"2024-02-30"'), "[[activities]] start")]
    assert "không phải ngày hợp lệ" in bad_day.message
    period = found[(line_of(BROKEN, '"6 months"'), "[[reports]] period")]
    assert '"half-year"' in period.message
    assert len(caught.value.problems) == 4  # all at once; order by line
    assert [p.line for p in caught.value.problems] == sorted(
        p.line or 0 for p in caught.value.problems
    )


def test_start_after_end_and_duplicate_refs_name_their_lines(tmp_path: Path) -> None:
    text = BROKEN.replace('lead_txt = "Sở Ngoại vụ"', "").replace(
        'kind = "weekly"', 'kind = "date"'
    )
    text = text.replace('start = "2024-02-30"', "").replace('"6 months"', '"half-year"')
    path = tmp_path / "ke-hoach.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScheduleError) as caught:
        load_schedule(path)
    problems = {p.line: p for p in caught.value.problems}
    assert set(problems) == {line_of(text, "end = 2024-04-01"), line_of(text, 'ref = "I.1"', 7)}
    assert "ngày kết thúc trước ngày bắt đầu" in problems[line_of(text, "end = 2024-04-01")].message
    dup = problems[line_of(text, 'ref = "I.1"', 7)]
    first = line_of(text, 'ref = "I.1"')
    assert f"dòng {first}" in dup.message
    assert str(dup).startswith(f'{path}:{dup.line}: [[activities]] ref = "I.1": ')


def test_an_impossible_date_literal_is_a_syntax_error_at_its_line(tmp_path: Path) -> None:
    text = '[plan]\ntitle = "x"\n\n[[activities]]\nref = "I.1"\nkind = "date"\nstart = 2024-02-30\n'
    path = tmp_path / "x.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScheduleError) as caught:
        load_schedule(path)
    (problem,) = caught.value.problems
    assert problem.line == 7
    assert "cột 9" in problem.message and "ngày" in problem.message
    assert "Ví dụ: 2024-06-30" in problem.hint


def test_file_names_must_be_slugs(tmp_path: Path) -> None:
    path = tmp_path / "Kế hoạch 34.toml"
    write_schedule(sample_plan(), tmp_path).rename(path)
    with pytest.raises(ScheduleError) as caught:
        load_schedule(path)
    assert "ke-hoach-34.toml" in caught.value.problems[0].hint


def test_nfd_file_content_is_read_as_nfc(tmp_path: Path) -> None:
    path = write_schedule(sample_plan(), tmp_path)
    path.write_text(
        unicodedata.normalize("NFD", path.read_text(encoding="utf-8")), encoding="utf-8"
    )
    assert load_schedule(path) == sample_plan()


def test_load_schedules_skips_broken_files_but_reports_them(tmp_path: Path) -> None:
    write_schedule(sample_plan("a-good"), tmp_path)
    (tmp_path / "b-broken.toml").write_text("[plan\n", encoding="utf-8")
    (tmp_path / ".hidden.toml").write_text("[plan\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("không phải lịch", encoding="utf-8")
    plans, problems = load_schedules(tmp_path)
    assert [p.slug for p in plans] == ["a-good"]
    assert [(p.file, p.line) for p in problems] == [(str(tmp_path / "b-broken.toml"), 1)]
    assert load_schedules(tmp_path / "none")[1][0].severity == "warning"


def test_read_schedule_gives_lines_of_keys(tmp_path: Path) -> None:
    path = write_schedule(sample_plan(), tmp_path)
    loaded = read_schedule(path)
    text = path.read_text(encoding="utf-8")
    assert loaded.line("activities", 1, "start") == line_of(text, "start = 2024-04-01")
    assert loaded.line("activities", 0, "lead", 0) == line_of(text, 'lead = ["Sở Ngoại vụ"]')


def test_schedule_schema_describes_every_key() -> None:
    schema = schedule_schema()
    activity = schema["definitions"]["ActivityTable"]
    assert activity["additionalProperties"] is False
    assert {"timing", "start", "end", "kind", "key_dates", "lead"} <= set(activity["properties"])
    assert "$defs" not in str(schema)
    assert "Ngày bắt đầu" in activity["properties"]["start"]["description"]


# --- round trip property -------------------------------------------------------------------------

_VIET = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyĐƯƠÂáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
)
_TRICKY = " \"'\\\n\t#[]{}=,.-/()\"\"\"'''\r"
text_st = st.one_of(st.text(alphabet=_VIET + _TRICKY, max_size=40), st.text(max_size=20))
maybe_nfd = st.builds(
    lambda s, nfd: unicodedata.normalize("NFD", s) if nfd else s, text_st, st.booleans()
)
label_st = maybe_nfd.filter(lambda s: bool(s.strip()))
day_st = st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 12, 31))


@st.composite
def timings(draw: st.DrawFn) -> Timing:
    start = draw(st.none() | day_st)
    end = draw(
        st.none()
        | (
            day_st
            if start is None
            else st.integers(0, 800).map(
                lambda n: min(start + timedelta(days=n), date(2100, 12, 31))
            )
        )
    )
    return Timing(
        text=draw(maybe_nfd),
        kind=draw(st.sampled_from(list(TimingKind))),
        start=start,
        end=end,
        rule=draw(st.none() | maybe_nfd),
        reason=draw(st.none() | maybe_nfd),
        bound=draw(st.sampled_from([None, "before", "by"])),
    )


key_dates = st.builds(
    KeyDate,
    date=day_st,
    label=label_st,
    source=st.sampled_from(["content", "observance", "anniversary"]),
    years=st.none() | st.integers(0, 500),
    accepted=st.booleans(),
)
activities = st.builds(
    Activity,
    ref=label_st,
    content=maybe_nfd,
    timing=timings(),
    section=maybe_nfd,
    section_title=maybe_nfd,
    lead_text=maybe_nfd,
    lead=st.lists(label_st, max_size=3),
    coordinating_text=maybe_nfd,
    coordinating=st.lists(label_st, max_size=3),
    funding=maybe_nfd,
    key_dates=st.lists(key_dates, max_size=2),
    line=st.none() | st.integers(1, 10**6),
)
reports = st.builds(
    ReportDuty,
    id=label_st,
    period=st.sampled_from([p.value for p in Period]),
    title=maybe_nfd,
    to=maybe_nfd,
    to_text=maybe_nfd,
    owners=st.lists(label_st, max_size=3),
    owners_text=maybe_nfd,
    source_text=maybe_nfd,
    line=st.none() | st.integers(1, 10**6),
)
plans = st.builds(
    Plan,
    slug=st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,4}){0,2}", fullmatch=True),
    title=maybe_nfd,
    number=maybe_nfd,
    date=st.none() | day_st,
    issuer=maybe_nfd,
    place=maybe_nfd,
    year=st.none() | st.integers(1900, 2200),
    timing_header=maybe_nfd,
    activities=st.lists(activities, max_size=4, unique_by=lambda a: nfc(a.ref)),
    reports=st.lists(reports, max_size=2, unique_by=lambda r: nfc(r.id)),
    source=maybe_nfd,
)


def as_nfc(value: object) -> object:
    """The same value with every string NFC (what a schedule file stores)."""
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, list):
        return [as_nfc(v) for v in value]
    if isinstance(value, Timing):  # a named tuple
        return value._replace(**{name: as_nfc(getattr(value, name)) for name in value._fields})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value,
            **{
                f.name: as_nfc(getattr(value, f.name))  # type: ignore[arg-type]
                for f in dataclasses.fields(value)
                if f.init
            },
        )
    return value


@settings(max_examples=50, deadline=None)
@given(plans)
def test_round_trip_plan_write_load_is_the_nfc_plan(plan: Plan) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write_schedule(plan, Path(folder))
        assert load_schedule(path) == as_nfc(plan)
        # and writing the loaded plan again changes nothing
        before = path.read_bytes()
        write_schedule(load_schedule(path), Path(folder))
        assert path.read_bytes() == before


# --- drafts and rows (review before it counts) ---------------------------------------------------


def test_drafts_and_hidden_folders_are_never_loaded(tmp_path: Path) -> None:
    from notifier.schedules import draft_notices, draft_path, draft_paths, live_path, schedule_paths

    live = write_schedule(sample_plan(), tmp_path)
    draft = draft_path(tmp_path, "kh-34-2024")
    draft.write_text(live.read_text(encoding="utf-8").replace("Hội thảo", "Hội thảo (nháp)"), encoding="utf-8")
    (tmp_path / ".imported").mkdir()
    (tmp_path / ".imported" / "kh-34-2024.toml").write_text("không phải TOML", encoding="utf-8")
    assert schedule_paths(tmp_path) == [live] and draft_paths(tmp_path) == [draft]
    plans, problems = load_schedules(tmp_path)
    assert [a.content for a in plans[0].activities][1] == "Hội thảo" and problems == []
    assert live_path(draft) == live
    assert read_schedule(draft).plan.slug == "kh-34-2024"  # a draft reads as its plan
    (note,) = draft_notices(tmp_path)
    assert note.severity == "info" and note.file == str(draft) and "notifier approve" in note.hint


def test_schedule_text_keeps_comments_with_the_table_each_row_came_from(tmp_path: Path) -> None:
    from notifier.schedules import schedule_text

    path = write_schedule(sample_plan(), tmp_path)
    _edit(path, 'content = "Hội thảo"', 'content = "Hội thảo" # ghi chú của II.7')
    moved = sample_plan()
    new = Activity(ref="I.2", content="Hàng mới", timing=moved.activities[1].timing)
    moved.activities = [moved.activities[0], new, dataclasses.replace(moved.activities[1], ref="I.3")]
    text = schedule_text(moved, path.read_text(encoding="utf-8"), activity_tables=[0, None, 1])
    after = text[text.index('ref = "I.3"'):]
    assert "# ghi chú của II.7" in after  # travelled with its row, not left at the new I.2
    assert "# ghi chú" not in text[text.index('ref = "I.2"'):text.index('ref = "I.3"')]
    path.write_text(text, encoding="utf-8")
    assert [a.ref for a in load_schedule(path).activities] == ["I.1", "I.2", "I.3"]


@settings(max_examples=40, deadline=None)
@given(plans)
def test_rows_round_trip_to_the_same_plan(plan: Plan) -> None:
    from notifier.schedules import activity_row, plan_from_rows, plan_row, report_row

    rows = ([activity_row(a) for a in plan.activities], [report_row(r) for r in plan.reports])
    again = plan_from_rows(plan.slug, plan_row(plan), *rows)
    assert again == as_nfc(dataclasses.replace(plan, problems=[]))  # problems are not stored


def test_schedule_text_takes_the_fast_way_only_for_a_file_with_nothing_else_to_keep(
    tmp_path: Path,
) -> None:
    from notifier.schedules import schedule_text

    path = write_schedule(sample_plan(), tmp_path)
    _edit(path, 'content = "Hội thảo"', 'content = "Hội thảo lớn"')  # a value: still pristine
    changed = sample_plan()
    changed.activities[0].funding = "Xã hội hóa"
    old_text = path.read_text(encoding="utf-8")
    fast = schedule_text(changed, old_text, old_plan=load_schedule(path))
    assert fast == schedule_text(changed)  # the new file's writer, byte for byte
    _edit(path, 'content = "Hội thảo lớn"', 'content = "Hội thảo lớn" # giữ ghi chú')
    kept = schedule_text(changed, path.read_text(encoding="utf-8"), old_plan=load_schedule(path))
    assert "# giữ ghi chú" in kept and 'funding = "Xã hội hóa"' in kept
