"""Alembic environment of the catalog: runs the migrations on the connection it is handed
(``config.attributes["connection"]``, inside the caller's transaction and lock), else on
``sqlalchemy.url``. Offline (``--sql``) mode is not offered: migrations run against the catalog."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from include.catalog import VERSION_TABLE, metadata

config = context.config
connection = config.attributes.get("connection")


def run(conn: sa.Connection) -> None:
    context.configure(connection=conn, target_metadata=metadata, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    with sa.create_engine(config.get_main_option("sqlalchemy.url") or "").begin() as conn:
        run(conn)
