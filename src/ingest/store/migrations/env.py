"""Alembic environment: the engine comes from ingest (``config.attributes['engine']``), never a file."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from ingest.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # The full-text objects (FTS5 shadow tables, the tsvector column) are made by hand in migrations.
    return not (name or "").startswith("articles_fts") and name != "search_vector"


def _configure(connection: object, dialect: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=dialect == "sqlite",
        compare_type=True,
        include_object=include_object,
    )


def run_migrations_online() -> None:
    shared = context.config.attributes.get("connection")
    if shared is not None:
        # ingest.store.db holds the schema lock on this connection and commits when done.
        _configure(shared, shared.dialect.name)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = context.config.attributes.get("engine")
    if engine is None:
        from ingest.store.db import open_engine  # for `alembic` run by hand with -x url=...

        engine = open_engine(context.get_x_argument(as_dictionary=True)["url"])
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection = connection.execution_options(sqlite_begin="IMMEDIATE")
        _configure(connection, engine.dialect.name)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
