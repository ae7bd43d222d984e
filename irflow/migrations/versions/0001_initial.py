"""The first schema: organisations, flow versions, cases and their timelines.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from irflow.engine.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisation",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("prefecture", sa.String(), nullable=True),
        sa.Column("code", sa.String(), nullable=True),
        sa.Column("competent_ministry", sa.String(), nullable=True),
        sa.Column("daytime_phone", sa.String(), nullable=True),
        sa.Column("emergency_phone", sa.String(), nullable=True),
        sa.Column("mail", sa.String(), nullable=True),
        sa.Column("note", sa.String(), nullable=True),
    )
    op.create_index("ix_organisation_name", "organisation", ["name"])
    op.create_index("ix_organisation_code", "organisation", ["code"])
    op.create_table(
        "flow_version",
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_flow_version_digest", "flow_version", ["digest"])
    op.create_table(
        "irflow_case",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("flow", sa.String(), nullable=False),
        sa.Column("flow_version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("kinds", sa.String(), nullable=False),
        sa.Column("flags", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.String(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("coordinator_id", sa.String(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("operator_id", sa.String(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("steps_done", sa.Text(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(), nullable=False),
    )
    op.create_index("ix_irflow_case_state", "irflow_case", ["state"])
    op.create_table(
        "timeline_event",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("irflow_case.id"), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.String(), nullable=True),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("step", sa.String(), nullable=True),
        sa.Column("from_state", sa.String(), nullable=True),
        sa.Column("to_state", sa.String(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("timeline_event")
    op.drop_index("ix_irflow_case_state", "irflow_case")
    op.drop_table("irflow_case")
    op.drop_index("ix_flow_version_digest", "flow_version")
    op.drop_table("flow_version")
    op.drop_index("ix_organisation_code", "organisation")
    op.drop_index("ix_organisation_name", "organisation")
    op.drop_table("organisation")
