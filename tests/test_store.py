"""notifier.store: one contract suite, run on SQLite and (with NOTIFIER_TEST_PG_URL) PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa
from _stores import Rem, at, db_url_fixture, rems, store_fixture  # noqa: F401 - fixtures
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.errors import UserError
from notifier.store import (
    ALEMBIC_DIR,
    DEFAULT_DATABASE,
    SCHEMA_REVISION,
    Outcome,
    Store,
    database_url,
    metadata,
    normalize_url,
    open_store,
)

LEASE = timedelta(minutes=10)


def shown_tz():

    return UTC


# --- schema and migrations ---


def test_unmigrated_database_is_refused_with_the_fix(db_url: str) -> None:
    s = open_store(db_url)
    try:
        with pytest.raises(UserError) as info:
            s.check_migrated()
        assert "Cơ sở dữ liệu chưa được nâng cấp; chạy: notifier db upgrade" in str(info.value)
        s.upgrade()
        s.check_migrated()
        assert s.revision() == SCHEMA_REVISION
    finally:
        s.close()


def test_code_expects_the_alembic_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_REVISION


def test_migration_creates_exactly_the_tables_the_code_uses(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_upgrade_twice_is_harmless(store: Store) -> None:
    store.upgrade()
    store.check_migrated()


# --- enqueue ---


def test_enqueue_inserts_each_key_once(store: Store) -> None:
    batch = rems(30)
    assert store.enqueue(batch, now=at(1, 0)) == 30
    assert store.enqueue(batch[10:] + rems(5, prefix="new"), now=at(1, 1)) == 5
    assert store.counts(now=at(1, 0)).pending == 35


def test_enqueue_keeps_the_first_version_of_a_key(store: Store) -> None:
    store.enqueue([Rem("a", at(2), subject="Lần đầu")], now=at(1))
    store.enqueue([Rem("a", at(3), subject="Lần hai")], now=at(1))
    row = store.get("a")
    assert row is not None and row.subject == "Lần đầu" and row.due_at == at(2)


def test_enqueue_round_trips_every_field(store: Store) -> None:
    rem = Rem(
        "34-kh-ubnd-2024/II.7/so-van-hoa/activity-start-7d/2024-03-25",
        at(25, 8, 30),
        to=("a@example.org", "b@example.org"),
        to_names=("Sở Văn hóa, Thể thao và Du lịch", "Sở Ngoại vụ"),
        units=("Sở Văn hóa, Thể thao và Du lịch", "Sở Ngoại vụ"),
        refs=("II.7", "II.8"),
        context={"events": [{"uid": "x", "start": "2024-04-01"}], "n": 3, "tên": "Đắk Lắk"},
    )
    store.enqueue([rem], now=at(1))
    row = store.get(rem.key)
    assert row is not None
    assert row.due_at == rem.due_at and row.due_at.tzinfo is not None
    assert row.next_attempt_at == rem.due_at
    assert row.recipients == (
        ("Sở Văn hóa, Thể thao và Du lịch", "a@example.org"),
        ("Sở Ngoại vụ", "b@example.org"),
    )
    assert row.units == rem.units and row.refs == rem.refs
    assert dict(row.payload) == dict(rem.context)
    assert (row.status, row.attempts, row.kind, row.template) == (
        "pending",
        0,
        "activity-start",
        "reminder",
    )


def test_enqueue_refuses_naive_instants(store: Store) -> None:
    with pytest.raises(ValueError):
        store.enqueue([Rem("naive", at(2).replace(tzinfo=None))], now=at(1))


# --- claiming ---


def test_claim_takes_due_rows_oldest_first_up_to_the_limit(store: Store) -> None:
    store.enqueue(list(reversed(rems(10))), now=at(1, 0))  # due 08:00 … 08:09
    rows = store.claim_due("a", now=at(1, 8, 4), limit=3, lease=LEASE)
    assert [r.key for r in rows] == ["k/00000", "k/00001", "k/00002"]
    assert all(r.status == "claimed" and r.lease_owner == "a" for r in rows)
    assert all(r.lease_until == at(1, 8, 4) + LEASE for r in rows)
    rest = store.claim_due("b", now=at(1, 8, 4), limit=10, lease=LEASE)
    assert [r.key for r in rest] == ["k/00003", "k/00004"]  # not yet due: 08:05 …
    assert store.claim_due("c", now=at(1, 8, 4), limit=10, lease=LEASE) == []


def test_concurrent_claimers_get_disjoint_rows(store: Store) -> None:
    store.enqueue(rems(300), now=at(1, 0))
    got: dict[str, list[str]] = {f"d{i}": [] for i in range(4)}
    start = threading.Barrier(4)

    def claimer(owner: str) -> None:
        start.wait()
        while rows := store.claim_due(owner, now=at(2), limit=7, lease=LEASE):
            got[owner].extend(r.key for r in rows)
            time.sleep(0.002)  # "sending" them; the others claim meanwhile

    threads = [threading.Thread(target=claimer, args=(f"d{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [k for keys in got.values() for k in keys]
    assert len(every) == len(set(every)) == 300
    assert sum(1 for keys in got.values() if keys) >= 2  # they really competed


def test_expired_lease_is_taken_over_and_logged(store: Store) -> None:
    store.enqueue(rems(3), now=at(1, 0))
    dead = store.claim_due("dead", now=at(1, 9), limit=10, lease=LEASE)
    assert store.claim_due("alive", now=at(1, 9, 9), limit=10, lease=LEASE) == []
    taken = store.claim_due("alive", now=at(1, 9, 10), limit=10, lease=LEASE)
    assert [r.key for r in taken] == [r.key for r in dead]
    assert all(r.lease_owner == "alive" for r in taken)
    assert [e["outcome"] for e in store.log("k/00000")] == ["expired"]
    # The dead owner wakes up late: it cannot fail or release rows it no longer holds ...
    row = dead[0]
    assert not store.mark_failed(
        row, owner="dead", now=at(1, 9, 11), error="x", permanent=False, retry_at=at(2)
    )
    assert store.release(dead[1:], owner="dead", now=at(1, 9, 11)) == 0
    assert store.get(row.key).status == "claimed"  # type: ignore[union-attr]
    # ... but a message it did send is recorded, whoever holds the row now.
    assert store.mark_sent(row, owner="dead", now=at(1, 9, 11), message_id="<m@x>")
    assert store.get(row.key).status == "sent"  # type: ignore[union-attr]


# --- outcomes ---


def test_sent_rows_are_never_claimed_again(store: Store) -> None:
    store.enqueue(rems(2), now=at(1, 0))
    first, second = store.claim_due("a", now=at(2), limit=10, lease=LEASE)
    assert store.mark_sent(first, owner="a", now=at(2, 8, 1), message_id="<abc@mail.example.org>")
    row = store.get(first.key)
    assert row is not None
    assert (row.status, row.attempts, row.message_id, row.sent_at) == (
        "sent",
        1,
        "<abc@mail.example.org>",
        at(2, 8, 1),
    )
    assert row.lease_owner is None
    assert store.claim_due("a", now=at(2, 8, 5), limit=10, lease=LEASE) == []  # second is leased
    later = at(2) + LEASE  # second's lease has run out; first stays sent
    assert [r.key for r in store.claim_due("b", now=later, limit=10, lease=LEASE)] == [second.key]


def test_temporary_failure_waits_for_its_retry_time(store: Store) -> None:
    store.enqueue(rems(1), now=at(1, 0))
    (row,) = store.claim_due("a", now=at(2), limit=10, lease=LEASE)
    assert store.mark_failed(
        row,
        owner="a",
        now=at(2),
        error="421 thử lại sau",
        permanent=False,
        retry_at=at(2, 8, 5),
        smtp_code=421,
    )
    again = store.get(row.key)
    assert again is not None
    assert (again.status, again.attempts, again.next_attempt_at) == ("pending", 1, at(2, 8, 5))
    assert again.last_error == "421 thử lại sau"
    assert store.claim_due("a", now=at(2, 8, 4), limit=10, lease=LEASE) == []
    assert len(store.claim_due("a", now=at(2, 8, 5), limit=10, lease=LEASE)) == 1
    assert store.log(row.key)[0]["smtp_code"] == 421


def test_permanent_failure_is_kept_for_the_digest(store: Store) -> None:
    store.enqueue(rems(2), now=at(1, 0))
    rows = store.claim_due("a", now=at(2), limit=10, lease=LEASE)
    store.mark_failed(
        rows[0], owner="a", now=at(2, 9), error="550 không có hộp thư", permanent=True
    )
    store.mark_sent(rows[1], owner="a", now=at(2, 9), message_id="<m@x>")
    assert store.claim_due("a", now=at(20), limit=10, lease=LEASE) == []
    problems = store.problems_since(at(2, 0))
    assert [(p.key, p.status, p.last_error) for p in problems] == [
        (rows[0].key, "failed", "550 không có hộp thư")
    ]
    assert store.problems_since(at(2, 10)) == []
    (shown,) = store.delivery_problems(at(2, 0))
    assert shown == {
        "key": rows[0].key,
        "status": "failed",
        "to": ["sovhttdl@example.org"],
        "subject": rows[0].subject,
        "at": at(2, 9).astimezone(shown_tz()).isoformat(),
        "error": "550 không có hộp thư",
    }


def test_temporary_failure_without_retry_time_is_a_bug(store: Store) -> None:
    store.enqueue(rems(1), now=at(1, 0))
    (row,) = store.claim_due("a", now=at(2), limit=1, lease=LEASE)
    with pytest.raises(ValueError):
        store.mark_failed(row, owner="a", now=at(2), error="x", permanent=False)


def test_record_applies_a_mixed_batch_in_one_go(store: Store) -> None:
    store.enqueue(rems(4), now=at(1, 0))
    a, b, c, d = store.claim_due("o", now=at(2), limit=10, lease=LEASE)
    changed = store.record(
        [
            Outcome(a.id, a.key, "sent", at(2), message_id="<a@x>"),
            Outcome(b.id, b.key, "retry", at(2), message="421", retry_at=at(3)),
            Outcome(c.id, c.key, "failed", at(2), message="550"),
            Outcome(d.id, d.key, "released", at(2)),
        ],
        owner="o",
    )
    assert changed == 4
    status = {k: store.get(k).status for k in (a.key, b.key, c.key, d.key)}  # type: ignore[union-attr]
    assert status == {a.key: "sent", b.key: "pending", c.key: "failed", d.key: "pending"}
    assert store.get(d.key).attempts == 0  # type: ignore[union-attr]  # released: not an attempt
    assert [r.key for r in store.claim_due("o", now=at(2), limit=10, lease=LEASE)] == [d.key]


def test_stale_rows_are_skipped_not_sent(store: Store) -> None:
    store.enqueue(rems(3, start=at(1, 8)) + [Rem("fresh", at(5, 7))], now=at(1, 0))
    (retried, *_rest) = store.claim_due("a", now=at(1, 8), limit=1, lease=LEASE)
    store.mark_failed(
        retried, owner="a", now=at(1, 8), error="421", permanent=False, retry_at=at(5, 9)
    )
    assert store.skip_stale(now=at(5, 8), grace=timedelta(hours=6)) == 2
    counts = store.counts(now=at(5, 8))
    assert (counts.skipped, counts.pending, counts.retrying) == (2, 2, 1)
    assert store.get("fresh").status == "pending"  # type: ignore[union-attr]
    assert {p.key for p in store.problems_since(at(5, 0))} == {"k/00001", "k/00002"}


def test_counts(store: Store) -> None:
    store.enqueue(rems(5), now=at(1, 0))
    rows = store.claim_due("a", now=at(1, 8, 2), limit=2, lease=LEASE)
    store.mark_sent(rows[0], owner="a", now=at(1, 8, 2), message_id="<m@x>")
    c = store.counts(now=at(1, 8, 3))
    assert (c.pending, c.due, c.claimed, c.sent, c.failed, c.skipped) == (3, 2, 1, 1, 0, 0)
    assert c.next_due == at(1, 8, 2) and c.total == 5


# --- feed versions and meta ---


def test_feed_versions_bump_only_on_change(store: Store) -> None:
    v1 = store.bump_feed_versions("don-vi/so-ngoai-vu.ics", {"a": "h1", "b": "h1"}, now=at(1))
    assert {u: (v.sequence, v.last_modified) for u, v in v1.items()} == {
        "a": (0, at(1)),
        "b": (0, at(1)),
    }
    v2 = store.bump_feed_versions("don-vi/so-ngoai-vu.ics", {"a": "h1", "b": "h2"}, now=at(2))
    assert (v2["a"].sequence, v2["a"].last_modified) == (0, at(1))
    assert (v2["b"].sequence, v2["b"].last_modified, v2["b"].hash) == (1, at(2), "h2")
    other = store.bump_feed_versions("ke-hoach/34.ics", {"b": "h9"}, now=at(3))
    assert other["b"].sequence == 0
    assert set(store.feed_versions("don-vi/so-ngoai-vu.ics")) == {"a", "b"}


def test_meta(store: Store) -> None:
    assert store.get_meta("last_digest") is None
    store.set_meta("last_digest", "2024-03-01")
    store.set_meta("last_digest", "2024-03-08")
    assert store.get_meta("last_digest") == "2024-03-08"


# --- where the database is ---


def test_database_url_precedence() -> None:
    class Section:
        url = "postgresql://u@db/notifier"

    class Cfg:
        database = Section()

    assert database_url(None, env={}) == DEFAULT_DATABASE
    assert database_url(Cfg(), env={}) == "postgresql+psycopg://u@db/notifier"
    env = {"NOTIFIER_DATABASE": "sqlite:////srv/n.sqlite3"}
    assert database_url(Cfg(), env=env) == "sqlite:////srv/n.sqlite3"
    assert normalize_url("postgres://h/d") == "postgresql+psycopg://h/d"
    assert normalize_url("postgresql+psycopg://h/d") == "postgresql+psycopg://h/d"


def test_sqlite_file_goes_into_a_new_var_dir(tmp_path) -> None:
    path = tmp_path / "var" / "sub" / "n.sqlite3"
    s = open_store(f"sqlite:///{path}")
    try:
        s.upgrade()
        assert path.exists()
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert sa.inspect(conn).has_table("outbox")
    finally:
        s.close()


# --- a property: whatever the interleaving, a sent key is never handed out again ---

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), st.lists(st.integers(0, 15), max_size=6)),
        st.tuples(st.just("claim"), st.sampled_from("ab"), st.integers(1, 5)),
        st.tuples(
            st.just("finish"),
            st.sampled_from("ab"),
            st.sampled_from(["sent", "retry", "failed", "released"]),
        ),
        st.tuples(st.just("wait"), st.integers(1, 20)),
    ),
    max_size=25,
)


@settings(max_examples=25, deadline=None)
@given(ops=_OPS)
def test_interleavings_never_hand_out_a_row_twice(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        s = open_store(f"sqlite:///{tmp}/p.sqlite3")
        s.upgrade()
        now = at(1, 8)
        lease = timedelta(minutes=10)
        held: dict[str, dict[str, object]] = {"a": {}, "b": {}}  # owner → key → (row, until)
        sent: set[str] = set()
        enqueued: set[str] = set()
        try:
            for op in ops:
                if op[0] == "enqueue":
                    batch = [Rem(f"k{i}", at(1, 8)) for i in op[1]]
                    s.enqueue(batch, now=now)
                    enqueued |= {r.key for r in batch}
                elif op[0] == "claim":
                    owner = op[1]
                    for row in s.claim_due(owner, now=now, limit=op[2], lease=lease):
                        assert row.key not in sent
                        other = held["b" if owner == "a" else "a"].get(row.key)
                        assert other is None or other[1] <= now  # type: ignore[index]
                        for h in held.values():
                            h.pop(row.key, None)
                        held[owner][row.key] = (row, now + lease)
                elif op[0] == "finish":
                    owner, status = op[1], op[2]
                    for key, (row, until) in list(held[owner].items()):  # type: ignore[misc]
                        out = Outcome(
                            row.id,
                            key,
                            status,
                            now,
                            message_id="<m@x>",
                            message="x",
                            retry_at=now + timedelta(minutes=1),
                        )
                        s.record([out], owner=owner)
                        if status == "sent":
                            sent.add(key)
                        del held[owner][key]
                else:
                    now += timedelta(minutes=op[1])
            c = s.counts(now=now)
            assert c.total == len(enqueued)
            assert c.sent == len(sent)
        finally:
            s.close()
