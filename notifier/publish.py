"""Publishing feeds: the in-memory feed cache, its saved state, and exporting to files.

Owns: `Catalog` (what a build needs: plans, directory, settings, deadlines, tokens, the
files to watch), `Entry` (one published file: bytes, gzip bytes, strong ETags, Last-
Modified, ready-made HTTP headers), `Snapshot` (every entry of one build, swapped in
whole so nobody is ever served a half-built set), `FeedCache` (builds from a loader,
rebuilds when watched files change, never moves Last-Modified backwards), `StateFile`
(versions of events and feeds as JSON under var/, locked while a build reads and
writes it, so several workers publish identical bytes) and `export()`.

Facts relied on: a strong ETag must change with every byte (RFC 9110 §8.8.3), so it is
a hash of the exact bytes of each representation (identity and gzip). gzip output is
made deterministic with mtime=0. os.replace within one directory is atomic on POSIX,
so a reader of an exported file sees the old or the new file, never half of one.
Not here: building ICS (feeds.py), HTTP (web.py), reading config (catalog.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import gzip
import hashlib
import json
import logging
import os
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

from notifier.errors import NotifierError, Problem
from notifier.events import DutyDeadline, forget, plan_events
from notifier.feeds import (
    Feed,
    FeedSettings,
    FeedState,
    FeedVersion,
    build_feeds,
    index_entries,
    index_json,
)
from notifier.plan import Plan

__all__ = ["Catalog", "Entry", "Representation", "Snapshot", "FeedCache", "StateFile", "build_snapshot", "export"]

log = logging.getLogger("notifier.publish")

ICS_TYPE = "text/calendar; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
INDEX_PATH = "index.json"
FOLDERS = ("plans", "units", "coordinators")


@dataclass(frozen=True, slots=True)
class Catalog:
    """Everything one build of the feeds reads, already loaded and resolved."""

    plans: tuple[Plan, ...]
    directory: object  # units.Directory (feeds.DirectoryLike)
    settings: FeedSettings = FeedSettings()
    deadlines: Mapping[str, Mapping[str, Sequence[DutyDeadline]]] = field(default_factory=dict)
    tokens: Mapping[str, str] = field(default_factory=dict)  # unit slug → secret
    watch: tuple[Path, ...] = ()  # files and folders whose change means "rebuild"
    state_path: Path | None = None
    problems: tuple[Problem, ...] = ()


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


@dataclass(frozen=True, slots=True)
class Representation:
    """One encoding of an entry: its bytes, strong ETag and ready-made HTTP headers."""

    body: bytes
    etag: str
    headers: tuple[tuple[bytes, bytes], ...]  # for a 200
    headers_304: tuple[tuple[bytes, bytes], ...]


def _representation(entry: Entry, body: bytes, encoding: bytes | None) -> Representation:
    etag = _etag(body)
    cache = b"private, no-cache" if entry.token else b"public, no-cache"
    common = [
        (b"etag", etag.encode()),
        (b"last-modified", _http_date(entry.modified).encode()),
        (b"cache-control", cache),
        (b"vary", b"Accept-Encoding"),
    ]
    name = entry.path.rsplit("/", 1)[-1].encode()
    full = [
        *common,
        (b"content-type", entry.content_type.encode()),
        (b"content-disposition", b'inline; filename="' + name + b'"'),
        (b"x-content-type-options", b"nosniff"),
    ]
    if encoding:
        full.append((b"content-encoding", encoding))
    full.append((b"content-length", str(len(body)).encode()))
    return Representation(body, etag, tuple(full), tuple(common))


class _Unpacked:
    """Identity bodies of packed entries unpacked lately, at most `limit` bytes (LRU), so a
    feed asked for without gzip is not decompressed on every request. Keyed by the
    identity ETag (a hash of the bytes), so a rebuilt feed never finds stale bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
                return body
        body = make()
        if len(body) <= self.limit:
            with self._lock:
                if key not in self._items:
                    self._items[key] = body
                    self._size += len(body)
                while self._size > self.limit:
                    _, old = self._items.popitem(last=False)
                    self._size -= len(old)
        return body


_UNPACKED = _Unpacked(16 * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class Entry:
    """One published file. The identity bytes are made with the build; gzip on first demand
    (deterministic: mtime=0), so a build never pays for an encoding nobody asked for.

    A `packed()` entry (what FeedCache serves) keeps only its gzip bytes, about a tenth of
    an ICS feed's size; its identity ETag and headers are kept from the identity bytes, and
    those bytes are unpacked when asked for (recent ones kept in a bounded LRU)."""

    path: str
    modified: datetime  # whole seconds, UTC
    content_type: str
    token: str | None = None  # set: only served at the secret URL
    _identity: Representation = field(default=None)  # type: ignore[assignment]
    _gzip: list[Representation] = field(default_factory=list, compare=False, repr=False)
    _packed: bool = False  # _identity.body is empty: unpack _gzip[0]

    @classmethod
    def make(cls, path: str, body: bytes, modified: datetime, content_type: str, token: str | None = None) -> Entry:
        modified = modified.astimezone(timezone.utc).replace(microsecond=0)
        entry = cls(path, modified, content_type, token)
        object.__setattr__(entry, "_identity", _representation(entry, body, None))
        return entry

    @property
    def identity(self) -> Representation:
        rep = self._identity
        if not self._packed:
            return rep
        packed = self._gzip[0].body
        return replace(rep, body=_UNPACKED.get(rep.etag, lambda: gzip.decompress(packed)))

    @property
    def body(self) -> bytes:
        return self.identity.body

    @property
    def etag(self) -> str:
        return self._identity.etag

    def gzipped(self) -> Representation:
        """The gzip representation, made once (two threads racing make the same bytes)."""
        if not self._gzip:
            packed = gzip.compress(self._identity.body, compresslevel=6, mtime=0)
            self._gzip.append(_representation(self, packed, b"gzip"))
        return self._gzip[0]

    def packed(self) -> Entry:
        """The same entry holding only its gzip bytes (same ETags, headers and Last-Modified)."""
        if self._packed:
            return self
        gz = self.gzipped()
        entry = Entry(self.path, self.modified, self.content_type, self.token, _packed=True)
        object.__setattr__(entry, "_identity", replace(self._identity, body=b""))
        entry._gzip.append(gz)
        return entry


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One complete build: every entry by path, the feeds, the public index."""

    entries: Mapping[str, Entry]
    feeds: tuple[Feed, ...]
    index: tuple[dict[str, object], ...]
    built_at: datetime
    problems: tuple[Problem, ...] = ()
    public_url: str = ""  # base of the links the page shows

    def lookup(self, path: str) -> Entry | None:
        """The entry served at `path` (relative to /feeds/): public, or `<folder>/<slug>/<token>.ics`."""
        import hmac

        entry = self.entries.get(path)
        if entry is not None:
            return None if entry.token else entry
        folder, _, rest = path.partition("/")
        slug, _, token_file = rest.partition("/")
        if folder not in ("units", "coordinators") or not token_file.endswith(".ics") or "/" in token_file:
            return None
        entry = self.entries.get(f"{folder}/{slug}.ics")
        secret = entry.token if entry is not None and entry.token else ""
        given = token_file.removesuffix(".ics").encode()
        # One comparison whether or not the unit has a secret feed, so the time taken tells
        # neither how much of a guess is right nor which units have secret feeds.
        same = hmac.compare_digest(given, (secret or "\x00").encode())
        return entry if same and secret else None


def build_snapshot(
    catalog: Catalog, previous: FeedState, *, now: datetime
) -> tuple[Snapshot, FeedState]:
    """Pure: a catalog and the previous state → a snapshot and the next state."""
    try:
        return _build_snapshot(catalog, previous, now=now)
    finally:
        forget()  # the memos' entries would pin the build's garbage (events.forget)


def _build_snapshot(
    catalog: Catalog, previous: FeedState, *, now: datetime
) -> tuple[Snapshot, FeedState]:
    settings = catalog.settings
    plans = [
        plan_events(
            p,
            deadlines=catalog.deadlines.get(p.slug, {}),
            base_url=settings.public_url,
            uid_domain=settings.uid_domain,
        )
        for p in catalog.plans
    ]
    feeds, state = build_feeds(plans, catalog.directory, settings=settings, previous=previous, now=now)  # type: ignore[arg-type]
    tokens = {slug: t for slug, t in catalog.tokens.items() if t}
    entries: dict[str, Entry] = {}
    for f in feeds:
        token = tokens.get(f.slug) if f.kind in ("unit", "coordinator") else None
        entries[f.path] = Entry.make(f.path, f.body, f.modified, ICS_TYPE, token)
    listed = index_entries(feeds, hidden=lambda f: f.kind != "plan" and f.slug in tokens)
    body = index_json(listed)
    old = previous.feeds.get(INDEX_PATH)
    version = _next_version(old, body, now)
    state.feeds[INDEX_PATH] = version
    entries[INDEX_PATH] = Entry.make(INDEX_PATH, body, version.modified, JSON_TYPE)
    snap = Snapshot(entries, tuple(feeds), tuple(listed), now, tuple(catalog.problems), settings.public_url)
    return snap, state


def _next_version(old: FeedVersion | None, body: bytes, now: datetime) -> FeedVersion:
    fp = hashlib.sha256(body).hexdigest()
    if old is not None and old.fingerprint == fp:
        return old
    return FeedVersion(fp, max(old.modified, now) if old else now)


class StateFile:
    """Feed state as JSON (var/feeds-state.json), read and written under an exclusive lock.

    The store engineer moves this to the database later; the interface stays
    load/save inside `locked()`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def load(self) -> FeedState:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return FeedState.from_json(data)
        except FileNotFoundError:
            return FeedState()
        except (ValueError, KeyError, TypeError, AssertionError) as exc:
            # A damaged state only costs stamps: keep it aside and start afresh.
            aside = self.path.with_suffix(".damaged.json")
            log.warning("Tệp trạng thái lịch %s hỏng (%s); đã chuyển sang %s.", self.path, exc, aside)
            os.replace(self.path, aside)
            return FeedState()

    def save(self, state: FeedState) -> None:
        text = json.dumps(state.as_json(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        _write_atomic(self.path, text.encode("utf-8"))


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def file_signature(paths: Sequence[Path]) -> tuple[tuple[str, int, int, int], ...]:
    """What changes when an admin edits, adds or removes one of `paths` (files as given)."""
    out: list[tuple[str, int, int, int]] = []
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            out.append((str(p), -1, -1, -1))
            continue
        out.append((str(p), st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


def _signature(paths: Sequence[Path]) -> tuple[tuple[str, int, int, int], ...]:
    """The watched files and folders, with every visible file inside a folder."""
    items: list[Path] = []
    for root in paths:
        items.append(root)
        if root.is_dir():
            items += sorted(p for p in root.iterdir() if not p.name.startswith("."))
    return file_signature(items)


def _flatten(snap: Snapshot, signature: object) -> bytes:
    """What a build keeps, as one buffer to be made again once the build's garbage is freed.

    pymalloc returns a 1 MiB arena to the system only when every object in it is freed, and
    it fills the holes freed objects leave before anything else. So the few thousand small
    objects a build keeps (headers, ETags, paths), made amid its garbage, kept ~45 MB of
    that garbage resident at 1,000 plans, and copying them in place only moved them into
    other holes. Unpickled after the garbage is gone, they fill the arenas still in use."""
    return pickle.dumps((snap, signature), protocol=pickle.HIGHEST_PROTOCOL)


class FeedCache:
    """Feeds as bytes in memory, rebuilt when watched files change.

    `loader(now)` returns a Catalog (it reads config and schedules). Builds run under the
    state file's lock; the new Snapshot replaces the old one in a single assignment.
    A failed rebuild keeps serving the previous snapshot and is logged.
    """

    def __init__(self, loader: Callable[[datetime], Catalog], *, clock: Callable[[], datetime]) -> None:
        self._loader = loader
        self._clock = clock
        self._snapshot: Snapshot | None = None
        self._signature: tuple[tuple[str, int, int, int], ...] | None = None
        self._watch: tuple[Path, ...] = ()
        self._floor: dict[str, datetime] = {}  # Last-Modified already served, per path
        self._lock = threading.Lock()
        self.last_error: str = ""

    @property
    def snapshot(self) -> Snapshot:
        snap = self._snapshot
        if snap is None:
            with self._lock:
                if self._snapshot is None:
                    self._build()
            snap = self._snapshot
            assert snap is not None
        return snap

    def lookup(self, path: str) -> Entry | None:
        return self.snapshot.lookup(path)

    def refresh(self) -> bool:
        """Rebuild if any watched file changed since the last build; True if rebuilt."""
        with self._lock:
            if self._snapshot is not None and _signature(self._watch) == self._signature:
                return False
            try:
                self._build()
            except (NotifierError, OSError, ValueError) as exc:
                self.last_error = str(exc)
                self._signature = _signature(self._watch)  # wait for the next edit
                if isinstance(exc, NotifierError) and getattr(exc, "problems", None):
                    detail = "; ".join(str(p) for p in exc.problems)  # type: ignore[attr-defined]
                    self.last_error = f"{exc} {detail}"
                log.error("Không dựng lại được lịch, vẫn phục vụ bản trước: %s", self.last_error)
                if self._snapshot is None:
                    raise
                return False
            return True

    def _build(self) -> None:
        now = self._clock()
        catalog = self._loader(now)
        self._watch = catalog.watch
        signature = _signature(catalog.watch)
        flat = _flatten(self._floored(self._built(catalog, now)), signature)
        del catalog, signature  # the build's garbage is gone once these are
        gc.collect()  # ~0.2 s at 1,000 plans; it also empties the free lists (tuples above
        # all: thousands of freed ones, each keeping its place in the build's arenas)
        snap, self._signature = pickle.loads(flat)
        self._floor = {**self._floor, **{p: e.modified for p, e in snap.entries.items()}}
        self._snapshot = snap
        self.last_error = ""

    def _built(self, catalog: Catalog, now: datetime) -> Snapshot:
        if catalog.state_path is not None:
            store = StateFile(catalog.state_path)
            with store.locked():
                previous = store.load()
                snap, state = build_snapshot(catalog, previous, now=now)
                if state.as_json() != previous.as_json():
                    store.save(state)
        else:
            previous = getattr(self, "_state", FeedState())
            snap, state = build_snapshot(catalog, previous, now=now)
            self._state = state
        return snap

    def _floored(self, snap: Snapshot) -> Snapshot:
        """Never let Last-Modified of a path go backwards, whatever the state says."""
        entries = {}
        for path, entry in snap.entries.items():
            floor = self._floor.get(path)
            if floor is not None and entry.modified < floor:
                entry = Entry.make(path, entry.body, floor, entry.content_type, entry.token)
            entries[path] = entry.packed()  # served from memory for hours: keep gzip only
        # The entries hold the bytes; the feeds keep only what they describe.
        feeds = tuple(replace(f, body=b"") for f in snap.feeds)
        return Snapshot(entries, feeds, snap.index, snap.built_at, snap.problems, snap.public_url)


def export(snapshot: Snapshot, target: Path) -> list[Path]:
    """Write every feed and index.json under `target`, each file atomically.

    Public feeds go to their paths (plans/<slug>.ics, units/<slug>.ics,
    coordinators/<slug>.ics); a unit's feeds with a secret token go to
    units/<slug>/<token>.ics (coordinators/… alike) and stay out of index.json. .ics files left over from
    feeds that no longer exist are removed.
    """
    written: list[Path] = []
    for path, entry in sorted(snapshot.entries.items()):
        if path == INDEX_PATH:
            continue
        rel = path if entry.token is None else f"{path.removesuffix('.ics')}/{entry.token}.ics"
        out = target / rel
        _write_atomic(out, entry.body)
        written.append(out)
    index = target / INDEX_PATH
    _write_atomic(index, snapshot.entries[INDEX_PATH].body)
    written.append(index)
    keep = {p.resolve() for p in written}
    for folder in FOLDERS:
        for stale in (target / folder).rglob("*.ics") if (target / folder).is_dir() else ():
            if stale.resolve() not in keep:
                stale.unlink()
    return written
