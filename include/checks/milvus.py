"""Milvus check: collections, their row counts, load state and index build state.

Works against a Milvus server (``http://host:19530``) and against Milvus Lite
(a local ``.db`` file), both through :func:`include.clients.milvus.session`, which
stops a Lite server it started, so the ``.db`` file lock is not held after the check.
"""

from __future__ import annotations

from typing import Any

from include.checks.base import WARNING, CheckResult
from include.clients import milvus as milvus_client
from include.inventory import Target
from include.targets import Endpoint

INDEX_DONE = "Finished"
LOADED = "Loaded"
#: ``describe_index`` keys that tell an index's name, field and state, not how it is built
INDEX_INFO_KEYS = frozenset(
    {
        "index_type",
        "metric_type",
        "field_name",
        "index_name",
        "total_rows",
        "indexed_rows",
        "pending_index_rows",
        "state",
        "fail_reason",
    }
)


def load_state_name(state: Any) -> str:
    """``Loaded`` / ``NotLoad`` / ``Loading`` / ``NotExist`` from a ``get_load_state`` answer."""
    value = state.get("state") if isinstance(state, dict) else state
    return getattr(value, "name", str(value))


def describe_indexes(client, collection: str, timeout: float) -> list[dict[str, Any]]:
    """State of every index of ``collection``: name, field, type, state, indexed and pending rows."""
    indexes = []
    for index_name in client.list_indexes(collection, timeout=timeout):
        info = client.describe_index(collection, index_name, timeout=timeout) or {}
        indexes.append(
            {
                "name": index_name,
                "field": info.get("field_name"),
                "type": info.get("index_type"),
                "state": info.get("state"),
                "indexed_rows": int(info.get("indexed_rows") or 0),
                "pending_index_rows": int(info.get("pending_index_rows") or 0),
            }
        )
    return indexes


def index_definition(index_name: str, info: dict[str, Any]) -> dict[str, Any]:
    """How an index is built, from its ``describe_index`` answer ``info``: ``index_name``, ``field``,
    ``index_type``, ``metric_type`` and ``params`` (every key of ``info`` not in :data:`INDEX_INFO_KEYS`).
    The backup stores it; :func:`index_params` builds the index again from it."""
    return {
        "index_name": index_name,
        "field": info.get("field_name"),
        "index_type": info.get("index_type"),
        "metric_type": info.get("metric_type"),
        "params": {k: v for k, v in info.items() if k not in INDEX_INFO_KEYS},
    }


def index_params(client, definitions: list[dict[str, Any]]) -> Any:
    """The ``IndexParams`` for ``client.create_index`` that build ``definitions`` (:func:`index_definition`)
    again: same field, type, metric, parameters and name."""
    params = client.prepare_index_params()
    for index in definitions:
        params.add_index(
            field_name=index["field"],
            index_type=index.get("index_type") or "",
            index_name=index.get("index_name") or "",
            metric_type=index.get("metric_type") or "",
            params=index.get("params") or {},
        )
    return params


def row_count(client, collection: str, timeout: float) -> int:
    """The row count of ``collection`` as its statistics (``get_collection_stats``) report it."""
    return int((client.get_collection_stats(collection, timeout=timeout) or {}).get("row_count") or 0)


def describe_collection(client, collection: str, timeout: float) -> dict[str, Any]:
    """Row count, load state and indexes of one collection."""
    return {
        "rows": row_count(client, collection, timeout),
        "load_state": load_state_name(client.get_load_state(collection, timeout=timeout)),
        "indexes": describe_indexes(client, collection, timeout),
    }


def grade_collection(result: CheckResult, collection: str, info: dict[str, Any]) -> None:
    """Warn on a collection that is not loaded and on any index not fully built."""
    if info["load_state"] != LOADED:
        result.add(
            WARNING, f"collection {collection} is not loaded (state {info['load_state']}); searches on it will fail"
        )
    for index in info["indexes"]:
        if index["state"] != INDEX_DONE or index["pending_index_rows"]:
            result.add(
                WARNING,
                f"index {index['name']} on {collection} is {index['state']} "
                f"with {index['pending_index_rows']} row(s) pending",
            )


def check(target: Target, endpoint: Endpoint, window=None) -> CheckResult:
    """Report collections, rows, load state and index state; raise if Milvus cannot be reached."""
    result = CheckResult(target.name, target.kind)
    timeout = target.timeout_seconds
    with milvus_client.session(endpoint, timeout) as client:
        collections = {
            name: describe_collection(client, name, timeout)
            for name in sorted(client.list_collections(timeout=timeout))
        }

    result.metrics["milvus.collections"] = float(len(collections))
    result.metrics["milvus.rows_total"] = float(sum(c["rows"] for c in collections.values()))
    result.details["collections"] = collections
    for name, info in collections.items():
        grade_collection(result, name, info)
    return result
