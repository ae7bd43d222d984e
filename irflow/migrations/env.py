"""Alembic environment: irflow runs migrations on a connection it hands over."""

from alembic import context
from sqlalchemy import create_engine

from irflow.engine.tables import SQLModel

target_metadata = SQLModel.metadata
config = context.config

connection = config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
