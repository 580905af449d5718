"""Outbox (with its payloads apart), delivery log, feed versions and meta.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid needs INTEGER
_When = sa.DateTime(timezone=True)  # UTC; naive on SQLite (notifier.store.UtcDateTime)


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("plan", sa.Text, nullable=False),
        sa.Column("refs", sa.JSON, nullable=False),
        sa.Column("units", sa.JSON, nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("due_at", _When, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", _When, nullable=False),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_until", _When),
        sa.Column("sent_at", _When),
        sa.Column("message_id", sa.String(255)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", _When, nullable=False),
        sa.Column("updated_at", _When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
        sa.CheckConstraint(
            "status IN ('pending', 'claimed', 'sent', 'failed', 'skipped')",
            name="ck_outbox_status",
        ),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_due_at", "outbox", ["due_at"])
    op.create_table(
        "outbox_payload",
        sa.Column("id", _Id, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["id"], ["outbox.id"], name="fk_outbox_payload_id_outbox", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_payload"),
    )
    op.create_table(
        "delivery_log",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("at", _When, nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("smtp_code", sa.Integer),
        sa.Column("message", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_log"),
    )
    op.create_index("ix_delivery_log_key", "delivery_log", ["key"])
    op.create_table(
        "feed_versions",
        sa.Column("feed", sa.Text, nullable=False),
        sa.Column("uid", sa.Text, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("last_modified", _When, nullable=False),
        sa.PrimaryKeyConstraint("feed", "uid", name="pk_feed_versions"),
    )
    op.create_table(
        "meta",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_meta"),
    )


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_table("feed_versions")
    op.drop_index("ix_delivery_log_key", table_name="delivery_log")
    op.drop_table("delivery_log")
    op.drop_table("outbox_payload")
    op.drop_index("ix_outbox_due_at", table_name="outbox")
    op.drop_index("ix_outbox_status_next_attempt_at", table_name="outbox")
    op.drop_table("outbox")
