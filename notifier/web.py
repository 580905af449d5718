"""The HTTP face of notifier: feeds, their index, a page listing them, health.

Owns: `create_app(cache, ...)` (a Starlette app), `routes()` (one table; later issues add
pages by adding rows), `FeedEndpoint` (raw ASGI: the hot path), `serve()`, and
`/favicon.ico`'s "no content". `/healthz` and `/metrics` are health.py's handlers.

HTTP facts relied on (RFC 9110, RFC 9111; docs/feeds.md):
- a feed is `text/calendar; charset=utf-8`, inline, whatever Accept says (Google sends
  none); each representation (identity, gzip) has its own strong ETag, a hash of its
  exact bytes, and `Vary: Accept-Encoding`;
- If-None-Match wins over If-Modified-Since; it is compared (weakly: W/ ignored, "*"
  matches) with the ETag of the representation the request selects; a 304 repeats ETag
  and Last-Modified; HEAD sends GET's headers, no body;
- an unknown feed and a wrong token both get the same plain 404; tokens are compared
  with hmac.compare_digest (publish.Snapshot.lookup).
Hostile requests (docs/security.md): `Guard` wraps the app. It refuses a long URL (414),
large or many headers (431), a declared body over 16 KB (413) and an encoded slash,
backslash, NUL or dot segment in the path (the plain 404), and gives every page a
Content-Security-Policy without external sources (the home page's own inline script and
style by their hashes), nosniff, Referrer-Policy and no framing. `serve` also caps h11's
buffer for an unfinished request head at the same 16 KB.
The cache is swapped whole (publish.FeedCache), so a request sees one build or the
next, never a mix. A background task polls the watched files and rebuilds in a thread.
Not here: building feeds (feeds.py), the cache and tokens (publish.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import re
import socket
from collections.abc import AsyncIterator, Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from notifier import acks, health
from notifier.publish import Entry, FeedCache, Representation
from notifier.site import Site, nav_for, routes as site_routes

__all__ = ["create_app", "app_from_env", "routes", "FeedEndpoint", "Guard", "wants_gzip", "etag_matches", "bind", "serve"]

log = logging.getLogger("notifier.web")

TEMPLATES = Path(__file__).parent / "templates" / "web"
_NOT_FOUND_BODY = "Không tìm thấy.\n".encode()
_NOT_FOUND_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_NOT_FOUND_BODY)).encode()),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]
_ETAG = re.compile(r'\s*(?:W/)?("[^"]*")\s*(?:,|$)')


def _header(scope: dict[str, Any], wanted: tuple[bytes, ...]) -> dict[bytes, bytes]:
    """The few request headers the hot path needs, without building a Request."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in wanted:
            found[name] = value
    return found


def wants_gzip(accept_encoding: str) -> bool:
    """True if gzip is acceptable (listed with q > 0); `*` alone is not trusted."""
    for part in accept_encoding.split(","):
        coding, _, params = part.partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip"):
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, val = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        return q > 0
    return False


def etag_matches(if_none_match: str, *tags: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2) of an If-None-Match list against our tags."""
    if if_none_match in tags:  # what clients send back nearly always: the tag as received
        return True
    if if_none_match.strip() == "*":
        return True
    given = {m.group(1) for m in _ETAG.finditer(if_none_match)}
    return any(tag in given for tag in tags)


def _not_modified(entry: Entry, rep: Representation, headers: dict[bytes, bytes]) -> bool:
    """RFC 9110 §13.2.2: If-None-Match (against the selected representation) first."""
    inm = headers.get(b"if-none-match")
    if inm is not None:  # wins over If-Modified-Since, whatever it says
        return etag_matches(inm.decode("latin-1"), rep.etag)
    ims = headers.get(b"if-modified-since")
    if ims is None:
        return False
    try:
        since = parsedate_to_datetime(ims.decode("latin-1"))
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        return False
    return entry.modified <= since


class FeedEndpoint:
    """GET/HEAD /feeds/{path}: bytes from the cache with ETag, Last-Modified, gzip, 304."""

    _WANTED = (b"accept-encoding", b"if-none-match", b"if-modified-since")

    def __init__(self, cache: FeedCache) -> None:
        self.cache = cache

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Callable[..., Any]) -> None:
        entry = self.cache.lookup(scope["path_params"]["path"])
        if entry is None:
            await send({"type": "http.response.start", "status": 404, "headers": _NOT_FOUND_HEADERS})
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else _NOT_FOUND_BODY})
            return
        headers = _header(scope, self._WANTED)
        gz = b"accept-encoding" in headers and wants_gzip(headers[b"accept-encoding"].decode("latin-1"))
        rep = entry.gzipped() if gz else entry.identity
        if _not_modified(entry, rep, headers):
            await send({"type": "http.response.start", "status": 304, "headers": rep.headers_304})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": rep.headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else rep.body})


# --- hostile requests -----------------------------------------------------------------------

MAX_TARGET_BYTES = 4096  # path and query as sent; the longest feed link is ~120
MAX_HEADER_BYTES = 16 * 1024  # names and values together (h11's own default buffer)
MAX_HEADERS = 100  # Apache's LimitRequestFields
MAX_BODY_BYTES = 16 * 1024  # no route reads a body today
# Encoded slash, backslash or NUL, a literal backslash, "//", or a "." / ".." segment
# (plain or as %2e): never part of a URL we publish.
_UNSAFE_PATH = re.compile(rb"%2f|%5c|%00|\\|//|(?:^|/)(?:\.|%2e){1,2}(?:/|$)", re.IGNORECASE)
_PAGE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_DEFAULT_CSP = b"default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def page_csp(template: Path) -> str:
    """The home page's policy: nothing from elsewhere; its inline <script> and <style> by hash.

    The blocks hold no template syntax, so their rendered bytes are the template's bytes.
    """
    source = template.read_text(encoding="utf-8")

    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", source, re.DOTALL)
        return " ".join(
            "'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'" for b in blocks
        )

    return (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")  # fmt: skip


def _refusal(scope: dict[str, Any]) -> tuple[int, bytes] | None:
    """Why a request is refused before the app sees it, or None."""
    target = scope.get("raw_path") or scope["path"].encode()
    if len(target) + len(scope.get("query_string", b"")) > MAX_TARGET_BYTES:
        return 414, "Địa chỉ quá dài.\n".encode()
    headers = scope["headers"]
    size, declared = 0, b""
    for name, value in headers:  # one pass: this runs for every feed request
        size += len(name) + len(value)
        if name == b"content-length":
            declared = value
    if len(headers) > MAX_HEADERS or size > MAX_HEADER_BYTES:
        return 431, "Phần đầu yêu cầu quá lớn.\n".encode()
    if declared and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return 413, "Nội dung yêu cầu quá lớn.\n".encode()
    if _UNSAFE_PATH.search(target):
        return 404, _NOT_FOUND_BODY
    return None


class Guard:
    """ASGI middleware: refuse oversized or odd requests, add security headers to replies.

    GET/HEAD under /feeds/ skip the header step: FeedEndpoint writes nosniff itself and
    serves no HTML, so the hot path pays only the size checks.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = _refusal(scope)
        if refused is not None:
            status, body = refused
            headers = _NOT_FOUND_HEADERS[:1] + [(b"content-length", str(len(body)).encode())]
            headers += _NOT_FOUND_HEADERS[2:] + ([(b"connection", b"close")] if status != 404 else [])
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
            return
        if scope["method"] in ("GET", "HEAD") and scope["path"].startswith("/feeds/"):
            await self.app(scope, receive, send)
            return

        async def secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _secured(list(message.get("headers", [])))}
            await send(message)

        await self.app(scope, receive, secured)


def _secured(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    names = {n.lower() for n, _ in headers}
    html = any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers)
    extra = _PAGE_HEADERS if html else _PAGE_HEADERS[:1]
    headers += [(n, v) for n, v in extra if n not in names]
    if html and b"content-security-policy" not in names:
        headers.append((b"content-security-policy", _DEFAULT_CSP))
    return headers


def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _feed_base(request: Request, public_url: str) -> str:
    base = public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}/feeds/"


async def home(request: Request) -> Response:
    """The page that lists every public feed with copyable https and webcal links."""
    cache: FeedCache = request.app.state.cache
    snap = cache.snapshot
    public_url = request.app.state.public_url or snap.public_url
    base = _feed_base(request, public_url)
    webcal = re.sub(r"^https?://", "webcal://", base)
    groups: dict[str, list[dict[str, object]]] = {"plan": [], "coordinator": [], "unit": []}
    for item in snap.index:
        path = str(item["path"])
        groups.setdefault(str(item["kind"]), []).append(
            {**item, "url": base + path, "webcal": webcal + path}
        )
    html = request.app.state.templates.get_template("index.html.j2").render(
        groups=groups,
        https=base.startswith("https://"),
        index_url=base + "index.json",
        hidden=sum(1 for e in snap.entries.values() if e.token),
        error=cache.last_error,
        nav=nav_for(request.app.state.site),
    )
    return HTMLResponse(html, headers={"content-security-policy": request.app.state.page_csp})


async def not_found(request: Request, exc: Exception) -> Response:
    """Exactly the feed endpoint's 404: nothing tells a missing page from a wrong token."""
    return Response(_NOT_FOUND_BODY, 404, {k.decode(): v.decode() for k, v in _NOT_FOUND_HEADERS})


async def no_icon(request: Request) -> Response:
    """Browsers ask for /favicon.ico by themselves: "no content", cached for a week, rather
    than a 404 that every tab logs as an error and that the access log fills with."""
    return Response(status_code=204, headers={"cache-control": "public, max-age=604800"})


def routes(cache: FeedCache) -> list[Route]:
    """The one table of routes. Later issues add their pages as rows here."""
    return [
        Route("/", home, methods=["GET"], name="home"),
        Route("/healthz", health.healthz, methods=["GET"], name="healthz"),
        Route("/metrics", health.metrics, methods=["GET"], name="metrics"),
        Route("/favicon.ico", no_icon, methods=["GET"], name="favicon"),
        Route("/feeds/{path:path}", FeedEndpoint(cache), methods=["GET"], name="feeds"),
        *site_routes(),  # /plans/…, /units/…, /coordinators/…, /static/… (site.py)
        *acks.routes(),  # /a/{token} acknowledgements, /u/{token} digest unsubscribe (acks.py)
    ]


async def _poll(cache: FeedCache, interval: float) -> None:
    """Rebuild in a worker thread when watched files change; never dies."""
    import anyio

    while True:
        await asyncio.sleep(interval)
        try:
            await anyio.to_thread.run_sync(cache.refresh)
        except Exception:  # noqa: BLE001 - a rebuild error must not stop serving
            log.exception("Lỗi khi kiểm tra thay đổi lịch")


def create_app(
    cache: FeedCache, *, public_url: str = "", poll_interval: float | None = 2.0, site: Site | None = None
) -> Starlette:
    """The Starlette app. `poll_interval` seconds between checks for changed files (None: off).
    `site` feeds the pages (site.py); without it they answer 404 and / lists feeds only."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        import anyio

        await anyio.to_thread.run_sync(lambda: cache.snapshot)  # build before the first request
        if site is not None:
            await anyio.to_thread.run_sync(site.warm)  # the pages' snapshot too (site.py)
        task = asyncio.create_task(_poll(cache, poll_interval)) if poll_interval else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = Starlette(routes=routes(cache), lifespan=lifespan, exception_handlers={404: not_found},
                    middleware=[Middleware(Guard)])  # fmt: skip
    app.router.redirect_slashes = False  # "/feeds" is a plain 404 like any other miss
    app.state.cache = cache
    app.state.public_url = public_url
    app.state.templates = _templates()
    app.state.page_csp = page_csp(TEMPLATES / "index.html.j2")
    if site is not None and site.feeds is None:
        site.feeds = cache  # feed links and secret tokens come from the feeds actually served
    app.state.site = site
    return app


def app_from_env() -> Starlette:
    """uvicorn factory (`notifier serve --workers N`): config from NOTIFIER_CONFIG.

    Every worker builds its own cache; the shared state file makes their bytes identical.
    """
    import os

    from notifier.catalog import load_catalog
    from notifier.clock import SystemClock

    path = Path(os.environ.get("NOTIFIER_CONFIG", "config.toml"))
    clock = SystemClock()
    cache = FeedCache(lambda now: load_catalog(path, now=now), clock=clock.now)
    return create_app(cache, site=Site(path, clock=clock))


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket created with IPPROTO_TCP.

    asyncio turns on TCP_NODELAY only for sockets whose `proto` is IPPROTO_TCP; the
    socket `uvicorn --workers N` binds has proto 0, so its connections keep Nagle's
    algorithm and every response written in two parts waits ~40 ms for the client's
    delayed ACK (measured: 44 ms a request for a 44 KB feed). Binding here avoids that.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(app: Starlette | str, *, host: str, port: int, workers: int = 1, access_log: bool = False) -> None:
    """Run under uvicorn on our own socket. With workers > 1, `app` is a factory's import string."""
    import logging

    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = uvicorn.Config(app, host=host, port=port, workers=workers, factory=workers > 1,
                            access_log=access_log, log_level="warning" if workers > 1 else "info",
                            h11_max_incomplete_event_size=MAX_HEADER_BYTES)  # fmt: skip
    sock = bind(host, port)
    server = uvicorn.Server(config)
    log.info("notifier phục vụ lịch tại http://%s:%d/ (%d tiến trình)", host, sock.getsockname()[1], workers)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])
