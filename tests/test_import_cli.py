"""`notifier import` end to end on the 2024 seed: the JSON interface of DESIGN.md and the schedule file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifier.cli import app

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "seeds" / "000_6a99d0bb3ce2a896.txt"
PROSE = ROOT.parent / "shared" / "seeds" / "001_645accf3a744a29c.txt"

pytestmark = pytest.mark.skipif(not SEED.exists(), reason="../shared/seeds is not beside the checkout")

# (ref, timing kind, start, end, lead units) read off the seed by hand.
EXPECTED = [
    ("I.1", "continuous", "2024-01-01", "2024-12-31", ["Các cơ quan, đơn vị, địa phương trong tỉnh"]),
    ("I.3", "range", "2024-01-01", "2024-12-31", ["Sở Ngoại vụ"]),
    ("II.2", "range", "2024-01-01", "2024-12-31",
     ["Sở Văn hóa, Thể thao và Du lịch", "Sở Ngoại vụ", "Các cơ quan, đơn vị liên quan"]),
    ("II.6", "range", "2024-04-01", "2024-06-30", ["Hội Hữu nghị Việt Nam - Campuchia tỉnh"]),
    ("II.7", "range", "2024-04-01", "2024-06-30", ["Sở Văn hóa, Thể thao và Du lịch"]),
    ("II.8", "range", "2024-07-01", "2024-09-30", ["Sở Văn hóa, Thể thao và Du lịch"]),
    ("II.9", "range", "2024-07-01", "2024-09-30", ["UBND huyện Ea Súp"]),
    ("II.10", "range", "2024-10-01", "2024-10-31", ["Sở Văn hóa, Thể thao và Du lịch"]),
    ("III.9", "range", "2024-04-01", "2024-04-30",
     ["Hội Hữu nghị Việt Nam - Lào tỉnh", "UBND huyện Buôn Đôn", "Các cơ quan, đơn vị liên quan"]),
    ("III.10", "range", "2024-06-01", "2024-06-30", ["Sở Văn hóa, Thể thao và Du lịch"]),
    ("III.11", "range", "2024-12-01", "2024-12-31", ["Hội Hữu nghị Việt Nam - Lào tỉnh"]),
    ("IV.6", "range", "2024-01-01", "2024-12-31", ["Sở Ngoại vụ"]),
]


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _import_json(path: Path) -> dict:
    result = CliRunner().invoke(app, ["import", str(path), "--json", "--now", "2024-03-01T08:00"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_seed_json_has_every_activity_and_both_duties(workdir: Path) -> None:
    data = _import_json(SEED)
    assert data["plan"]["number"] == "34/KH-UBND"
    assert data["plan"]["date"] == "2024-02-22"
    refs = [a["ref"] for a in data["activities"]]
    sections = {"I": 3, "II": 10, "III": 11, "IV": 7}
    assert refs == [f"{s}.{n}" for s, count in sections.items() for n in range(1, count + 1)]
    by_ref = {a["ref"]: a for a in data["activities"]}
    for ref, kind, start, end, lead in EXPECTED:
        activity = by_ref[ref]
        assert (activity["timing"]["kind"], activity["timing"]["start"], activity["timing"]["end"]) == (
            kind, start, end), ref
        assert activity["lead"] == lead, ref
    assert by_ref["IV.6"]["coordinating"] == ["Sở Văn hóa, Thể thao và Du lịch"]
    assert by_ref["II.10"]["funding"] == "Nguồn ngân sách nhà nước năm 2024 cấp cho đơn vị"
    assert {(r["period"], r["to"]) for r in data["reports"]} == {
        ("half-year", "Sở Ngoại vụ"), ("annual", "Sở Ngoại vụ")}
    assert not [p for p in data["problems"] if p["severity"] == "error"]


def test_content_date_is_suggested_as_key_date(workdir: Path) -> None:
    laos = {a["ref"]: a for a in _import_json(SEED)["activities"]}["III.11"]
    assert "2024-12-02" in [k["date"] for k in laos["key_dates"]]
    assert laos["timing"]["start"] == "2024-12-01"  # the plan's window stays the truth


def test_prose_page_gives_activities_and_no_navigation(workdir: Path) -> None:
    data = _import_json(PROSE)
    assert data["plan"]["number"] == "4045/KH-UBND"
    assert data["activities"]
    text = " ".join(a["content"] for a in data["activities"])
    for noise in ("Tin đã đưa", "VIDEO CLIP", "Bộ luật Hình sự", "Cổng thông tin điện tử"):
        assert noise not in text


def test_import_writes_a_draft_that_approve_publishes_and_check_accepts(workdir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(SEED), "--now", "2024-03-01T08:00"])
    assert result.exit_code == 0, result.output
    live = workdir / "schedules" / "34-kh-ubnd-2024.toml"
    draft = workdir / "schedules" / "34-kh-ubnd-2024.draft.toml"
    assert draft.exists() and not live.exists()  # a draft is never used before approval
    assert "notifier approve" in result.output
    pending = runner.invoke(app, ["check", "--now", "2024-03-01T08:00"])
    assert pending.exit_code == 0, pending.output  # a pending draft is a notice, not an error
    assert "bản nháp chưa được duyệt" in pending.output
    empty = runner.invoke(app, ["timeline", "--json"])
    assert empty.stdout.strip() == ""  # nothing published yet
    approved = runner.invoke(app, ["approve", str(draft), "--now", "2024-03-01T08:00"])
    assert approved.exit_code == 0, approved.output
    assert live.exists() and not draft.exists()
    text = live.read_text(encoding="utf-8")
    assert "Quý II/2024" in text and "BẢN NHÁP" not in text
    checked = runner.invoke(app, ["check", "--now", "2024-03-01T08:00"])
    assert checked.exit_code == 0, checked.output
    assert "bản nháp" not in checked.output
    shown = runner.invoke(app, ["timeline", "--json"])
    assert shown.exit_code == 0, shown.output
    assert len(shown.stdout.splitlines()) == 31


def test_import_with_approve_publishes_at_once_and_reimport_changes_nothing(workdir: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["import", str(SEED), "--approve", "--now", "2024-03-01T08:00"])
    assert first.exit_code == 0, first.output
    live = workdir / "schedules" / "34-kh-ubnd-2024.toml"
    before = live.read_bytes()
    again = runner.invoke(app, ["import", str(SEED), "--now", "2024-03-01T08:00"])
    assert again.exit_code == 0, again.output
    assert not (workdir / "schedules" / "34-kh-ubnd-2024.draft.toml").exists()
    assert "không có gì thay đổi" in again.output
    assert live.read_bytes() == before


def test_missing_file_is_a_clear_error(workdir: Path) -> None:
    result = CliRunner().invoke(app, ["import", "khong-co.txt"])
    assert result.exit_code == 1
    assert "Không tìm thấy tệp" in result.output
