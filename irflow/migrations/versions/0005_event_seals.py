"""A seal on every timeline event.

When ``$IRFLOW_AUDIT_KEY`` is set, each event carries an HMAC-SHA256 of its hash under
that key, so that a writer of the database without the key cannot rewrite a chain,
even with every hash recomputed. Events written before (or without the key) keep
NULL: the column is nullable and nothing is rewritten.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timeline_event") as batch:
        batch.add_column(sa.Column("seal", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("timeline_event") as batch:
        batch.drop_column("seal")
