"""check.py and `notifier check` / `notifier schema`: config and schedules checked together."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifier.check import check, summary
from notifier.cli import app
from notifier.errors import Problem
from notifier.plan import Activity, Plan, ReportDuty
from notifier.schedules import write_schedule
from notifier.timing import Timing, TimingKind

REPO = Path(__file__).resolve().parent.parent

CONFIG = """\
[notifier]
province = "Đắk Lắk"

[[reports.deadlines]]
period = "half-year"
year = 2024
date = 2024-06-15
wording = "before"

[[reports.deadlines]]
period = "annual"
year = 2024
date = 2024-12-17
wording = "by"

[[units]]
name = "Sở Ngoại vụ"
email = "songoaivu@example.org"
valid_until = 2025-06-30
successors = ["Văn phòng UBND tỉnh"]

[[units]]
name = "Văn phòng UBND tỉnh"
email = "vanphong@example.org"

[[units]]
name = "Sở Văn hóa, Thể thao và Du lịch"
email = "sovhttdl@example.org"
"""


def line_of(text: str, needle: str, start: int = 1) -> int:
    for number, line in enumerate(text.split("\n"), 1):
        if number >= start and needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def plan(**changes: object) -> Plan:
    base = Plan(
        slug="kh-34-2024",
        title="Kế hoạch 2024",
        number="34/KH-UBND",
        year=2024,
        activities=[
            Activity(
                ref="I.1",
                content="Gặp mặt",
                lead_text="Sở Ngoại vụ",
                lead=["Sở Ngoại vụ"],
                timing=Timing("Quý II/2024", TimingKind.RANGE, date(2024, 4, 1), date(2024, 6, 30)),
            ),
            Activity(
                ref="I.2",
                content="Triển lãm",
                lead_text="Sở Văn hoá, Thể thao và Du lịch",
                coordinating=["Sở Văn hóa Thể thao", "Văn phòng UBND tỉnh"],
                timing=Timing(
                    "Tháng 10/2024", TimingKind.RANGE, date(2024, 10, 1), date(2024, 10, 31)
                ),
            ),
        ],
        reports=[
            ReportDuty(
                id="half-year", period="half-year", title="Báo cáo 6 tháng", to="Sở Ngoại vụ"
            ),
            ReportDuty(id="quarterly", period="quarterly", title="Báo cáo quý", to="Sở Ngoại vụ"),
        ],
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    write_schedule(plan(), tmp_path / "schedules")
    return tmp_path


def by_severity(problems: list[Problem], severity: str) -> list[Problem]:
    return [p for p in problems if p.severity == severity]


def test_unknown_units_are_errors_at_their_line_with_the_closest_name(project: Path) -> None:
    problems = check(project / "config.toml", today=date(2024, 3, 1))
    schedule = project / "schedules" / "kh-34-2024.toml"
    text = schedule.read_text(encoding="utf-8")
    (error,) = by_severity(problems, "error")
    assert error.file == str(schedule)
    assert error.line == line_of(text, 'coordinating = ["Sở Văn hóa Thể thao"')
    assert error.key == '[[activities]] coordinating = "Sở Văn hóa Thể thao"'
    assert "có phải là “Sở Văn hóa, Thể thao và Du lịch”?" in error.message


def test_a_lead_cell_without_resolved_names_is_split_through_the_directory(project: Path) -> None:
    broken = plan()
    broken.activities[0].lead = []
    broken.activities[0].lead_text = "Sở Ngoại vụ, Sở Tài chánh"
    path = write_schedule(broken, project / "schedules")
    problems = check(project / "config.toml", today=date(2024, 3, 1))
    errors = [
        p for p in by_severity(problems, "error") if p.key.startswith("[[activities]] lead_text")
    ]
    (error,) = errors
    assert error.line == line_of(
        path.read_text(encoding="utf-8"), 'lead_text = "Sở Ngoại vụ, Sở Tài chánh"'
    )
    assert "“Sở Tài chánh”" in error.message


def test_superseded_units_warn_once_per_unit_after_their_last_day(project: Path) -> None:
    before = check(project / "config.toml", today=date(2025, 6, 30))
    assert not [p for p in before if "hết hiệu lực" in p.message]
    after = [
        p
        for p in check(project / "config.toml", today=date(2025, 7, 1))
        if "hết hiệu lực" in p.message
    ]
    (warning,) = after  # used by I.1 and by two reports: one warning
    assert warning.severity == "warning"
    assert "I.1" in warning.message and "Văn phòng UBND tỉnh" in warning.message


def test_deadlines_too_close_to_the_cut_off_and_missing_ones_are_warnings(project: Path) -> None:
    problems = check(project / "config.toml", today=date(2024, 3, 1))
    config_warnings = [
        p for p in by_severity(problems, "warning") if p.file == str(project / "config.toml")
    ]
    # "trước ngày 15/6/2024" ends on 14/6, the cut-off day itself; "chậm nhất 17/12" leaves one working day
    (gap,) = config_warnings
    assert gap.line == line_of(CONFIG, "date = 2024-06-15")
    assert "ngày chốt số liệu" in gap.message
    schedule = project / "schedules" / "kh-34-2024.toml"
    text = schedule.read_text(encoding="utf-8")
    missing = [p for p in by_severity(problems, "warning") if p.file == str(schedule)]
    assert [p.line for p in missing] == [line_of(text, 'period = "quarterly"')]


def test_datable_activity_without_an_end_is_a_warning(project: Path) -> None:
    path = project / "schedules" / "kh-34-2024.toml"
    text = path.read_text(encoding="utf-8").replace("end = 2024-10-31\n", "")
    path.write_text(text, encoding="utf-8")
    problems = check(project / "config.toml", today=date(2024, 3, 1))
    (warning,) = [p for p in problems if "không có ngày kết thúc" in p.message]
    assert warning.line == line_of(text, 'kind = "range"', line_of(text, 'ref = "I.2"'))


def test_hand_edited_dates_are_noted(project: Path) -> None:
    from notifier.timing import parse_timing

    try:
        parsed = parse_timing("Quý II/2024", year=2024)
    except NotImplementedError:
        pytest.skip("timing parser not built yet")
    path = project / "schedules" / "kh-34-2024.toml"
    ours = write_schedule(
        plan(activities=[Activity(ref="I.1", content="x", lead=["Sở Ngoại vụ"], timing=parsed)]),
        project / "schedules",
    )
    text = ours.read_text(encoding="utf-8").replace(f"start = {parsed.start}", "start = 2024-05-02")
    path.write_text(text, encoding="utf-8")
    notes = by_severity(check(project / "config.toml", today=date(2024, 3, 1)), "info")
    (note,) = notes
    assert note.line == line_of(text, "start = 2024-05-02")
    assert "ngày đã được sửa tay" in note.message and "02/05/2024" in note.message


def test_broken_files_are_reported_and_the_rest_still_checked(project: Path) -> None:
    (project / "schedules" / "b-hong.toml").write_text(
        '[plan]\ntitle = "x"\nyear = "hai nghìn"\n', encoding="utf-8"
    )
    problems = check(project / "config.toml", today=date(2024, 3, 1))
    files = {p.file for p in by_severity(problems, "error")}
    assert files == {
        str(project / "schedules" / "b-hong.toml"),
        str(project / "schedules" / "kh-34-2024.toml"),
    }
    (year,) = [p for p in problems if p.file.endswith("b-hong.toml")]
    assert (year.line, year.key) == (3, '[plan] year = "hai nghìn"')


def test_a_broken_config_still_gets_its_schedules_validated(project: Path) -> None:
    (project / "config.toml").write_text(CONFIG + '\n[smtp]\nport = "x"\n', encoding="utf-8")
    (project / "schedules" / "b-hong.toml").write_text("[plan\n", encoding="utf-8")
    problems = check(project / "config.toml", project / "schedules", today=date(2024, 3, 1))
    assert {Path(p.file).name for p in by_severity(problems, "error")} == {
        "config.toml",
        "b-hong.toml",
    }


def test_summary_counts_in_vietnamese() -> None:
    problems = [
        Problem("a"),
        Problem("b"),
        Problem("c", severity="warning"),
        Problem("d", severity="info"),
    ]
    assert summary(problems) == "2 lỗi, 1 cảnh báo, 1 ghi chú"
    assert summary(problems[2:3]) == "0 lỗi, 1 cảnh báo"
    assert summary([]) == "Không có lỗi."


# --- the commands --------------------------------------------------------------------------------

runner = CliRunner()


def test_check_command_exits_1_on_errors_and_prints_file_line_key(project: Path) -> None:
    result = runner.invoke(
        app, ["check", "--config", str(project / "config.toml"), "--now", "2024-03-01"]
    )
    assert result.exit_code == 1, result.output
    schedule = project / "schedules" / "kh-34-2024.toml"
    assert f"{schedule}:" in result.output and "[[activities]] coordinating" in result.output
    assert result.output.strip().splitlines()[-1] == "1 lỗi, 2 cảnh báo"


def test_check_command_exits_0_with_only_warnings_and_speaks_json(project: Path) -> None:
    fixed = plan()
    fixed.activities[1].coordinating = ["Văn phòng UBND tỉnh"]
    (project / "schedules" / "kh-34-2024.toml").unlink()  # a rewrite would keep the old list
    write_schedule(fixed, project / "schedules")
    args = ["check", "--config", str(project / "config.toml"), "--now", "2024-03-01T08:00"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "0 lỗi, 2 cảnh báo"
    rows = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert {row["severity"] for row in rows} == {"warning"}
    assert all(row["text"].startswith(row["file"]) for row in rows)


def test_schema_command_writes_both_schemas(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schema", str(tmp_path / "schema")])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "schema" / "config.schema.json").read_text(encoding="utf-8"))
    schedule = json.loads(
        (tmp_path / "schema" / "schedule.schema.json").read_text(encoding="utf-8")
    )
    assert {"units", "smtp", "calendar"} <= set(config["properties"])
    assert {"plan", "activities", "reports"} == set(schedule["properties"])


def test_the_committed_schemas_match_the_models() -> None:
    from notifier.check import SCHEMA_FILES

    for name, build in SCHEMA_FILES.items():
        committed = json.loads((REPO / "docs" / "schema" / name).read_text(encoding="utf-8"))
        assert committed == build(), f"docs/schema/{name} is stale: run `notifier schema`"


def test_the_repository_config_and_schedules_have_no_errors() -> None:
    problems = check(REPO / "config.toml", today=date(2024, 3, 1))
    assert by_severity(problems, "error") == [], [str(p) for p in problems]
