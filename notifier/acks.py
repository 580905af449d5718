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
- `Links` (what reminders.plan_reminders calls to put links in emails) and
  `planning_options(config, store)` (links + acknowledged + opted-out, for the planner);
- `status(store, items)` / `status_for(store, snapshot, now=)`: who has acknowledged what;
- the routes `/a/{token}` and `/u/{token}` (`routes()`; GET page, POST records).

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
from collections.abc import Iterable, Mapping, Sequence
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
    "Signer",
    "activity_key",
    "link_id",
    "load_secret",
    "planning_options",
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

    __slots__ = ("_key",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError("mã bí mật quá ngắn")
        # A key of its own for links, so the secret could sign other things one day.
        self._key = hmac.new(secret, b"notifier acknowledgement links", hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "Signer(<bí mật>)"

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, _CONTEXT + payload, hashlib.sha256).digest()

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
        return _secret_from_file(base / named, "[acknowledgements] secret_file")
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
    _cache: dict[tuple[Any, ...], str] = field(default_factory=dict, compare=False, repr=False)

    def acknowledge(self, action: str, key: str, unit: str, last_day: date, source: str) -> str:
        """`/a/<token>`: `unit` marks `key` done/sent; valid lifetime_days after `last_day`."""
        ident = (action, key, unit, last_day, source)
        hit = self._cache.get(ident)
        if hit is None:
            claim = Claim(action, key, unit, last_day + timedelta(days=self.lifetime_days),
                          link_id(source))
            hit = self._cache[ident] = f"{self.public_url.rstrip('/')}/a/{self.signer.sign(claim)}"
        return hit

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
