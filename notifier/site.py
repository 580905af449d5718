"""The pages' data access and routes: `Site` (config + clock + optional store) and handlers.

Owns:
- `Site`: the current daemon.Snapshot (config, plans, directory, calendar, deadline rules)
  kept by a daemon.Reloader — its own under `notifier serve` (checked at most every
  `check_every` seconds, reloaded only when config.toml or schedules/ changed), the
  daemon's under `notifier run` (`Site.from_daemon`, never reloaded from here: the
  daemon's watcher does it and wakes the sweep); per snapshot and day it caches the
  pages' rows, memberships and report deadlines (`Site.data()`); feed tokens and
  links come from the feed cache (publish.FeedCache), the outbox from store.Store
  (`Store.history`), acknowledgements from notifier.acks when that module is present;
- `routes()`: the rows web.routes() adds — /plans/{slug}, /units/{slug},
  /coordinators/{slug}, /coordinators/{slug}/{token}, /static/{name};
- `PAGES_CSP`, `nav_for(site)` (the home page's links).
Facts relied on: handlers are plain functions, so Starlette runs them in its thread pool
(a reload or a store query never blocks the event loop); a unit with a secret feed token
gets no public feed link, and its coordinator page answers only at
/coordinators/{slug}/{token}, the token compared with hmac.compare_digest; everything
unknown gets web.not_found's plain 404. The pages load one stylesheet from /static/ (no
inline style or script), so their policy allows only 'self' styles and same-origin GET
forms (the filter form).
Not here: view models (pages.py), HTML (templates/web/*), feeds (publish.py), SQL (store.py).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import hmac
import io
import logging
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from notifier import pages
from notifier.errors import UserError

if TYPE_CHECKING:
    from notifier.clock import Clock
    from notifier.daemon import Daemon, Reloader, Snapshot
    from notifier.plan import Plan
    from notifier.publish import FeedCache
    from notifier.store import Store

__all__ = ["CSS_PATH", "PAGES_CSP", "Site", "SiteData", "css_url", "nav_for", "routes"]

log = logging.getLogger("notifier.site")

TEMPLATES = Path(__file__).parent / "templates" / "web"
CSS_PATH = TEMPLATES / "pages.css"
PAGES_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
             "base-uri 'none'; frame-ancestors 'none'")  # fmt: skip
GZIP_MIN = 1400  # bytes: below one packet, gzip saves nothing
OUTBOX_LIMIT = 100  # rows the coordinator page lists
OUTBOX_TTL = 5.0  # seconds a read of the outbox is reused (the page is not a live view)


@functools.lru_cache(maxsize=1)
def _css() -> tuple[bytes, str]:
    body = CSS_PATH.read_bytes()
    return body, f"pages-{hashlib.sha256(body).hexdigest()[:12]}.css"


def css_url() -> str:
    """The stylesheet's URL; its name carries its hash, so it can be cached for a year."""
    return "/static/" + _css()[1]


@dataclass(eq=False)
class SiteData:
    """What the pages read for one snapshot on one day; rows and deadlines made on demand."""

    snapshot: Snapshot
    today: date
    plans: Mapping[str, Plan]
    members: pages.Membership
    _rows: dict[str, list[pages.Row]] = field(default_factory=dict)
    _deadlines: dict[str, Any] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def directory(self) -> Any:
        return self.snapshot.directory

    def rows(self, slug: str) -> list[pages.Row]:
        found = self._rows.get(slug)
        if found is None:
            with self._lock:  # Membership's memo is a plain dict
                found = self._rows.get(slug)
                if found is None:
                    found = self._rows[slug] = pages.rows(self.plans[slug], self.today, self.members)
        return found

    def all_rows(self) -> dict[str, list[pages.Row]]:
        return {slug: self.rows(slug) for slug in self.plans}

    def deadlines(self) -> Mapping[str, Mapping[str, Sequence[Any]]]:
        """Report deadlines per plan and duty (catalog.duty_deadlines over the snapshot)."""
        if self._deadlines is None:
            from notifier.catalog import duty_deadlines

            snap = self.snapshot
            on_day_off = snap.config.calendar.deadline_on_day_off
            out: dict[str, Any] = {}
            for plan in snap.plans:
                out[plan.slug], _ = duty_deadlines(plan, snap.deadlines, snap.calendar, on_day_off, snap.directory)
            self._deadlines = out
        return self._deadlines


class Site:
    """Config path + clock (+ store, + feed cache) → the data the pages show."""

    def __init__(
        self,
        config_path: Path,
        *,
        clock: Clock,
        store: Store | None = None,
        reloader: Reloader | None = None,
        feeds: FeedCache | None = None,
        environ: Mapping[str, str] | None = None,
        check_every: float = 1.0,
        own_reloader: bool | None = None,
    ) -> None:
        self.config_path = config_path
        self.clock = clock
        self.store = store
        self.feeds = feeds
        self.environ = dict(os.environ if environ is None else environ)
        self.check_every = check_every
        self._reloader = reloader
        self._own = reloader is None if own_reloader is None else own_reloader
        self._checked = 0.0
        self._data: SiteData | None = None
        self._lock = threading.Lock()
        self._store_tried = store is not None
        self._outbox: dict[tuple[str, ...], tuple[float, list[Any]]] = {}
        self._acks: dict[tuple[Any, ...], tuple[float, list[pages.AckItem]]] = {}
        self.store_note = ""

    @classmethod
    def from_daemon(cls, daemon: Daemon) -> Site:
        """The daemon's own reloader, store, clock and feed cache (daemon._serve's hook)."""
        return cls(daemon.config_path, clock=daemon.clock, store=daemon.store, reloader=daemon.reloader,
                   feeds=daemon.cache, environ=daemon.environ, own_reloader=False)  # fmt: skip

    # the snapshot

    def snapshot(self) -> Snapshot:
        """The current snapshot; under `serve`, reloaded when its files changed."""
        reloader = self._reloader
        if reloader is None:
            with self._lock:
                if self._reloader is None:
                    from notifier.daemon import Reloader, load_snapshot

                    now = self.clock.now()
                    snap = load_snapshot(self.config_path, now=now, environ=self.environ)
                    self._reloader = Reloader(self.config_path, snap, environ=self.environ, clock=self.clock)
                    self._checked = time.monotonic()
                reloader = self._reloader
        elif self._own and time.monotonic() - self._checked >= self.check_every:
            self._checked = time.monotonic()
            reloader.reload()  # None when nothing changed; a bad edit keeps the last good one
        return reloader.current

    def peek(self) -> Snapshot | None:
        """The snapshot in use, without checking files; None before the first load."""
        return self._reloader.current if self._reloader is not None else None

    def today(self) -> date:
        from notifier.clock import TZ

        return self.clock.now().astimezone(TZ).date()

    def warm(self) -> None:
        """Load before the first request (create_app's lifespan); a broken config is logged,
        not raised: the feeds still serve, and the pages answer 503 until it is fixed."""
        try:
            self.data()
        except UserError as exc:
            log.error("không nạp được cấu hình cho trang: %s", exc)

    def data(self) -> SiteData:
        """Rows, memberships and deadlines for the current snapshot and today, cached."""
        snap, today = self.snapshot(), self.today()
        data = self._data
        if data is None or data.snapshot is not snap or data.today != today:
            data = SiteData(snap, today, {p.slug: p for p in snap.plans}, pages.Membership(snap.directory, today))
            self._data = data
        return data

    def forget(self) -> None:
        """Drop the cached rows (the daemon, after a reload: the previous plans are freed
        now, not at the next page request; ~25 MB at 1,000 plans)."""
        self._data = None

    def acknowledged(self) -> None:
        """An acknowledgement was just recorded through this process: the coordinator page
        reads them again rather than reuse a read that says the unit has not yet."""
        self._acks = {}

    # feeds and tokens

    def token(self, slug: str) -> str:
        """The unit's secret feed token, "" when its feeds are public."""
        if self.feeds is not None:
            entry = self.feeds.snapshot.entries.get(f"units/{slug}.ics")
            if entry is not None:
                return entry.token or ""
        return self._tokens().get(slug, "")

    def _tokens(self) -> Mapping[str, str]:
        from notifier.catalog import read_tokens

        snap = self.snapshot()
        cached: tuple[Snapshot, Mapping[str, str]] | None = getattr(self, "_token_cache", None)
        if cached is not None and cached[0] is snap:
            return cached[1]
        tokens_file = snap.config.feeds.tokens_file
        path = self.config_path.parent / tokens_file if tokens_file else None
        try:
            tokens, _ = read_tokens(self.environ, path, {u.slug for u in snap.directory})
        except Exception:
            log.exception("không đọc được mã bí mật của lịch")
            tokens = {u.slug: "\x00" for u in snap.directory}
        self._token_cache = (snap, tokens)
        return tokens

    def feed_exists(self, path: str) -> bool:
        return self.feeds is None or path in self.feeds.snapshot.entries

    def public_url(self) -> str:
        if self.feeds is not None and self.feeds.snapshot.public_url:
            return self.feeds.snapshot.public_url
        return str(self.snapshot().config.notifier.public_url or "")

    # the outbox and acknowledgements

    def _open_store(self) -> Store | None:
        if self._store_tried:
            return self.store
        with self._lock:
            if self._store_tried:
                return self.store
            self._store_tried = True
            from notifier.store import database_url, open_store

            url = database_url(self.snapshot().config, env=self.environ)
            if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
                self.store_note = "Chưa có hộp thư đi: hệ thống gửi thư (notifier run) chưa chạy lần nào."
                return None
            try:
                store = open_store(url)
                store.check_migrated()
            except Exception as exc:  # noqa: BLE001 - the page still shows the plans
                log.warning("không mở được cơ sở dữ liệu cho trang: %s", exc)
                self.store_note = "Không đọc được hộp thư đi từ cơ sở dữ liệu."
                return None
            self.store = store
            return store

    def outbox(self, plan_slugs: Sequence[str]) -> tuple[list[Any], str]:
        """Recent sent/failed/skipped rows of these plans (and of cross-plan mail), and a note."""
        store = self._open_store()
        if store is None:
            return [], self.store_note or "Chưa có hộp thư đi."
        key = tuple(plan_slugs)
        cached = self._outbox.get(key)
        if cached is not None and time.monotonic() - cached[0] < OUTBOX_TTL:
            return cached[1], ""
        try:
            found = store.history(plans=[*plan_slugs, "_"], limit=OUTBOX_LIMIT)
            self._outbox = {key: (time.monotonic(), found)}  # one coordinator's at a time is enough
            return found, ""
        except Exception as exc:  # noqa: BLE001
            log.warning("không đọc được hộp thư đi: %s", exc)
            return [], "Không đọc được hộp thư đi từ cơ sở dữ liệu."

    def acks(self, unit: Any, plans: Sequence[Plan]) -> list[pages.AckItem] | None:
        """Who has and has not acknowledged (acks.status) in these plans; None without a store."""
        from notifier.acks import status

        store = self._open_store()
        if store is None:
            return None
        snap = self.snapshot()
        key = (unit.name, id(snap), self.today())
        cached = self._acks.get(key)
        if cached is not None and time.monotonic() - cached[0] < OUTBOX_TTL:
            return cached[1]
        try:
            found = status(store, plans=plans, directory=snap.directory, coordinator=unit.name,
                           today=self.today(), calendar=snap.calendar, deadlines=snap.deadlines,
                           on_day_off=str(snap.config.calendar.deadline_on_day_off))  # fmt: skip
        except Exception:  # the rest of the page still shows
            log.exception("không đọc được xác nhận")
            return None
        items = [_ack_item(a, snap.directory) for a in found]
        self._acks = {key: (time.monotonic(), items)}
        return items


def _ack_item(item: Any, directory: Any) -> pages.AckItem:
    """acks.ItemStatus → what the page shows (notes carry unit slugs: shown as names)."""
    day = getattr(item, "day", None)

    def name(slug: str) -> str:
        unit = directory.by_slug(slug)
        return unit.name if unit is not None else slug

    return pages.AckItem(
        str(item.what), tuple(item.done), tuple(item.missing),
        pages.day_text(day) if isinstance(day, date) else "",
        tuple((name(str(u)), str(n)) for u, n in getattr(item, "notes", ())),
    )


def nav_for(site: Site | None) -> pages.Nav | None:
    """The home page's links to plan and unit pages; None when pages are off."""
    if site is None:
        return None
    snap = site.peek()  # never a reload here: / is an async handler, on the event loop
    return pages.nav(snap.plans, snap.directory) if snap is not None else None


# --- handlers ------------------------------------------------------------------------------


def _site(request: Request) -> Site:
    site: Site | None = getattr(request.app.state, "site", None)
    if site is None:
        raise HTTPException(404)
    return site


def _data(site: Site) -> SiteData:
    """The pages' data; a config that cannot be read at all answers 503 in Vietnamese."""
    try:
        return site.data()
    except UserError as exc:
        log.error("không nạp được cấu hình cho trang: %s", exc)
        raise HTTPException(503, "Cấu hình hoặc lịch đang có lỗi; trang tạm thời không hiển thị được.") from exc


def _render(request: Request, name: str, **context: Any) -> Response:
    """The page as HTML under PAGES_CSP; gzip when the client takes it (a 1,000-activity plan
    is ~1 MB of HTML and ~70 kB gzipped: it matters on a phone)."""
    from notifier.web import wants_gzip

    body = request.app.state.templates.get_template(name).render(css=css_url(), **context).encode()
    headers = {"content-security-policy": PAGES_CSP, "cache-control": "no-cache", "vary": "Accept-Encoding"}
    if len(body) > GZIP_MIN and wants_gzip(request.headers.get("accept-encoding", "")):
        body = gzip.compress(body, compresslevel=5, mtime=0)
        headers["content-encoding"] = "gzip"
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


def _param(request: Request, name: str) -> str:
    value = request.query_params.get(name, "")
    return value.strip()[:200]


def plan_view(request: Request) -> Response:
    site = _site(request)
    data = _data(site)
    slug = request.path_params["slug"]
    plan = data.plans.get(slug)
    if plan is None:
        raise HTTPException(404)
    page = pages.plan_page(plan, data.directory, today=data.today, unit=_param(request, "unit"),
                           state=_param(request, "status"), members=data.members,
                           all_rows=data.rows(slug))  # fmt: skip
    return _render(request, "plan.html.j2", page=page)


def _unit(data: SiteData, slug: str) -> Any:
    unit = data.directory.by_slug(slug)
    if unit is None or unit.slug != slug:
        raise HTTPException(404)
    return unit


def _feed_links(request: Request, site: Site, folder: str, slug: str, token: str = "") -> dict[str, str] | None:
    path = f"{folder}/{slug}.ics"
    if not site.feed_exists(path):
        return None
    base = (site.public_url().rstrip("/") or str(request.base_url).rstrip("/")) + "/feeds/"
    url = base + (f"{folder}/{slug}/{token}.ics" if token else path)
    return {"https": url, "webcal": re.sub(r"^https?://", "webcal://", url), "secure": url.startswith("https://")}  # type: ignore[dict-item]


@functools.lru_cache(maxsize=256)
def qr_svg(url: str) -> str:
    """The QR code of `url` as inline SVG (segno, server-side); our own URL, so safe markup."""
    import segno

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", xmldecl=False, svgns=True, scale=4, border=2,
                                    svgclass="qr", lineclass=None, dark="#000", light="#fff")  # fmt: skip
    return out.getvalue().decode("ascii")


def unit_view(request: Request) -> Response:
    site = _site(request)
    data = _data(site)
    unit = _unit(data, request.path_params["slug"])
    page = pages.unit_page(unit, data.snapshot.plans, data.directory, data.deadlines(), today=data.today,
                           members=data.members, plan_rows=data.all_rows())  # fmt: skip
    secret = bool(site.token(unit.slug))
    feed = None if secret else _feed_links(request, site, "units", unit.slug)
    from markupsafe import Markup

    qr = Markup(qr_svg(feed["https"])) if feed else None
    coordinator_link = unit.coordinator and not secret
    return _render(request, "unit.html.j2", page=page, feed=feed, qr=qr, secret=secret,
                   coordinator_link=coordinator_link)  # fmt: skip


def _coordinator(request: Request, token: str | None) -> Response:
    site = _site(request)
    data = _data(site)
    unit = _unit(data, request.path_params["slug"])
    if not unit.coordinator:
        raise HTTPException(404)
    secret = site.token(unit.slug)
    given = (token or "").encode()
    # One comparison whether or not there is a secret (publish.Snapshot.lookup does the same).
    same = hmac.compare_digest(given, (secret or "\x00").encode())
    if (token is None) != (not secret) or (token is not None and not same):
        raise HTTPException(404)
    followed = pages.followed_plans(data.snapshot.plans, unit.name, data.members)
    rows, note = site.outbox([p.slug for p in followed])
    page = pages.coordinator_page(unit, data.snapshot.plans, data.directory, data.deadlines(), today=data.today,
                                  outbox_rows=rows, outbox_note=note, acks=site.acks(unit, followed),
                                  members=data.members, plan_rows=data.all_rows())  # fmt: skip
    feed = _feed_links(request, site, "coordinators", unit.slug, secret)
    return _render(request, "coordinator.html.j2", page=page, feed=feed)


def coordinator_view(request: Request) -> Response:
    return _coordinator(request, None)


def coordinator_token_view(request: Request) -> Response:
    return _coordinator(request, request.path_params["token"])


def static_view(request: Request) -> Response:
    body, name = _css()
    if request.path_params["name"] != name:
        raise HTTPException(404)
    return Response(body, media_type="text/css; charset=utf-8",
                    headers={"cache-control": "public, max-age=31536000, immutable"})  # fmt: skip


def routes() -> list[Route]:
    """The pages' rows of web.routes()."""
    return [
        Route("/plans/{slug}", plan_view, methods=["GET"], name="plan"),
        Route("/units/{slug}", unit_view, methods=["GET"], name="unit"),
        Route("/coordinators/{slug}", coordinator_view, methods=["GET"], name="coordinator"),
        Route("/coordinators/{slug}/{token}", coordinator_token_view, methods=["GET"], name="coordinator-token"),
        Route("/static/{name}", static_view, methods=["GET"], name="static"),
    ]
