"""Neo4j client: run a Cypher statement, get plain dicts back.

Kept deliberately tiny: the tests run it against a real Bolt server, and around a
labelled fake driver only for Neo4j 5 answers that server cannot give. Built from an
Endpoint as the provider's ``Neo4jHook`` builds it from a connection, or around any neo4j ``Driver``.
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
    def from_endpoint(cls, endpoint: Any, timeout_s: float) -> Neo4jClient:
        """A client for a resolved Endpoint, its driver built as the provider hook builds it (connects lazily)."""
        from neo4j import GraphDatabase

        x = endpoint.extra or {}  # scheme and TLS as the hook reads them: neo4j_scheme, certs_*, encrypted
        tls = "+ssc" if x.get("certs_self_signed") else "+s" if x.get("certs_trusted_ca") else ""
        uri = f"{'neo4j' if x.get('neo4j_scheme') else 'bolt'}{tls}://{endpoint.host}:{endpoint.port or 7687}"
        auth = (endpoint.login, endpoint.password) if endpoint.password is not None else None
        kw: dict[str, Any] = {} if tls else {"encrypted": bool(x.get("encrypted", False))}
        return cls(GraphDatabase.driver(uri, auth=auth, connection_timeout=float(timeout_s), **kw), timeout_s)

    def query(
        self, cypher: str, database: str | None = None, *, timeout_s: float | None = None
    ) -> list[dict[str, Any]]:
        """Run ``cypher`` against ``database`` (the server's default when None); one dict per record.

        ``timeout_s`` overrides the client's statement timeout for one long statement (a checkpoint).
        """
        from neo4j import Query

        with self.driver.session(database=database, connection_acquisition_timeout=self.timeout_s) as session:
            result = session.run(Query(cypher, timeout=float(timeout_s or self.timeout_s)))
            return [record.data() for record in result]

    def close(self) -> None:
        """Close the driver and its connection pool."""
        self.driver.close()


#: the module's one way to get a client: ``connect(endpoint, timeout_s)``
connect = Neo4jClient.from_endpoint
