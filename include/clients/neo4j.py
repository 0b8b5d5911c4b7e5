"""Neo4j client: run a Cypher statement, get plain dicts back.

Kept deliberately tiny so the Neo4j check can be tested against a fake driver
(there is no Neo4j server to test against). :func:`connect` builds the real driver from an
Endpoint the way the provider's ``Neo4jHook`` reads a connection (``bolt``/``neo4j`` scheme,
``+s``/``+ssc`` for TLS from the extras), with a connect timeout; or wrap any neo4j ``Driver``.
"""

from __future__ import annotations

from typing import Any


DEFAULT_PORT = 7687


def uri_for(endpoint: Any) -> str:
    """``bolt://`` (``neo4j://`` with the extra ``neo4j_scheme``), ``+s`` / ``+ssc`` for TLS, host and port."""
    extra = endpoint.extra or {}
    scheme = "neo4j" if extra.get("neo4j_scheme") else "bolt"
    if extra.get("certs_self_signed"):
        scheme += "+ssc"
    elif extra.get("certs_trusted_ca"):
        scheme += "+s"
    return f"{scheme}://{endpoint.host or '127.0.0.1'}:{endpoint.port or DEFAULT_PORT}"


def connect(endpoint: Any, timeout_s: float) -> "Neo4jClient":
    """A client for a resolved :class:`include.targets.Endpoint`; the driver connects lazily, within ``timeout_s``."""
    from neo4j import GraphDatabase

    uri = uri_for(endpoint)
    auth = (endpoint.login, endpoint.password) if endpoint.login is not None and endpoint.password is not None else None
    kwargs: dict[str, Any] = {"connection_timeout": float(timeout_s)}
    if "+" not in uri:
        kwargs["encrypted"] = bool((endpoint.extra or {}).get("encrypted", False))
    return Neo4jClient(GraphDatabase.driver(uri, auth=auth, **kwargs), timeout_s)


class Neo4jClient:
    """Runs Cypher through a neo4j ``Driver`` with a per-statement timeout."""

    def __init__(self, driver: Any, timeout_s: float):
        """Wrap an existing neo4j ``Driver``; every statement is bounded by ``timeout_s``."""
        self.driver = driver
        self.timeout_s = float(timeout_s)

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
