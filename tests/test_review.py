"""Review before it counts: drafts, the three-way merge, `notifier diff` and `notifier approve`.

Real files in tmp dirs throughout; the merge's property test writes, edits and approves
real schedule files with the same functions the commands use.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from notifier.cli import app
from notifier.errors import ScheduleError, UserError
from notifier.importing import approve, base_path, review_draft, review_import, save_plan
from notifier.plan import Activity, KeyDate, Plan, ReportDuty
from notifier.review import diff, match_rows, merge
from notifier.schedules import (
    activity_row,
    draft_path,
    load_schedule,
    load_schedules,
    write_schedule,
)
from notifier.text import nfc
from notifier.timing import Timing, TimingKind

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "seeds" / "000_6a99d0bb3ce2a896.txt"
NOW = datetime(2024, 3, 1, 8, 0)

Q = {
    2: Timing("Quý II/2024", TimingKind.RANGE, date(2024, 4, 1), date(2024, 6, 30)),
    3: Timing("Quý III/2024", TimingKind.RANGE, date(2024, 7, 1), date(2024, 9, 30)),
    4: Timing("Quý IV/2024", TimingKind.RANGE, date(2024, 10, 1), date(2024, 12, 31)),
}


def activity(
    ref: str, content: str, *, timing: Timing = Q[2], funding: str = "", lead: str = "Sở Ngoại vụ"
) -> Activity:
    return Activity(
        ref=ref, content=content, timing=timing, funding=funding, lead_text=lead, lead=[lead]
    )


def plan(*activities: Activity, slug: str = "kh-34-2024") -> Plan:
    return Plan(
        slug=slug,
        title="Kế hoạch ngoại giao văn hóa năm 2024",
        number="34/KH-UBND",
        year=2024,
        activities=list(activities),
        reports=[
            ReportDuty(
                id="half-year", period="half-year", title="Báo cáo 6 tháng", to="Sở Ngoại vụ"
            )
        ],
    )


def published(p: Plan, folder: Path) -> Path:
    """Import `p` as the first version and approve it: the live file and its base."""
    review = save_plan(p, folder)
    assert review.written is not None
    return approve(review.written, now=NOW).live


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


BASE = plan(
    activity(
        "I.1", "Tổ chức gặp mặt nhân dịp Quốc khánh Lào tại tỉnh Đắk Lắk", funding="Ngân sách tỉnh"
    ),
    activity("I.2", "Hội thảo về văn hóa các dân tộc Tây Nguyên với bạn bè quốc tế", timing=Q[3]),
    activity("I.3", "Triển lãm ảnh về quan hệ hữu nghị Việt Nam và Campuchia", timing=Q[4]),
)


# --- pairing rows --------------------------------------------------------------------------------


def test_rows_renumbered_after_an_insertion_keep_their_identity() -> None:
    old = [activity_row(a) for a in BASE.activities]
    inserted = activity("I.2", "Một hoạt động hoàn toàn mới do văn bản sửa thêm", lead="Sở Tư pháp")
    shifted = [BASE.activities[0], inserted] + [
        dataclasses.replace(a, ref=f"I.{n}") for n, a in enumerate(BASE.activities[1:], 3)
    ]
    pairs = match_rows(old, [activity_row(a) for a in shifted])
    assert pairs == {0: 0, 1: 2, 2: 3}


def test_a_reworded_row_under_the_same_ref_is_the_same_row_and_a_replaced_one_is_not() -> None:
    old = [activity_row(a) for a in BASE.activities]
    reworded = dataclasses.replace(
        BASE.activities[1], content=BASE.activities[1].content + " năm 2024"
    )
    replaced = activity("I.3", "Giải bóng đá giao hữu", timing=Q[2], lead="Sở Y tế")
    pairs = match_rows(old, [activity_row(a) for a in (BASE.activities[0], reworded, replaced)])
    assert pairs == {0: 0, 1: 1}  # I.3 is another row: other unit, other timing, other text


def test_matching_ignores_case_nfd_and_old_tone_placement() -> None:
    old = [activity_row(activity("I.1", "Giao lưu văn hoá Thuỷ Tiên"))]
    new = [activity_row(activity("II.4", "giao lưu văn hóa thủy tiên"))]
    assert match_rows(old, new) == {0: 0}


# --- the merge (pure) ----------------------------------------------------------------------------


def test_untouched_rows_follow_the_source_and_hand_edits_stay() -> None:
    live = dataclasses.replace(BASE, activities=[dataclasses.replace(a) for a in BASE.activities])
    live.activities[0].funding = "Xã hội hóa (sửa tay)"
    source = dataclasses.replace(BASE, activities=[dataclasses.replace(a) for a in BASE.activities])
    source.activities[1].content += " (bản sửa của văn bản)"
    merged = merge(BASE, source, live)
    rows = {r["ref"]: r for r in merged.activities}
    assert rows["I.1"]["funding"] == "Xã hội hóa (sửa tay)"
    assert rows["I.2"]["content"].endswith("(bản sửa của văn bản)")
    assert merged.conflicts == ()
    assert merged.activity_tables == (0, 1, 2)


def test_both_changed_keeps_the_admins_version_and_reports_the_sources() -> None:
    live = dataclasses.replace(BASE, activities=[dataclasses.replace(a) for a in BASE.activities])
    live.activities[2].timing = Timing(
        "Quý IV/2024", TimingKind.RANGE, date(2024, 11, 1), date(2024, 11, 30)
    )
    source = dataclasses.replace(BASE, activities=[dataclasses.replace(a) for a in BASE.activities])
    source.activities[2].timing = Q[3]
    merged = merge(BASE, source, live)
    row = merged.activities[2]
    assert (row["timing"], row["start"], row["end"]) == (
        "Quý IV/2024",
        date(2024, 11, 1),
        date(2024, 11, 30),
    )
    (conflict,) = merged.conflicts
    assert conflict.ident == "I.3" and "timing" in conflict.keys
    assert conflict.source["timing"] == "Quý III/2024" and conflict.source["start"] == date(
        2024, 7, 1
    )
    assert "giữ bản sửa tay" in conflict.message()


def test_removed_rows_go_unless_edited_by_hand_and_deleted_rows_stay_deleted() -> None:
    live = dataclasses.replace(
        BASE, activities=[dataclasses.replace(a) for a in BASE.activities[:2]]
    )
    live.activities[1].funding = "Sửa tay"  # I.2 edited; I.3 deleted by hand
    source = dataclasses.replace(
        BASE, activities=[BASE.activities[0], BASE.activities[2]]
    )  # I.2 dropped
    merged = merge(BASE, source, live)
    assert [r["ref"] for r in merged.activities] == ["I.1", "I.2"]
    assert [c.ident for c in merged.conflicts] == ["I.2"]  # dropped by the source, kept: edited
    assert merged.conflicts[0].source == {}
    untouched = merge(BASE, source, dataclasses.replace(BASE, activities=list(BASE.activities[:2])))
    assert [r["ref"] for r in untouched.activities] == ["I.1"]


def test_key_dates_the_source_changed_keep_the_admins_acceptance() -> None:
    lao = KeyDate(date(2024, 12, 2), "Quốc khánh Lào")
    base = plan(activity("I.1", "Gặp mặt nhân dịp Quốc khánh Lào", timing=Q[4]))
    base.activities[0].key_dates = [lao]
    live = dataclasses.replace(base, activities=[dataclasses.replace(base.activities[0], key_dates=[
        dataclasses.replace(lao, accepted=True)])])  # fmt: skip
    source = dataclasses.replace(base, activities=[dataclasses.replace(base.activities[0], key_dates=[
        lao, KeyDate(date(2024, 12, 10), "Ngày hội")])])  # fmt: skip
    (row,) = merge(base, source, live).activities
    assert [(k["label"], k["accepted"]) for k in row["key_dates"]] == [
        ("Quốc khánh Lào", True), ("Ngày hội", False)]  # fmt: skip


def test_units_and_reports_merge_as_groups_and_show_in_the_diff() -> None:
    live = dataclasses.replace(
        BASE,
        activities=[dataclasses.replace(a) for a in BASE.activities],
        reports=[dataclasses.replace(BASE.reports[0], to="Văn phòng UBND tỉnh")],  # by hand
    )
    live.activities[0].lead = ["Văn phòng UBND tỉnh"]  # the admin fixed the canonical unit
    source = dataclasses.replace(BASE, activities=[dataclasses.replace(a) for a in BASE.activities])
    source.activities[1].lead_text = "Sở Văn hóa, Thể thao và Du lịch"
    source.activities[1].lead = ["Sở Văn hóa, Thể thao và Du lịch"]
    merged = merge(BASE, source, live)
    assert merged.activities[0]["lead"] == ["Văn phòng UBND tỉnh"] and merged.conflicts == ()
    assert merged.reports[0]["to"] == "Văn phòng UBND tỉnh"
    from notifier.schedules import plan_from_rows

    result = plan_from_rows(BASE.slug, merged.plan, merged.activities, merged.reports)
    (change,) = diff(live, result).changed
    assert (change.ref, change.fields) == ("I.2", ("lead_text", "lead"))
    source.activities[0].lead_text = "Sở Tư pháp"  # now the source changes that cell too
    source.activities[0].lead = ["Sở Tư pháp"]
    (conflict,) = merge(BASE, source, live).conflicts
    assert conflict.ident == "I.1" and conflict.keys == ("lead_text", "lead")
    assert conflict.kept == {"lead_text": "Sở Ngoại vụ", "lead": ["Văn phòng UBND tỉnh"]}


def test_without_a_base_derived_values_stay_while_their_cell_is_unchanged() -> None:
    live = dataclasses.replace(BASE, activities=[dataclasses.replace(a) for a in BASE.activities])
    live.activities[0].lead = ["Văn phòng UBND tỉnh"]  # fixed by hand; the cell says Sở Ngoại vụ
    live.activities[1].content = "Nội dung sửa tay"  # a source cell: follows the source
    merged = merge(None, BASE, live)
    assert merged.activities[0]["lead"] == ["Văn phòng UBND tỉnh"]
    assert merged.activities[1]["content"] == BASE.activities[1].content


# --- drafts and approval on disk -----------------------------------------------------------------


def test_a_draft_is_never_loaded_and_check_notes_it(tmp_path: Path) -> None:
    review = save_plan(BASE, tmp_path)
    assert review.written == draft_path(tmp_path, BASE.slug) and review.changes.new_file
    assert load_schedules(tmp_path) == ([], [])
    from notifier.check import check

    notes = [
        p
        for p in check(tmp_path / "none.toml", tmp_path, today=NOW.date())
        if "bản nháp" in p.message
    ]
    assert [p.severity for p in notes] == ["info"]
    approve(review.written, now=NOW)
    plans, problems = load_schedules(tmp_path)
    assert [p.slug for p in plans] == [BASE.slug] and problems == []
    assert load_schedule(tmp_path / "kh-34-2024.toml") == load_schedule(
        base_path(tmp_path, BASE.slug)
    )


def test_the_daemon_ignores_drafts_and_mentions_them_on_reload(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from notifier.clock import ShiftedClock
    from notifier.daemon import Reloader, load_snapshot

    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    folder = tmp_path / "schedules"
    published(BASE, folder)
    clock = ShiftedClock(NOW)
    snap = load_snapshot(tmp_path / "config.toml", now=clock.now(), environ={})
    reloader = Reloader(tmp_path / "config.toml", snap, environ={}, clock=clock)
    changed = dataclasses.replace(BASE, activities=BASE.activities[:1])
    draft = save_plan(changed, folder).written
    assert draft is not None
    caplog.set_level(logging.INFO, logger="notifier.daemon")
    result = reloader.reload(force=True)
    assert result is not None and result.ok
    assert [len(p.activities) for p in reloader.current.plans] == [
        3
    ]  # the live file, not the draft
    notes = [r for r in caplog.records if "bản nháp chưa được duyệt" in r.getMessage()]
    assert [r.levelno for r in notes] == [logging.INFO] and str(draft) in notes[0].getMessage()


def test_reimport_keeps_hand_edits_and_comments_when_refs_shift(tmp_path: Path) -> None:
    live = published(BASE, tmp_path)
    edit(
        live,
        'funding = "Ngân sách tỉnh"',
        'funding = "Ngân sách tỉnh và xã hội hóa" # sửa tay: QĐ 12',
    )
    edit(live, 'timing = "Quý IV/2024"', 'timing = "Quý IV/2024" # chờ xác nhận')
    inserted = activity("I.1", "Một hoạt động mới đứng đầu phụ lục", lead="Sở Tư pháp")
    source = dataclasses.replace(BASE, activities=[inserted] + [
        dataclasses.replace(a, ref=f"I.{n}") for n, a in enumerate(BASE.activities, 2)])  # fmt: skip
    review = save_plan(source, tmp_path)
    assert review.changes.counts()["added"] == 1 and review.changes.conflicts == ()
    assert review.changes.renumbered == (("I.1", "I.2"), ("I.2", "I.3"), ("I.3", "I.4"))
    assert review.changes.changed == ()
    text = review.written.read_text(encoding="utf-8")
    assert "# sửa tay: QĐ 12" in text and "# chờ xác nhận" in text
    result = approve(review.written, now=NOW)
    got = load_schedule(live)
    assert [a.ref for a in got.activities] == ["I.1", "I.2", "I.3", "I.4"]
    assert got.activities[1].funding == "Ngân sách tỉnh và xã hội hóa"
    assert result.backup is not None and result.backup.parent.name == ".history"
    assert "I.3" in result.backup.read_text(encoding="utf-8")  # the version before
    assert not review_import(source, tmp_path).changes.changes_schedule


def test_a_broken_draft_is_refused_and_the_live_file_is_untouched(tmp_path: Path) -> None:
    live = published(BASE, tmp_path)
    before = live.read_bytes()
    draft = save_plan(dataclasses.replace(BASE, activities=BASE.activities[:2]), tmp_path).written
    edit(draft, "start = 2024-04-01", "start = 2024-13-01")
    with pytest.raises(ScheduleError):
        approve(draft, now=NOW)
    assert live.read_bytes() == before and draft.exists()


def test_live_file_edited_after_the_draft_is_merged_again_or_refused(tmp_path: Path) -> None:
    live = published(BASE, tmp_path)
    source = dataclasses.replace(BASE, activities=[dataclasses.replace(a) for a in BASE.activities])
    source.activities[1].funding = "Nguồn xã hội hóa"
    draft = save_plan(source, tmp_path).written
    edit(live, 'funding = "Ngân sách tỉnh"', 'funding = "Sửa sau khi nhập"')
    approve(draft, now=NOW)  # the draft was untouched: merged again with the newer live file
    got = load_schedule(live)
    assert (
        got.activities[0].funding == "Sửa sau khi nhập"
        and got.activities[1].funding == "Nguồn xã hội hóa"
    )
    source.activities[2].funding = "Lần hai"
    draft = save_plan(source, tmp_path).written
    edit(live, 'funding = "Sửa sau khi nhập"', 'funding = "Sửa lần nữa"')
    edit(draft, 'funding = "Lần hai"', 'funding = "Lần hai (sửa bản nháp)"')
    with pytest.raises(UserError, match="cả lịch đang dùng và bản nháp"):
        approve(draft, now=NOW)
    assert draft.exists() and "Sửa lần nữa" in live.read_text(encoding="utf-8")


def test_a_hand_edited_draft_is_what_gets_published_and_diffed(tmp_path: Path) -> None:
    published(BASE, tmp_path)
    draft = save_plan(dataclasses.replace(BASE, activities=BASE.activities[:2]), tmp_path).written
    edit(draft, 'content = "Hội thảo', 'content = "Hội thảo quốc tế')
    changes = review_draft(draft).changes
    assert [r["ref"] for r in changes.removed] == ["I.3"]
    assert [c.fields for c in changes.changed] == [("content",)]
    approve(draft, now=NOW)
    assert (
        load_schedule(tmp_path / "kh-34-2024.toml")
        .activities[1]
        .content.startswith("Hội thảo quốc tế")
    )


# --- the property: random plans, random hand edits, random source edits --------------------------

WORDS = ["tổ chức", "hội thảo", "giao lưu", "văn hóa", "triển lãm", "ảnh", "bạn bè", "quốc tế",
         "tỉnh", "Lào", "Campuchia", "hữu nghị", "ẩm thực", "cồng chiêng", "lễ hội", "du lịch"]  # fmt: skip
FIELDS = ("content", "funding", "timing")


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[tuple[str, int, str]], dict, dict, set, list]:
    n = draw(st.integers(2, 7))
    rows = [
        (f"Hoạt động số {k}: " + " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=4, max_size=8))),
         draw(st.sampled_from(sorted(Q))), draw(st.sampled_from(["", "Ngân sách tỉnh", "Xã hội hóa"])))
        for k in range(n)
    ]  # fmt: skip
    pick = st.sets(st.sampled_from(FIELDS), max_size=2)
    hand = draw(st.dictionaries(st.integers(0, n - 1), pick, max_size=n))
    source = draw(st.dictionaries(st.integers(0, n - 1), pick, max_size=n))
    dropped = draw(st.sets(st.integers(0, n - 1), max_size=n - 1))
    inserted = draw(st.lists(st.integers(0, n), max_size=2))  # positions of new rows
    return rows, hand, source, dropped, inserted


def _edited(a: Activity, fields: set[str], mark: str) -> Activity:
    a = dataclasses.replace(a)
    if "content" in fields:
        a.content += f" ({mark})"
    if "funding" in fields:
        a.funding = f"Kinh phí {mark}"
    if "timing" in fields:  # the source rewrites the cell; an admin re-dates by hand
        a.timing = (
            (Q[4] if a.timing.text != Q[4].text else Q[2])
            if mark == "nguồn"
            else a.timing._replace(
                end=date(2024, 12, 15)
                if a.timing.end != date(2024, 12, 15)
                else date(2024, 12, 20),
            )
        )
    return a


def _value(a: Activity, field: str) -> object:
    return (a.timing.text, a.timing.start, a.timing.end) if field == "timing" else getattr(a, field)


def _versions(scenario) -> tuple[Plan, list[Activity], Plan, list[int | None]]:
    """base, the admin's hand-edited rows, the corrected import, and which base row each of
    its rows is (None: inserted). The import renumbers its rows, so refs shift."""
    rows, hand, source_edits, dropped, inserted = scenario
    base = plan(
        *(activity(f"I.{k + 1}", c, timing=Q[q], funding=f) for k, (c, q, f) in enumerate(rows))
    )
    hand_made = [_edited(a, hand.get(k, set()), "sửa tay") for k, a in enumerate(base.activities)]
    new_rows: list[tuple[int | None, Activity]] = [
        (k, _edited(a, source_edits.get(k, set()), "nguồn"))
        for k, a in enumerate(base.activities) if k not in dropped
    ]  # fmt: skip
    for n, at in enumerate(inserted):
        fresh = activity("?", f"Hoạt động chèn thêm {n} về ẩm thực", lead="Đơn vị mới", timing=Q[3])
        new_rows.insert(min(at, len(new_rows)), (None, fresh))
    incoming = dataclasses.replace(base, activities=[
        dataclasses.replace(a, ref=f"I.{n}") for n, (_, a) in enumerate(new_rows, 1)])  # fmt: skip
    return base, hand_made, incoming, [k for k, _ in new_rows]


def _check_merged(scenario, result: Plan, conflicts: set[str]) -> None:
    """What the docs promise, row by row, from the recorded edits (not from the merge)."""
    _, hand, source_edits, dropped, inserted = scenario
    base, hand_made, incoming, origin = _versions(scenario)
    got_by_key = {a.content.split(":")[0]: a for a in result.activities}
    for k in range(len(base.activities)):
        key, mine, theirs = f"Hoạt động số {k}", hand.get(k, set()), source_edits.get(k, set())
        if k in dropped:
            assert (key in got_by_key) == bool(mine), key  # dropped unless edited by hand
            continue
        got, src = got_by_key[key], incoming.activities[origin.index(k)]
        assert got.ref == src.ref  # refs follow the source's numbering
        for field in FIELDS:
            if field in mine:  # the hand edit stays; a source change to it is a conflict
                assert _value(got, field) == _value(hand_made[k], field), (key, field)
                assert (field in theirs) <= (got.ref in conflicts)
            else:
                assert _value(got, field) == _value(src, field), (key, field)
        if not mine:
            assert activity_row(got) == activity_row(src)  # untouched rows: exactly the source
    assert sum(1 for a in result.activities if a.content.startswith("Hoạt động chèn")) == len(
        inserted
    )


@settings(max_examples=80, deadline=None)
@given(scenarios())
# Rows that differ only by their number: "số 5 … (sửa tay)" was paired with "số 6 …", whose
# text is nearer, once the admin's edits had been merged.
@example(
    (
        [(f"Hoạt động số {k}: tổ chức tổ chức tổ chức tổ chức", 2, "") for k in range(7)],
        {6: {"funding"}, 3: {"content"}, 5: {"content"}},
        {},
        {0, 1, 4, 6},
        [],
    )
)
def test_property_merge_follows_the_source_and_keeps_hand_edits(scenario) -> None:
    from notifier.schedules import plan_from_rows

    base, hand_made, incoming, _ = _versions(scenario)
    live = dataclasses.replace(base, activities=hand_made)
    merged = merge(base, incoming, live)
    result = plan_from_rows(base.slug, merged.plan, merged.activities, merged.reports)
    _check_merged(scenario, result, {c.ident for c in merged.conflicts})
    # approved: the import becomes the base, the result the live schedule; nothing left to do
    again = merge(incoming, incoming, result)
    assert again.conflicts == () and list(again.activities) == [
        activity_row(a) for a in result.activities
    ]
    assert not diff(
        result, plan_from_rows(base.slug, again.plan, again.activities, again.reports)
    ).changes_schedule


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_property_on_files_import_approve_then_diff_shows_no_change(scenario) -> None:
    base, hand_made, incoming, _ = _versions(scenario)
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        live = load_schedule(published(base, folder))
        write_schedule(
            dataclasses.replace(live, activities=hand_made), folder, existing=live
        )  # by hand
        review = save_plan(incoming, folder)
        _check_merged(scenario, review.result, {c.ident for c in review.changes.conflicts})
        if review.written is not None:
            approve(review.written, now=NOW)
        again = review_import(incoming, folder)
        assert not again.changes.changes_schedule and again.changes.conflicts == ()
        assert save_plan(incoming, folder).written is None


# --- the commands --------------------------------------------------------------------------------


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


needs_seed = pytest.mark.skipif(
    not SEED.exists(), reason="../shared/seeds is not beside the checkout"
)


def _corrected_seed(folder: Path) -> Path:
    """The seed with one timing corrected: II.7 (Mondulkiri) moves from Quý II to Quý III."""
    lines = SEED.read_text(encoding="utf-8").split("\n")
    row = next(
        i
        for i, line in enumerate(lines)
        if line.startswith("Chương trình nghệ thuật giao lưu văn hóa tại tỉnh Mondulkiri")
    )
    at = next(
        i for i in range(row, row + 6) if nfc(lines[i].strip()) == "Quý II/2024"
    )  # the seed is NFD
    lines[at] = "Quý III/2024"
    out = folder / "ke-hoach-sua.txt"
    out.write_text("\n".join(lines), encoding="utf-8")
    return out


@needs_seed
def test_cli_import_diff_approve_round_trip(workdir: Path) -> None:
    runner = CliRunner()
    args = ["--now", "2024-03-01T08:00"]
    assert runner.invoke(app, ["import", str(SEED), "--approve", *args]).exit_code == 0
    same = runner.invoke(app, ["diff", str(SEED), *args])
    assert same.exit_code == 0, same.output
    assert "Không có gì thay đổi" in same.output

    corrected = _corrected_seed(workdir)
    live = workdir / "schedules" / "34-kh-ubnd-2024.toml"
    before = live.read_bytes()
    shown = runner.invoke(app, ["diff", str(corrected), "--json", *args])
    assert shown.exit_code == 1, shown.output
    (data,) = json.loads(shown.stdout)
    assert data["changes"] is True and data["counts"]["added"] == 0
    moved = [r for r in data["redated"] if r["old"] != r["new"]]
    assert len(moved) == 1 and moved[0]["new"]["start"][:7] == "2024-07"
    assert live.read_bytes() == before  # diff writes nothing

    imported = runner.invoke(app, ["import", str(corrected), *args])
    assert imported.exit_code == 0, imported.output
    table = runner.invoke(app, ["diff", *args])  # every pending draft
    assert table.exit_code == 1
    assert "đổi ngày" in table.output and "→" in table.output
    draft = workdir / "schedules" / "34-kh-ubnd-2024.draft.toml"
    done = runner.invoke(app, ["approve", str(draft), *args])
    assert done.exit_code == 0, done.output
    assert "Đã duyệt" in done.output and ".history" in done.output
    after = runner.invoke(app, ["diff", str(corrected), *args])
    assert after.exit_code == 0, after.output


@needs_seed
def test_cli_diff_shows_a_conflict_and_approve_keeps_the_hand_edit(workdir: Path) -> None:
    runner = CliRunner()
    args = ["--now", "2024-03-01T08:00"]
    assert (
        runner.invoke(app, ["approve", str(SEED), *args]).exit_code == 0
    )  # a plan: import + approve
    live = workdir / "schedules" / "34-kh-ubnd-2024.toml"
    plan_now = load_schedule(live)
    target = next(a for a in plan_now.activities if a.ref == "II.7")
    text = live.read_text(encoding="utf-8")
    block = text.index('ref = "II.7"')
    end_at = text.index(f"end = {target.timing.end.isoformat()}", block)
    live.write_text(
        text[:end_at] + "end = 2024-05-15" + text[end_at + len("end = 2024-06-30") :],
        encoding="utf-8",
    )
    shown = runner.invoke(app, ["diff", str(_corrected_seed(workdir)), "--json", *args])
    (data,) = json.loads(shown.stdout)
    # no activity changes (the admin's version is kept); only [plan] source names the new file
    assert [data["counts"][k] for k in ("added", "removed", "redated", "changed")] == [0, 0, 0, 0]
    assert list(data["plan_fields"]) == ["source"] and shown.exit_code == 1
    (conflict,) = data["conflicts"]
    assert conflict["ref"] == "II.7" and conflict["source"]["timing"] == "Quý III/2024"
    assert conflict["kept"]["end"] == "2024-05-15" and conflict["keys"] == [
        "timing",
        "start",
        "end",
    ]
    assert runner.invoke(app, ["approve", str(_corrected_seed(workdir)), *args]).exit_code == 0
    assert load_schedule(live).activities[next(
        n for n, a in enumerate(plan_now.activities) if a.ref == "II.7")].timing.end == date(2024, 5, 15)  # fmt: skip


def test_cli_errors_exit_2_for_diff_and_1_for_approve(workdir: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["diff", "khong-co.txt"]).exit_code == 2
    missing = runner.invoke(app, ["approve", "schedules/khong-co.draft.toml"])
    assert missing.exit_code == 1 and "Không có bản nháp" in missing.output
    assert runner.invoke(app, ["diff"]).exit_code == 0  # no drafts: nothing would change


def test_cli_diff_prints_plan_text_literally_never_as_markup(workdir: Path) -> None:
    folder = workdir / "schedules"
    published(BASE, folder)
    odd = dataclasses.replace(
        BASE.activities[0], content="[bold red]Gặp mặt[/bold red] [link=x]Lào[/link]"
    )
    save_plan(dataclasses.replace(BASE, activities=[odd, *BASE.activities[1:]]), folder)
    shown = CliRunner().invoke(app, ["diff", "--now", "2024-03-01T08:00"], env={"COLUMNS": "200"})
    assert shown.exit_code == 1, shown.output
    assert "[bold red]Gặp mặt[/bold red] [link=x]Lào[/link]" in shown.output
    assert "nội dung (content)" in shown.output and "sửa" in shown.output


def test_a_broken_live_file_is_never_merged_over(tmp_path: Path) -> None:
    live = published(BASE, tmp_path)
    edit(live, 'ref = "I.2"', 'ref = "I.2"\nend = 2024-02-30')
    before = live.read_bytes()
    with pytest.raises(ScheduleError) as caught:
        save_plan(dataclasses.replace(BASE, activities=BASE.activities[:1]), tmp_path)
    assert caught.value.problems and caught.value.problems[0].line is not None
    assert live.read_bytes() == before and not draft_path(tmp_path, BASE.slug).exists()


def test_a_hand_edited_draft_is_never_overwritten_by_a_new_import(tmp_path: Path) -> None:
    published(BASE, tmp_path)
    shorter = dataclasses.replace(BASE, activities=BASE.activities[:2])
    draft = save_plan(shorter, tmp_path).written
    assert save_plan(shorter, tmp_path).written == draft  # an untouched draft is simply replaced
    edit(draft, 'content = "Hội thảo', 'content = "Hội thảo quốc tế')
    before = draft.read_bytes()
    with pytest.raises(UserError, match="đã được sửa tay"):
        save_plan(BASE, tmp_path)
    assert draft.read_bytes() == before
    approve(draft, now=NOW)  # approving it (or deleting it) unblocks the next import
    assert save_plan(BASE, tmp_path).written is not None
