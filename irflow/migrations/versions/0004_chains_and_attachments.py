"""A case's chain of participants, and the form attached to a site post.

A flow with a ``chain`` (the inquiry) keeps on its case row the organisations the
case has reached, in order (the opener first), and which of them holds it now.
A site post keeps the form attached to it (e.g. the 問合せ票), as text.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("irflow_case") as batch:
        batch.add_column(sa.Column("chain", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("chain_at", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("site_post") as batch:
        batch.add_column(sa.Column("attachment_name", sa.String(), nullable=True))
        batch.add_column(sa.Column("attachment", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("site_post") as batch:
        batch.drop_column("attachment")
        batch.drop_column("attachment_name")
    with op.batch_alter_table("irflow_case") as batch:
        batch.drop_column("chain_at")
        batch.drop_column("chain")
