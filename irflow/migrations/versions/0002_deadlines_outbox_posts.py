"""Deadlines with their escalation rungs, the notification outbox, and site posts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from irflow.engine.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deadline",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("irflow_case.id"), primary_key=True),
        sa.Column("step", sa.String(), primary_key=True),
        sa.Column("rung", sa.Integer(), primary_key=True),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("deadline_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_deadline_due", "deadline", ["fired_at", "due_at"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("event_seq", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("template", sa.String(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("sender_id", sa.String(), nullable=True),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_outbox_case_id", "outbox", ["case_id"])
    op.create_index("ix_outbox_queue", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "site_post",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("poster_id", sa.String(), nullable=True),
        sa.Column("named", sa.Text(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_site_post_case_id", "site_post", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_site_post_case_id", "site_post")
    op.drop_table("site_post")
    op.drop_index("ix_outbox_queue", "outbox")
    op.drop_index("ix_outbox_case_id", "outbox")
    op.drop_table("outbox")
    op.drop_index("ix_deadline_due", "deadline")
    op.drop_table("deadline")
