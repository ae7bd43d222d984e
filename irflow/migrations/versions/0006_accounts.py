"""Accounts, their API tokens, and the hash-chained security log.

An account belongs to one organisation of the directory; a token keeps only the
SHA-256 of its secret and its last four characters. The security log is chained as a
case's timeline is, its head row (inserted here, empty) locked by every append.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from irflow.engine.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("login", sa.String(), nullable=False, unique=True),
        sa.Column("org_id", sa.String(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_account_org_id", "account", ["org_id"])
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("digest", sa.String(), nullable=False, unique=True),
        sa.Column("last4", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=True),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("rotated_from", sa.Integer(), nullable=True),
    )
    op.create_index("ix_api_token_account_id", "api_token", ["account_id"])
    op.create_table(
        "security_event",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("login", sa.String(), nullable=True),
        sa.Column("org_id", sa.String(), nullable=True),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.Column("seal", sa.String(), nullable=True),
    )
    head = op.create_table(
        "security_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "last_hash": ""}])


def downgrade() -> None:
    op.drop_table("security_head")
    op.drop_table("security_event")
    op.drop_index("ix_api_token_account_id", "api_token")
    op.drop_table("api_token")
    op.drop_index("ix_account_org_id", "account")
    op.drop_table("account")
