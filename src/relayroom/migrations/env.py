"""Alembic environment: runs on the connection handed over by relayroom.storage.db.migrate."""

from __future__ import annotations

from alembic import context

from relayroom.storage.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")

if connection is None:
    # `alembic revision --autogenerate` from the command line: use RELAYROOM_DATABASE_URL or sqlite.
    import os

    from sqlalchemy import create_engine

    url = os.environ.get("ALEMBIC_URL", "sqlite:///./data/alembic-dev.db")
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
