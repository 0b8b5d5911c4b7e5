"""The catalog database: Aegis's own history (SQLite by default, PostgreSQL through a connection in production).

Not a target: the one place its SQLAlchemy engine is made (:mod:`include.catalog` keeps one per process and URL).
"""

from __future__ import annotations

import sqlalchemy as sa

#: seconds a SQLite catalog waits for another process's write lock before failing
SQLITE_BUSY_TIMEOUT_S = 30


def engine(url: sa.engine.URL) -> sa.Engine:
    """An engine with pre-ping (a dropped connection is replaced, not reported) and, for SQLite, a busy timeout."""
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S} if url.get_backend_name() == "sqlite" else {}
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
