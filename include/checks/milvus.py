"""Milvus check: collections, their row counts, load state and index build state.

Works against a Milvus server (``http://host:19530``) and against Milvus Lite
(a local ``.db`` file), both through ``pymilvus.MilvusClient``. For Milvus Lite
the check stops the in-process server it started, so the ``.db`` file lock is
not held after the check.
"""

from __future__ import annotations

import os
from typing import Any

from include.checks.base import WARNING, CheckResult
from include.inventory import Target
from include.targets import Endpoint

DEFAULT_PORT = 19530
INDEX_DONE = "Finished"
LOADED = "Loaded"


def milvus_uri(endpoint: Endpoint) -> str:
    """The ``uri`` for ``MilvusClient``: a Lite ``.db`` path as is, else ``scheme://host:port``."""
    if not endpoint.host:
        raise ValueError("the connection has no host (a Milvus URI or a Milvus Lite .db path)")
    host = endpoint.host.strip()
    if "://" in host or host.endswith(".db") or host.startswith("/"):
        return host
    return f"http://{host}:{endpoint.port or DEFAULT_PORT}"


def milvus_token(endpoint: Endpoint) -> str:
    """``user:password`` when both are set, the password alone as an API token, else empty."""
    if endpoint.password and endpoint.login:
        return f"{endpoint.login}:{endpoint.password}"
    return endpoint.password or ""


def connect(target: Target, endpoint: Endpoint):
    """A ``MilvusClient`` for ``endpoint`` (pymilvus imported here, only when a check runs)."""
    from pymilvus import MilvusClient

    return MilvusClient(uri=milvus_uri(endpoint), token=milvus_token(endpoint),
                        db_name=endpoint.schema or "", timeout=target.timeout_seconds)


def is_lite(uri: str) -> bool:
    """True for a Milvus Lite URI (a local ``.db`` file) rather than a server address."""
    return "://" not in uri


def lite_server_running(uri: str) -> bool:
    """Whether this process already runs the Milvus Lite server for ``uri``.

    ``MilvusClient.close()`` does not stop that in-process server, and the server
    holds an exclusive ``flock`` on the ``.db`` until it stops.
    """
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:
        return False
    return os.path.abspath(uri) in getattr(server_manager_instance, "_servers", {})


def release_lite_server(uri: str) -> None:
    """Stop the in-process Milvus Lite server for ``uri`` so its file lock is released."""
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:
        return
    server_manager_instance.release_server(uri)


def load_state_name(state: Any) -> str:
    """``Loaded`` / ``NotLoad`` / ``Loading`` / ``NotExist`` from a ``get_load_state`` answer."""
    value = state.get("state") if isinstance(state, dict) else state
    return getattr(value, "name", str(value))


def describe_indexes(client, collection: str, timeout: float) -> list[dict[str, Any]]:
    """State of every index of ``collection``: name, field, type, state, indexed and pending rows."""
    indexes = []
    for index_name in client.list_indexes(collection, timeout=timeout):
        info = client.describe_index(collection, index_name, timeout=timeout) or {}
        indexes.append({
            "name": index_name,
            "field": info.get("field_name"),
            "type": info.get("index_type"),
            "state": info.get("state"),
            "indexed_rows": int(info.get("indexed_rows") or 0),
            "pending_index_rows": int(info.get("pending_index_rows") or 0),
        })
    return indexes


def describe_collection(client, collection: str, timeout: float) -> dict[str, Any]:
    """Row count, load state and indexes of one collection."""
    stats = client.get_collection_stats(collection, timeout=timeout) or {}
    return {
        "rows": int(stats.get("row_count") or 0),
        "load_state": load_state_name(client.get_load_state(collection, timeout=timeout)),
        "indexes": describe_indexes(client, collection, timeout),
    }


def grade_collection(result: CheckResult, collection: str, info: dict[str, Any]) -> None:
    """Warn on a collection that is not loaded and on any index not fully built."""
    if info["load_state"] != LOADED:
        result.add(WARNING, f"collection {collection} is not loaded (state {info['load_state']}); "
                            "searches on it will fail")
    for index in info["indexes"]:
        if index["state"] != INDEX_DONE or index["pending_index_rows"]:
            result.add(WARNING, f"index {index['name']} on {collection} is {index['state']} "
                                f"with {index['pending_index_rows']} row(s) pending")


def check(target: Target, endpoint: Endpoint, window=None) -> CheckResult:
    """Report collections, rows, load state and index state; raise if Milvus cannot be reached."""
    result = CheckResult(target.name, target.kind)
    timeout = target.timeout_seconds
    uri = milvus_uri(endpoint)
    started_lite_server = is_lite(uri) and not lite_server_running(uri)
    try:
        client = connect(target, endpoint)
        try:
            collections = {name: describe_collection(client, name, timeout)
                           for name in sorted(client.list_collections(timeout=timeout))}
        finally:
            client.close()
    finally:
        if started_lite_server:  # leave a server someone else in this process opened alone
            release_lite_server(uri)

    result.metrics["milvus.collections"] = float(len(collections))
    result.metrics["milvus.rows_total"] = float(sum(c["rows"] for c in collections.values()))
    result.details["collections"] = collections
    for name, info in collections.items():
        grade_collection(result, name, info)
    return result
