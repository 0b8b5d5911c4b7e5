"""Milvus client: a ``pymilvus.MilvusClient`` from an Endpoint, for a server or Milvus Lite (a ``.db`` file).

The connection's host is a Milvus URI (``http://host:19530``, ``https://…`` for TLS) or a Milvus Lite
file path. Milvus Lite runs an in-process server that holds an exclusive lock on the ``.db`` file
until it is stopped, and ``MilvusClient.close()`` does not stop it: :func:`session` stops the one
it started. pymilvus is imported only when a client is made (parse time matters).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from include.targets import Endpoint

DEFAULT_PORT = 19530


def milvus_uri(endpoint: Endpoint) -> str:
    """The ``uri`` for ``MilvusClient``: a Lite ``.db`` path as is, else ``scheme://host:port``."""
    if not endpoint.host:
        raise ValueError("the connection has no host (a Milvus URI or a Milvus Lite .db path)")
    host = endpoint.host.strip()
    if "://" in host or host.endswith(".db") or host.startswith("/"):
        return host
    scheme = "https" if (endpoint.extra or {}).get("secure") else "http"
    return f"{scheme}://{host}:{endpoint.port or DEFAULT_PORT}"


def milvus_token(endpoint: Endpoint) -> str:
    """``user:password`` when both are set, the password alone as an API token, else empty."""
    if endpoint.password and endpoint.login:
        return f"{endpoint.login}:{endpoint.password}"
    return endpoint.password or ""


def connect(endpoint: Endpoint, timeout_s: float) -> Any:
    """A ``MilvusClient`` for ``endpoint`` with every call bounded by ``timeout_s`` (the caller closes it)."""
    from pymilvus import MilvusClient

    return MilvusClient(
        uri=milvus_uri(endpoint), token=milvus_token(endpoint), db_name=endpoint.schema or "", timeout=timeout_s
    )


@contextmanager
def session(endpoint: Endpoint, timeout_s: float) -> Iterator[Any]:
    """A client for ``endpoint``; closed at exit, and a Milvus Lite server it started released."""
    uri = milvus_uri(endpoint)
    started_lite = is_lite(uri) and not lite_server_running(uri)
    try:
        client = connect(endpoint, timeout_s)
        try:
            yield client
        finally:
            client.close()
    finally:
        if started_lite:  # leave a server someone else in this process opened alone
            release_lite_server(uri)


def is_lite(uri: str) -> bool:
    """True for a Milvus Lite URI (a local ``.db`` file) rather than a server address."""
    return "://" not in uri


def lite_server_running(uri: str) -> bool:
    """Whether this process already runs the Milvus Lite server for ``uri`` (it holds the ``.db``'s ``flock``)."""
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
