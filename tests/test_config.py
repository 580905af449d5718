"""config.py and tomlfile.py: every problem at once, at its file:line, in Vietnamese, with a fix."""

from __future__ import annotations

import json
import unicodedata
from datetime import date
from pathlib import Path

import pytest
import tomlkit
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.config import (
    Config,
    Secret,
    apply_environment,
    config_schema,
    default_config,
    load_config,
    read_config,
    smtp_password,
)
from notifier.errors import ConfigError
from notifier.tomlfile import TomlSyntaxError, parse_toml

REPO = Path(__file__).resolve().parent.parent


def line_of(text: str, needle: str, start: int = 1, *, whole: bool = False) -> int:
    """1-based number of the first line at or after `start` that contains (or, with
    `whole`, is) `needle`."""
    for number, line in enumerate(text.split("\n"), 1):
        if number >= start and (line.strip() == needle if whole else needle in line):
            return number
    raise AssertionError(f"{needle!r} not in text")


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


MINIMAL = """\
[notifier]
province = "Đắk Lắk"

[[units]]
name = "Sở Ngoại vụ"
email = "songoaivu@example.org"
valid_until = 2025-06-30
successors = ["Văn phòng UBND tỉnh"]

[[units]]
name = "Văn phòng UBND tỉnh"
email = "vanphong@example.org"
"""


# --- the real file and the defaults --------------------------------------------------------------


def test_the_repository_config_loads_without_problems() -> None:
    config, problems = read_config(REPO / "config.toml")
    assert config is not None, [str(p) for p in problems]
    assert [p for p in problems if p.severity == "error"] == []
    text = (REPO / "config.toml").read_text(encoding="utf-8")
    assert len(config.directory()) == text.count("\n[[units]]") + text.count("\n[[groups]]")
    rules = config.deadline_rules()
    header = line_of(text, "[[reports.deadlines]]", whole=True)
    assert rules and rules[0].line == line_of(text, "date =", header)
    assert config.calendar.extra_workdays  # the swaps written in the file


def test_defaults_serve_a_new_user_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path / "config.toml", missing_ok=True)
    assert config.model_dump() == default_config().model_dump()
    assert config.smtp.host is None and config.database.url is None
    assert (config.web.host, config.web.port) == ("127.0.0.1", 8080)
    assert config.notifier.timezone == "Asia/Ho_Chi_Minh"
    assert config.schedules_path() == tmp_path / "schedules"
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "config.toml")
    assert "không tìm thấy tệp cấu hình" in str(caught.value.problems[0])


def test_units_and_successors_reach_the_directory(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    directory = config.directory()
    assert directory.get("so ngoai vu") is not None
    assert [u.name for u in directory.recipients("Sở Ngoại vụ", date(2026, 1, 5))] == [
        "Văn phòng UBND tỉnh"
    ]


def test_nfd_text_is_stored_as_nfc(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, unicodedata.normalize("NFD", MINIMAL)))
    assert config.notifier.province == "Đắk Lắk"
    assert config.units[0].name == unicodedata.normalize("NFC", "Sở Ngoại vụ")


# --- every problem at once, at its line ----------------------------------------------------------

BROKEN = """\
[notifier]
province = "Đắk Lắk"
public_url = "ftp://lich"

[smtp]
host = "smtp.example.org"
port = "587a"

[calendar]
deadline_on_day_off = "next_day"
extra_days_off = [2026-01-02, "2026-13-01", 20260105]

[[reports.deadlines]]
period = "half-year"
year = 2024
date = 2024-06-15
wordin = "before"

[[units]]
name = "Sở Ngoại vụ"
emial = "songoaivu@example.org"
valid_until = "2025-06-31"

[[units]]
name = "Sở Tài chính"
email = "khong-phai-email"
coordinator = "có"

[[observances]]
name = "Quốc khánh Lào"
date = "02-30"

[[observances]]
name = "Hai ngày"
date = "12-02"
lunar = "03-10"

[webb]
port = 8081
"""


def test_all_problems_are_reported_at_once_with_lines_keys_and_fixes(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    problems = problems_of(path)
    by_line = {p.line: p for p in problems}
    assert all(p.file == str(path) for p in problems)
    assert [p.line for p in problems] == sorted(p.line for p in problems)  # file order

    port = by_line[7]  # the STYLE.md example, exactly
    assert str(port) == f'{path}:7: [smtp] port = "587a": không phải số nguyên. Ví dụ: port = 587'

    expected = {
        "public_url": ("[notifier] public_url", "http://"),
        "deadline_on_day_off": (
            "[calendar] deadline_on_day_off",
            '"next_working_day" hoặc "previous_working_day"',
        ),
        "wordin": ("[[reports.deadlines]] wordin", "có phải là “wording”?"),
        "[[reports.deadlines]]": ("[[reports.deadlines]] wording", "thiếu khóa bắt buộc “wording”"),
        "emial": ("[[units]] emial", "có phải là “email”?"),
        '"2025-06-31"': ("[[units]] valid_until", "không phải ngày hợp lệ"),
        "khong-phai-email": ("[[units]] email", "không phải địa chỉ email hợp lệ"),
        'coordinator = "có"': ("[[units]] coordinator", "true hoặc false"),
        '"02-30"': ("[[observances]] date", "tháng 2 không có ngày 30"),
        "[webb]": ("[webb]", "có phải là “web”?"),
    }
    for needle, (key, message) in expected.items():
        problem = by_line[line_of(BROKEN, needle)]
        assert problem.key.startswith(key), (needle, str(problem))
        assert message in problem.message, (needle, str(problem))
    # the two bad list elements: a string that is no date, and a number that must not become one
    days = [p for p in problems if p.key.startswith("[calendar] extra_days_off")]
    assert [p.key for p in days] == [
        '[calendar] extra_days_off = "2026-13-01"',
        "[calendar] extra_days_off = 20260105",
    ]
    assert all(p.hint == "Ví dụ: extra_days_off = [2026-01-02]" for p in days)
    # an observance with both kinds of date is named at its table
    both = by_line[line_of(BROKEN, "[[observances]]", line_of(BROKEN, "Hai ngày") - 2)]
    assert "đúng một trong hai" in both.message
    assert len(problems) == len(expected) + len(days) + 2  # + port + both


def test_an_unknown_key_without_a_close_match_lists_the_valid_ones(tmp_path: Path) -> None:
    (problem,) = problems_of(write(tmp_path, "[web]\nzzz = 1\n"))
    assert (problem.line, problem.key) == (2, "[web] zzz = 1")
    assert "Các khóa hợp lệ: host, port." == problem.hint


def test_unit_directory_problems_get_the_line_of_their_entry(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'successors = ["Văn phòng UBND tỉnh"]', 'successors = ["Văn phòng UBND"]'
    )
    text += '\n[[units]]\nname = "Sở Ngoai Vu"\nemail = "x@example.org"\n'
    problems = problems_of(write(tmp_path, text))
    lines = {p.line for p in problems}
    assert line_of(text, 'successors = ["Văn phòng UBND"]') in lines
    successor = next(p for p in problems if p.line == line_of(text, "successors"))
    assert successor.key.startswith("[[units]] successors") and "Văn phòng UBND tỉnh" in str(
        successor
    )
    assert any("trùng" in p.message for p in problems)  # "Sở Ngoai Vu" collides with "Sở Ngoại vụ"


def test_a_monthly_deadline_without_its_month_is_refused(tmp_path: Path) -> None:
    text = '[[reports.deadlines]]\nperiod = "monthly"\nyear = 2024\ndate = 2024-02-20\nwording = "by"\n'
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.line == 1 and "tháng" in problem.message and "index" in problem.hint


def test_a_day_both_off_and_worked_is_refused(tmp_path: Path) -> None:
    text = "[calendar]\nextra_days_off = [2026-01-02]\nextra_workdays = [\n  2026-01-10,\n  2026-01-02,\n]\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.line == 5 and problem.key == "[calendar] extra_workdays = 2026-01-02"


# --- secrets -------------------------------------------------------------------------------------


def test_a_password_in_config_is_refused_without_echoing_it(tmp_path: Path) -> None:
    text = '[smtp]\nhost = "smtp.example.org"\npassword = "hunter2-bi-mat"\n\n[feeds]\ntoken = "abc123xyz"\n'
    problems = problems_of(write(tmp_path, text))
    assert [p.line for p in problems] == [3, 6]
    assert "NOTIFIER_SMTP_PASSWORD" in problems[0].hint and "password_file" in problems[0].hint
    assert all("hunter2" not in str(p) and "abc123xyz" not in str(p) for p in problems)


def test_a_password_file_inside_the_project_is_refused(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (problem,) = problems_of(write(project, '[smtp]\npassword_file = "secrets/smtp.txt"\n'))
    assert problem.line == 2 and "thư mục dự án" in problem.message
    outside = tmp_path / "smtp-password"
    outside.write_text("mật-khẩu\n", encoding="utf-8")
    config = load_config(write(project, '[smtp]\npassword_file = "../smtp-password"\n'))
    secret = smtp_password(config, {})
    assert secret == Secret("mật-khẩu") and "mật-khẩu" not in repr(secret) + str(secret)
    assert smtp_password(config, {"NOTIFIER_SMTP_PASSWORD": "từ-môi-trường"}) == Secret(
        "từ-môi-trường"
    )
    assert smtp_password(default_config(), {}) is None


# --- environment ---------------------------------------------------------------------------------


def test_environment_overrides_are_applied_from_a_given_mapping(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + '\n[smtp]\nhost = "a.example.org"\nport = 25\n'))
    env = {
        "NOTIFIER_SMTP_HOST": "mail.example.org",
        "NOTIFIER_SMTP_PORT": "2525",
        "NOTIFIER_DATABASE": "postgresql+psycopg://u@db/notifier",
        "NOTIFIER_OTHER": "x",
    }
    changed = apply_environment(config, env)
    assert (changed.smtp.host, changed.smtp.port) == ("mail.example.org", 2525)
    assert changed.database.url == "postgresql+psycopg://u@db/notifier"
    assert (config.smtp.host, config.smtp.port) == (
        "a.example.org",
        25,
    )  # the original is untouched
    assert changed.directory() is not None and changed.file == config.file
    assert apply_environment(config, {"NOTIFIER_SMTP_HOST": "  "}) is config  # empty = unset
    loaded = load_config(tmp_path / "config.toml", environ={"NOTIFIER_SMTP_PORT": "465"})
    assert loaded.smtp.port == 465


@pytest.mark.parametrize("value", ["587a", "0", "70000"])
def test_a_bad_environment_value_names_the_variable(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        apply_environment(default_config(), {"NOTIFIER_SMTP_PORT": value})
    (problem,) = caught.value.problems
    assert problem.key == f'biến môi trường NOTIFIER_SMTP_PORT = "{value}"'
    if value == "587a":
        assert (
            problem.message == "không phải số nguyên."
            and problem.hint == "Ví dụ: NOTIFIER_SMTP_PORT=587"
        )


# --- TOML syntax ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[notifier]\nprovince = "Đắk Lắk\n\n[web]\nport = 1\n', 2, "chuỗi mở ở đây chưa đóng"),
        ("[calendar]\nextra_days_off = [\n  2026-01-02,\n  2026-02-30,\n]\n", 4, "cột 3: ngày"),
        ('[web]\nport = 1\nhost = "a"\nport = 2\n', 4, "đã được khai báo ở dòng 2"),
        ("[calendar]\nextra_workdays = [\n  2026-01-10\n", 2, "danh sách mở ở đây chưa đóng"),
        ("[web\nport = 1\n", 1, "thiếu dấu ]"),
        ("[web]\nport 8080\n", 2, "thiếu dấu ="),
        ("[smtp]\nport = 587a\n", 2, "ký tự thừa"),
    ],
)
def test_syntax_errors_name_line_and_what_was_expected(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.line == line, str(problem)
    assert words in problem.message, str(problem)
    assert problem.message.startswith("lỗi cú pháp TOML")


def test_a_file_not_in_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes('[notifier]\nprovince = "Đắk Lắk"\n'.encode() + 'x = "Hà"\n'.encode("cp1258"))
    (problem,) = problems_of(path)
    assert problem.line == 3 and "UTF-8" in problem.message


# --- the line scanner against generated documents ------------------------------------------------

keys = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
scalars = st.one_of(st.integers(-5, 5), st.booleans(), st.dates(), st.text(max_size=12))
values = st.one_of(scalars, st.lists(scalars, max_size=3))
tables = st.dictionaries(keys, values, max_size=4)
documents = st.dictionaries(
    keys,
    st.one_of(values, tables, st.lists(tables, min_size=1, max_size=3)),
    min_size=1,
    max_size=5,
)


def _leaves(data: dict, path: tuple = ()):
    for key, value in data.items():
        here = (*path, key)
        if isinstance(value, dict):
            yield from _leaves(value, here)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for n, table in enumerate(value):
                yield (*here, n), None
                yield from _leaves(table, (*here, n))
        else:
            yield here, key


@settings(max_examples=60, deadline=None)
@given(documents)
def test_every_key_is_found_on_the_line_that_writes_it(data: dict) -> None:
    text = tomlkit.dumps(data)
    parsed = parse_toml(text)
    lines = text.split("\n")  # TOML lines end at "\n" only (not at U+0085 or U+2028)
    for path, key in _leaves(data):
        number = parsed.lines.exact(path)
        assert number is not None, path
        written = lines[number - 1].strip()
        if key is None:  # an array-of-tables entry: its header line
            assert written == f"[[{'.'.join(str(p) for p in path[:-1])}]]"
        else:
            assert written.startswith((f"{key} =", f'"{key}" =')), (
                path,
                written,
            )


def test_parse_toml_raises_one_problem_for_syntax() -> None:
    with pytest.raises(TomlSyntaxError) as caught:
        parse_toml("a = [1, 2\nb = 3\n", file="x.toml")
    problem = caught.value.problem
    assert (problem.file, problem.line) == ("x.toml", 2) and "mở ở dòng 1" in problem.message


# --- schema and views ----------------------------------------------------------------------------


def test_the_config_schema_lists_every_section_in_vietnamese() -> None:
    schema = config_schema()
    assert set(schema["properties"]) == {f.alias or n for n, f in Config.model_fields.items()}
    assert schema["additionalProperties"] is False
    text = json.dumps(schema, ensure_ascii=False)
    assert "$defs" not in text and "#/definitions/" in text
    smtp = schema["definitions"]["SmtpSection"]
    assert "NOTIFIER_SMTP_PASSWORD" in smtp["description"]
    assert smtp["properties"]["port"]["examples"] == [587]


def test_observances_become_keydates_values(tmp_path: Path) -> None:
    keydates = pytest.importorskip("notifier.keydates")
    text = (
        '[[observances]]\nname = "Giỗ Tổ"\nlunar = "03-10"\n\n[[anniversaries]]\nname = "Thụy Điển"\n'
        'date = 1969-01-11\nkeywords = ["Thụy Điển"]\n'
    )
    found = load_config(write(tmp_path, text)).observances()
    assert all(isinstance(o, keydates.Observance) for o in found)
    assert [(o.month, o.day, o.lunar, o.founded) for o in found] == [
        (3, 10, True, None),
        (1, 11, False, 1969),
    ]


def test_the_admin_guide_documents_every_section_and_key() -> None:
    from pydantic import BaseModel

    from notifier.schedules import ScheduleModel
    from notifier.tomlfile import _inner_model

    guide = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = []

    def walk(model: type[BaseModel]) -> None:
        for name, info in model.model_fields.items():
            key = info.alias or name
            if (
                f"`{key}`" not in guide
                and f"`[{key}]`" not in guide
                and f"[[{key}]]" not in guide
                and f".{key}]]" not in guide
            ):
                missing.append(f"{model.__name__}.{key}")
            inner = _inner_model(info.annotation)
            if inner is not None and inner is not model:
                walk(inner)

    walk(Config)
    walk(ScheduleModel)
    assert missing == []
