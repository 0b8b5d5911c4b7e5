"""Milvus client: a ``pymilvus.MilvusClient`` from an Endpoint, for a server or Milvus Lite (a ``.db`` file).

The connection's host is a Milvus URI (``http://host:19530``, ``https://…`` for TLS) or a Milvus Lite
file path. Milvus Lite runs an in-process server that holds an exclusive lock on the ``.db`` file
until it is stopped, and ``MilvusClient.close()`` does not stop it: :func:`session` stops the one
it started. A second process opening the same file fails (``Open local milvus failed``), so :func:`session`
serialises the opens of a Lite file across processes and threads (:func:`lite_file_lock`). pymilvus is imported only when a client is made (parse time matters).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
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
def session(endpoint: Endpoint, timeout_s: float, lite_wait_s: float | None = None) -> Iterator[Any]:
    """A client for ``endpoint``; closed at exit, and a Milvus Lite server it started released.

    A Milvus Lite file is opened by one process at a time: the session holds :func:`lite_file_lock` for as long
    as it runs, waiting up to ``lite_wait_s`` (default ``timeout_s``) for another process's session to end."""
    uri = milvus_uri(endpoint)
    if not is_lite(uri):
        with _client(endpoint, timeout_s) as client:
            yield client
        return
    with lite_file_lock(uri, timeout_s if lite_wait_s is None else lite_wait_s):
        started_lite = not lite_server_running(uri)
        try:
            with _client(endpoint, timeout_s) as client:
                yield client
        finally:
            if started_lite:  # leave a server someone else in this process opened alone
                release_lite_server(uri)


@contextmanager
def _client(endpoint: Endpoint, timeout_s: float) -> Iterator[Any]:
    client = connect(endpoint, timeout_s)
    try:
        yield client
    finally:
        client.close()


class LiteFileBusy(TimeoutError):
    """Another process kept the Milvus Lite file open for longer than the wait."""


class _LiteHold:
    """This process's hold on one Lite file's lock: a re-entrant lock for its threads, the ``flock`` for others."""

    def __init__(self) -> None:
        self.rlock = threading.RLock()
        self.depth = 0
        self.fd: int | None = None


_LITE_HOLDS: dict[str, _LiteHold] = {}
_LITE_HOLDS_LOCK = threading.Lock()


def lite_lock_path(uri: str) -> str:
    """The sibling file whose ``flock`` serialises the opens of a Milvus Lite file (``<file>.aegis-lock``)."""
    return os.path.abspath(uri) + ".aegis-lock"


@contextmanager
def lite_file_lock(uri: str, wait_s: float) -> Iterator[None]:
    """Hold the Milvus Lite file ``uri`` for this thread: other threads of the process wait on a lock, other
    processes on an exclusive ``flock`` of :func:`lite_lock_path` (released by the kernel when a holder dies).
    Polls for up to ``wait_s`` seconds, then :class:`LiteFileBusy` naming the holder's pid."""
    path = lite_lock_path(uri)
    with _LITE_HOLDS_LOCK:
        hold = _LITE_HOLDS.setdefault(path, _LiteHold())
    deadline = time.monotonic() + wait_s
    if not hold.rlock.acquire(timeout=max(wait_s, 0)):
        raise LiteFileBusy(f"Milvus Lite file {uri} stayed in use by another session of this process for {wait_s:g}s")
    try:
        if hold.depth == 0:
            hold.fd = _flock(path, uri, deadline, wait_s)
        hold.depth += 1
        try:
            yield
        finally:
            hold.depth -= 1
            if hold.depth == 0 and hold.fd is not None:
                os.close(hold.fd)  # closing the descriptor drops the flock
                hold.fd = None
    finally:
        hold.rlock.release()


def _flock(path: str, uri: str, deadline: float, wait_s: float) -> int:
    """An open descriptor of ``path`` holding its exclusive ``flock`` (this pid written in it)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    pause = 0.05
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise LiteFileBusy(
                    f"Milvus Lite file {uri} stayed open in another process (pid {holder}) for {wait_s:g}s"
                ) from None
            time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
            pause = min(pause * 2, 1.0)
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


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
