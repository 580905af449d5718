"""Acknowledgements ("Đã báo cáo", "Đã hoàn thành"), their audit log, digest opt-outs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid needs INTEGER
_When = sa.DateTime(timezone=True)  # UTC; naive on SQLite (notifier.store.UtcDateTime)


def upgrade() -> None:
    op.create_table(
        "acknowledgements",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("unit", sa.String(200), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("at", _When, nullable=False),
        sa.Column("link_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_acknowledgements"),
        sa.UniqueConstraint("unit", "key", "action", name="uq_acknowledgements_unit"),
    )
    op.create_index("ix_acknowledgements_key", "acknowledgements", ["key"])
    op.create_table(
        "ack_audit",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("at", _When, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32)),
        sa.Column("unit", sa.String(200)),
        sa.Column("key", sa.Text),
        sa.Column("link_id", sa.String(32)),
        sa.Column("client", sa.String(64)),
        sa.Column("user_agent", sa.String(200)),
        sa.PrimaryKeyConstraint("id", name="pk_ack_audit"),
        sa.CheckConstraint(
            "outcome IN ('accepted', 'duplicate', 'expired', 'forged')",
            name="ck_ack_audit_outcome",
        ),
    )
    op.create_index("ix_ack_audit_at", "ack_audit", ["at"])
    op.create_table(
        "digest_optouts",
        sa.Column("unit", sa.String(200), nullable=False),
        sa.Column("at", _When, nullable=False),
        sa.Column("link_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("unit", name="pk_digest_optouts"),
    )


def downgrade() -> None:
    op.drop_table("digest_optouts")
    op.drop_index("ix_ack_audit_at", table_name="ack_audit")
    op.drop_table("ack_audit")
    op.drop_index("ix_acknowledgements_key", table_name="acknowledgements")
    op.drop_table("acknowledgements")
