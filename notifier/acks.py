"""Closing the loop: signed, expiring links by which a unit says "Đã báo cáo" / "Đã hoàn
thành", or a coordinator stops the digest; the pages behind them; who has and has not.

Owns:
- the link token: `Claim` (action, item key, unit slug, last valid day, link id), `Signer`
  (`sign(claim) -> str`, `verify(token, now=) -> Claim`, raising `LinkRefused` with reason
  "forged" or "expired"), `link_id(source_key)`;
- the item keys: `activity_key(plan_slug, ref)`, `report_key(...)`, `DIGEST_KEY`;
- the server secret: `load_secret(config, env, create=)` (NOTIFIER_SECRET, the file named by
  NOTIFIER_SECRET_FILE or `[acknowledgements] secret_file`, else var/secret.key created
  with mode 0600 on first start); `AckRules` (the `[acknowledgements]` section);
- `Links` (what reminders.plan_reminders calls to put links in emails), `links_for(config)`,
  `planning_options(config, store)` (links + acknowledged + opted-out, for the daemon's
  planner) and `preview_options(config)` (the same for `notifier preview`, never creating
  a database or a secret);
- `status(store, plans=, directory=, today=, calendar=, deadlines=)` /
  `status_for(store, snapshot, today=)` -> [ItemStatus]: who has acknowledged what, who
  has not (the coordinator's page, site.py);
- `RefusalBudget`: how many refused attempts (forged, expired) a minute reach the audit
  table, per client address and in all (each would otherwise be a row any anonymous
  request adds);
- the routes `/a/{token}` and `/u/{token}` (`routes()`; GET page, POST records; on /u/,
  a POST with resubscribe=1 from our own "Nhận lại thư tổng hợp" form undoes the opt-out,
  any other body, RFC 8058's one-click included, unsubscribes) and
  `describe(claim, snapshot)` (what a link is about, in Vietnamese).

Token format (docs/acknowledgements.md): `base64url(payload) "." base64url(mac)`, no
padding; payload is the compact JSON array `[1, action, key, unit, "YYYY-MM-DD", link id]`
and mac = HMAC-SHA256(secret, "notifier/acks/v1\\n" + payload). The MAC is checked (with
hmac.compare_digest) before anything in the payload is read, and both parts must be the
canonical base64 of their bytes, so no other spelling of a token is accepted. The unit is
inside the signed payload and the routes take no other unit: a link for unit X cannot
acknowledge for unit Y. Expiry is a day (Asia/Ho_Chi_Minh), valid through its end.
POST forms carry the token itself and no cookie: the token is the capability, so there is
no session to ride on and CSRF has nothing to forge.
Not here: SQL (store.py), what is due (reminders.py), rendering emails (emails.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from notifier.errors import ConfigError

__all__ = [
    "ACTIONS",
    "DIGEST_KEY",
    "SECRET_ENV",
    "SECRET_FILE_ENV",
    "AckRules",
    "Claim",
    "ItemStatus",
    "LinkRefused",
    "Links",
    "RefusalBudget",
    "Signer",
    "activity_key",
    "describe",
    "link_id",
    "links_for",
    "load_secret",
    "planning_options",
    "preview_options",
    "report_key",
    "routes",
    "status",
    "status_for",
]

log = logging.getLogger("notifier.acks")

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
Action = Literal["report-sent", "activity-done", "unsubscribe-digest"]
ACTIONS: tuple[str, ...] = ("report-sent", "activity-done", "unsubscribe-digest")
DIGEST_KEY = "digest"
SECRET_ENV = "NOTIFIER_SECRET"
SECRET_FILE_ENV = "NOTIFIER_SECRET_FILE"
SECRET_NAME = "secret.key"  # in var/, when nothing else names a secret
MIN_SECRET_BYTES = 16
_CONTEXT = b"notifier/acks/v1\n"
_MAX_TOKEN = 1024  # a real one is ~200 characters
_VERSION = 1


# --- configuration: [acknowledgements] --------------------------------------------------


class AckRules(BaseModel):
    """[acknowledgements] Liên kết “Đã báo cáo”, “Đã hoàn thành” trong thư nhắc việc và
    liên kết ngừng nhận thư tổng hợp."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="false để không đưa liên kết xác nhận vào thư.",
                          examples=[True])
    lifetime_days: int = Field(60, ge=1, le=3660, description="Liên kết xác nhận còn dùng được "
                               "bao nhiêu ngày sau ngày cuối của nhiệm vụ hoặc hạn báo cáo.",
                               examples=[60])
    unsubscribe_days: int = Field(400, ge=1, le=3660, description="Liên kết ngừng nhận thư tổng "
                                  "hợp còn dùng được bao nhiêu ngày sau ngày gửi thư.",
                                  examples=[400])
    secret_file: str | None = Field(None, description="Tệp chứa mã bí mật ký liên kết, nằm NGOÀI "
                                    "thư mục dự án (hoặc đặt biến môi trường NOTIFIER_SECRET / "
                                    "NOTIFIER_SECRET_FILE). Không ghi mã bí mật vào config.toml.",
                                    examples=["/etc/notifier/secret"])
    unsubscribe_mailto: str | None = Field(None, description="Địa chỉ email nhận yêu cầu ngừng "
                                           "nhận thư tổng hợp (thêm vào List-Unsubscribe).",
                                           examples=["notifier@example.org"])


# --- item keys ---------------------------------------------------------------------------


def activity_key(plan_slug: str, ref: str) -> str:
    """What "Đã hoàn thành" refers to: one activity of one plan."""
    return f"activity/{plan_slug}/{ref}"


def report_key(period: str, index: int | None, year: int, to_slug: str, due: date) -> str:
    """What "Đã báo cáo" refers to: one periodic report to one receiver, by its last day."""
    which = f"{period}-{index}" if index else period
    return f"report/{which}/{year}/{to_slug}/{due.isoformat()}"


def link_id(source_key: str) -> str:
    """A short id of the email a link was put in (its outbox key), for the audit log."""
    digest = hashlib.blake2b(source_key.encode("utf-8"), digest_size=6).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


# --- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """What a link says: `unit` may do `action` on `key` until the end of `expires`."""

    action: str
    key: str
    unit: str  # the unit's slug
    expires: date
    link: str  # link_id of the email it came in

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"hành động không hợp lệ: {self.action!r}")
        if not self.key or not self.unit:
            raise ValueError("liên kết cần khóa mục và đơn vị")


class LinkRefused(Exception):
    """A token that must not be acted on. `reason`: "forged" (altered, made up, truncated)
    or "expired" (authentic, too old: `claim` says what it was for)."""

    def __init__(self, reason: Literal["forged", "expired"], claim: Claim | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.claim = claim


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict: only the canonical unpadded spelling of some bytes (else ValueError)."""
    if not text or "=" in text:
        raise ValueError("base64")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:  # other last characters decode to the same bytes
        raise ValueError("base64")
    return data


class Signer:
    """Signs and verifies link tokens with one secret (never shown in repr)."""

    __slots__ = ("_mac0",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError("mã bí mật quá ngắn")
        # A key of its own for links, so the secret could sign other things one day.
        key = hmac.new(secret, b"notifier acknowledgement links", hashlib.sha256).digest()
        self._mac0 = hmac.new(key, _CONTEXT, hashlib.sha256)  # copied per token: key set up once

    def __repr__(self) -> str:
        return "Signer(<bí mật>)"

    def _mac(self, payload: bytes) -> bytes:
        mac = self._mac0.copy()
        mac.update(payload)
        return mac.digest()

    def sign(self, claim: Claim) -> str:
        payload = json.dumps(
            [_VERSION, claim.action, claim.key, claim.unit, claim.expires.isoformat(), claim.link],
            ensure_ascii=False, separators=(",", ":"),
        ).encode("utf-8")
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, token: str, *, now: datetime) -> Claim:
        """The claim of an authentic, unexpired token; else LinkRefused."""
        claim = self.read(token)
        if now.astimezone(TZ).date() > claim.expires:
            raise LinkRefused("expired", claim)
        return claim

    def read(self, token: str) -> Claim:
        """The claim of an authentic token, expired or not; else LinkRefused("forged")."""
        try:
            if len(token) > _MAX_TOKEN or not token.isascii():
                raise ValueError("token")
            head, dot, tail = token.partition(".")
            if not dot:
                raise ValueError("token")
            payload, mac = _unb64(head), _unb64(tail)
        except (ValueError, binascii.Error):
            raise LinkRefused("forged") from None
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise LinkRefused("forged")
        try:  # authentic from here on; still, a well-formed payload or nothing
            version, action, key, unit, expires, link = json.loads(payload)
            if version != _VERSION or not all(isinstance(v, str) for v in (key, unit, link)):
                raise ValueError("payload")
            return Claim(action, key, unit, date.fromisoformat(expires), link)
        except (ValueError, TypeError):
            raise LinkRefused("forged") from None


# --- the secret ---------------------------------------------------------------------------


def _secret_from_file(path: Path, source: str) -> bytes:
    try:
        data = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"{source}: không đọc được tệp mã bí mật {path}: "
                          f"{exc.strerror or exc}") from exc
    if len(data) < MIN_SECRET_BYTES:
        raise ConfigError(f"{source}: mã bí mật trong {path} quá ngắn (cần ít nhất "
                          f"{MIN_SECRET_BYTES} byte). Tạo mã: openssl rand -hex 32 > {path}")
    return data


def _rules(config: Any) -> AckRules:
    found = getattr(config, "acknowledgements", None)
    return found if isinstance(found, AckRules) else AckRules()


def load_secret(config: Any, env: Mapping[str, str] | None = None, *,
                create: bool = True) -> bytes | None:
    """The links' secret: NOTIFIER_SECRET, else the file NOTIFIER_SECRET_FILE or
    `[acknowledgements] secret_file` names, else var/secret.key, created (random, 0600)
    when missing and `create`; None when missing and not `create`."""
    env = os.environ if env is None else env
    if env.get(SECRET_ENV):
        value = env[SECRET_ENV].strip().encode("utf-8")
        if len(value) < MIN_SECRET_BYTES:
            raise ConfigError(f"{SECRET_ENV} quá ngắn (cần ít nhất {MIN_SECRET_BYTES} ký tự). "
                              "Tạo mã: openssl rand -hex 32")
        return value
    if env.get(SECRET_FILE_ENV):
        return _secret_from_file(Path(env[SECRET_FILE_ENV]), SECRET_FILE_ENV)
    base = Path(getattr(config, "base_dir", Path(".")))
    named = _rules(config).secret_file
    if named:
        path = (base / named).resolve()
        if path.is_relative_to(base.resolve()):
            log.warning("[acknowledgements] secret_file = %s nằm trong thư mục dự án; nên đặt "
                        "ngoài (ví dụ /etc/notifier/secret) để không lọt vào git", named)
        return _secret_from_file(path, "[acknowledgements] secret_file")
    var_path = getattr(config, "var_path", None)
    var = Path(var_path()) if callable(var_path) else base / "var"
    return _var_secret(var / SECRET_NAME, create=create)


def _var_secret(path: Path, *, create: bool) -> bytes | None:
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("Tệp mã bí mật %s có quyền %o: người khác đọc được; nên chạy chmod 600 %s",
                        path, mode, path)
        return _secret_from_file(path, str(path))
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _secret_from_file(path, str(path))
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(32) + "\n")
    log.warning("Chưa có mã bí mật cho liên kết xác nhận (%s, %s): đã tạo mã ngẫu nhiên tại %s "
                "(quyền 0600). Giữ tệp này; mất nó thì các liên kết đã gửi hết hiệu lực.",
                SECRET_ENV, SECRET_FILE_ENV, path)
    return _secret_from_file(path, str(path))


# --- links in emails ----------------------------------------------------------------------


@dataclass(frozen=True)
class Links:
    """Builds the signed URLs reminders carry (deterministic: same email, same link)."""

    signer: Signer
    public_url: str
    lifetime_days: int = 60
    unsubscribe_days: int = 400
    mailto: str | None = None

    def acknowledge(self, action: str, key: str, unit: str, last_day: date, source: str) -> str:
        """`/a/<token>`: `unit` marks `key` done/sent; valid lifetime_days after `last_day`.
        `source`: the outbox key of the email the link goes in (its link id)."""
        claim = Claim(action, key, unit, last_day + timedelta(days=self.lifetime_days),
                      link_id(source))
        return f"{self.public_url.rstrip('/')}/a/{self.signer.sign(claim)}"

    def unsubscribe(self, unit: str, sent: date, source: str) -> str:
        """`/u/<token>`: the unit's coordinators stop getting digests."""
        claim = Claim("unsubscribe-digest", DIGEST_KEY, unit,
                      sent + timedelta(days=self.unsubscribe_days), link_id(source))
        return f"{self.public_url.rstrip('/')}/u/{self.signer.sign(claim)}"

    def unsubscribe_headers(self, url: str) -> dict[str, str]:
        """RFC 2369 List-Unsubscribe (https first, mailto if configured) + RFC 8058 one-click."""
        targets = [f"<{url}>"]
        if self.mailto:
            targets.append(f"<mailto:{self.mailto}?subject=unsubscribe>")
        return {"List-Unsubscribe": ", ".join(targets),
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


@lru_cache(maxsize=8)
def _signer(secret: bytes) -> Signer:
    return Signer(secret)


def links_for(config: Any, env: Mapping[str, str] | None = None, *,
              create: bool = True) -> Links | None:
    """The Links of a loaded config (None when links are off, or no secret and not `create`)."""
    rules = _rules(config)
    if not rules.enabled:
        return None
    secret = load_secret(config, env, create=create)
    if secret is None:
        return None
    return Links(_signer(secret), config.notifier.public_url, rules.lifetime_days,
                 rules.unsubscribe_days, rules.unsubscribe_mailto)


def planning_options(config: Any, store: Any | None, env: Mapping[str, str] | None = None, *,
                     create: bool = True) -> dict[str, Any]:
    """What plan_reminders takes from this module and the store: `links`, `acknowledged`
    (action, key, unit) and `opted_out` (unit slugs)."""
    return {
        "links": links_for(config, env, create=create),
        "acknowledged": store.acknowledged() if store is not None else frozenset(),
        "opted_out": store.opted_out() if store is not None else frozenset(),
    }


def preview_options(config: Any, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """planning_options for `notifier preview`: the store only if its database exists and is
    migrated (a preview never creates one), links only if the secret exists."""
    from notifier.store import database_url, open_store

    url = database_url(config, env)
    store = None
    if not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).exists():
        try:
            store = open_store(url)
            store.check_migrated()
        except Exception as exc:  # noqa: BLE001 - a preview still works without the store
            log.warning("Xem trước không đọc được xác nhận từ cơ sở dữ liệu: %s", exc)
            if store is not None:
                store.close()
            store = None
    try:
        return planning_options(config, store, env, create=False)
    finally:
        if store is not None:
            store.close()


# --- who has, who has not (engineer G's coordinator page) ---------------------------------


@dataclass(frozen=True, slots=True)
class ItemStatus:
    """One thing units acknowledge: what it is, its last day, who has and who has not."""

    action: str  # report-sent | activity-done
    key: str
    what: str  # Vietnamese: "[II.7] … (Kế hoạch số …)" or "Báo cáo … gửi …"
    day: date  # the activity's last day or the report's last day
    plan: str
    done: tuple[str, ...]  # unit names
    missing: tuple[str, ...]
    notes: tuple[tuple[str, str], ...] = ()  # (unit slug, note) of those who wrote one


def _what(item: Mapping[str, Any]) -> str:
    if item["ack_action"] == "report-sent":
        return f"{item['title']} gửi {item['to']}"
    number = f" (Kế hoạch số {item['plan_number']})" if item.get("plan_number") else ""
    return f"[{item['ref']}] {item['content']}{number}"


def status(
    store: Any,
    *,
    plans: Sequence[Any],
    directory: Any,
    today: date,
    coordinator: str | None = None,
    calendar: Any | None = None,
    deadlines: Sequence[Any] = (),
    on_day_off: str = "next_working_day",
    past_days: int = 30,
    ahead_days: int = 30,
) -> list[ItemStatus]:
    """Activities whose last day and reports whose deadline fall in [today − past_days,
    today + ahead_days], each with the units that have acknowledged and those that have
    not (reports only when `calendar` and `deadlines` are given). `coordinator` is
    accepted for the page's call and not used: a coordinator sees every unit."""
    from notifier.reminders import acknowledgement_items

    got = store.acknowledgements()
    done = frozenset((a.action, a.key, a.unit) for a in got)
    notes: dict[str, list[tuple[str, str]]] = {}
    for a in got:
        if a.note:
            notes.setdefault(a.key, []).append((a.unit, a.note))
    items = acknowledgement_items(
        plans, directory, first=today - timedelta(days=past_days),
        last=today + timedelta(days=ahead_days), acknowledged=done, calendar=calendar,
        deadlines=deadlines, on_day_off=on_day_off,
    )
    return [ItemStatus(i["ack_action"], i["ack_key"], _what(i), date.fromisoformat(i["day"]),
                       i["plan"], tuple(i["acknowledged"]), tuple(i["pending"]),
                       tuple(notes.get(i["ack_key"], ())))
            for i in items]


def status_for(store: Any, snapshot: Any, *, today: date, **options: Any) -> list[ItemStatus]:
    """`status` over a daemon.Snapshot (its plans, directory, calendar, deadline rules)."""
    return status(store, plans=snapshot.plans, directory=snapshot.directory, today=today,
                  calendar=snapshot.calendar, deadlines=snapshot.deadlines,
                  on_day_off=str(snapshot.config.calendar.deadline_on_day_off), **options)


# --- the pages: /a/{token} and /u/{token} ---------------------------------------------------

_STYLE = (
    "body{margin:0;padding:16px;font-family:Arial,Helvetica,sans-serif;font-size:17px;"
    "line-height:1.5;color:#1d2939;background:#fff}main{max-width:40rem;margin:0 auto}"
    "h1{font-size:1.4rem}dl{margin:0 0 1rem}dt{font-weight:bold;margin-top:.5rem}dd{margin:0}"
    "textarea{width:100%;font:inherit;box-sizing:border-box;min-height:6rem}"
    "button{font:inherit;font-weight:bold;padding:.7rem 1.4rem;background:#1a56db;color:#fff;"
    "border:0;border-radius:4px;cursor:pointer}button:focus{outline:3px solid #f79009}"
    ".ok{border-left:6px solid #067647;padding:.5rem 1rem;background:#ecfdf3}"
    ".no{border-left:6px solid #b42318;padding:.5rem 1rem;background:#fef3f2}"
    "small{color:#475467}"
)
_CSP = ("default-src 'none'; style-src 'sha256-"
        + base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
        + "'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
_PAGE = """<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }}</title><style>{{ style }}</style></head>
<body><main>
<h1>{{ title }}</h1>
{% if message %}<p class="{{ 'ok' if good else 'no' }}" role="status">{{ message }}</p>{% endif %}
{% if facts %}<dl>{% for k, v in facts %}<dt>{{ k }}</dt><dd>{{ v }}</dd>{% endfor %}</dl>{% endif %}
{% if form %}
<form method="post" action="{{ form.action }}">
{% if form.note %}<p><label for="note">Ghi chú (không bắt buộc)</label><br>
<textarea id="note" name="note" maxlength="{{ form.max }}"></textarea></p>{% endif %}
{% if form.hidden is defined %}{% for k, v in form.hidden %}<input type="hidden" name="{{ k }}" value="{{ v }}">{% endfor %}{% endif %}
<p><button type="submit">{{ form.button }}</button></p>
</form>
{% endif %}
<p><small>Trang của hệ thống nhắc việc tự động; không phải văn bản hành chính chính thức.</small></p>
</main></body></html>
"""
NOTE_MAX = 1000
RESUBSCRIBE_FIELD = "resubscribe"  # our "Nhận lại thư tổng hợp" form posts resubscribe=1
_LABELS = {"report-sent": "Đã báo cáo", "activity-done": "Đã hoàn thành"}
_REFUSED = {
    "forged": (403, "Liên kết không hợp lệ",
               ("Liên kết này không đúng hoặc đã bị sửa đổi, nên không được ghi nhận. Vui lòng "
                "mở lại liên kết trong thư nhắc việc (bấm trực tiếp, không chép tay).")),
    "expired": (410, "Liên kết đã hết hạn",
                ("Liên kết này đã hết thời hạn sử dụng nên không được ghi nhận. Nếu cần xác "
                 "nhận, vui lòng dùng liên kết trong thư nhắc việc mới nhất hoặc liên hệ đơn vị "
                 "đầu mối.")),
}


@lru_cache(maxsize=1)
def _template() -> Any:
    import jinja2

    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(_PAGE)


def _page(title: str, *, status_code: int = 200, message: str = "", good: bool = True,
          facts: Sequence[tuple[str, str]] = (), form: Mapping[str, Any] | None = None) -> Any:
    from starlette.responses import HTMLResponse

    html = _template().render(title=title, message=message, good=good, facts=list(facts),
                              form=form, style=_STYLE)
    # The token is the capability: never cached, never sent on as a Referer.
    return HTMLResponse(html, status_code, headers={
        "content-security-policy": _CSP, "cache-control": "no-store",
        "referrer-policy": "no-referrer", "x-robots-tag": "noindex"})


@dataclass
class _Request:
    """What a handler needs, taken from app.state.site (site.py) or app.state.daemon."""

    snapshot: Any
    store: Any | None
    now: datetime
    environ: Mapping[str, str]


def _context(request: Any) -> _Request | None:
    state = request.app.state
    site = getattr(state, "site", None)
    if site is not None:
        opener = getattr(site, "_open_store", None)
        store = opener() if callable(opener) else getattr(site, "store", None)
        return _Request(site.snapshot(), store, site.clock.now(),
                        getattr(site, "environ", os.environ))
    daemon = getattr(state, "daemon", None)
    if daemon is not None and daemon.reloader is not None:
        return _Request(daemon.reloader.current, daemon.store, daemon.clock.now(),
                        getattr(daemon, "environ", os.environ))
    return None


def _client(request: Any) -> str | None:
    return request.client.host if request.client else None


def _attempt(request: Any, ctx: _Request, link: str | None) -> Any:
    from notifier.store import Attempt

    agent = request.headers.get("user-agent", "")[:200] or None
    return Attempt(ctx.now, link, _client(request), agent)


@dataclass
class RefusalBudget:
    """How many refused attempts a `window` (seconds, monotonic) are written to the audit
    table: at most `per_client` from one address and `overall` from all. A forged link needs
    no secret, so without this any client could add rows without end. What goes over is
    counted, and the count logged once when the window ends; the client gets the same page.
    Accepted attempts are never limited (a real link is the capability, and each is once)."""

    per_client: int = 20
    overall: int = 200
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    suppressed: int = 0
    _start: float = float("-inf")
    _counts: Counter[str | None] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, client: str | None) -> bool:
        with self._lock:  # handlers run in worker threads
            now = self.clock()
            if now - self._start >= self.window:
                self._close_window()
                self._start = now
            if self._counts[client] >= self.per_client or self._counts.total() >= self.overall:
                self.suppressed += 1
                return False
            self._counts[client] += 1
            return True

    def _close_window(self) -> None:
        if self.suppressed:
            log.warning("bỏ qua %d lần ghi nhật ký liên kết sai hoặc hết hạn: quá %d lần mỗi "
                        "%g giây từ một địa chỉ hoặc %d lần từ mọi địa chỉ", self.suppressed,
                        self.per_client, self.window, self.overall)
        self._counts.clear()
        self.suppressed = 0


def _refusals(request: Any) -> RefusalBudget:
    state = request.app.state
    budget = getattr(state, "ack_refusals", None)
    if budget is None:  # one per app; two threads racing here at start lose a count at most
        budget = state.ack_refusals = RefusalBudget()
    return budget


def _verified(request: Any, ctx: _Request, *, want: str, log_refusal: bool = True) -> Claim | Any:
    """The token's claim, or the refusal page (after logging the attempt)."""
    token = request.path_params["token"]
    try:
        secret = load_secret(ctx.snapshot.config, ctx.environ, create=False)
    except ConfigError as exc:
        log.error("%s", exc)
        secret = None
    try:
        if secret is None:
            raise LinkRefused("forged")
        claim = _signer(secret).verify(token, now=ctx.now)
        if (claim.action == "unsubscribe-digest") != (want == "unsubscribe"):
            raise LinkRefused("forged")  # an /a/ token on /u/ or the reverse
        return claim
    except LinkRefused as refused:
        if log_refusal and ctx.store is not None and _refusals(request).allow(_client(request)):
            c = refused.claim
            ctx.store.audit(refused.reason, _attempt(request, ctx, c.link if c else None),
                            action=c.action if c else None, unit=c.unit if c else None,
                            key=c.key if c else None)
        code, title, text = _REFUSED[refused.reason]
        facts = []
        if refused.claim is not None:
            facts.append(("Hết hạn sau ngày", _vn(refused.claim.expires)))
        return _page(title, status_code=code, message=text, good=False, facts=facts)


def _vn(day: date) -> str:
    from notifier.emails import vn_date

    return vn_date(day)


def _unit_name(snapshot: Any, slug: str) -> str:
    unit = snapshot.directory.by_slug(slug) if hasattr(snapshot.directory, "by_slug") else None
    return unit.name if unit is not None else slug


def describe(claim: Claim, snapshot: Any) -> list[tuple[str, str]]:
    """What the link is about, as (label, value) lines in Vietnamese."""
    facts = [("Đơn vị", _unit_name(snapshot, claim.unit))]
    parts = claim.key.split("/")
    if claim.action == "activity-done" and len(parts) >= 3:
        plan_slug, ref = parts[1], "/".join(parts[2:])
        plan = next((p for p in snapshot.plans if p.slug == plan_slug), None)
        activity = next((a for a in plan.activities if a.ref == ref), None) if plan else None
        if plan is not None:
            facts.append(("Kế hoạch", f"Số {plan.number}: {plan.title}" if plan.number
                          else plan.title))
        if activity is not None:
            facts.append(("Nhiệm vụ", f"[{activity.ref}] {activity.content}"))
            facts.append(("Thời gian thực hiện", activity.timing.text))
        else:
            facts.append(("Nhiệm vụ", f"mục {ref} (không còn trong kế hoạch hiện hành)"))
    elif claim.action == "report-sent" and len(parts) == 5:
        from notifier.reporting import period_label

        which, year, to_slug, due = parts[1], parts[2], parts[3], parts[4]
        period, _, index = which.rpartition("-") if which[-1:].isdigit() else (which, "", "")
        try:
            label = period_label(period, int(year), int(index) if index else None)
            facts.append(("Báo cáo", f"Báo cáo {label}"))
        except ValueError:
            facts.append(("Báo cáo", which))
        facts.append(("Gửi", _unit_name(snapshot, to_slug)))
        cited = [p.number or p.title for p in snapshot.plans
                 if any(_period_value(d.period) == period for d in p.reports)]
        if cited:
            facts.append(("Theo kế hoạch", "; ".join(f"Số {c}" if c and "/" in c else c
                                                      for c in cited)))
        try:
            facts.append(("Hạn gửi (ngày cuối)", _vn(date.fromisoformat(due))))
        except ValueError:
            pass
    return facts


def _period_value(text: str) -> str:
    from notifier.reporting import Period

    try:
        return Period.parse(text).value
    except ValueError:
        return ""


def _previous(store: Any, claim: Claim) -> Any | None:
    found = [a for a in store.acknowledgements(unit=claim.unit, keys=[claim.key],
                                               action=claim.action)]
    return found[0] if found else None


def _recorded(first: Any) -> str:
    at = first.at.astimezone(TZ)
    text = f"Đã ghi nhận lúc {at:%H:%M} {_vn(at.date())}."
    return text + (f" Ghi chú: {first.note}" if first.note else "")


def _no_store() -> Any:
    return _page("Chưa ghi nhận được", status_code=503, good=False,
                 message="Hệ thống chưa có cơ sở dữ liệu để ghi nhận xác nhận. Vui lòng thử lại "
                 "sau hoặc báo cho quản trị viên.")


def _ack_get(request: Any) -> Any:
    ctx = _context(request)
    if ctx is None:
        return _no_store()
    claim = _verified(request, ctx, want="ack")
    if not isinstance(claim, Claim):
        return claim
    label = _LABELS[claim.action]
    facts = describe(claim, ctx.snapshot)
    facts.append(("Liên kết dùng được đến hết ngày", _vn(claim.expires)))
    first = _previous(ctx.store, claim) if ctx.store is not None else None
    if first is not None:
        return _page(f"{label}: đã ghi nhận", message=_recorded(first), facts=facts)
    form = {"action": f"/a/{request.path_params['token']}", "button": label, "note": True,
            "max": NOTE_MAX}
    question = ("Xác nhận Quý cơ quan/đơn vị đã gửi báo cáo dưới đây?"
                if claim.action == "report-sent"
                else "Xác nhận Quý cơ quan/đơn vị đã hoàn thành nhiệm vụ dưới đây?")
    return _page(label, message=question, facts=facts, form=form)


async def _form(request: Any) -> dict[str, list[str]]:
    """The fields of an urlencoded form (what our pages send); {} for anything else."""
    from urllib.parse import parse_qs

    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = b""
    async for chunk in request.stream():  # at most 16 kB kept, even of a chunked body
        body += chunk[: 16 * 1024 - len(body)]
        if len(body) >= 16 * 1024:
            break
    try:
        return parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    except ValueError:  # more fields than that: not our form
        return {}


async def _form_note(request: Any) -> str:
    """The note of our acknowledgement form; "" for anything else."""
    from notifier.text import clean

    return clean((await _form(request)).get("note", [""])[0])[:NOTE_MAX]


def _wants_resubscribe(fields: Mapping[str, list[str]]) -> bool:
    """Only our own "Nhận lại thư tổng hợp" form resubscribes: RFC 8058's one-click body
    (List-Unsubscribe=One-Click), an empty or any other body keeps meaning unsubscribe."""
    return fields.get(RESUBSCRIBE_FIELD) == ["1"] and "List-Unsubscribe" not in fields


def _ack_record(request: Any, note: str) -> Any:
    ctx = _context(request)
    if ctx is None or ctx.store is None:
        return _no_store()
    claim = _verified(request, ctx, want="ack")
    if not isinstance(claim, Claim):
        return claim
    new, first = ctx.store.acknowledge(claim.unit, claim.key, claim.action, note=note,
                                       attempt=_attempt(request, ctx, claim.link))
    label = _LABELS[claim.action]
    facts = describe(claim, ctx.snapshot)
    if new:
        log.info("xác nhận %s: %s %s (liên kết %s)", claim.action, claim.unit, claim.key,
                 claim.link)
        site = getattr(request.app.state, "site", None)
        if site is not None:
            site.acknowledged()  # its pages show this one at once
        return _page(f"{label}: đã ghi nhận", message="Cảm ơn Quý cơ quan/đơn vị. "
                     + _recorded(first) + " Hệ thống sẽ không nhắc việc này nữa.", facts=facts)
    return _page(f"{label}: đã ghi nhận trước đó", message=_recorded(first)
                 + " Lần xác nhận này không thay đổi gì.", facts=facts)


def _digest_form(request: Any, button: str, hidden: list[tuple[str, str]] | None = None
                 ) -> dict[str, Any]:
    """A /u/ page's one button, posting to the same token (and `hidden` fields)."""
    return {"action": f"/u/{request.path_params['token']}", "button": button, "note": False,
            "max": 0, "hidden": hidden or []}


def _resubscribe_form(request: Any) -> dict[str, Any]:
    """The button that undoes an opt-out: the same token, with resubscribe=1."""
    return _digest_form(request, "Nhận lại thư tổng hợp", [(RESUBSCRIBE_FIELD, "1")])


def _opted_out_at(store: Any, unit: str) -> datetime | None:
    """When the unit stopped the digest; None when it gets it."""
    return next((o["at"] for o in store.opt_outs() if o["unit"] == unit), None)


def _unsubscribe_get(request: Any) -> Any:
    ctx = _context(request)
    if ctx is None:
        return _no_store()
    claim = _verified(request, ctx, want="unsubscribe")
    if not isinstance(claim, Claim):
        return claim
    facts = [("Đơn vị", _unit_name(ctx.snapshot, claim.unit))]
    since = _opted_out_at(ctx.store, claim.unit) if ctx.store is not None else None
    if since is not None:
        at = since.astimezone(TZ)
        return _page("Đã ngừng nhận thư tổng hợp", facts=facts, form=_resubscribe_form(request),
                     message=f"Đơn vị này đã ngừng nhận thư tổng hợp từ {at:%H:%M} "
                     f"{_vn(at.date())}. Muốn nhận lại, bấm nút dưới đây.")
    form = _digest_form(request, "Ngừng nhận thư tổng hợp")
    return _page("Ngừng nhận thư tổng hợp", facts=facts, form=form,
                 message="Bấm nút dưới đây để đơn vị không nhận thư tổng hợp nhắc việc nữa. "
                 "Thư nhắc việc gửi cho đơn vị vẫn tiếp tục.")


def _unsubscribe_post(request: Any, resubscribe: bool = False) -> Any:
    """RFC 8058 one-click (body "List-Unsubscribe=One-Click") and our own form alike; with
    `resubscribe` (our "Nhận lại thư tổng hợp" form), the opt-out is undone instead."""
    ctx = _context(request)
    if ctx is None or ctx.store is None:
        return _no_store()
    claim = _verified(request, ctx, want="unsubscribe")
    if not isinstance(claim, Claim):
        return claim
    facts = [("Đơn vị", _unit_name(ctx.snapshot, claim.unit))]
    attempt = _attempt(request, ctx, claim.link)
    if resubscribe:
        if ctx.store.opt_in(claim.unit, attempt=attempt):
            log.info("nhận lại thư tổng hợp: %s (liên kết %s)", claim.unit, claim.link)
            return _page("Đã nhận lại thư tổng hợp", facts=facts,
                         message="Đơn vị sẽ nhận lại thư tổng hợp từ kỳ gửi tiếp theo.")
        return _page("Đã nhận lại thư tổng hợp", facts=facts,
                     message="Đơn vị đang nhận thư tổng hợp; lần bấm này không thay đổi gì.")
    if ctx.store.opt_out(claim.unit, attempt=attempt):
        log.info("ngừng nhận thư tổng hợp: %s (liên kết %s)", claim.unit, claim.link)
    return _page("Đã ngừng nhận thư tổng hợp", facts=facts, form=_resubscribe_form(request),
                 message="Đơn vị sẽ không nhận thư tổng hợp nữa. Thư nhắc việc gửi cho đơn vị "
                 "vẫn tiếp tục. Nếu bấm nhầm, bấm nút dưới đây để nhận lại.")


async def _ack_endpoint(request: Any) -> Any:
    import anyio

    if request.method == "POST":
        note = await _form_note(request)
        return await anyio.to_thread.run_sync(_ack_record, request, note)
    return await anyio.to_thread.run_sync(_ack_get, request)


async def _unsubscribe_endpoint(request: Any) -> Any:
    import anyio

    if request.method == "POST":
        resubscribe = _wants_resubscribe(await _form(request))
        return await anyio.to_thread.run_sync(_unsubscribe_post, request, resubscribe)
    return await anyio.to_thread.run_sync(_unsubscribe_get, request)


def routes() -> list[Any]:
    """The rows web.routes() adds: /a/{token} and /u/{token}, GET (and HEAD) and POST."""
    from starlette.routing import Route

    return [
        Route("/a/{token}", _ack_endpoint, methods=["GET", "POST"], name="ack"),
        Route("/u/{token}", _unsubscribe_endpoint, methods=["GET", "POST"], name="unsubscribe"),
    ]
