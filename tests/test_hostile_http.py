"""Hostile HTTP against the real app: uvicorn on 127.0.0.1 port 0, raw sockets and httpx.

- unknown paths and tokens: the same plain 404 (status, body, headers) whatever the path;
  tokens are compared in constant time by construction (one hmac.compare_digest per token
  URL, found or not), which is checked directly: a statistical timing test would be flaky;
- no directory traversal: dot segments, %2e, encoded slashes and backslashes, NUL;
- bounded requests: URL length, header size and count, a body on GET (web.Guard) and
  h11's buffer for a request head sent in pieces (web.serve);
- security headers: a Content-Security-Policy without external sources whose hashes match
  the page's only inline script and style, nosniff, Referrer-Policy, framing refused;
  nosniff on feeds; only GET and HEAD anywhere (405 with Allow).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from feedkit import NOW, directory, plan, running

from notifier.clock import FixedClock
from notifier.feeds import FeedSettings
from notifier.publish import Catalog, FeedCache
from notifier.web import MAX_HEADER_BYTES, MAX_HEADERS, MAX_TARGET_BYTES, create_app

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "k9Yq2LrT0w"
PLAN = "/feeds/plans/34-kh-ubnd.ics"
SECRET = f"/feeds/units/so-ngoai-vu/{TOKEN}.ics"


def loader(now: datetime) -> Catalog:
    return Catalog(
        plans=(plan(),),
        directory=directory(),
        settings=FeedSettings(public_url="https://lich.example.org"),
        tokens={"so-ngoai-vu": TOKEN},
    )


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    cache = FeedCache(loader, clock=FixedClock(NOW).now)
    with running(create_app(cache, poll_interval=None)) as url:
        yield url


def raw(
    base: str, request: bytes, *, pause: float = 0.0, chunk: int = 0
) -> tuple[int, dict[str, str], bytes]:
    """Send bytes exactly as given (no client normalises the path); parse one response."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        try:
            if chunk:
                for i in range(0, len(request), chunk):
                    sock.sendall(request[i : i + chunk])
                    time.sleep(pause)
            else:
                sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        data = b""
        while True:  # every request here asks for Connection: close, or is refused with it
            try:
                part = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not part:
                break
            data += part
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def get(
    base: str, target: str, *, method: str = "GET", extra: str = ""
) -> tuple[int, dict[str, str], bytes]:
    request = f"{method} {target} HTTP/1.1\r\nHost: lich\r\n{extra}Connection: close\r\n\r\n"
    return raw(base, request.encode("latin-1"))


def comparable(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in ("date", "connection")}


# --- 404: one answer for everything that is not there ------------------------------------

MISSES = [
    "/feeds/units/so-ngoai-vu.ics",  # a feed that exists only at its secret URL
    f"/feeds/units/so-ngoai-vu/{TOKEN[:-1]}x.ics",  # wrong token, right length
    "/feeds/units/so-ngoai-vu/k.ics",  # wrong token, short
    f"/feeds/units/so-ngoai-vu/{TOKEN * 40}.ics",  # wrong token, long
    f"/feeds/units/so-tai-chinh/{TOKEN}.ics",  # a token of another unit
    f"/feeds/units/khong-co/{TOKEN}.ics",  # no such unit
    f"/feeds/coordinators/so-ngoai-vu/{TOKEN}",  # no .ics
    f"/feeds/plans/34-kh-ubnd/{TOKEN}.ics",  # plans have no tokens
    "/feeds/plans/khong-co.ics",
    "/feeds/",
    "/feeds",
    "/khong-co",
    "/admin",
    "/.env",
    "/index.html",
    "/feeds/index.json/x",
]
TRAVERSALS = [
    "/feeds/../config.toml",
    "/feeds/../../../../etc/passwd",
    "/feeds/%2e%2e/config.toml",
    "/feeds/%2E%2E/%2E%2E/pyproject.toml",
    "/feeds/..%2fconfig.toml",
    "/feeds/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/feeds/plans/..%5c..%5cconfig.toml",
    "/feeds/plans\\..\\..\\config.toml",
    "/feeds/plans/34-kh-ubnd.ics%00.toml",
    "/feeds/plans/./34-kh-ubnd.ics",
    "/feeds//plans/34-kh-ubnd.ics",
    "//etc/passwd",
    "/feeds/plans%2f34-kh-ubnd.ics",  # an encoded slash names no feed
    "/feeds/plans%5c34-kh-ubnd.ics",
    "/%2e%2e/%2e%2e/etc/passwd",
]


def test_every_miss_and_traversal_gets_the_same_plain_404(base: str) -> None:
    ok = get(base, PLAN)
    assert ok[0] == 200 and get(base, SECRET)[0] == 200  # the feeds themselves are served
    answers = {}
    for target in MISSES + TRAVERSALS:
        for method in ("GET", "HEAD"):
            status, headers, body = get(base, target, method=method)
            assert status == 404, (method, target)
            assert headers["content-type"] == "text/plain; charset=utf-8"
            assert headers["x-content-type-options"] == "nosniff"
            answers[(method, target)] = (tuple(sorted(comparable(headers).items())), body)
    for method in ("GET", "HEAD"):
        distinct = {answer for (m, _), answer in answers.items() if m == method}
        assert len(distinct) == 1, distinct  # nothing tells a wrong token from a missing feed
    assert answers[("GET", "/khong-co")][1] == "Không tìm thấy.\n".encode()
    assert answers[("HEAD", "/khong-co")][1] == b""


def test_no_traversal_ever_reads_a_file(base: str, tmp_path: Path) -> None:
    # Feeds are looked up in an in-memory map of known paths; nothing on disk is opened.
    for target in TRAVERSALS:
        _, _, body = get(base, target)
        assert b"[notifier]" not in body and b"root:" not in body and b"[project]" not in body


def test_tokens_are_compared_in_constant_time_by_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every token-shaped lookup makes exactly one hmac.compare_digest call, whether the unit
    # exists, has a token or not, and whatever the token: the work done does not depend on
    # how much of the secret a guess shares, nor on whether the unit has a secret feed.
    from notifier import publish

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    cache = FeedCache(loader, clock=FixedClock(NOW).now)
    snap = cache.snapshot
    cases = {
        f"units/so-ngoai-vu/{TOKEN}.ics": True,
        f"coordinators/so-ngoai-vu/{TOKEN}.ics": True,
        f"units/so-ngoai-vu/{TOKEN[:5]}.ics": False,
        f"units/so-ngoai-vu/{'x' * len(TOKEN)}.ics": False,
        f"units/so-tai-chinh/{TOKEN}.ics": False,  # a unit without a token
        f"units/khong-co/{TOKEN}.ics": False,  # no such unit
    }
    for path, found in cases.items():
        calls.clear()
        assert (snap.lookup(path) is not None) is found, path
        assert len(calls) == 1, (path, calls)
    source = Path(publish.__file__).read_text(encoding="utf-8")
    assert "token ==" not in source and "== entry.token" not in source  # no early-exit compare


# --- bounded requests --------------------------------------------------------------------------


def test_a_long_url_is_refused_with_414(base: str) -> None:
    status, headers, _ = get(base, "/feeds/plans/" + "a" * (MAX_TARGET_BYTES + 1) + ".ics")
    assert status == 414 and headers["x-content-type-options"] == "nosniff"
    status, _, _ = get(base, "/feeds/plans/34-kh-ubnd.ics?" + "q" * (MAX_TARGET_BYTES + 1))
    assert status == 414
    assert get(base, PLAN + "?" + "q" * 1000)[0] == 200  # long enough for any real link


def test_large_or_many_headers_are_refused_with_431(base: str) -> None:
    big = f"X-Big: {'a' * (MAX_HEADER_BYTES + 1)}\r\n"
    assert get(base, PLAN, extra=big)[0] == 431
    many = "".join(f"X-{n}: a\r\n" for n in range(MAX_HEADERS + 1))
    assert get(base, PLAN, extra=many)[0] == 431
    cookie = "Cookie: " + "; ".join(f"c{n}=" + "v" * 60 for n in range(60)) + "\r\n"  # ~4 KB
    assert get(base, PLAN, extra=cookie + "User-Agent: Google-Calendar-Importer\r\n")[0] == 200


def test_a_body_on_get_is_refused_before_it_is_read(base: str) -> None:
    request = f"GET {PLAN} HTTP/1.1\r\nHost: lich\r\nContent-Length: 100000000\r\n\r\n".encode()
    status, _, _ = raw(base, request + b"a" * 65536)
    assert status == 413
    assert get(base, PLAN, extra="Content-Length: 0\r\n")[0] == 200


def test_serve_bounds_a_request_head_sent_in_pieces(tmp_path: Path) -> None:
    # h11 keeps at most MAX_HEADER_BYTES of an unfinished request head (web.serve sets it);
    # a head dripped in small pieces never grows past that in memory.
    script = (
        "import sys; sys.path.insert(0, 'tests')\n"
        "from feedkit import NOW\n"
        "from test_hostile_http import loader\n"
        "from notifier.clock import FixedClock\n"
        "from notifier.publish import FeedCache\n"
        "from notifier.web import create_app, serve\n"
        "serve(create_app(FeedCache(loader, clock=FixedClock(NOW).now), poll_interval=None),"
        " host='127.0.0.1', port=0)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            port = int(found.group(1)) if found else None
        assert port, "serve() did not start"
        url = f"http://127.0.0.1:{port}"
        for _ in range(50):  # the socket is bound before uvicorn accepts: wait for it
            try:
                if httpx.get(url + PLAN, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        head = (
            f"GET {PLAN} HTTP/1.1\r\nHost: lich\r\nX-Drip: {'a' * (4 * MAX_HEADER_BYTES)}\r\n\r\n"
        )
        status, _, _ = raw(url, head.encode(), chunk=4096, pause=0.02)
        assert status in (400, 431)
    finally:
        proc.terminate()
        proc.wait(10)


# --- security headers and methods ----------------------------------------------------------


def _csp(value: str) -> dict[str, list[str]]:
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def _sha256(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


def test_pages_carry_security_headers_and_a_csp_without_external_sources(base: str) -> None:
    r = httpx.get(base + "/", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    csp = _csp(r.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'none'"]
    sources = [s for values in csp.values() for s in values]
    for source in sources:  # nothing from elsewhere, nothing inline that is not ours
        assert source in ("'none'", "'self'") or source.startswith("'sha256-"), source
    scripts = re.findall(r"<script>(.*?)</script>", r.text, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", r.text, re.DOTALL)
    assert scripts and styles
    assert sorted(csp["script-src"]) == sorted(_sha256(s) for s in scripts)
    assert sorted(csp["style-src"]) == sorted(_sha256(s) for s in styles)
    assert not re.search(r"<[^>]+\son\w+\s*=", r.text)  # inline handlers would be blocked


def test_feeds_and_errors_say_nosniff(base: str) -> None:
    for target in (PLAN, SECRET, "/feeds/index.json", "/feeds/plans/khong-co.ics", "/khong-co"):
        r = httpx.get(base + target, timeout=10)
        assert r.headers["x-content-type-options"] == "nosniff", target
    etag = httpx.get(base + PLAN, timeout=10).headers["etag"]
    assert httpx.get(base + PLAN, headers={"If-None-Match": etag}, timeout=10).status_code == 304


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"]
)
def test_only_get_and_head_are_allowed(base: str, method: str) -> None:
    for target in (PLAN, SECRET, "/feeds/index.json", "/"):
        status, headers, _ = get(base, target, method=method, extra="Content-Length: 0\r\n")
        assert status == 405, (method, target)
        assert sorted(m.strip() for m in headers["allow"].split(",")) == ["GET", "HEAD"]
        assert headers["x-content-type-options"] == "nosniff"
    assert get(base, "/khong-co", method=method, extra="Content-Length: 0\r\n")[0] == 404
