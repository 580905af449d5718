"""web.py over a real uvicorn server on 127.0.0.1 port 0, fetched with httpx."""

from __future__ import annotations

import gzip
import html
import re
import time
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest

from feedkit import NOW, running
from notifier.clock import FixedClock
from notifier.publish import FeedCache
from notifier.web import create_app, etag_matches, wants_gzip
from test_publish import Source, bump

PLAN = "/feeds/plans/34-kh-ubnd.ics"


@pytest.fixture
def server(tmp_path):
    src = Source(tmp_path, tokens={"so-ngoai-vu": "bi-mat-Ab9"})
    clock = FixedClock(NOW)
    cache = FeedCache(src, clock=clock.now)
    app = create_app(cache, public_url="https://lich.example.org", poll_interval=0.05)
    with running(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client, src, clock, cache


def test_feed_is_text_calendar_inline_whatever_accept_says(server):
    client, *_ = server
    for accept in (None, "text/html", "application/json", "*/*"):
        headers = {"Accept": accept} if accept else {}
        r = client.get(PLAN, headers=headers)
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/calendar; charset=utf-8"
        assert r.headers["content-disposition"].startswith("inline")
        assert r.content.startswith(b"BEGIN:VCALENDAR\r\n")


def test_strong_etag_is_the_hash_of_the_bytes_and_last_modified_is_set(server):
    client, _, _, cache = server
    r = client.get(PLAN, headers={"Accept-Encoding": "identity"})
    entry = cache.lookup("plans/34-kh-ubnd.ics")
    assert r.headers["etag"] == entry.etag and not r.headers["etag"].startswith("W/")
    assert r.content == entry.body
    assert r.headers["last-modified"] == format_datetime(entry.modified, usegmt=True)


def test_if_none_match_gives_304_repeating_etag_and_last_modified(server):
    client, *_ = server
    first = client.get(PLAN, headers={"Accept-Encoding": "identity"})
    r = client.get(PLAN, headers={"Accept-Encoding": "identity", "If-None-Match": first.headers["etag"]})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["etag"] == first.headers["etag"]
    assert r.headers["last-modified"] == first.headers["last-modified"]
    weak = client.get(PLAN, headers={"Accept-Encoding": "identity", "If-None-Match": f'"x", W/{first.headers["etag"]}'})
    assert weak.status_code == 304


def test_if_none_match_wins_over_if_modified_since(server):
    client, *_ = server
    first = client.get(PLAN)
    stale = client.get(PLAN, headers={"If-None-Match": '"other"', "If-Modified-Since": first.headers["last-modified"]})
    assert stale.status_code == 200
    fresh = client.get(PLAN, headers={"If-None-Match": first.headers["etag"],
                                      "If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})  # fmt: skip
    assert fresh.status_code == 304


def test_if_modified_since_alone(server):
    client, *_ = server
    first = client.get(PLAN)
    assert client.get(PLAN, headers={"If-Modified-Since": first.headers["last-modified"]}).status_code == 304
    assert client.get(PLAN, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 200
    assert client.get(PLAN, headers={"If-Modified-Since": "not a date"}).status_code == 200


def test_gzip_when_asked_with_its_own_strong_etag(server):
    client, _, _, cache = server
    entry = cache.lookup("plans/34-kh-ubnd.ics")
    raw = httpx.get(client.base_url.join(PLAN), headers={"Accept-Encoding": "gzip"})  # decoded by httpx
    assert raw.headers["content-encoding"] == "gzip" and raw.headers["vary"] == "Accept-Encoding"
    assert raw.headers["etag"] == entry.gzipped().etag
    assert raw.content == entry.body
    with httpx.stream("GET", client.base_url.join(PLAN), headers={"Accept-Encoding": "gzip"}) as s:
        packed = b"".join(s.iter_raw())
    assert gzip.decompress(packed) == entry.body and len(packed) < len(entry.body)
    plain = client.get(PLAN, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in plain.headers and plain.headers["etag"] == entry.etag
    r = client.get(PLAN, headers={"Accept-Encoding": "gzip", "If-None-Match": entry.gzipped().etag})
    assert r.status_code == 304 and r.headers["etag"] == entry.gzipped().etag
    other = client.get(PLAN, headers={"Accept-Encoding": "identity", "If-None-Match": entry.gzipped().etag})
    assert other.status_code == 200  # an ETag names one representation only


def test_head_gives_get_headers_without_body(server):
    client, *_ = server
    get = client.get(PLAN, headers={"Accept-Encoding": "identity"})
    head = client.head(PLAN, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    for name in ("etag", "last-modified", "content-type", "content-length"):
        assert head.headers[name] == get.headers[name]


def test_index_json_lists_public_feeds(server):
    client, *_ = server
    r = client.get("/feeds/index.json")
    assert r.headers["content-type"] == "application/json; charset=utf-8" and r.headers["etag"]
    entries = r.json()
    for e in entries:
        assert client.get("/feeds/" + e["path"]).status_code == 200
    assert "units/so-ngoai-vu.ics" not in {e["path"] for e in entries}


def test_token_url_serves_and_everything_else_is_a_plain_404(server):
    client, *_ = server
    assert client.get("/feeds/units/so-ngoai-vu/bi-mat-Ab9.ics").status_code == 200
    assert client.get("/feeds/coordinators/so-ngoai-vu/bi-mat-Ab9.ics").status_code == 200
    bodies = set()
    for path in ("/feeds/units/so-ngoai-vu.ics", "/feeds/units/so-ngoai-vu/bi-mat-Ab8.ics",
                 "/feeds/units/so-ngoai-vu/bi-mat-Ab9", "/feeds/plans/khong-co.ics",
                 "/feeds/../config.toml", "/feeds/units/so-tai-chinh/bi-mat-Ab9.ics", "/khong-co",
                 "/feeds/coordinators/so-ngoai-vu.ics", "/feeds/plans/34-kh-ubnd/bi-mat-Ab9.ics"):  # fmt: skip
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/plain")
        bodies.add(r.content)
    assert len(bodies) == 1  # nothing tells a wrong token from a missing feed


def test_the_icon_browsers_ask_for_is_no_content_not_an_error(server):
    client, *_ = server
    r = client.get("/favicon.ico")
    assert r.status_code == 204 and not r.content
    assert r.headers["cache-control"] == "public, max-age=604800"


def test_feeds_are_rebuilt_on_change_without_restart(server):
    client, src, clock, _ = server
    first = client.get(PLAN)
    clock.advance(timedelta(hours=1))
    bump(src.drop, "II.7")
    deadline = time.monotonic() + 5
    while True:
        r = client.get(PLAN, headers={"If-None-Match": first.headers["etag"]})
        if r.status_code == 200:
            break
        assert time.monotonic() < deadline, "feed was not rebuilt"
        time.sleep(0.05)
    assert b"ii-7@" not in r.content and r.headers["etag"] != first.headers["etag"]
    assert r.headers["last-modified"] != first.headers["last-modified"]


def test_home_page_lists_feeds_with_https_and_webcal_links(server):
    client, *_ = server
    r = client.get("/", headers={"Accept": "text/html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert 'lang="vi"' in page and "Sao chép" in page
    assert "https://lich.example.org/feeds/plans/34-kh-ubnd.ics" in page
    assert "webcal://lich.example.org/feeds/plans/34-kh-ubnd.ics" in page
    assert "Sở Văn hóa, Thể thao và Du lịch" in html.unescape(page)
    assert "so-ngoai-vu.ics" not in page and "bi-mat" not in page


def test_home_page_escapes_plan_text(server):
    client, src, clock, _ = server
    clock.advance(timedelta(hours=1))
    bump(src.title, '<script>alert("x")</script> & "kế hoạch"')
    deadline = time.monotonic() + 5
    while "&lt;script&gt;" not in (page := client.get("/").text):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "<script>alert" not in page


def test_healthz(server):
    client, *_ = server
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["feeds"] > 0


def test_post_is_refused(server):
    client, *_ = server
    assert client.post(PLAN).status_code == 405


@pytest.mark.parametrize(
    ("header", "expected"),
    [("gzip", True), ("gzip, deflate, br", True), ("GZIP;q=0.5", True), ("gzip;q=0", False),
     ("identity", False), ("", False), ("*", False), ("br;q=1, gzip;q=0.001", True)],  # fmt: skip
)
def test_wants_gzip(header, expected):
    assert wants_gzip(header) is expected


def test_etag_matching_is_weak_and_handles_lists():
    assert etag_matches('W/"a", "b"', '"a"')
    assert etag_matches("*", '"z"')
    assert not etag_matches('"a"', '"b"', '"c"')
    assert not etag_matches("", '"a"')
    assert re.match(r'^"[0-9a-f]{32}"$', '"' + "0" * 32 + '"')
