"""The store fixture every outbox test shares: one contract, run on SQLite and PostgreSQL.

PostgreSQL runs when NOTIFIER_TEST_PG_URL names a server (`export
NOTIFIER_TEST_PG_URL=$(bash tests/pg.sh)`); each test gets its own schema there
and its own file on SQLite, both brought up by the real Alembic migrations.
Test modules import `db_url_fixture` and `store_fixture` (fixtures "db_url", "store").
Also: `Rem`, a stand-in with the fields of notifier.reminders.Reminder, and `at()`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.clock import TZ
from notifier.store import Store, normalize_url, open_store

PG_ENV = "NOTIFIER_TEST_PG_URL"


def at(day: int, hour: int = 8, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=TZ)


@dataclass(frozen=True)
class Rem:
    key: str
    due_at: datetime
    kind: str = "activity-start"
    to: tuple[str, ...] = ("sovhttdl@example.org",)
    to_names: tuple[str, ...] = ("Sở Văn hóa, Thể thao và Du lịch",)
    units: tuple[str, ...] = ("Sở Văn hóa, Thể thao và Du lịch",)
    plan: str = "34-kh-ubnd-2024"
    refs: tuple[str, ...] = ("II.7",)
    subject: str = "Nhắc việc: hoạt động II.7 bắt đầu ngày 01/4/2024"
    context: Mapping[str, Any] = field(default_factory=lambda: {"unit": "Sở Văn hóa"})
    template: str = "reminder"


def rems(n: int, *, start: datetime | None = None, prefix: str = "k") -> list[Rem]:
    """n reminders due one minute apart."""
    start = start or at(1)
    return [Rem(f"{prefix}/{i:05d}", start + timedelta(minutes=i)) for i in range(n)]


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{normalize_url(base)}{sep}options=-c%20search_path%3D{schema}"


@contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of `kind` ("sqlite" or "postgresql"), removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'outbox.sqlite3'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} chưa đặt; chạy: export {PG_ENV}=$(bash tests/pg.sh)")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalize_url(base))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield _pg_schema_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


DB_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(name="db_url", params=DB_KINDS)
def db_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty (unmigrated) database URL."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(name="store")
def store_fixture(db_url: str) -> Iterator[Store]:
    """A migrated, empty store."""
    s = open_store(db_url)
    s.upgrade()
    try:
        yield s
    finally:
        s.close()
