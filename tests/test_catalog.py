"""catalog.py and the CLI around feeds: config + schedules → feeds on disk, tokens, deadlines."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from typer.testing import CliRunner

from feedkit import ICT, plan
from notifier.catalog import load_catalog, parse_duration, read_tokens
from notifier.cli import app
from notifier.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2024, 3, 1, 8, 0, tzinfo=ICT)


@pytest.fixture
def site(tmp_path):
    """A scratch copy of config.toml with one schedule written by schedules.write_schedule."""
    from notifier.schedules import write_schedule

    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    (tmp_path / "schedules").mkdir()
    write_schedule(plan(), tmp_path / "schedules")
    return tmp_path


def test_load_catalog_resolves_units_and_computes_report_deadlines(site):
    catalog = load_catalog(site / "config.toml", now=NOW, environ={})
    (p,) = catalog.plans
    assert p.activity("II.7").lead == ["Sở Văn hóa, Thể thao và Du lịch"]
    (half,) = catalog.deadlines[p.slug]["half-year"]
    # config.toml: half-year 2024 "before" 2024-06-15 → last day Friday 14/6/2024.
    assert (half.key, half.due) == ("2024-1", date(2024, 6, 14)) and "trước ngày 15/6/2024" in half.wording
    assert catalog.settings.uid_domain == "dak-lak.notifier"
    assert catalog.state_path == site / "var" / "feeds-state.json"
    assert site / "schedules" in catalog.watch and site / "config.toml" in catalog.watch


def test_tokens_come_from_environment_or_a_secrets_file(tmp_path):
    secrets = tmp_path / "tokens.toml"
    secrets.write_text('so-ngoai-vu = "tu-tep-12345"\nkhong-co = "abcdefgh1"\n', encoding="utf-8")
    tokens, problems = read_tokens({"NOTIFIER_FEED_TOKENS": "so-tai-chinh=tu-env-67890"}, secrets,
                                   {"so-ngoai-vu", "so-tai-chinh"})  # fmt: skip
    assert tokens == {"so-ngoai-vu": "tu-tep-12345", "so-tai-chinh": "tu-env-67890"}
    assert [p.severity for p in problems] == ["warning"] and "khong-co" in problems[0].message
    with pytest.raises(ConfigError):
        read_tokens({"NOTIFIER_FEED_TOKENS": "so-ngoai-vu=ngắn"}, None, {"so-ngoai-vu"})
    with pytest.raises(ConfigError):
        read_tokens({"NOTIFIER_FEED_TOKENS_FILE": str(tmp_path / "khong-co.toml")}, None, set())


def test_durations_are_rfc5545():
    assert parse_duration("PT1H", key="x") == timedelta(hours=1)
    assert parse_duration("-PT15H", key="x") == timedelta(hours=-15)
    with pytest.raises(ConfigError):
        parse_duration("1 giờ", key="refresh_interval")


def test_cli_feeds_export_writes_files_and_index_and_is_repeatable(site):
    runner = CliRunner()
    out = site / "out"
    args = ["feeds", "export", str(out), "--config", str(site / "config.toml"), "--now", "2024-03-01T08:00"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    plan_entry = next(e for e in index if e["kind"] == "plan")
    body = (out / plan_entry["path"]).read_bytes()
    assert len(icalendar.Calendar.from_ical(body).walk("VEVENT")) == plan_entry["events"] > 0
    assert {e["kind"] for e in index} == {"plan", "unit", "coordinator"}
    again = runner.invoke(app, [*args[:-1], "2024-04-01T08:00"])
    assert again.exit_code == 0 and (out / plan_entry["path"]).read_bytes() == body


def test_cli_feeds_export_reports_a_bad_config_in_vietnamese(site):
    (site / "config.toml").write_text("[notifier]\npublic_url = 5\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["feeds", "export", str(site / "out"), "--config", str(site / "config.toml")])
    assert result.exit_code == 1 and "Lỗi" in result.output
    assert not (site / "out" / "index.json").exists()
