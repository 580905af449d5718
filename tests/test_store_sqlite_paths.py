"""SQLite's fast paths in notifier.store (enqueue, claim, record on the driver's cursor)
write and read exactly what the SQLAlchemy path does.

Two stores on two fresh SQLite files get the same operations, one with the fast paths
switched off; every table must hold the same values, in the same stored form, and every
call must return the same thing.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from _stores import Rem, at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.store import Outcome, Store, delivery_log, open_store, outbox, outbox_payload

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


def _pair(tmp: Path) -> tuple[Store, Store]:
    fast, slow = open_store(f"sqlite:///{tmp / 'fast.sqlite3'}"), open_store(f"sqlite:///{tmp / 'slow.sqlite3'}")
    for s in (fast, slow):
        s.upgrade()
    assert fast._raw
    slow._raw = {}  # the SQLAlchemy path
    return fast, slow


def _tables(store: Store) -> list[list[tuple]]:
    """Every row as stored; payloads decoded: the fast path stores payload.pack's bytes
    (compressed when large), SQLAlchemy's JSON column text."""
    from notifier.payload import read_json

    with store.engine.connect() as conn:
        tables = [
            [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {t.name} ORDER BY id")]  # raw, as stored
            for t in (outbox, outbox_payload, delivery_log)
        ]
    tables[1] = [(id_, read_json(payload)) for id_, payload in tables[1]]
    return tables


def _decoded(rows: list) -> list:
    return [dataclasses.replace(r, payload_json="") for r in rows], [r.payload for r in rows]


reminders = st.lists(
    st.builds(
        Rem,
        key=st.text("abc/01", min_size=1, max_size=6),
        due_at=st.integers(0, 600).map(lambda m: at(1) + timedelta(minutes=m, microseconds=m)),
        to=st.lists(st.sampled_from(["a@example.org", "b@example.org"]), min_size=1, max_size=2).map(tuple),
        to_names=st.lists(TEXT, max_size=2).map(tuple),
        refs=st.lists(TEXT, max_size=3).map(tuple),
        subject=TEXT,
        context=st.dictionaries(TEXT, st.one_of(TEXT, st.integers(), st.lists(TEXT, max_size=2))),
    ),
    max_size=12,
    unique_by=lambda r: r.key,  # a key twice in one call: see the test at the end
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=reminders, again=reminders, limit=st.integers(1, 8), data=st.data())
def test_fast_paths_store_and_return_what_sqlalchemy_does(tmp_path_factory, batch, again, limit, data) -> None:
    fast, slow = _pair(tmp_path_factory.mktemp("paths"))
    try:
        assert fast.enqueue(batch, now=at(1, 0)) == slow.enqueue(batch, now=at(1, 0))
        assert fast.enqueue(again, now=at(1, 1)) == slow.enqueue(again, now=at(1, 1))  # old keys kept
        now = at(1, 9)
        claimed = fast.claim_due("a", now=now, limit=limit)
        assert _decoded(claimed) == _decoded(slow.claim_due("a", now=now, limit=limit))
        statuses = st.sampled_from(["sent", "retry", "failed", "released"])
        outcomes = [
            Outcome(r.id, r.key, data.draw(statuses), now + timedelta(seconds=i), message_id=f"<{i}@x>",
                    smtp_code=data.draw(st.none() | st.just(451)), message=data.draw(TEXT),
                    retry_at=now + timedelta(minutes=i + 1))
            for i, r in enumerate(claimed)
        ]  # fmt: skip
        assert fast.record(outcomes, owner="a") == slow.record(outcomes, owner="a")
        assert fast.record(outcomes, owner="b") == slow.record(outcomes, owner="b")  # not b's rows
        later = now + timedelta(hours=2)
        assert _decoded(fast.claim_due("b", now=later, limit=50)) == _decoded(
            slow.claim_due("b", now=later, limit=50)
        )
        assert _tables(fast) == _tables(slow)
        assert fast.counts(now=later) == slow.counts(now=later)
    finally:
        fast.close()
        slow.close()


def test_stored_instants_keep_sqlalchemys_text_form(tmp_path: Path) -> None:
    fast, _ = _pair(tmp_path)
    fast.enqueue([Rem("k", at(1, 8))], now=at(1, 0))
    with fast.engine.connect() as conn:
        due = conn.execute(sa.text("SELECT due_at FROM outbox")).scalar()
    assert due == "2024-03-01 01:00:00.000000"  # 08:00 in Hà Nội, as UTC text with microseconds
    fast.close()


def test_a_key_twice_in_one_call_keeps_the_first_reminder_whole(tmp_path: Path) -> None:
    for store in _pair(tmp_path):  # both paths
        first = Rem("k", at(1, 8), subject="một", context={"n": 1})
        assert store.enqueue([first, Rem("k", at(1, 9), subject="hai", context={"n": 2})], now=at(1, 0)) == 1
        row = store.get("k")
        assert row is not None and (row.subject, row.payload, row.due_at) == ("một", {"n": 1}, at(1, 8))
        store.close()


def json_values(*leaves):
    return st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), TEXT, *leaves),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
        max_leaves=20,
    )


@settings(max_examples=300, deadline=None)
@given(json_values(), json_values(st.floats(allow_nan=False, allow_infinity=False)))
def test_payload_json_is_the_text_json_dumps_writes(value, with_floats) -> None:
    import json

    from notifier.payload import read_json
    from notifier.payload import write_json as _json

    text = _json(value)  # contexts: strings, integers, lists, objects
    assert text.lstrip(" ") == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert read_json(text) == json.loads(text) == value
    assert read_json(_json(with_floats)) == with_floats  # floats: same value ("1e-7" or "1e-07")


def test_values_that_are_not_plain_json_go_through_json_dumps() -> None:
    import json
    from datetime import date

    import pytest

    from notifier.payload import read_json
    from notifier.payload import write_json as _json

    assert _json({1: "a", "b": 2**70}) == ' {"1":"a","b":1180591620717411303424}'
    with pytest.raises(TypeError):
        _json({"day": date(2024, 1, 1)})  # dates are ISO strings in contexts, never objects
    assert read_json('{"x": NaN}')["x"] != read_json('{"x": NaN}')["x"]  # json.loads reads NaN
    assert _json([float("inf")]) == "[null]"  # standard JSON (PostgreSQL refuses Infinity)
    assert json.loads(_json({"k": "Sở Ngoại vụ\u2028"})) == {"k": "Sở Ngoại vụ\u2028"}


def test_integers_past_64_bits_read_back_exactly() -> None:
    """orjson reads them as floats; hypothesis found −2⁶³ − 1 coming back as -9.2e18."""
    from notifier.payload import read_json
    from notifier.payload import write_json as _json

    for n in (-(2**63) - 1, 2**64, -(2**70), 10**30):
        assert read_json(_json({"n": [n]})) == {"n": [n]}
        assert read_json(_json(n).encode()) == n
    assert read_json('{"a":"9223372036854775807"}') == {"a": "9223372036854775807"}


@settings(max_examples=200, deadline=None)
@given(json_values(), st.integers(0, 3000))
def test_packed_payloads_read_back_exactly_compressed_or_not(value, repeat) -> None:
    """pack's bytes (zlib from PACK_MIN bytes on) read back as write_json's text does."""
    from notifier.payload import PACK_MIN, pack, read_json, write_json

    big = {"items": [value] * repeat, "n": 2**70}  # past 64 bits: the json.dumps form too
    for v in (value, big):
        packed, text = pack(v), write_json(v).encode()
        assert read_json(packed) == read_json(text)
        assert (packed[:1] == b"x") == (len(text) >= PACK_MIN)
        assert packed == text or len(packed) < len(text)


def test_a_large_payload_is_stored_compressed_and_every_reader_gets_it_back(tmp_path: Path) -> None:
    """A digest's context (hundreds of items) goes in compressed; claim (the fast path),
    get, rows and problems_since (SQLAlchemy, where CAST AS TEXT would garble it) and the
    renderer all read it whole."""
    from notifier.payload import PACK_MIN

    items = [{"ref": f"II.{i}", "content": f"Hoạt động giao lưu văn hóa số {i}"} for i in range(400)]
    context = {"opens": items, "recipient": {"name": "Sở Ngoại vụ"}}
    store = open_store(f"sqlite:///{tmp_path / 'o.sqlite3'}")
    store.upgrade()
    try:
        store.enqueue([Rem("digest/1", at(1, 8), context=context), Rem("small", at(1, 8))], now=at(1, 0))
        with store.engine.connect() as conn:
            stored = dict(conn.exec_driver_sql("SELECT id, payload FROM outbox_payload").fetchall())
        big = max(stored.values(), key=len)
        assert isinstance(big, bytes) and big[:1] == b"x" and len(big) < PACK_MIN
        assert store.get("digest/1").payload == context  # type: ignore[union-attr]
        assert [r.payload for r in store.rows(limit=5)] == [context, {"unit": "Sở Văn hóa"}]
        claimed = store.claim_due("a", now=at(1, 9), limit=5)
        assert [r.payload for r in claimed] == [context, {"unit": "Sở Văn hóa"}]
        store.record([Outcome(claimed[0].id, "digest/1", "failed", at(1, 9), message="550")], owner="a")
        assert [r.payload for r in store.problems_since(at(1, 0))] == [context]
    finally:
        store.close()
