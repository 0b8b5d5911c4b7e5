"""The one place Aegis talks to Neo4j: run a Cypher statement, get plain dicts back.

Kept deliberately tiny: the tests run it against a real Bolt server, and around a
labelled fake driver only for Neo4j 5 answers that server cannot give. Built from
an Airflow connection by the provider's ``Neo4jHook``, or around any neo4j ``Driver``.
"""

from __future__ import annotations

from typing import Any


class Neo4jClient:
    """Runs Cypher through a neo4j ``Driver`` with a per-statement timeout."""

    def __init__(self, driver: Any, timeout_s: float):
        """Wrap an existing neo4j ``Driver``; every statement is bounded by ``timeout_s``."""
        self.driver = driver
        self.timeout_s = float(timeout_s)

    @classmethod
    def from_conn_id(cls, conn_id: str, timeout_s: float) -> "Neo4jClient":
        """A client for Airflow connection ``conn_id``, its driver built by the provider hook."""
        from airflow.providers.neo4j.hooks.neo4j import Neo4jHook

        return cls(Neo4jHook(conn_id).get_conn(), timeout_s)

    def query(self, cypher: str, database: str | None = None, *,
              timeout_s: float | None = None) -> list[dict[str, Any]]:
        """Run ``cypher`` against ``database`` (the server's default when None); one dict per record.

        ``timeout_s`` overrides the client's statement timeout for one long statement (a checkpoint).
        """
        from neo4j import Query

        with self.driver.session(database=database,
                                 connection_acquisition_timeout=self.timeout_s) as session:
            result = session.run(Query(cypher, timeout=float(timeout_s or self.timeout_s)))
            return [record.data() for record in result]

    def close(self) -> None:
        """Close the driver and its connection pool."""
        self.driver.close()
