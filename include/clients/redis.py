"""Redis client: a redis-py client from an Endpoint (timeouts, no retries, TLS from the extras), and a
private ``redis-server`` for the Redis restore, the tests and the benchmarks.

Importing ``redis`` here is the library, not this module: the project uses absolute imports only.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import redis

from include.targets import Endpoint

DEFAULT_PORT = 6379
RDB_FILE = "dump.rdb"


class PrivateServerError(RuntimeError):
    """A private redis-server did not start or did not finish loading (its log tail included)."""


def connect(endpoint: Endpoint, timeout_s: float) -> redis.Redis:
    """A client with connect and socket timeouts (password from the connection, never logged).

    No retries: redis-py retries a failed command with backoff by default, so a down or hung
    server would take a multiple of ``timeout_s`` to report; every caller here wants one bound.
    TLS when the extra ``ssl`` is true (``ssl_ca_certs``, ``ssl_cert_reqs`` from the extras too).
    """
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    extra = endpoint.extra or {}
    tls = {
        key: extra[key]
        for key in ("ssl_ca_certs", "ssl_cert_reqs", "ssl_certfile", "ssl_keyfile")
        if extra.get(key) is not None
    }
    client = redis.Redis(
        host=endpoint.host or "127.0.0.1",
        port=int(endpoint.port or DEFAULT_PORT),
        db=int(endpoint.schema or extra.get("db", 0) or 0),
        username=endpoint.login or None,
        password=endpoint.password or None,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        ssl=bool(extra.get("ssl", False)),
        retry=Retry(NoBackoff(), 0),
        **tls,
    )
    from include.clients.cancel import register

    # a bounded run whose time is up closes the client's connections: the server drops a blocked command
    register(
        f"closing the redis client of {endpoint.host or '127.0.0.1'}:{endpoint.port or DEFAULT_PORT}",
        lambda: True,
        client.connection_pool.disconnect,
    )
    return client


@contextmanager
def private_server(
    *, rdb: Path | None = None, options: Sequence[str] = (), timeout_s: float = 30.0, databases: int | None = None
) -> Iterator[int]:
    """Run a ``redis-server`` on a spare 127.0.0.1 port without persistence; yield the port.

    With ``rdb`` it starts over a copy of that snapshot and is yielded only once loaded.
    ``options`` come last, so they override the defaults (``"--bind", "* -::*"``). The server
    and its folder are removed at exit, whatever happens. :class:`PrivateServerError` when it
    exits or does not answer within ``timeout_s``.
    """
    folder = Path(tempfile.mkdtemp(prefix="aegis-redis-private-"))
    proc = None
    try:
        if rdb is not None:
            shutil.copyfile(rdb, folder / RDB_FILE)
        port = spare_port()
        argv = [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--dbfilename",
            RDB_FILE,
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(folder / "redis.log"),
        ]
        argv += ["--databases", str(databases)] if databases else []
        proc = subprocess.Popen([*argv, *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_loaded(proc, port, folder / "redis.log", timeout_s)
        yield port
    finally:
        if proc is not None:
            stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


def spare_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_loaded(proc: subprocess.Popen, port: int, logfile: Path, timeout_s: float) -> None:
    """Block until the server answers and has finished loading its RDB, or raise (with its log tail)."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, socket_connect_timeout=1)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = logfile.read_text(errors="replace")[-1500:] if logfile.exists() else ""
                raise PrivateServerError(f"redis-server exited {proc.returncode} while loading: {tail}")
            try:
                if int(client.info("persistence").get("loading", 0)) == 0:
                    return
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                pass
            time.sleep(0.05)
    finally:
        client.close()
    raise PrivateServerError(f"redis-server did not finish loading within {timeout_s:g}s")


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server we started; kill it if it does not stop within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
