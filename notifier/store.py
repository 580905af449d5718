"""The outbox: every reminder intent by its key, inserted once, claimed, sent, recorded.

Owns the database: the SQLAlchemy Core tables (`outbox`, `delivery_log`,
`feed_versions`, `meta`; Alembic in alembic/ creates and upgrades them) and the
one-step operations a sender uses, each one short transaction:

    open_store(url) -> Store            database_url(config, env) -> str
    Store.enqueue(reminders, *, now) -> int       insert once by key (ON CONFLICT DO NOTHING)
    Store.claim_due(owner, *, now, limit, lease) -> list[OutboxRow]
    Store.record(outcomes, *, owner)   mark_sent / mark_failed / release (one-row forms)
    Store.skip_stale(*, now, grace) -> int        Store.counts(*, now) -> Counts
    Store.retry_now(*, now) -> int                backed-off rows due now (the server is back)
    Store.rows(...), Store.problems_since(since), Store.delivery_problems(since)
                                                  for `notifier status` and digests
    Store.bump_feed_versions(feed, hashes, *, now), Store.feed_versions(feed)
    Store.get_meta / set_meta, Store.check_migrated(), upgrade(url)
    Store.try_planning_lock() / planning_unlock(held)   one daemon plans at a time
    Store.acknowledge(...), Store.audit(...), Store.acknowledgements(...), Store.acknowledged(),
    Store.ack_audit(...), Store.opt_out(...), Store.opt_in(unit, *, attempt=None),
    Store.opted_out(), Store.opt_outs()
                                                  acknowledgements and digest opt-outs (acks.py)

Facts relied on: PostgreSQL's `SELECT … FOR UPDATE SKIP LOCKED` lets several daemons
claim disjoint rows without waiting on each other; SQLite serialises writers, so
`BEGIN IMMEDIATE` plus one conditional UPDATE is a sound claim for the daemons of one
host (WAL mode lets readers run beside the writer). A claim is a lease: when its
owner dies, the rows become claimable again once `lease_until` passes. Instants are
stored in UTC (SQLite has no time zones) and come back aware.
Not here: what to send (reminders.py), rendering (emails.py), SMTP and maildir
(mailer.py), the send loop and retry policy (delivery.py).
"""

from __future__ import annotations

import functools
import json
import operator
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, RowMapping

from notifier.errors import UserError
from notifier.payload import pack, read_json, write_json

__all__ = [
    "ACK_OUTCOMES",
    "ALEMBIC_DIR",
    "DEFAULT_DATABASE",
    "SCHEMA_REVISION",
    "STATUSES",
    "Acknowledgement",
    "Attempt",
    "Counts",
    "FeedVersion",
    "OutboxRow",
    "Outcome",
    "Store",
    "ack_audit",
    "acknowledgements",
    "database_url",
    "delivery_log",
    "digest_optouts",
    "feed_versions",
    "meta",
    "metadata",
    "normalize_url",
    "open_store",
    "outbox",
    "outbox_payload",
    "read_json",
    "upgrade",
]

STATUSES = ("pending", "claimed", "sent", "failed", "skipped")
SCHEMA_REVISION = "0002"  # the Alembic head this code expects; tests keep them equal
DEFAULT_DATABASE = "sqlite:///var/notifier.sqlite3"
ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"
NOT_MIGRATED = "Cơ sở dữ liệu chưa được nâng cấp; chạy: notifier db upgrade"


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive UTC on SQLite, timestamptz elsewhere."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"thời điểm không có múi giờ: {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid needs INTEGER

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("template", sa.String(64), nullable=False),
    sa.Column("plan", sa.Text, nullable=False),
    sa.Column("refs", sa.JSON, nullable=False),
    sa.Column("units", sa.JSON, nullable=False),
    sa.Column("recipients", sa.JSON, nullable=False),  # [[display name, address], ...]
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(200)),
    sa.Column("lease_until", UtcDateTime),
    sa.Column("sent_at", UtcDateTime),
    sa.Column("message_id", sa.String(255)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.CheckConstraint(
        "status IN ('pending', 'claimed', 'sent', 'failed', 'skipped')", name="status"
    ),
    sa.Index(None, "status", "next_attempt_at"),
    sa.Index(None, "due_at"),
)

# The template context, kept apart: rewriting a 5 kB row at every state change made
# claiming and recording 4× slower on SQLite (PostgreSQL's TOAST does this by itself).
outbox_payload = sa.Table(
    "outbox_payload",
    metadata,
    sa.Column("id", _Id, sa.ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("payload", sa.JSON, nullable=False),
)

delivery_log = sa.Table(
    "delivery_log",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("key", sa.Text, nullable=False, index=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("owner", sa.String(200)),
    sa.Column(
        "outcome", sa.String(16), nullable=False
    ),  # sent|retry|failed|skipped|released|expired
    sa.Column("smtp_code", sa.Integer),
    sa.Column("message", sa.Text, nullable=False),
)

feed_versions = sa.Table(
    "feed_versions",
    metadata,
    sa.Column("feed", sa.Text, primary_key=True),
    sa.Column("uid", sa.Text, primary_key=True),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("last_modified", UtcDateTime, nullable=False),
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


class ReminderLike(Protocol):
    """The fields of `notifier.reminders.Reminder` the outbox stores (read-only: a Reminder
    is frozen, its subject and context are cached properties)."""

    @property
    def key(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def due_at(self) -> datetime: ...

    @property
    def to(self) -> tuple[str, ...]: ...

    @property
    def to_names(self) -> tuple[str, ...]: ...

    @property
    def units(self) -> tuple[str, ...]: ...

    @property
    def plan(self) -> str: ...

    @property
    def refs(self) -> tuple[str, ...]: ...

    @property
    def subject(self) -> str: ...

    @property
    def context(self) -> Mapping[str, Any]: ...

    @property
    def template(self) -> str: ...


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One reminder intent as stored, with its delivery state."""

    id: int
    key: str
    kind: str
    template: str
    plan: str
    refs: tuple[str, ...]
    units: tuple[str, ...]
    recipients: tuple[tuple[str, str], ...]  # (display name, address)
    subject: str
    payload_json: str | bytes  # the context as stored (payload.pack); decoded on use, maybe
    # in a render process
    due_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    sent_at: datetime | None
    message_id: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def payload(self) -> Mapping[str, Any]:
        """The template context (a fresh dict at each call)."""
        value = read_json(self.payload_json) if self.payload_json else {}
        return value if isinstance(value, dict) else {}

    @classmethod
    def from_db(cls, m: RowMapping | Mapping[str, Any]) -> OutboxRow:
        """From a row mapping of `outbox` plus its "payload"."""
        return cls(
            id=m["id"],
            key=m["key"],
            kind=m["kind"],
            template=m["template"],
            plan=m["plan"],
            refs=tuple(m["refs"]),
            units=tuple(m["units"]),
            recipients=tuple((str(n), str(a)) for n, a in m["recipients"]),
            subject=m["subject"],
            payload_json=m["payload"] or "",
            due_at=m["due_at"],
            status=m["status"],
            attempts=m["attempts"],
            next_attempt_at=m["next_attempt_at"],
            lease_owner=m["lease_owner"],
            lease_until=m["lease_until"],
            sent_at=m["sent_at"],
            message_id=m["message_id"],
            last_error=m["last_error"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one claimed row.

    status: "sent"; "retry" (temporary failure, claimable again at `retry_at`);
    "failed" (permanent, or retries exhausted); "released" (not attempted, given back).
    """

    id: int
    key: str
    status: Literal["sent", "retry", "failed", "released"]
    at: datetime
    message_id: str | None = None
    smtp_code: int | None = None
    message: str = ""
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Counts:
    pending: int = 0
    due: int = 0  # pending and claimable now
    retrying: int = 0  # pending after at least one failed attempt
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    next_due: datetime | None = None

    @property
    def total(self) -> int:
        return self.pending + self.claimed + self.sent + self.failed + self.skipped


@dataclass(frozen=True, slots=True)
class FeedVersion:
    """An event's SEQUENCE and LAST-MODIFIED in one feed, bumped when its content hash changes."""

    uid: str
    sequence: int
    hash: str
    last_modified: datetime


# --- URLs and engines ---


def normalize_url(url: str) -> str:
    """Pick psycopg 3 for bare PostgreSQL URLs ("postgres://", "postgresql://")."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_url(config: object | None = None, env: Mapping[str, str] | None = None) -> str:
    """NOTIFIER_DATABASE, else the config's [database] url, else SQLite in its var/ dir."""
    env = os.environ if env is None else env
    if env.get("NOTIFIER_DATABASE"):
        return normalize_url(env["NOTIFIER_DATABASE"])
    section = getattr(config, "database", None)
    url = getattr(section, "url", None)
    if url:
        return normalize_url(str(url))
    var_path = getattr(config, "var_path", None)  # config.py: var_dir beside config.toml
    if callable(var_path) and getattr(config, "file", None):
        return f"sqlite:///{Path(var_path()) / 'notifier.sqlite3'}"
    return DEFAULT_DATABASE


def _sqlite_setup(engine: Engine) -> None:
    """Let SQLAlchemy, not the driver, open transactions, so a claim can BEGIN IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers never block the sender
        cur.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it consistent
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")



def _engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, json_serializer=write_json
        )
        _sqlite_setup(engine)
        return engine
    # pre_ping: a restarted PostgreSQL leaves dead pooled connections behind.
    return sa.create_engine(
        url, pool_pre_ping=True, pool_size=8, max_overflow=4, json_serializer=write_json
    )


def open_store(url: str | None = None) -> Store:
    """A Store on `url` (default: SQLite in var/). Does not create or check the schema."""
    return Store(_engine(url or database_url()))


def _alembic_config(connection: Connection | None = None, url: str = "") -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(url: str, revision: str = "head") -> str:
    """Apply the Alembic migrations to `url`; returns the revision now in the database."""
    store = open_store(url)
    try:
        store.upgrade(revision)
        return store.revision() or ""
    finally:
        store.close()


def _outcome_updates() -> dict[str, sa.Update]:
    """One prepared UPDATE per outcome, built once (building them per call costs more
    than running them)."""
    b, c = sa.bindparam, outbox.c
    mine = sa.and_(c.id == b("o_id"), c.status == "claimed", c.lease_owner == b("o_owner"))
    unleased: dict[str, Any] = {"lease_owner": None, "lease_until": None, "updated_at": b("o_at")}
    return {
        # "sent" whoever holds the row now: the mail did go out.
        "sent": sa.update(outbox)
        .where(c.id == b("o_id"), c.status != "sent")
        .values(
            status="sent",
            sent_at=b("o_at"),
            message_id=b("o_mid"),
            attempts=c.attempts + 1,
            last_error=None,
            **unleased,
        ),
        "retry": sa.update(outbox)
        .where(mine)
        .values(
            status="pending",
            attempts=c.attempts + 1,
            next_attempt_at=b("o_retry"),
            last_error=b("o_msg"),
            **unleased,
        ),
        "failed": sa.update(outbox)
        .where(mine)
        .values(status="failed", attempts=c.attempts + 1, last_error=b("o_msg"), **unleased),
        # released: never attempted, given back as it was
        "released": sa.update(outbox).where(mine).values(status="pending", **unleased),
    }


_OUTCOME_UPDATES = _outcome_updates()

# The SQLite claim, with the values as parameters so it can be compiled once.
_SQLITE_CLAIM = (
    sa.update(outbox)
    .where(
        outbox.c.id.in_(
            sa.select(outbox.c.id)
            .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= sa.bindparam("c_now"))
            .order_by(outbox.c.due_at, outbox.c.id)
            .limit(sa.bindparam("c_limit"))
            .scalar_subquery()
        ),
        outbox.c.status == "pending",
    )
    .values(
        status="claimed",
        lease_owner=sa.bindparam("c_owner"),
        lease_until=sa.bindparam("c_until"),
        updated_at=sa.bindparam("c_now"),
    )
    .returning(*outbox.c)
)
_ROW_KEYS = (
    "key", "kind", "template", "plan", "refs", "units", "recipients", "subject",
    "due_at", "status", "attempts", "next_attempt_at", "created_at", "updated_at",
)  # fmt: skip
_LOG_KEYS = ("key", "at", "owner", "outcome", "smtp_code", "message")


class _Raw:
    """A Core statement compiled once for SQLite and run on the driver's cursor.

    The sender's hot path (enqueue, claim, record) spent more time in SQLAlchemy's
    per-row parameter and result processing than in SQLite; this keeps the statements
    defined once, above, and skips that processing. Values are passed as SQLite stores
    them: instants through UtcDateTime's own bind processor, lists as JSON text (`_json`),
    payloads as `payload.pack` bytes.
    """

    __slots__ = ("_pick", "fixed", "names", "sql")

    def __init__(self, stmt: Any, dialect: sa.Dialect, keys: Sequence[str] | None = None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys) if keys else None)
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.fixed: dict[str, Any] = dict(compiled.params)
        pick = operator.itemgetter(*self.names) if self.names else (lambda _: ())
        self._pick = pick if len(self.names) != 1 else (lambda d: (pick(d),))

    def args(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The statement's parameters in order: `values`, else the compiled constants."""
        return self._pick({**self.fixed, **values})


def _sqlite_statements(dialect: sa.Dialect) -> dict[str, _Raw]:
    from sqlalchemy.dialects.sqlite import insert

    raw = {status: _Raw(stmt, dialect) for status, stmt in _OUTCOME_UPDATES.items()}
    raw["claim"] = _Raw(_SQLITE_CLAIM, dialect)
    raw["insert"] = _Raw(
        insert(outbox).on_conflict_do_nothing(index_elements=["key"]), dialect, _ROW_KEYS
    )
    raw["payload"] = _Raw(outbox_payload.insert(), dialect, ("id", "payload"))
    raw["log"] = _Raw(delivery_log.insert(), dialect, _LOG_KEYS)
    return raw


@functools.lru_cache(maxsize=4096)  # a claim's rows share most instants (lease, creation)
def _sqlite_instant(value: str | None) -> datetime | None:
    """An instant as SQLAlchemy's SQLite DATETIME stores it (naive UTC text), made aware."""
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


@functools.lru_cache(maxsize=4096)  # units and recipients repeat from row to row
def _json_tuple(text: str) -> tuple[Any, ...]:
    """A stored JSON list as a tuple, inner lists as tuples of str (immutable: shared)."""
    return tuple(tuple(map(str, v)) if isinstance(v, list) else v for v in json.loads(text))


def _sqlite_row(t: Sequence[Any], payload: str | bytes | None) -> OutboxRow:
    """An OutboxRow from a raw `outbox` row (columns in table order) and its payload text."""
    (id_, key, kind, template, plan, refs, units, recipients, subject, due_at, status,
     attempts, next_at, holder, until, sent_at, mid, error, created, updated) = t  # fmt: skip
    return OutboxRow(
        id=id_,
        key=key,
        kind=kind,
        template=template,
        plan=plan,
        refs=_json_tuple(refs),
        units=_json_tuple(units),
        recipients=_json_tuple(recipients),
        subject=subject,
        payload_json=payload or "",
        due_at=_sqlite_instant(due_at),  # type: ignore[arg-type]
        status=status,
        attempts=attempts,
        next_attempt_at=_sqlite_instant(next_at),  # type: ignore[arg-type]
        lease_owner=holder,
        lease_until=_sqlite_instant(until),
        sent_at=_sqlite_instant(sent_at),
        message_id=mid,
        last_error=error,
        created_at=_sqlite_instant(created),  # type: ignore[arg-type]
        updated_at=_sqlite_instant(updated),  # type: ignore[arg-type]
    )


def _payload_column(dialect: str) -> sa.ColumnElement[Any]:
    """The payload as stored, not parsed: only the renderer needs it parsed, and it may run
    in another process. PostgreSQL's json as text; SQLite's as it is: text, or the bytes of
    payload.pack (CAST AS TEXT would garble a compressed one)."""
    column = outbox_payload.c.payload
    coerce = sa.type_coerce if dialect == "sqlite" else sa.cast
    return coerce(column, sa.Text).label("payload")


# Two int4 keys: "noti" and the schema, so databases shared by schemas do not contend.
_PLANNING_TRY = sa.text("SELECT pg_try_advisory_lock(1852797801, hashtext(current_schema()))")
_PLANNING_UNLOCK = sa.text("SELECT pg_advisory_unlock(1852797801, hashtext(current_schema()))")


def _with_payload(dialect: str) -> sa.Select[Any]:
    return sa.select(outbox, _payload_column(dialect)).select_from(
        outbox.outerjoin(outbox_payload, outbox_payload.c.id == outbox.c.id)
    )


# --- the store ---


@functools.lru_cache(maxsize=4096)  # units and refs repeat from reminder to reminder
def _json_strings(values: tuple[str, ...]) -> str:
    return write_json([str(v) for v in values])


@functools.lru_cache(maxsize=4096)
def _json_recipients(names: tuple[str, ...], addresses: tuple[str, ...]) -> str:
    """[[display name, address], ...] as stored; a missing name is ""."""
    names = names + ("",) * (len(addresses) - len(names))
    return write_json([[str(n), str(a)] for n, a in zip(names, addresses)])


def _json_list(values: Iterable[str]) -> list[str]:
    return [str(v) for v in values]


class Store:
    """The outbox and its companions on one database. Thread-safe; each call is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._raw: dict[str, _Raw] = {}
        self._time: Callable[[datetime], Any] = lambda value: value
        if self.dialect == "sqlite":
            self._raw = _sqlite_statements(engine.dialect)
            # UtcDateTime as SQLAlchemy writes it on SQLite: naive UTC text with microseconds.
            to_text = outbox.c.due_at.type.dialect_impl(engine.dialect).bind_processor(
                engine.dialect
            )
            # Cached: a batch's outcomes and a plan's reminders share a few instants.
            self._time = functools.lru_cache(maxsize=1024)(to_text)  # type: ignore[arg-type]

    def close(self) -> None:
        self.engine.dispose()

    # transactions

    @contextmanager
    def _tx(self, *, write: bool = True) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if self.dialect == "sqlite" and write:
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    # schema

    def upgrade(self, revision: str = "head") -> None:
        from alembic import command

        with self.engine.begin() as conn:
            command.upgrade(_alembic_config(conn), revision)

    def revision(self) -> str | None:
        """The Alembic revision stored in the database, or None when it has none."""
        with self._tx(write=False) as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def check_migrated(self) -> None:
        """Raise a Vietnamese UserError unless the schema is at the revision this code expects."""
        try:
            found = self.revision()
        except sa.exc.OperationalError as exc:
            raise UserError(
                f"Không mở được cơ sở dữ liệu {self.engine.url.render_as_string()}: {exc.orig}"
            ) from exc
        if found != SCHEMA_REVISION:
            detail = f" (phiên bản {found or 'trống'}, cần {SCHEMA_REVISION})"
            raise UserError(NOT_MIGRATED + detail)

    # enqueue

    def enqueue(self, reminders: Iterable[ReminderLike], *, now: datetime) -> int:
        """Insert each reminder once by key; keys already present are left as they are.

        Returns how many were new.
        """
        from notifier.reminders import no_cyclic_gc  # lazily: `notifier status` needs no planner

        reminders = list(reminders)
        with no_cyclic_gc():  # thousands of small contexts, no cycles
            if self._raw:
                return self._enqueue_sqlite(reminders, now)
            return self._enqueue_core(reminders, now)

    def _enqueue_core(self, reminders: list[ReminderLike], now: datetime) -> int:
        """One transaction per chunk (100 rows, then 1,000), each built just before it goes
        in: other daemons claim and send the first rows while the rest are still being built
        (a row's subject and context cost about 0.3 ms; 10,000 at once kept them idle)."""
        if not reminders:
            return 0
        first: dict[str, ReminderLike] = {}
        for r in reminders:  # a key twice: the first one is inserted, so its payload too
            first.setdefault(r.key, r)
        insert = self._insert(outbox).on_conflict_do_nothing(index_elements=["key"])
        insert = insert.returning(outbox.c.id, outbox.c.key)
        new = 0
        for start in [0, *range(100, len(reminders), 1000)]:
            end = 100 if start == 0 else start + 1000
            chunk = [self._row_for(r, now) for r in reminders[start:end]]
            with self._tx() as conn:
                created = conn.execute(insert, chunk).all()
                if not created:
                    continue
                conn.execute(
                    outbox_payload.insert(),
                    [{"id": id_, "payload": dict(first[key].context)} for id_, key in created],
                )
                new += len(created)
        return new

    def _enqueue_sqlite(self, reminders: list[ReminderLike], now: datetime) -> int:
        """All rows in one executemany on the driver's cursor; then the rows that are new
        (inside the write transaction they are exactly those past the previous highest id)
        build and store their payload, and only they."""
        if not reminders:
            return 0
        insert, payload, to_db = self._raw["insert"], self._raw["payload"], self._time
        assert insert.names == _ROW_KEYS  # the tuples below are in this order
        stamp = to_db(now)
        rows = []
        first: dict[str, ReminderLike] = {}
        for r in reminders:
            if r.due_at.tzinfo is None:
                raise ValueError(f"{r.key}: due_at không có múi giờ")
            first.setdefault(r.key, r)  # a key twice: the first row is the one inserted
            due = to_db(r.due_at)
            rows.append((
                r.key, r.kind, r.template, r.plan, _json_strings(tuple(r.refs)),
                _json_strings(tuple(r.units)), _json_recipients(tuple(r.to_names), tuple(r.to)),
                r.subject, due, "pending", 0, due, stamp, stamp,
            ))  # fmt: skip
        with self._tx() as conn:
            cur = conn.connection.cursor()
            try:
                before = cur.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]
                cur.executemany(insert.sql, rows)
                created = cur.execute(
                    "SELECT id, key FROM outbox WHERE id > ? ORDER BY id", (before,)
                ).fetchall()
                # a generator: payloads are made one at a time, not all held (sqlite3 takes
                # any iterable; SQLAlchemy's DBAPICursor stub asks for a Sequence)
                packed = ((id_, pack(dict(first[key].context))) for id_, key in created)
                cur.executemany(payload.sql, packed)  # type: ignore[arg-type]  # stub says Sequence
            finally:
                cur.close()
        return len(created)

    def _insert(self, table: sa.Table) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert

        return insert(table)

    @staticmethod
    def _row_for(r: ReminderLike, now: datetime) -> dict[str, Any]:
        if r.due_at.tzinfo is None:
            raise ValueError(f"{r.key}: due_at không có múi giờ")
        names = list(r.to_names) + [""] * (len(r.to) - len(r.to_names))
        return {
            "key": r.key,
            "kind": r.kind,
            "template": r.template,
            "plan": r.plan,
            "refs": _json_list(r.refs),
            "units": _json_list(r.units),
            "recipients": [[str(n), str(a)] for n, a in zip(names, r.to)],
            "subject": r.subject,
            "due_at": r.due_at,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": r.due_at,
            "created_at": now,
            "updated_at": now,
        }

    # claim

    def claim_due(
        self,
        owner: str,
        *,
        now: datetime,
        limit: int = 50,
        lease: timedelta = timedelta(minutes=10),
    ) -> list[OutboxRow]:
        """Lease up to `limit` due rows to `owner`, oldest due first.

        Rows whose lease expired (their owner died) are first put back, with a log entry.
        """
        if self._raw:
            return self._claim_sqlite(owner, now=now, limit=limit, lease=lease)
        with self._tx() as conn:
            self._expire_leases(conn, now)
            pick = (
                sa.select(outbox.c.id)
                .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
                .order_by(outbox.c.due_at, outbox.c.id)
                .limit(limit)
            )
            if self.dialect == "postgresql":
                # A materialised CTE runs once; as an IN-subquery PostgreSQL may rescan it
                # and claim more than `limit` rows.
                picked = pick.with_for_update(skip_locked=True).cte("picked")
                chosen = outbox.c.id == picked.prefix_with("MATERIALIZED").c.id
            else:
                chosen = outbox.c.id.in_(pick.scalar_subquery())
            claim = (
                sa.update(outbox)
                .where(chosen, outbox.c.status == "pending")
                .values(
                    status="claimed", lease_owner=owner, lease_until=now + lease, updated_at=now
                )
                .returning(*outbox.c)
            )
            claimed = [dict(r._mapping) for r in conn.execute(claim)]
            payloads = (
                dict(
                    conn.execute(
                        sa.select(outbox_payload.c.id, _payload_column(self.dialect)).where(
                            outbox_payload.c.id.in_([m["id"] for m in claimed])
                        )
                    ).all()
                )
                if claimed
                else {}
            )
        rows = [OutboxRow.from_db({**m, "payload": payloads.get(m["id"])}) for m in claimed]
        rows.sort(key=lambda r: (r.due_at, r.id))
        return rows

    def _claim_sqlite(
        self, owner: str, *, now: datetime, limit: int, lease: timedelta
    ) -> list[OutboxRow]:
        claim, to_db = self._raw["claim"], self._time
        values = {"c_now": to_db(now), "c_until": to_db(now + lease), "c_owner": owner}
        with self._tx() as conn:
            self._expire_leases(conn, now)
            cur = conn.connection.cursor()
            try:
                claimed = cur.execute(claim.sql, claim.args({**values, "c_limit": limit})).fetchall()
                ids = [t[0] for t in claimed]
                payloads: dict[int, str | bytes] = {}
                for start in range(0, len(ids), 500):  # SQLite's limit on parameters
                    part = ids[start : start + 500]
                    marks = ",".join("?" * len(part))
                    sql = f"SELECT id, payload FROM outbox_payload WHERE id IN ({marks})"
                    payloads.update(cur.execute(sql, part).fetchall())
            finally:
                cur.close()
        rows = [_sqlite_row(t, payloads.get(t[0])) for t in claimed]
        rows.sort(key=lambda r: (r.due_at, r.id))
        return rows

    def _expire_leases(self, conn: Connection, now: datetime) -> None:
        expired = conn.execute(
            sa.update(outbox)
            .where(outbox.c.status == "claimed", outbox.c.lease_until <= now)
            .values(status="pending", lease_until=None, updated_at=now)
            .returning(outbox.c.key, outbox.c.lease_owner)
        ).all()
        if expired:
            conn.execute(
                delivery_log.insert(),
                [
                    {
                        "key": key,
                        "at": now,
                        "owner": holder,
                        "outcome": "expired",
                        "message": f"hết hạn giữ chỗ của {holder}; trả lại hàng đợi",
                    }
                    for key, holder in expired
                ],
            )
            conn.execute(
                sa.update(outbox)
                .where(outbox.c.key.in_([k for k, _ in expired]), outbox.c.status == "pending")
                .values(lease_owner=None)
            )

    # outcomes

    def record(self, outcomes: Sequence[Outcome], *, owner: str) -> int:
        """Store what happened to claimed rows and log each attempt; returns rows changed.

        "sent" is recorded whoever holds the lease now (the mail did go out); the other
        outcomes only change a row this owner still holds, so a late sender whose lease
        was taken over cannot undo the new owner's work.
        """
        if not outcomes:
            return 0
        if self._raw:
            return self._record_sqlite(outcomes, owner)
        changed = 0
        with self._tx() as conn:
            for status, group in _group(outcomes).items():
                changed += self._apply(conn, status, group, owner)
            conn.execute(
                delivery_log.insert(),
                [
                    {
                        "key": o.key,
                        "at": o.at,
                        "owner": owner,
                        "outcome": o.status,
                        "smtp_code": o.smtp_code,
                        "message": o.message[:2000],
                    }
                    for o in outcomes
                ],
            )
        return changed

    def _record_sqlite(self, outcomes: Sequence[Outcome], owner: str) -> int:
        to_db, log = self._time, self._raw["log"]
        changed = 0
        with self._tx() as conn:
            cur = conn.connection.cursor()
            try:
                for status, group in _group(outcomes).items():
                    update = self._raw[status]
                    cur.executemany(
                        update.sql,
                        [
                            update.args(
                                {
                                    "o_id": o.id,
                                    "o_owner": owner,
                                    "o_at": to_db(o.at),
                                    "o_mid": o.message_id,
                                    "o_msg": o.message[:2000],
                                    "o_retry": to_db(o.retry_at or o.at),
                                }
                            )
                            for o in group
                        ],
                    )
                    changed += max(cur.rowcount, 0)
                cur.executemany(
                    log.sql,
                    [
                        log.args(
                            {
                                "key": o.key,
                                "at": to_db(o.at),
                                "owner": owner,
                                "outcome": o.status,
                                "smtp_code": o.smtp_code,
                                "message": o.message[:2000],
                            }
                        )
                        for o in outcomes
                    ],
                )
            finally:
                cur.close()
        return changed

    def _apply(self, conn: Connection, status: str, group: list[Outcome], owner: str) -> int:
        params = [
            {
                "o_id": o.id,
                "o_owner": owner,
                "o_at": o.at,
                "o_mid": o.message_id,
                "o_msg": o.message[:2000],
                "o_retry": o.retry_at or o.at,
            }
            for o in group
        ]
        result = conn.execute(_OUTCOME_UPDATES[status], params)
        return max(result.rowcount, 0)

    def mark_sent(self, row: OutboxRow, *, owner: str, now: datetime, message_id: str) -> bool:
        out = Outcome(row.id, row.key, "sent", now, message_id=message_id, message="250 OK")
        return self.record([out], owner=owner) == 1

    def mark_failed(
        self,
        row: OutboxRow,
        *,
        owner: str,
        now: datetime,
        error: str,
        permanent: bool,
        retry_at: datetime | None = None,
        smtp_code: int | None = None,
    ) -> bool:
        """Permanent: status failed (shown in the next digest). Else pending again at `retry_at`."""
        if not permanent and retry_at is None:
            raise ValueError("a temporary failure needs retry_at")
        status: Literal["failed", "retry"] = "failed" if permanent else "retry"
        out = Outcome(
            row.id, row.key, status, now, smtp_code=smtp_code, message=error, retry_at=retry_at
        )
        return self.record([out], owner=owner) == 1

    def release(self, rows: Iterable[OutboxRow], *, owner: str, now: datetime) -> int:
        """Give claimed rows back untouched (shutdown, or the lease is running out)."""
        outs = [Outcome(r.id, r.key, "released", now, message="trả lại") for r in rows]
        return self.record(outs, owner=owner)

    def skip_stale(self, *, now: datetime, grace: timedelta) -> int:
        """Never-attempted rows due before `now - grace` become skipped (no stale floods)."""
        limit = now - grace
        message = "quá hạn gửi khi khởi động lại; bỏ qua"
        with self._tx() as conn:
            keys = (
                conn.execute(
                    sa.update(outbox)
                    .where(
                        outbox.c.status == "pending",
                        outbox.c.attempts == 0,
                        outbox.c.due_at < limit,
                    )
                    .values(status="skipped", last_error=message, updated_at=now)
                    .returning(outbox.c.key)
                )
                .scalars()
                .all()
            )
            if keys:
                conn.execute(
                    delivery_log.insert(),
                    [{"key": k, "at": now, "outcome": "skipped", "message": message} for k in keys],
                )
        return len(keys)

    def retry_now(self, *, now: datetime) -> int:
        """Rows waiting out a backoff become due at `now`: the mail server is back, so what
        waited for it goes in order of due time, not of each row's backoff."""
        with self._tx() as conn:
            result = conn.execute(
                sa.update(outbox)
                .where(
                    outbox.c.status == "pending",
                    outbox.c.attempts > 0,
                    outbox.c.next_attempt_at > now,
                )
                .values(next_attempt_at=now, updated_at=now)
            )
        return max(result.rowcount, 0)

    # reading

    def counts(self, *, now: datetime) -> Counts:
        c = outbox.c
        with self._tx(write=False) as conn:
            by_status: dict[str, int] = dict(
                conn.execute(sa.select(c.status, sa.func.count()).group_by(c.status)).all()
            )
            due, retrying, next_due = conn.execute(
                sa.select(
                    sa.func.count().filter(c.next_attempt_at <= now),
                    sa.func.count().filter(c.attempts > 0),
                    sa.func.min(c.next_attempt_at),
                ).where(c.status == "pending")
            ).one()
        return Counts(
            pending=by_status.get("pending", 0),
            due=due or 0,
            retrying=retrying or 0,
            claimed=by_status.get("claimed", 0),
            sent=by_status.get("sent", 0),
            failed=by_status.get("failed", 0),
            skipped=by_status.get("skipped", 0),
            next_due=next_due,
        )

    def rows(
        self,
        *,
        statuses: Sequence[str] = STATUSES,
        limit: int = 50,
        newest_first: bool = False,
    ) -> list[OutboxRow]:
        order = outbox.c.updated_at.desc() if newest_first else outbox.c.next_attempt_at
        stmt = (
            _with_payload(self.dialect)
            .where(outbox.c.status.in_(list(statuses)))
            .order_by(order, outbox.c.id)
            .limit(limit)
        )
        with self._tx(write=False) as conn:
            return [OutboxRow.from_db(r._mapping) for r in conn.execute(stmt)]

    def get(self, key: str) -> OutboxRow | None:
        with self._tx(write=False) as conn:
            row = conn.execute(_with_payload(self.dialect).where(outbox.c.key == key)).first()
        return OutboxRow.from_db(row._mapping) if row else None

    def problems_since(self, since: datetime) -> list[OutboxRow]:
        """Rows that failed or were skipped since `since`: what the next digest reports."""
        stmt = (
            _with_payload(self.dialect)
            .where(outbox.c.status.in_(["failed", "skipped"]), outbox.c.updated_at >= since)
            .order_by(outbox.c.due_at, outbox.c.id)
        )
        with self._tx(write=False) as conn:
            return [OutboxRow.from_db(r._mapping) for r in conn.execute(stmt)]

    def delivery_problems(self, since: datetime) -> list[dict[str, Any]]:
        """`problems_since` in the shape reminders.plan_reminders(deliveries=…) takes for
        the coordinators' digest: key, status, to, subject, at, error."""
        return [
            {
                "key": r.key,
                "status": r.status,
                "to": [address for _, address in r.recipients],
                "subject": r.subject,
                "at": r.updated_at.isoformat(),
                "error": r.last_error or "",
            }
            for r in self.problems_since(since)
        ]

    def log(self, key: str | None = None) -> list[dict[str, Any]]:
        """The delivery log (every attempt), oldest first; for one key when given."""
        stmt = sa.select(delivery_log).order_by(delivery_log.c.id)
        if key is not None:
            stmt = stmt.where(delivery_log.c.key == key)
        with self._tx(write=False) as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    # feed versions (for feeds.py: SEQUENCE and LAST-MODIFIED that survive restarts)

    def bump_feed_versions(
        self, feed: str, hashes: Mapping[str, str], *, now: datetime
    ) -> dict[str, FeedVersion]:
        """Record each event's content hash; a changed hash bumps SEQUENCE and LAST-MODIFIED.

        One atomic upsert per event, so daemons rebuilding the same feed bump it once.
        Returns the versions of the given uids.
        """
        if hashes:
            stmt = self._insert(feed_versions)
            stmt = stmt.on_conflict_do_update(
                index_elements=["feed", "uid"],
                set_={
                    "sequence": feed_versions.c.sequence + 1,
                    "hash": stmt.excluded.hash,
                    "last_modified": stmt.excluded.last_modified,
                },
                where=feed_versions.c.hash != stmt.excluded.hash,
            )
            rows = [
                {"feed": feed, "uid": uid, "sequence": 0, "hash": h, "last_modified": now}
                for uid, h in hashes.items()
            ]
            with self._tx() as conn:
                conn.execute(stmt, rows)
        versions = self.feed_versions(feed)
        return {uid: versions[uid] for uid in hashes if uid in versions}

    def feed_versions(self, feed: str) -> dict[str, FeedVersion]:
        stmt = sa.select(feed_versions).where(feed_versions.c.feed == feed)
        with self._tx(write=False) as conn:
            return {
                r.uid: FeedVersion(r.uid, r.sequence, r.hash, r.last_modified)
                for r in conn.execute(stmt)
            }

    # meta

    def get_meta(self, name: str) -> str | None:
        with self._tx(write=False) as conn:
            return conn.execute(sa.select(meta.c.value).where(meta.c.name == name)).scalar()

    def set_meta(self, name: str, value: str) -> None:
        stmt = self._insert(meta)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"], set_={"value": stmt.excluded.value}
        )
        with self._tx() as conn:
            conn.execute(stmt, {"name": name, "value": value})

    # one planner at a time (several daemons)

    def try_planning_lock(self) -> Connection | bool:
        """Whether this daemon may plan and enqueue now: on PostgreSQL a session advisory
        lock (per schema), held by the returned connection until `planning_unlock`, False
        when another daemon holds it (it dies with its holder's connection, so kill -9 frees
        it). Elsewhere True: SQLite's daemons share one host and its writers queue anyway."""
        if self.dialect != "postgresql":
            return True
        conn = self.engine.connect()
        try:
            got = conn.execute(_PLANNING_TRY).scalar()
            conn.commit()  # the lock is the session's: no transaction left open meanwhile
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        return conn

    def planning_unlock(self, held: Connection | bool) -> None:
        if not isinstance(held, Connection):
            return
        try:
            held.execute(_PLANNING_UNLOCK)
            held.commit()
        except Exception:  # noqa: BLE001 - the server went away: so did the lock
            held.invalidate()
        finally:
            held.close()

    def history(
        self, *, plans: Sequence[str], statuses: Sequence[str] = ("sent", "failed", "skipped"),
        limit: int = 100,
    ) -> list[OutboxRow]:
        """Rows of these plans in these states, latest due first, without payloads
        (the coordinator's page, site.py; read-only)."""
        c = outbox.c
        stmt = (
            sa.select(outbox, sa.literal("").label("payload"))
            .where(c.plan.in_(list(plans)), c.status.in_(list(statuses)))
            .order_by(c.due_at.desc(), c.id.desc())  # the due_at index, read backwards
            .limit(limit)
        )
        with self._tx(write=False) as conn:
            return [OutboxRow.from_db(r._mapping) for r in conn.execute(stmt)]

    # --- acknowledgements, their audit log, digest opt-outs (tables and types below) -------

    def acknowledge(
        self, unit: str, key: str, action: str, *, note: str, attempt: Attempt
    ) -> tuple[bool, Acknowledgement]:
        """Record once per (unit, key, action): (True, it) when new, else (False, the first
        one); either way the attempt goes to the audit log ("accepted" or "duplicate")."""
        row = {"unit": unit, "key": key, "action": action, "note": note[:2000],
               "at": attempt.at, "link_id": (attempt.link_id or "")[:32]}  # fmt: skip
        insert = self._insert(acknowledgements).on_conflict_do_nothing(
            index_elements=["unit", "key", "action"]
        )
        c = acknowledgements.c
        with self._tx() as conn:
            new = conn.execute(insert.returning(c.id), row).first() is not None
            first = conn.execute(
                sa.select(acknowledgements).where(c.unit == unit, c.key == key, c.action == action)
            ).one()
            log = attempt.row("accepted" if new else "duplicate")
            conn.execute(ack_audit.insert(), {**log, "action": action, "unit": unit, "key": key})
        return new, _ack(first._mapping)

    def audit(
        self, outcome: str, attempt: Attempt, *, action: str | None = None,
        unit: str | None = None, key: str | None = None,
    ) -> None:
        """Log an attempt that recorded nothing ("expired", "forged")."""
        if outcome not in ACK_OUTCOMES:
            raise ValueError(f"kết quả không hợp lệ: {outcome!r}")
        with self._tx() as conn:
            conn.execute(ack_audit.insert(),
                         {**attempt.row(outcome), "action": action, "unit": unit, "key": key})

    def acknowledgements(
        self, *, unit: str | None = None, keys: Iterable[str] | None = None,
        action: str | None = None,
    ) -> list[Acknowledgement]:
        """Acknowledgements, oldest first; filtered by unit slug, item keys, action."""
        c = acknowledgements.c
        stmt = sa.select(acknowledgements).order_by(c.at, c.id)
        if unit is not None:
            stmt = stmt.where(c.unit == unit)
        if keys is not None:
            stmt = stmt.where(c.key.in_(list(keys)))
        if action is not None:
            stmt = stmt.where(c.action == action)
        with self._tx(write=False) as conn:
            return [_ack(r._mapping) for r in conn.execute(stmt)]

    def acknowledged(self) -> frozenset[tuple[str, str, str]]:
        """Every (action, key, unit slug) acknowledged: what plan_reminders leaves out."""
        c = acknowledgements.c
        with self._tx(write=False) as conn:
            return frozenset(
                (a, k, u) for a, k, u in conn.execute(sa.select(c.action, c.key, c.unit))
            )

    def ack_audit(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """The audit log, oldest first (the newest `limit` when given)."""
        stmt = sa.select(ack_audit).order_by(ack_audit.c.id.desc() if limit else ack_audit.c.id)
        if limit:
            stmt = stmt.limit(limit)
        with self._tx(write=False) as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        return rows[::-1] if limit else rows

    def opt_out(self, unit: str, *, attempt: Attempt) -> bool:
        """The unit's coordinators get no more digests; True when new. Audited as
        accepted/duplicate with action "unsubscribe-digest"."""
        insert = self._insert(digest_optouts).on_conflict_do_nothing(index_elements=["unit"])
        row = {"unit": unit, "at": attempt.at, "link_id": (attempt.link_id or "")[:32]}
        with self._tx() as conn:
            new = conn.execute(insert.returning(digest_optouts.c.unit), row).first() is not None
            log = attempt.row("accepted" if new else "duplicate")
            conn.execute(ack_audit.insert(),
                         {**log, "action": "unsubscribe-digest", "unit": unit, "key": "digest"})
        return new

    def opt_in(self, unit: str, *, attempt: Attempt | None = None) -> bool:
        """Undo an opt-out (the unit's own link, or an admin); True if there was one. With
        `attempt`, audited as accepted/duplicate with action "resubscribe-digest"."""
        with self._tx() as conn:
            result = conn.execute(sa.delete(digest_optouts).where(digest_optouts.c.unit == unit))
            new = result.rowcount > 0
            if attempt is not None:
                log = attempt.row("accepted" if new else "duplicate")
                conn.execute(ack_audit.insert(),
                             {**log, "action": "resubscribe-digest", "unit": unit, "key": "digest"})
        return new

    def opt_outs(self) -> list[dict[str, Any]]:
        """Every opt-out, oldest first: unit (slug), at, link_id."""
        c = digest_optouts.c
        with self._tx(write=False) as conn:
            found = conn.execute(sa.select(digest_optouts).order_by(c.at, c.unit))
            return [dict(r._mapping) for r in found]

    def opted_out(self) -> frozenset[str]:
        """Slugs of units that unsubscribed from digests."""
        with self._tx(write=False) as conn:
            return frozenset(conn.execute(sa.select(digest_optouts.c.unit)).scalars())


def _group(outcomes: Sequence[Outcome]) -> dict[str, list[Outcome]]:
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.status, []).append(o)
    return groups


# --- acknowledgements, their audit log, digest opt-outs (acks.py; migration 0002) ---

ACK_OUTCOMES = ("accepted", "duplicate", "expired", "forged")

acknowledgements = sa.Table(
    "acknowledgements",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("unit", sa.String(200), nullable=False),  # the unit's slug, from the link
    sa.Column("key", sa.Text, nullable=False, index=True),  # what: acks.py's item key
    sa.Column("action", sa.String(32), nullable=False),  # report-sent | activity-done
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("link_id", sa.String(32), nullable=False),
    sa.UniqueConstraint("unit", "key", "action"),
)

ack_audit = sa.Table(
    "ack_audit",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False, index=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32)),  # unknown (None) for a forged link
    sa.Column("unit", sa.String(200)),
    sa.Column("key", sa.Text),
    sa.Column("link_id", sa.String(32)),
    sa.Column("client", sa.String(64)),
    sa.Column("user_agent", sa.String(200)),
    sa.CheckConstraint(
        "outcome IN ('accepted', 'duplicate', 'expired', 'forged')", name="outcome"
    ),
)

digest_optouts = sa.Table(
    "digest_optouts",
    metadata,
    sa.Column("unit", sa.String(200), primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("link_id", sa.String(32), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """One unit's "Đã báo cáo" / "Đã hoàn thành" (or opt-out), the first one it gave."""

    unit: str
    key: str
    action: str
    note: str
    at: datetime
    link_id: str


@dataclass(frozen=True, slots=True)
class Attempt:
    """Who followed a link: the audit log's context of every attempt."""

    at: datetime
    link_id: str | None = None
    client: str | None = None
    user_agent: str | None = None

    def row(self, outcome: str) -> dict[str, Any]:
        return {
            "at": self.at,
            "outcome": outcome,
            "link_id": (self.link_id or None) and self.link_id[:32],
            "client": (self.client or None) and self.client[:64],
            "user_agent": (self.user_agent or None) and self.user_agent[:200],
        }


def _ack(m: RowMapping | Mapping[str, Any]) -> Acknowledgement:
    return Acknowledgement(m["unit"], m["key"], m["action"], m["note"], m["at"], m["link_id"])

