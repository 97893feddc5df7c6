"""Alembic environment: the engine comes from ingest (``config.attributes['engine']``), never a file."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from ingest.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # The full-text objects (FTS5 shadow tables, the tsvector column) are made by hand in migrations.
    return not (name or "").startswith("articles_fts") and name != "search_vector"


def run_migrations_online() -> None:
    engine = context.config.attributes.get("engine")
    if engine is None:
        from ingest.store.db import open_engine  # for `alembic` run by hand with -x url=...

        engine = open_engine(context.get_x_argument(as_dictionary=True)["url"])
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection = connection.execution_options(sqlite_begin="IMMEDIATE")
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=engine.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
