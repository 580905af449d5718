"""config.toml: the model of every section, its validation, defaults and environment overrides.

Public: `Config` (sections `notifier`, `calendar`, `reports`, `units`, `groups`,
`observances`, `anniversaries`, `reminders` and `digest` (models from reminders.py),
`feeds`, `smtp`, `database`, `web`; helpers `.directory()`,
`.observances()`, `.work_calendar()`, `.deadline_rules()`,
`.schedules_path()`, `.var_path()`, `.line()`), `load_config(path)`, `read_config(path)`,
`default_config()`, `apply_environment(config, environ)`, `smtp_password(config, environ)`,
`Secret`, `config_schema()`, `ENVIRONMENT`.

Errors come all at once, in Vietnamese, each naming file, line, "[section] key = value"
and a fix taken from the field's examples (khal's settings report every error in one
go; Radicale's schema keeps default, help and converter together — here the pydantic
field holds default, description and example, and the JSON Schema comes from it).
Every section forbids unknown keys, with a "có phải là …?" suggestion.

Facts relied on: secrets never live in config.toml (it is meant to be committed); the
SMTP password comes from NOTIFIER_SMTP_PASSWORD or a `password_file` outside the
project directory. Relative paths are relative to the config file's directory.
Adding a section: write a `_Section` subclass and add one field to `Config`.

Model docstrings and descriptions are Vietnamese on purpose: they become the JSON
Schema text admins see in their editor. Not here: what units mean (units.py), what
deadlines mean (reporting.py, workdays.py), cross-file checks (check.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from notifier.errors import ConfigError, Problem
from notifier.acks import AckRules  # [acknowledgements], owned by acks.py
from notifier.reminders import DigestRules, ReminderRules  # sections owned by reminders.py
from notifier.reporting import Period, Wording
from notifier.text import fold, nfc
from notifier.tomlfile import (
    KeyPath,
    Lines,
    TomlSyntaxError,
    key_label,
    read_toml,
    sentence,
    validation_problems,
)
from notifier.workdays import DayOffRule

if TYPE_CHECKING:
    from notifier.keydates import Observance
    from notifier.reporting import DeadlineRule
    from notifier.units import Directory
    from notifier.workdays import WorkCalendar

__all__ = [
    "ENVIRONMENT",
    "Config",
    "Secret",
    "apply_environment",
    "config_schema",
    "default_config",
    "load_config",
    "read_config",
    "smtp_password",
]

# --- value types ---------------------------------------------------------------------------------


def _day(value: Any) -> date:
    """A TOML date (or "YYYY-MM-DD" text); never a datetime or a number."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{_show(value)} không phải ngày hợp lệ (NĂM-THÁNG-NGÀY, không có ngoặc kép)")


def _show(value: Any) -> str:
    from notifier.tomlfile import toml_literal

    return toml_literal(value)


def _email(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[^@\s\"'<>,;]+@[^@\s\"'<>,;]+\.[A-Za-z0-9-]{2,}", value):
        raise ValueError(f"“{value}” không phải địa chỉ email hợp lệ")
    return value


def _not_blank(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("không được để trống")
    return value


def _month_day(value: str) -> str:
    m = re.fullmatch(r"(\d{1,2})-(\d{1,2})", value.strip())
    if m is None:
        raise ValueError(f"“{value}” không đúng dạng THÁNG-NGÀY")
    month, day = int(m.group(1)), int(m.group(2))
    try:
        date(2024, month, day)  # 2024 is a leap year: 02-29 is allowed
    except ValueError:
        raise ValueError(f"“{value}”: tháng {month} không có ngày {day}") from None
    return f"{month:02d}-{day:02d}"


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"múi giờ “{value}” không tồn tại") from None
    return value


def _url(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ValueError(f"“{value}” không phải địa chỉ http:// hoặc https://")
    return value.rstrip("/")


Day = Annotated[date, BeforeValidator(_day)]
Text = Annotated[str, AfterValidator(nfc)]
Name = Annotated[str, AfterValidator(nfc), AfterValidator(_not_blank)]
Email = Annotated[str, AfterValidator(_email)]
MonthDay = Annotated[str, AfterValidator(_month_day), Field(pattern=r"^\d{1,2}-\d{1,2}$")]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Section(BaseModel):
    """Base of every table: unknown keys are errors; values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- sections ------------------------------------------------------------------------------------


class NotifierSection(_Section):
    """[notifier] Thông tin chung: tỉnh, múi giờ, địa chỉ web, thư mục dữ liệu."""

    province: Text = Field(
        "",
        description="Tên tỉnh; để hiểu “Sở Ngoại vụ tỉnh Đắk Lắk” là “Sở Ngoại vụ”.",
        examples=["Đắk Lắk"],
    )
    timezone: Annotated[str, AfterValidator(_timezone)] = Field(
        "Asia/Ho_Chi_Minh",
        description="Múi giờ của mọi ngày trong lịch.",
        examples=["Asia/Ho_Chi_Minh"],
    )
    public_url: Annotated[str, AfterValidator(_url)] = Field(
        "http://127.0.0.1:8080",
        description="Địa chỉ gốc dùng trong đường dẫn ở email, trang web và lịch ICS.",
        examples=["https://lich.example.org"],
    )
    schedules_dir: Text = Field(
        "schedules",
        description="Thư mục chứa các tệp lịch (so với thư mục của config.toml).",
        examples=["schedules"],
    )
    var_dir: Text = Field(
        "var", description="Thư mục dữ liệu chạy: cơ sở dữ liệu, thư chờ gửi.", examples=["var"]
    )


class CalendarSection(_Section):
    """[calendar] Ngày làm việc: quy tắc hạn rơi vào ngày nghỉ, ngày nghỉ thêm, ngày làm bù."""

    deadline_on_day_off: DayOffRule = Field(
        DayOffRule.NEXT_WORKING_DAY,
        description="Hạn rơi vào ngày nghỉ: “next_working_day” (ngày làm việc kế tiếp, Bộ luật Dân sự "
        "2015 Điều 148) hoặc “previous_working_day” (ngày làm việc liền trước).",
        examples=["next_working_day"],
    )
    extra_days_off: list[Day] = Field(
        default_factory=list,
        description="Ngày nghỉ thêm theo thông báo lịch nghỉ hằng năm.",
        examples=[[date(2026, 1, 2)]],
    )
    extra_workdays: list[Day] = Field(
        default_factory=list,
        description="Ngày thứ Bảy/Chủ nhật đi làm bù.",
        examples=[[date(2026, 1, 10)]],
    )


class DeadlineEntry(_Section):
    """[[reports.deadlines]] Hạn nộp một loại báo cáo trong một năm."""

    period: Period = Field(
        description="Kỳ báo cáo: half-year, annual, quarterly, monthly, nine-month.",
        examples=["half-year"],
    )
    year: Annotated[int, Field(ge=2000, le=2100)] = Field(
        description="Năm của kỳ báo cáo.", examples=[2024]
    )
    date: Day = Field(
        description="Ngày ghi trong văn bản (NĂM-THÁNG-NGÀY).", examples=[date(2024, 6, 15)]
    )
    wording: Wording = Field(
        description="“before” = “trước ngày X” (ngày cuối là X-1); “by” = “chậm nhất ngày X”.",
        examples=["before"],
    )
    to: Name | None = Field(
        None, description="Chỉ áp dụng cho báo cáo gửi đơn vị này.", examples=["Sở Ngoại vụ"]
    )
    index: int | None = Field(
        None,
        description="Tháng (1-12) hoặc quý (1-4) với kỳ monthly/quarterly; "
        "nửa năm (1 hoặc 2) với half-year.",
        examples=[2],
    )


class ReportsSection(_Section):
    """[reports] Báo cáo định kỳ."""

    deadlines: list[DeadlineEntry] = Field(
        default_factory=list, description="Hạn nộp báo cáo theo kỳ và năm."
    )


class UnitEntry(_Section):
    """[[units]] Một cơ quan, đơn vị nhận thư."""

    name: Name = Field(
        description="Tên chính thức đầy đủ (dùng trong dòng “Kính gửi”).", examples=["Sở Ngoại vụ"]
    )
    slug: Text | None = Field(
        None,
        description="Mã ASCII dùng trong tên tệp, đường dẫn; mặc định tạo từ tên.",
        examples=["so-ngoai-vu"],
    )
    aliases: list[Name] = Field(
        default_factory=list,
        description="Tên khác, tên viết tắt trong kế hoạch.",
        examples=[["SNgV", "Sở Ngoại vụ tỉnh"]],
    )
    email: Email | None = Field(
        None, description="Địa chỉ nhận thư.", examples=["songoaivu@example.org"]
    )
    coordinator: bool = Field(
        False, description="Đầu mối tổng hợp: nhận bản tin tổng hợp.", examples=[True]
    )
    valid_from: Day | None = Field(
        None, description="Ngày đơn vị bắt đầu hoạt động.", examples=[date(2025, 7, 1)]
    )
    valid_until: Day | None = Field(
        None, description="Ngày cuối cùng đơn vị còn hoạt động.", examples=[date(2025, 6, 30)]
    )
    successors: list[Name] = Field(
        default_factory=list,
        description="Đơn vị nhận thư thay sau valid_until.",
        examples=[["Văn phòng UBND tỉnh"]],
    )
    kind: Text = Field(
        "",
        description="Phân loại tự do (department, association, locality…).",
        examples=["department"],
    )


class GroupEntry(_Section):
    """[[groups]] Một cụm từ chỉ nhóm đơn vị (“các cơ quan, đơn vị liên quan”)."""

    name: Name = Field(
        description="Tên nhóm như kế hoạch viết.", examples=["Các cơ quan, đơn vị liên quan"]
    )
    slug: Text | None = Field(
        None, description="Mã ASCII; mặc định tạo từ tên.", examples=["cac-so-ban-nganh"]
    )
    aliases: list[Name] = Field(
        default_factory=list,
        description="Các cách viết khác của nhóm.",
        examples=[["các đơn vị liên quan"]],
    )
    members: list[Name] = Field(
        default_factory=list,
        description="Đơn vị thành viên; [] = không gửi thư cho nhóm.",
        examples=[["Sở Tài chính"]],
    )
    kind: Text = Field("", description="Phân loại tự do.", examples=["group"])
    valid_from: Day | None = Field(
        None, description="Ngày nhóm bắt đầu có.", examples=[date(2025, 7, 1)]
    )
    valid_until: Day | None = Field(
        None, description="Ngày cuối cùng nhóm còn có.", examples=[date(2025, 6, 30)]
    )
    successors: list[Name] = Field(
        default_factory=list,
        description="Nhóm/đơn vị thay thế sau valid_until.",
        examples=[["UBND các xã, phường"]],
    )


class ObservanceEntry(_Section):
    """[[observances]] Ngày kỷ niệm lặp lại hằng năm, theo dương lịch (date) hoặc âm lịch (lunar)."""

    name: Name = Field(description="Tên ngày kỷ niệm.", examples=["Quốc khánh Lào"])
    date: MonthDay | None = Field(None, description="THÁNG-NGÀY dương lịch.", examples=["12-02"])
    lunar: MonthDay | None = Field(
        None, description="THÁNG-NGÀY âm lịch (thay cho date).", examples=["03-10"]
    )
    keywords: list[Name] = Field(
        default_factory=list,
        description="Cụm từ nhận diện trong nội dung hoạt động.",
        examples=[["Quốc khánh Lào"]],
    )

    @model_validator(mode="after")
    def _one_date(self) -> ObservanceEntry:
        if (self.date is None) == (self.lunar is None):
            raise ValueError(
                'ghi đúng một trong hai: date = "12-02" (dương lịch) hoặc lunar = "03-10" (âm lịch)'
            )
        return self


class AnniversaryEntry(_Section):
    """[[anniversaries]] Ngày kỷ niệm có năm gốc (“55 năm”; năm tròn chia hết cho 5 được đánh dấu)."""

    name: Name = Field(
        description="Tên sự kiện.", examples=["Thiết lập quan hệ ngoại giao Việt Nam - Thụy Điển"]
    )
    date: Day = Field(description="Ngày gốc (NĂM-THÁNG-NGÀY).", examples=[date(1969, 1, 11)])
    keywords: list[Name] = Field(
        default_factory=list,
        description="Cụm từ nhận diện trong nội dung.",
        examples=[["Thụy Điển"]],
    )


class SmtpSection(_Section):
    """[smtp] Máy chủ gửi thư. Không có host: thư được ghi vào thư mục var/ (maildir) thay vì gửi.
    Mật khẩu KHÔNG ghi ở đây: dùng biến môi trường NOTIFIER_SMTP_PASSWORD hoặc password_file."""

    host: Text | None = Field(None, description="Máy chủ SMTP.", examples=["smtp.example.org"])
    port: Port = Field(
        587, description="Cổng SMTP (587 cho STARTTLS, 465 cho SSL).", examples=[587]
    )
    user: Text | None = Field(
        None, description="Tên đăng nhập SMTP.", examples=["notifier@example.org"]
    )
    starttls: bool = Field(True, description="Dùng STARTTLS (cổng 587).", examples=[True])
    ssl: bool = Field(
        False,
        description="Dùng SSL ngay từ đầu (cổng 465); khi đó đặt starttls = false.",
        examples=[False],
    )
    from_address: Email | None = Field(
        None, description="Địa chỉ người gửi.", examples=["notifier@example.org"]
    )
    from_name: Text = Field(
        "", description="Tên người gửi hiển thị.", examples=["Hệ thống nhắc việc"]
    )
    password_file: Text | None = Field(
        None,
        description="Tệp chứa mật khẩu SMTP, nằm NGOÀI thư mục dự án.",
        examples=["/etc/notifier/smtp-password"],
    )

    @model_validator(mode="after")
    def _one_tls(self) -> SmtpSection:
        if self.ssl and self.starttls and "starttls" in self.model_fields_set:
            raise ValueError("không dùng đồng thời ssl = true và starttls = true; chọn một")
        return self


_DURATION = re.compile(r"-?P(?:\d+W|(?=\d|T\d)(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+S)?)?)")


def _duration(value: str) -> str:
    value = value.strip()
    if not _DURATION.fullmatch(value):
        raise ValueError(
            f"“{value}” không phải khoảng thời gian RFC 5545 (PT1H = 1 giờ, P1D = 1 ngày)"
        )
    return value


Duration = Annotated[str, AfterValidator(_duration)]


class FeedsSection(_Section):
    """[feeds] Lịch ICS: tần suất làm mới, nhắc trong lịch, tệp mã bí mật của lịch riêng."""

    refresh_interval: Duration | None = Field(
        None, description="Ứng dụng lịch tải lại sau khoảng này.", examples=["PT1H"]
    )
    published_ttl: Duration | None = Field(
        None, description="Thời gian sống của lịch đã xuất bản.", examples=["PT1H"]
    )
    alarms: list[Duration] = Field(
        default_factory=list,
        description="Nhắc trong lịch, so với lúc bắt đầu.",
        examples=[["-PT15H"]],
    )
    tokens_file: Text | None = Field(
        None,
        description="Tệp mã bí mật của lịch, nằm NGOÀI thư mục dự án.",
        examples=["/etc/notifier/feed-tokens.toml"],
    )


class DatabaseSection(_Section):
    """[database] Cơ sở dữ liệu. Không có url: SQLite trong thư mục var/."""

    url: Text | None = Field(
        None,
        description="URL SQLAlchemy, ví dụ postgresql+psycopg://…",
        examples=["postgresql+psycopg://notifier@localhost/notifier"],
    )


class WebSection(_Section):
    """[web] Máy chủ web (lịch ICS, trang tổng quan)."""

    host: Text = Field("127.0.0.1", description="Địa chỉ lắng nghe.", examples=["127.0.0.1"])
    port: Annotated[int, Field(ge=0, le=65535)] = Field(
        8080, description="Cổng lắng nghe (0 = tự chọn).", examples=[8080]
    )


# --- the whole file ------------------------------------------------------------------------------


class Config(_Section):
    """Cấu hình notifier (config.toml)."""

    notifier: NotifierSection = Field(default_factory=NotifierSection)
    calendar: CalendarSection = Field(default_factory=CalendarSection)
    reports: ReportsSection = Field(default_factory=ReportsSection)
    units: list[UnitEntry] = Field(default_factory=list, description="Danh mục đơn vị nhận thư.")
    groups: list[GroupEntry] = Field(default_factory=list, description="Cụm từ chỉ nhóm đơn vị.")
    # Named apart from the `observances()` method of the contract; the TOML key is "observances".
    observance_entries: list[ObservanceEntry] = Field(
        default_factory=list, alias="observances", description="Ngày kỷ niệm hằng năm."
    )
    anniversaries: list[AnniversaryEntry] = Field(
        default_factory=list, description="Ngày kỷ niệm có năm gốc."
    )
    reminders: ReminderRules = Field(default_factory=ReminderRules)
    digest: DigestRules = Field(default_factory=DigestRules)
    acknowledgements: AckRules = Field(default_factory=AckRules)
    feeds: FeedsSection = Field(default_factory=FeedsSection)
    smtp: SmtpSection = Field(default_factory=SmtpSection)
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    web: WebSection = Field(default_factory=WebSection)

    _file: str = PrivateAttr("")
    _base: Path | None = PrivateAttr(None)
    _lines: Lines | None = PrivateAttr(None)
    _directory: Directory | None = PrivateAttr(None)

    # where things are

    @property
    def file(self) -> str:
        """How problems name the file ("" for the embedded defaults)."""
        return self._file

    @property
    def base_dir(self) -> Path:
        """Directory that relative paths start from (the config file's, else the current one)."""
        return self._base if self._base is not None else Path(".")

    def line(self, *path: str | int) -> int | None:
        """Line of a key path in the file, or of its nearest ancestor; None without a file."""
        return self._lines.line(path) if self._lines is not None else None

    def schedules_path(self) -> Path:
        return self.base_dir / self.notifier.schedules_dir

    def var_path(self) -> Path:
        return self.base_dir / self.notifier.var_dir

    # views for other modules

    def directory(self) -> Directory:
        """The unit directory (units.py) from [[units]] and [[groups]]; built once."""
        if self._directory is None:
            from notifier.units import directory_from_toml

            self._directory = directory_from_toml(self._units_doc())
        return self._directory

    def _units_doc(self) -> dict[str, Any]:
        def dump(entries: list[UnitEntry] | list[GroupEntry]) -> list[dict[str, Any]]:
            return [e.model_dump(exclude_none=True) for e in entries]

        return {
            "notifier": {"province": self.notifier.province},
            "units": dump(self.units),
            "groups": dump(self.groups),
        }

    def observances(self) -> list[Observance]:
        """[[observances]] and [[anniversaries]] as keydates.Observance values."""
        from notifier.keydates import Observance

        found: list[Observance] = []
        for entry in self.observance_entries:
            lunar = entry.lunar is not None
            written = entry.lunar if entry.lunar is not None else entry.date or ""
            month, day = (int(p) for p in written.split("-"))
            found.append(
                Observance(
                    name=entry.name,
                    keywords=tuple(entry.keywords or [entry.name]),
                    month=month,
                    day=day,
                    lunar=lunar,
                    founded=None,
                )
            )
        for ann in self.anniversaries:
            found.append(
                Observance(
                    name=ann.name,
                    keywords=tuple(ann.keywords or [ann.name]),
                    month=ann.date.month,
                    day=ann.date.day,
                    lunar=False,
                    founded=ann.date.year,
                )
            )
        return found

    def work_calendar(self) -> WorkCalendar:
        from notifier.workdays import WorkCalendar

        return WorkCalendar(self.calendar.extra_days_off, self.calendar.extra_workdays)

    def deadline_rules(self) -> list[DeadlineRule]:
        """[[reports.deadlines]] as reporting.DeadlineRule, each knowing its file and the line
        of its `date` (what `notifier check` messages name)."""
        from notifier.reporting import DeadlineRule

        return [
            DeadlineRule(
                period=e.period,
                year=e.year,
                date=e.date,
                wording=e.wording,
                to=e.to,
                index=e.index,
                file=self.file,
                line=self.line("reports", "deadlines", n, "date"),
            )
            for n, e in enumerate(self.reports.deadlines)
        ]


def default_config() -> Config:
    """The embedded defaults: no units, SQLite and a local maildir in var/, web on 127.0.0.1:8080."""
    return Config()


# --- loading -------------------------------------------------------------------------------------

# Keys that would hold a secret. Config files get committed; secrets never go in them.
_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "pwd",
        "mat_khau",
        "matkhau",
        "secret",
        "token",
        "api_key",
        "apikey",
        "feed_token",
    }
)


def _secret_problems(data: Any, path: KeyPath, file: str, lines: Lines) -> list[Problem]:
    """Find (and remove, so they are reported once) keys that look like secrets."""
    found: list[Problem] = []
    if isinstance(data, dict):
        for key in list(data):
            here = (*path, key)
            if key.lower() in _SECRET_KEYS:
                del data[key]
                env = "NOTIFIER_SMTP_PASSWORD" if path[:1] == ("smtp",) else "biến môi trường"
                found.append(
                    Problem(
                        "không ghi mật khẩu hay mã bí mật vào config.toml (tệp này được lưu cùng mã nguồn).",
                        file=file,
                        line=lines.line(here),
                        key=key_label(here, "…", lines),
                        hint=(
                            f'Dùng biến môi trường {env}, hoặc password_file = "/etc/notifier/smtp-password" '
                            "(tệp nằm ngoài thư mục dự án)."
                        ),
                    )
                )
            else:
                found += _secret_problems(data[key], here, file, lines)
    elif isinstance(data, list):
        for n, item in enumerate(data):
            found += _secret_problems(item, (*path, n), file, lines)
    return found


def read_config(
    path: Path, *, environ: Mapping[str, str] | None = None, missing_ok: bool = False
) -> tuple[Config | None, list[Problem]]:
    """Validate config.toml: (Config, warnings) when usable, else (None, every problem).

    With `missing_ok`, an absent file gives the embedded defaults. `environ`, when
    given, applies the NOTIFIER_* overrides (see `ENVIRONMENT`).
    """
    file = str(path)
    if not path.exists():
        if missing_ok:
            config = default_config()
            config._base = path.parent
            return _with_environment(config, environ)
        return None, [
            Problem(
                "không tìm thấy tệp cấu hình.",
                file=file,
                hint="Dùng --config ĐƯỜNG_DẪN, hoặc chép config.toml mẫu của dự án.",
            )
        ]
    try:
        parsed = read_toml(path, name=file)
    except TomlSyntaxError as exc:
        return None, [exc.problem]
    except OSError as exc:
        return None, [Problem(f"không đọc được tệp ({exc.strerror}).", file=file)]
    lines = parsed.lines
    problems = _secret_problems(parsed.data, (), file, lines)
    try:
        config = Config.model_validate(parsed.data)
    except ValidationError as exc:
        return None, _by_line(
            problems + validation_problems(exc, model=Config, file=file, lines=lines)
        )
    config._file, config._base, config._lines = file, path.parent, lines
    problems = _by_line(problems + _semantic_problems(config))
    if any(p.severity == "error" for p in problems):
        return None, problems
    return _with_environment(config, environ, problems)


def _by_line(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: p.line or 0)


def _with_environment(
    config: Config, environ: Mapping[str, str] | None, warnings: list[Problem] | None = None
) -> tuple[Config | None, list[Problem]]:
    found = list(warnings or [])
    if environ is None:
        return config, found
    try:
        return apply_environment(config, environ), found
    except ConfigError as exc:
        return None, found + exc.problems


def load_config(
    path: Path, *, environ: Mapping[str, str] | None = None, missing_ok: bool = False
) -> Config:
    """The validated config; ConfigError listing every problem at once if it is not usable."""
    config, problems = read_config(path, environ=environ, missing_ok=missing_ok)
    if config is None:
        errors = [p for p in problems if p.severity == "error"]
        raise ConfigError(
            f"{path} có {len(errors)} lỗi; sửa rồi chạy lại `notifier check`.", problems
        )
    return config


def _semantic_problems(config: Config) -> list[Problem]:
    """What the field types cannot see: the unit directory, the calendar, deadline rules, secrets."""
    return (
        _directory_problems(config)
        + _calendar_problems(config)
        + _deadline_entry_problems(config)
        + _password_file_problems(config)
    )


_QUOTED = re.compile(r"“([^”]+)”")


def _directory_problems(config: Config) -> list[Problem]:
    """Build the directory now, so its problems (collisions, unknown successors) carry lines."""
    try:
        config.directory()
    except ConfigError as exc:
        return [_place_unit_problem(config, p) for p in exc.problems]
    return []


def _place_unit_problem(config: Config, problem: Problem) -> Problem:
    """Give a units.py Problem (which has no line) the line of the entry it names."""
    tables = ["groups", "units"] if "groups" in problem.key else ["units", "groups"]
    words = problem.key.split()
    field = (
        words[-1]
        if words and words[-1] in UnitEntry.model_fields | GroupEntry.model_fields
        else None
    )
    for name in _QUOTED.findall(problem.message):
        for table in tables:
            entries: list[Any] = getattr(config, table)
            for n, entry in enumerate(entries):
                if fold(entry.name) == fold(name) or name == (entry.slug or ""):
                    path: KeyPath = (table, n, field) if field else (table, n)
                    value = getattr(entry, field) if field else None
                    return Problem(
                        sentence(problem.message),
                        file=config.file,
                        line=config.line(*path),
                        key=key_label(path, value, config._lines),
                        hint=problem.hint,
                        severity=problem.severity,
                    )
    return Problem(
        sentence(problem.message),
        file=config.file,
        line=problem.line,
        key=problem.key,
        hint=problem.hint,
        severity=problem.severity,
    )


def _calendar_problems(config: Config) -> list[Problem]:
    cal = config.calendar
    both = sorted(set(cal.extra_days_off) & set(cal.extra_workdays))
    found = []
    for day in both:
        n = cal.extra_workdays.index(day)
        path = ("calendar", "extra_workdays", n)
        found.append(
            Problem(
                f"ngày {day:%d/%m/%Y} vừa là ngày nghỉ thêm vừa là ngày làm bù.",
                file=config.file,
                line=config.line(*path),
                key=key_label(path, day, config._lines),
                hint="Chỉ giữ ngày này ở một trong hai danh sách extra_days_off, extra_workdays.",
            )
        )
    return found


def _deadline_entry_problems(config: Config) -> list[Problem]:
    """Entries reporting.DeadlineRule refuses (e.g. a monthly deadline without its month)."""
    from notifier.reporting import DeadlineRule

    found = []
    for n, e in enumerate(config.reports.deadlines):
        try:
            DeadlineRule(
                period=e.period, year=e.year, date=e.date, wording=e.wording, to=e.to, index=e.index
            )
        except ValueError as exc:
            path = ("reports", "deadlines", n, "index")
            found.append(
                Problem(
                    sentence(str(exc)),
                    file=config.file,
                    line=config.line(*path),
                    key=key_label(path, e.index, config._lines),
                    hint="Ví dụ: index = 2 (tháng 2 hoặc quý II).",
                )
            )
    return found


def _password_file_problems(config: Config) -> list[Problem]:
    """A password file inside the project directory could be committed: refuse it."""
    name = config.smtp.password_file
    if not name or config._base is None:
        return []
    project = config.base_dir.resolve()
    target = (config.base_dir / name).resolve()
    if not target.is_relative_to(project):
        return []
    path = ("smtp", "password_file")
    return [
        Problem(
            f"tệp mật khẩu nằm trong thư mục dự án ({project}) nên có thể bị lưu cùng mã nguồn.",
            file=config.file,
            line=config.line(*path),
            key=key_label(path, name, config._lines),
            hint='Đặt tệp ngoài thư mục dự án. Ví dụ: password_file = "/etc/notifier/smtp-password"',
        )
    ]


# --- environment ---------------------------------------------------------------------------------

# Variable → key path it overrides. Values are validated like the file's own.
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "NOTIFIER_SMTP_HOST": ("smtp", "host"),
    "NOTIFIER_SMTP_PORT": ("smtp", "port"),
    "NOTIFIER_DATABASE": ("database", "url"),
}


def apply_environment(config: Config, environ: Mapping[str, str]) -> Config:
    """A copy of `config` with the NOTIFIER_* overrides in `environ` (empty values ignored).

    The environment is a parameter, never read here, so tests and the daemon pass
    their own. Raises ConfigError naming the variable and its value.
    """
    updates: dict[str, dict[str, Any]] = {}
    sources: dict[tuple[str, str], str] = {}
    for variable, (section, key) in ENVIRONMENT.items():
        value = environ.get(variable, "")
        if value.strip():
            updates.setdefault(section, {})[key] = value.strip()
            sources[(section, key)] = variable
    if not updates:
        return config
    changed: dict[str, Any] = {}
    problems: list[Problem] = []
    for section, values in updates.items():
        current: _Section = getattr(config, section)
        model = type(current)
        data = current.model_dump(exclude_unset=True) | values
        try:
            changed[section] = model.model_validate(data)
        except ValidationError as exc:
            for p in validation_problems(exc, model=model):
                bad_key = next((k for k in values if p.key.split(" =")[0] == k), None)
                source = sources.get((section, bad_key)) if bad_key else None
                if bad_key is None or source is None:
                    problems.append(p)
                    continue
                problems.append(
                    Problem(
                        p.message,
                        key=f"biến môi trường {source} = {values[bad_key]!r}".replace("'", '"'),
                        hint=p.hint.replace(f"Ví dụ: {bad_key} = ", f"Ví dụ: {source}="),
                    )
                )
    if problems:
        raise ConfigError("Biến môi trường NOTIFIER_* không hợp lệ.", problems)
    return config.model_copy(update=changed)


class Secret:
    """A secret string that never shows itself in repr/str/logs (Starlette's idea); `.reveal()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def smtp_password(config: Config, environ: Mapping[str, str]) -> Secret | None:
    """NOTIFIER_SMTP_PASSWORD, else the first line of [smtp] password_file, else None."""
    value = environ.get("NOTIFIER_SMTP_PASSWORD", "")
    if value:
        return Secret(value)
    name = config.smtp.password_file
    if not name:
        return None
    target = config.base_dir / name
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"Không đọc được tệp mật khẩu SMTP {target} ({exc.strerror}).",
            [
                Problem(
                    f"không đọc được tệp mật khẩu {target} ({exc.strerror}).",
                    file=config.file,
                    line=config.line("smtp", "password_file"),
                    key="[smtp] password_file",
                )
            ],
        ) from None
    first = text.splitlines()[0] if text.strip() else ""
    return Secret(first.strip()) if first.strip() else None


# --- JSON Schema ---------------------------------------------------------------------------------


def _for_taplo(schema: dict[str, Any], title: str) -> dict[str, Any]:
    """Pydantic's schema in the draft-07 shape Taplo / Even Better TOML read ($defs → definitions)."""
    import json

    text = json.dumps(schema, ensure_ascii=False).replace('"#/$defs/', '"#/definitions/')
    # JSON Schema's "time" is RFC 3339 ("07:30:00+07:00"); admins write "07:30", which the
    # models accept, so editors must too.
    text = text.replace('"format": "time"', '"pattern": "^[0-2]?[0-9]:[0-5][0-9](:[0-5][0-9])?$"')
    out: dict[str, Any] = json.loads(text)
    if "$defs" in out:
        out["definitions"] = out.pop("$defs")
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": title,
        **{k: v for k, v in out.items() if k != "title"},
    }


def config_schema() -> dict[str, Any]:
    """JSON Schema of config.toml, with the Vietnamese descriptions and examples above."""
    return _for_taplo(Config.model_json_schema(), "config.toml của notifier")
