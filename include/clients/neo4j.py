"""Neo4j client: run a Cypher statement, get plain dicts back.

Kept deliberately tiny so the Neo4j check can be tested against a fake driver
(there is no Neo4j server to test against). Built from an Endpoint (:func:`connect`) as
the provider's ``Neo4jHook`` builds it, or around any neo4j ``Driver``.
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
    def from_endpoint(cls, endpoint: Any, timeout_s: float) -> "Neo4jClient":
        """A client for a resolved Endpoint, its driver built as the provider hook builds it (connects lazily)."""
        from neo4j import GraphDatabase

        uri = uri_for(endpoint)
        auth = (endpoint.login, endpoint.password) if endpoint.login is not None and endpoint.password is not None else None
        tls = {} if "+" in uri else {"encrypted": bool((endpoint.extra or {}).get("encrypted", False))}
        return cls(GraphDatabase.driver(uri, auth=auth, connection_timeout=float(timeout_s), **tls), timeout_s)

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


def connect(endpoint: Any, timeout_s: float) -> Neo4jClient:
    """A :class:`Neo4jClient` for a resolved :class:`include.targets.Endpoint`, statements bounded by ``timeout_s``."""
    return Neo4jClient.from_endpoint(endpoint, timeout_s)


def uri_for(endpoint: Any) -> str:
    """``bolt://`` (``neo4j://`` with the extra ``neo4j_scheme``), ``+s`` / ``+ssc`` for TLS, host and port."""
    extra = endpoint.extra or {}
    scheme = "neo4j" if extra.get("neo4j_scheme") else "bolt"
    if extra.get("certs_self_signed"):
        scheme += "+ssc"
    elif extra.get("certs_trusted_ca"):
        scheme += "+s"
    return f"{scheme}://{endpoint.host or '127.0.0.1'}:{endpoint.port or 7687}"
