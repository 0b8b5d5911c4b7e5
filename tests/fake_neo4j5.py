"""FAKE Neo4j 5 answers: what the real Bolt server under test (ArcadeDB, tests/servers/bolt.py) cannot give.

The Neo4j tests run against a real Bolt server. It cannot take a database offline, hold an index
POPULATING or FAILED, run ``db.checkpoint()`` or answer ``apoc.monitor.store()``; Neo4j 5's answers for
those are replayed here. :class:`FakeNeo4jDriver` fakes the small part of the neo4j
``Driver``/``Session``/``Result``/``Record`` API that ``include.neo4j_client.Neo4jClient`` uses, so tests
build the REAL client around it. Real Neo4j is in none of the package registries these machines reach.
"""

from __future__ import annotations

from typing import Any

from neo4j import Query


# --------------------------------------------------------------------------- neo4j
class FakeRecord:
    """FAKE neo4j ``Record``: ``.data()``, ``record[key]``, ``.keys()``, ``.get()``."""

    def __init__(self, row: dict[str, Any]):
        self._row = dict(row)

    def data(self, *keys: str) -> dict[str, Any]:
        return {k: self._row[k] for k in keys} if keys else dict(self._row)

    def __getitem__(self, key: str) -> Any:
        return self._row[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._row.get(key, default)

    def keys(self) -> list[str]:
        return list(self._row)


class FakeResult:
    """FAKE neo4j ``Result``: iterable of records, plus ``.data()``."""

    def __init__(self, rows: list[dict[str, Any]]):
        self._records = [FakeRecord(r) for r in rows]

    def __iter__(self):
        return iter(self._records)

    def data(self) -> list[dict[str, Any]]:
        return [r.data() for r in self._records]


class FakeSession:
    """FAKE neo4j ``Session``: a context manager whose ``run`` answers from the driver's canned rows."""

    def __init__(self, driver: FakeNeo4jDriver, database: str | None):
        self.driver, self.database, self.closed = driver, database, False

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True

    def run(self, query: str | Query, parameters: dict[str, Any] | None = None, **kwargs: Any) -> FakeResult:
        if self.closed:
            raise RuntimeError("FAKE: session already closed")
        text = query.text if isinstance(query, Query) else query
        timeout = query.timeout if isinstance(query, Query) else None
        self.driver.runs.append({"database": self.database, "cypher": text, "timeout": timeout})
        key = (self.database, text)
        if key in self.driver.errors:
            raise self.driver.errors[key]
        if key not in self.driver.answers:
            raise LookupError(f"FAKE: no canned answer for {key!r}")
        return FakeResult(self.driver.answers[key])


class FakeNeo4jDriver:
    """FAKE Neo4j 5 driver: canned answers for what the real Bolt server under test cannot give.

    ``answers`` maps ``(database, cypher)`` to the rows the server would return;
    ``errors`` maps one ``(database, cypher)`` to the error only that statement raises
    (e.g. :func:`server_error` for a procedure the server does not have).
    ``sessions`` and ``runs`` record what was asked, for assertions.
    """

    SESSION_CONFIG = {
        "database",
        "connection_acquisition_timeout",
        "fetch_size",
        "default_access_mode",
        "bookmarks",
        "impersonated_user",
    }

    def __init__(
        self,
        answers: dict[tuple[str | None, str], list[dict[str, Any]]],
        errors: dict[tuple[str | None, str], Exception] | None = None,
    ):
        self.answers = answers
        self.errors = errors or {}  # (database, cypher) -> the error the server answers to that statement only
        self.sessions: list[dict[str, Any]] = []
        self.runs: list[dict[str, Any]] = []
        self.closed = False

    def session(self, **config: Any) -> FakeSession:
        unknown = set(config) - self.SESSION_CONFIG
        if unknown:  # the real driver raises ConfigurationError for unknown keys too
            raise ValueError(f"FAKE: unexpected session config keys {sorted(unknown)}")
        if self.closed:
            raise RuntimeError("FAKE: driver already closed")
        self.sessions.append(config)
        return FakeSession(self, config.get("database"))

    def close(self) -> None:
        self.closed = True


def server_error(code: str, message: str) -> Exception:
    """The REAL exception the neo4j driver raises for a server FAILURE with ``code`` (built by the driver's
    own hydration, so its class, e.g. ``ClientError``, and ``.code`` are what a server would give)."""
    from neo4j.exceptions import Neo4jError

    return Neo4jError._hydrate_neo4j(code=code, message=message)
