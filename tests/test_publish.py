"""publish.py: the feed cache (rebuilds, atomic swaps, Last-Modified floor), state, export."""

from __future__ import annotations

import json
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import icalendar
import pytest

from feedkit import NOW, directory, plan
from notifier.clock import FixedClock
from notifier.errors import ConfigError
from notifier.events import DutyDeadline
from notifier.feeds import FeedSettings
from notifier.publish import Catalog, FeedCache, StateFile, export

HALF = {"34-kh-ubnd": {"half-year": [DutyDeadline("half-year", "2024", date(2024, 6, 14))]}}


class Source:
    """A file-backed loader: `title.txt` is the plan's title, `drop.txt` lists refs to leave out."""

    def __init__(self, root: Path, tokens: dict[str, str] | None = None) -> None:
        self.root = root
        self.tokens = tokens or {}
        (root / "schedules").mkdir(parents=True, exist_ok=True)
        self.title = root / "schedules" / "title.txt"
        self.drop = root / "schedules" / "drop.txt"
        self.title.write_text("Kế hoạch Ngoại giao văn hóa năm 2024", encoding="utf-8")
        self.drop.write_text("", encoding="utf-8")
        self.loads = 0

    def __call__(self, now):  # noqa: ANN001, ANN204
        self.loads += 1
        text = self.title.read_text(encoding="utf-8")
        if text.startswith("LỖI"):
            raise ConfigError("config.toml: lỗi thử")
        p = plan()
        p.title = text
        dropped = set(self.drop.read_text(encoding="utf-8").split())
        p.activities = [a for a in p.activities if a.ref not in dropped]
        return Catalog(
            plans=(p,),
            directory=directory(),
            settings=FeedSettings(public_url="https://lich.example.org", uid_domain="dak-lak.notifier"),
            deadlines=HALF,
            tokens=self.tokens,
            watch=(self.root / "schedules",),
            state_path=self.root / "var" / "feeds-state.json",
        )


def bump(path: Path, text: str) -> None:
    """Rewrite `path` so its signature moves, even for two same-size writes in one mtime tick."""
    import os

    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, max(st.st_mtime_ns, before) + 1_000_000))


def test_cache_serves_bytes_with_strong_etags_per_representation(tmp_path):
    cache = FeedCache(Source(tmp_path), clock=FixedClock(NOW).now)
    entry = cache.lookup("plans/34-kh-ubnd.ics")
    assert entry is not None
    import gzip
    import hashlib

    assert gzip.decompress(entry.gzipped().body) == entry.body
    assert entry.etag == '"' + hashlib.sha256(entry.body).hexdigest()[:32] + '"'
    assert entry.gzipped().etag == '"' + hashlib.sha256(entry.gzipped().body).hexdigest()[:32] + '"'
    assert entry.etag != entry.gzipped().etag
    assert cache.lookup("plans/khong-co.ics") is None
    assert cache.lookup("../config.toml") is None


def test_refresh_rebuilds_only_when_watched_files_change(tmp_path):
    src = Source(tmp_path)
    clock = FixedClock(NOW)
    cache = FeedCache(src, clock=clock.now)
    first = cache.snapshot
    assert cache.refresh() is False and src.loads == 1
    clock.advance(timedelta(hours=1))
    bump(src.title, "Kế hoạch đã đổi tên")
    assert cache.refresh() is True
    second = cache.snapshot
    assert second is not first
    assert b"K\xe1\xba\xbf ho\xe1\xba\xa1ch \xc4\x91\xc3\xa3 \xc4\x91\xe1\xbb\x95i t\xc3\xaan" in second.entries["plans/34-kh-ubnd.ics"].body
    assert second.entries["plans/34-kh-ubnd.ics"].modified > first.entries["plans/34-kh-ubnd.ics"].modified


def test_failed_rebuild_keeps_serving_the_previous_build(tmp_path):
    src = Source(tmp_path)
    cache = FeedCache(src, clock=FixedClock(NOW).now)
    before = cache.lookup("plans/34-kh-ubnd.ics")
    bump(src.title, "LỖI cấu hình")
    assert cache.refresh() is False
    assert cache.lookup("plans/34-kh-ubnd.ics") is before
    assert "lỗi thử" in cache.last_error
    assert cache.refresh() is False and src.loads == 2  # not retried until the next edit
    bump(src.title, "Sửa xong")
    assert cache.refresh() is True and cache.last_error == ""


def test_deleting_an_event_moves_last_modified_forward_and_state_persists(tmp_path):
    src = Source(tmp_path)
    clock = FixedClock(NOW)
    cache = FeedCache(src, clock=clock.now)
    before = cache.lookup("plans/34-kh-ubnd.ics")
    clock.advance(timedelta(days=2))
    bump(src.drop, "II.7")
    assert cache.refresh()
    after = cache.lookup("plans/34-kh-ubnd.ics")
    assert after.modified > before.modified and b"ii-7@" not in after.body
    # A new process (fresh cache, same state file) publishes the very same bytes.
    again = FeedCache(src, clock=FixedClock(NOW + timedelta(days=30)).now)
    assert again.lookup("plans/34-kh-ubnd.ics").body == after.body
    state = json.loads((tmp_path / "var" / "feeds-state.json").read_text())
    removed = [v for uid, v in state["events"].items() if ".ii-7@" in uid]
    assert removed and removed[0]["removed"]


def test_last_modified_never_moves_backwards_even_without_state(tmp_path):
    src = Source(tmp_path)
    clock = FixedClock(NOW)
    cache = FeedCache(src, clock=clock.now)
    first = cache.lookup("plans/34-kh-ubnd.ics").modified
    (tmp_path / "var" / "feeds-state.json").unlink()  # state lost
    clock.advance(timedelta(days=-300))  # and the clock set back
    bump(src.title, "Khác")
    assert cache.refresh()
    assert cache.lookup("plans/34-kh-ubnd.ics").modified >= first


def test_two_caches_on_one_state_publish_identical_bytes(tmp_path):
    """Two uvicorn workers = two caches; built at different times they must agree."""
    src = Source(tmp_path)
    a = FeedCache(src, clock=FixedClock(NOW).now)
    b = FeedCache(src, clock=FixedClock(NOW + timedelta(minutes=5)).now)
    assert a.lookup("plans/34-kh-ubnd.ics").etag == b.lookup("plans/34-kh-ubnd.ics").etag


def test_readers_during_rebuilds_see_only_whole_snapshots(tmp_path):
    src = Source(tmp_path)
    clock = FixedClock(NOW)
    cache = FeedCache(src, clock=clock.now)
    seen: set[bytes] = set()
    errors: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            snap = cache.snapshot
            body = snap.entries["plans/34-kh-ubnd.ics"].body
            index = json.loads(snap.entries["index.json"].body)
            if not body.endswith(b"END:VCALENDAR\r\n") or not any(
                e["path"] == "plans/34-kh-ubnd.ics" for e in index
            ):
                errors.append("half-built snapshot")
            seen.add(body)
            time.sleep(0.0005)  # let the rebuild thread have the GIL

    first = cache.snapshot  # built before the readers start, so no reader builds it after a bump
    assert first is not None
    readers = [threading.Thread(target=read, daemon=True) for _ in range(3)]
    for t in readers:
        t.start()
    refreshed = []
    try:
        for i in range(5):
            clock.advance(timedelta(minutes=1))
            bump(src.title, f"Bản {i}")
            refreshed.append(cache.refresh())
    finally:  # a failed refresh must not leave the readers spinning forever
        stop.set()
        for t in readers:
            t.join(timeout=10)
    assert all(refreshed), f"a rebuild failed: {cache.last_error}"
    assert not errors and len(seen) >= 2


def test_token_feeds_only_at_their_secret_path(tmp_path):
    cache = FeedCache(Source(tmp_path, tokens={"so-ngoai-vu": "bi-mat-123"}), clock=FixedClock(NOW).now)
    assert cache.lookup("units/so-ngoai-vu.ics") is None
    assert cache.lookup("units/so-ngoai-vu/bi-mat-123.ics") is not None
    assert cache.lookup("units/so-ngoai-vu/bi-mat-124.ics") is None
    assert cache.lookup("units/so-van-hoa-the-thao-va-du-lich/bi-mat-123.ics") is None
    index = json.loads(cache.snapshot.entries["index.json"].body)
    assert "units/so-ngoai-vu.ics" not in {e["path"] for e in index}


def test_export_writes_plans_units_and_index_atomically(tmp_path):
    cache = FeedCache(Source(tmp_path / "src", tokens={"so-ngoai-vu": "tok"}), clock=FixedClock(NOW).now)
    out = tmp_path / "out"
    (out / "units").mkdir(parents=True)
    (out / "units" / "don-vi-cu.ics").write_text("stale")
    export(cache.snapshot, out)
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert {e["kind"] for e in index} == {"plan", "unit", "coordinator"}
    for e in index:
        body = (out / e["path"]).read_bytes()
        cal = icalendar.Calendar.from_ical(body)
        assert len(list(cal.walk("VEVENT"))) == e["events"]
        assert e["path"].isascii()
    assert (out / "plans" / "34-kh-ubnd.ics").read_bytes() == cache.snapshot.entries["plans/34-kh-ubnd.ics"].body
    assert (out / "units" / "so-ngoai-vu" / "tok.ics").exists()
    assert not (out / "units" / "so-ngoai-vu.ics").exists()
    assert not (out / "units" / "don-vi-cu.ics").exists()
    assert not list(out.rglob(".*.tmp"))


def test_damaged_state_is_set_aside_not_fatal(tmp_path):
    state = StateFile(tmp_path / "feeds-state.json")
    state.path.write_text("{không phải json")
    assert state.load().events == {}
    assert (tmp_path / "feeds-state.damaged.json").exists()


def test_first_build_error_is_raised(tmp_path):
    src = Source(tmp_path)
    src.title.write_text("LỖI", encoding="utf-8")
    with pytest.raises(ConfigError):
        FeedCache(src, clock=FixedClock(NOW).now).refresh()


def test_served_snapshot_is_the_build_packed_field_for_field(tmp_path):
    """The cache serves the build remade after its garbage is freed (pickled): nothing lost."""
    from notifier.publish import build_snapshot

    src = Source(tmp_path, tokens={"so-ngoai-vu": "b" * 32})
    served = FeedCache(src, clock=FixedClock(NOW).now).snapshot
    state = StateFile(tmp_path / "var" / "feeds-state.json").load()
    built, _ = build_snapshot(src(NOW), state, now=NOW)
    assert served.entries.keys() == built.entries.keys()
    for path, want in built.entries.items():
        got = served.entries[path]
        fields = ("path", "modified", "content_type", "token", "body", "etag")
        assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields]
        assert got.identity.headers == want.identity.headers
        assert got.identity.headers_304 == want.identity.headers_304
        assert got.gzipped() == want.gzipped()
    assert [(f.kind, f.name, f.slug, f.path, f.events, f.modified) for f in served.feeds] == [
        (f.kind, f.name, f.slug, f.path, f.events, f.modified) for f in built.feeds
    ]
    assert served.index == built.index and served.problems == built.problems
    assert served.lookup(f"units/so-ngoai-vu/{'b' * 32}.ics") is not None


def test_a_build_leaves_the_event_memos_empty(tmp_path):
    """Memo entries made during a build would keep its garbage's arenas resident (events.forget)."""
    from notifier import events

    FeedCache(Source(tmp_path), clock=FixedClock(NOW).now).snapshot  # noqa: B018 - builds
    memos = (events._clean, events._plan_line, events._first_occurrence)
    assert [m.cache_info().currsize for m in memos] == [0, 0, 0]
    events.plan_line(plan())  # and they still work afterwards
    assert events._plan_line.cache_info().currsize == 1
