"""Redis backups: an RDB snapshot taken over the replication protocol, restored key by key.

``dump`` runs ``redis-cli --rdb``: the server forks and streams a snapshot (as for
BGSAVE) without blocking clients. The password goes through ``REDISCLI_AUTH``,
never the command line.

Facts are the number of keys *without a TTL* per database (``{"keys_without_ttl":
{"db0": n}}``): keys with a TTL may legitimately expire between the backup and a
verification days later (Redis drops expired keys when it loads an RDB), so
counting them would turn every verification of a cache into a false alarm.

``scratch`` starts a private ``redis-server`` on a copy of the snapshot (bound to
127.0.0.1, no persistence) and stops it at exit. ``restore`` loads the snapshot into
such a private server, checks it against the manifest there, then pushes every key to the
live server with ``MIGRATE … COPY REPLACE KEYS`` in batches (``DUMP``/``RESTORE`` through this
process for TLS targets; remaining TTLs kept), optionally flushing the target's databases first
(its previous keys kept in a second private server until the copy succeeded).

The local ``redis-server`` must understand the snapshot's RDB version, i.e. be
at least as new as the backed-up server.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import redis

from include.backup.base import BackupToolError, DumpResult, run_tool, tool_version
from include.clients import redis as redis_client
from include.clients.redis import connect
from include.targets import Endpoint

if TYPE_CHECKING:
    from include.inventory import Target


log = logging.getLogger(__name__)

RDB_FILE = "dump.rdb"
BATCH = 1000
#: how long one MIGRATE batch may take between the private server and the target
MIGRATE_TIMEOUT_MS = 60_000
#: a scratch server accepts this many databases so any source's ``SELECT n`` in the RDB loads
SCRATCH_DATABASES = 256
#: marks a scratch Endpoint already holding the snapshot of the RDB file named by the value
SCRATCH_MARK = "aegis_scratch_rdb"


# ------------------------------------------------------------------------- dump
def dump(target: Target, endpoint: Endpoint, workdir: Path) -> DumpResult:
    """Stream an RDB snapshot of ``endpoint`` into ``workdir/dump.rdb``; facts are per-db key counts.

    Counts are read before and after the snapshot; if they differ (writes during the
    backup) the snapshot itself is loaded into a scratch server and counted, so the
    facts always describe the file.
    """
    timeout_s = float(target.backup.get("timeout_seconds", 3600))
    client = connect(endpoint, min(timeout_s, 30))
    try:
        before = persistent_keys(client)
        server_version = client.info("server").get("redis_version", "?")
        rdb = workdir / RDB_FILE
        run_tool(redis_cli_argv(endpoint) + ["--rdb", str(rdb)], env=redis_cli_env(endpoint), timeout_s=timeout_s)
        after = persistent_keys(client)
    finally:
        client.close()
    if not rdb.exists() or rdb.stat().st_size == 0:
        raise BackupToolError(f"redis-cli --rdb wrote no snapshot to {rdb}")
    facts = {"keys_without_ttl": before}
    if before != after:
        log.info("key counts changed during the snapshot (%s -> %s): counting the snapshot itself", before, after)
        with scratch(endpoint, "count", workdir, timeout_s=timeout_s) as scratch_ep:
            facts = {"keys_without_ttl": observed_facts(scratch_ep, timeout_s)["keys_without_ttl"]}
    log.info("redis snapshot %s: %d bytes, %s", endpoint.safe(), rdb.stat().st_size, facts)
    return DumpResult(
        tool_versions={"redis-cli": tool_version(["redis-cli", "--version"]), "redis-server": server_version},
        facts=facts,
    )


def redis_cli_argv(endpoint: Endpoint) -> list[str]:
    """``redis-cli`` connection arguments (host, port, user, TLS) — never the password."""
    argv = ["redis-cli", "-h", endpoint.host or "127.0.0.1", "-p", str(endpoint.port or 6379)]
    if endpoint.login:
        argv += ["--user", endpoint.login]
    if (endpoint.extra or {}).get("ssl"):
        argv += ["--tls"]
    return argv


def redis_cli_env(endpoint: Endpoint) -> dict[str, str]:
    """The password for ``redis-cli`` through ``REDISCLI_AUTH`` (empty when there is none)."""
    return {"REDISCLI_AUTH": endpoint.password} if endpoint.password else {}


def persistent_keys(client: redis.Redis) -> dict[str, int]:
    """``{"db0": n}``: keys without a TTL per non-empty database, from ``INFO keyspace``."""
    out = {}
    for db, info in sorted(client.info("keyspace").items()):
        n = int(info.get("keys", 0)) - int(info.get("expires", 0))
        if n:
            out[db] = n
    return out


def observed_facts(endpoint: Endpoint, timeout_s: float) -> dict:
    """The facts a server shows now (same shape as :func:`dump`'s)."""
    client = connect(endpoint, min(timeout_s, 30))
    try:
        return {"keys_without_ttl": persistent_keys(client)}
    finally:
        client.close()


# ---------------------------------------------------------------------- scratch
@contextmanager
def scratch(endpoint: Endpoint, set_id: str, workdir: Path, *, timeout_s: float = 600) -> Iterator[Endpoint]:
    """A private ``redis-server`` loaded with a copy of ``workdir/dump.rdb``; stopped and removed at exit.

    ``endpoint`` (the live target) is not touched. The yielded Endpoint is marked so
    :func:`restore` into it only observes (the snapshot is already loaded).
    """
    rdb = workdir / RDB_FILE
    with private_server(rdb, timeout_s) as port:
        yield Endpoint(host="127.0.0.1", port=port, conn_type="redis", extra={SCRATCH_MARK: str(rdb.resolve())})


@contextmanager
def private_server(rdb: Path | None, timeout_s: float) -> Iterator[int]:
    """:func:`include.clients.redis.private_server` over a copy of ``rdb`` (or empty), with room for any
    source's databases; a server that does not load is a :class:`BackupToolError`."""
    with ExitStack() as stack:
        try:
            port = stack.enter_context(
                redis_client.private_server(rdb=rdb, timeout_s=timeout_s, databases=SCRATCH_DATABASES)
            )
        except redis_client.PrivateServerError as exc:
            raise BackupToolError(f"scratch {exc}") from exc
        yield port


# ---------------------------------------------------------------------- restore
def restore(
    endpoint: Endpoint, workdir: Path, manifest_facts: dict, *, timeout_s: float, flush: bool = False, **kw
) -> dict:
    """Load ``workdir/dump.rdb`` into ``endpoint``; return the facts observed there afterwards.

    Into a :func:`scratch` server of this very file: only observe. Otherwise the
    snapshot is loaded into a private server and checked against the manifest there (a
    mismatch raises before the target is touched), then every key is copied over
    (:func:`copy_db`) keeping its remaining TTL. ``flush=True`` first keeps a copy of
    the target's keys in a second private server, then empties every database of the
    target that holds keys or is in the backup (keys added after the backup vanish);
    if the copy fails the target is emptied again and its kept keys are put back.
    """
    rdb = (workdir / RDB_FILE).resolve()
    if (endpoint.extra or {}).get(SCRATCH_MARK) == str(rdb):
        return observed_facts(endpoint, timeout_s)
    deadline = time.monotonic() + timeout_s
    with private_server(rdb, timeout_s) as port:
        source_ep = Endpoint(host="127.0.0.1", port=port)
        loaded = observed_facts(source_ep, timeout_s)
        if loaded != {"keys_without_ttl": manifest_facts.get("keys_without_ttl", {})}:
            raise BackupToolError(
                f"the snapshot loaded into the private server shows {loaded}, the backup recorded"
                f" {manifest_facts}: the target was not touched"
            )
        source_dbs = db_numbers(source_ep, timeout_s)
        if not flush:
            copied = sum(copy_db(source_ep, endpoint, db, deadline) for db in sorted(source_dbs))
        else:
            copied = _replace_keeping_a_copy(source_ep, endpoint, source_dbs, deadline, timeout_s)
    log.info("restored %d keys into %s", copied, endpoint.safe())
    return observed_facts(endpoint, timeout_s)


def _replace_keeping_a_copy(
    source_ep: Endpoint, endpoint: Endpoint, source_dbs: set[int], deadline: float, timeout_s: float
) -> int:
    """Flush the target's databases and copy the backup's keys in; the target's previous keys are kept in a private
    server meanwhile and put back when the copy fails (then the error is raised)."""
    target_dbs = db_numbers(endpoint, timeout_s)
    with private_server(None, timeout_s) as keep_port:
        keep_ep = Endpoint(host="127.0.0.1", port=keep_port)
        for db in sorted(target_dbs):  # through this process: the target need not reach our private server
            copy_db(endpoint, keep_ep, db, deadline, through_client=True)
        flush_dbs(endpoint, source_dbs | target_dbs, timeout_s)
        try:
            return sum(copy_db(source_ep, endpoint, db, deadline) for db in sorted(source_dbs))
        except BaseException:
            log.error("copying the backup into %s failed: putting its previous keys back", endpoint.safe())
            flush_dbs(endpoint, source_dbs | target_dbs, timeout_s)
            for db in sorted(target_dbs):
                copy_db(keep_ep, endpoint, db, time.monotonic() + timeout_s, through_client=True)
            raise


def db_numbers(endpoint: Endpoint, timeout_s: float) -> set[int]:
    """Numbers of the databases holding keys."""
    client = connect(endpoint, min(timeout_s, 30))
    try:
        return {int(db[2:]) for db in client.info("keyspace")}
    finally:
        client.close()


def on_db(endpoint: Endpoint, db: int, timeout_s: float) -> redis.Redis:
    """A client for database ``db`` of ``endpoint`` (same settings as the checks use)."""
    return connect(dataclasses.replace(endpoint, schema=str(db)), timeout_s)


def flush_dbs(endpoint: Endpoint, dbs: set[int], timeout_s: float) -> None:
    """``FLUSHDB`` each of ``dbs`` on the target."""
    for db in sorted(dbs):
        client = on_db(endpoint, db, timeout_s)
        try:
            client.flushdb()
        finally:
            client.close()
    log.info("flushed databases %s of %s", sorted(dbs), endpoint.safe())


def copy_db(source_ep: Endpoint, target_ep: Endpoint, db: int, deadline: float, through_client: bool = False) -> int:
    """Copy every key of database ``db`` from the private server to the target, in batches.

    Plain connections: the private server pushes each batch itself with ``MIGRATE … COPY REPLACE
    KEYS`` (payload and remaining TTL kept; server to server, one command per batch). TLS targets
    (which a private plain-text server cannot reach), or ``through_client``: pipelined ``DUMP``+``PTTL`` /
    ``RESTORE`` through this process.
    """
    source = on_db(source_ep, db, 60)
    target = on_db(target_ep, db, 60) if through_client or (target_ep.extra or {}).get("ssl") else None
    copied = 0
    try:
        batch: list[bytes] = []
        for key in source.scan_iter(count=BATCH):
            batch.append(key)
            if len(batch) >= BATCH:
                copied += copy_batch(source, target, batch) if target else migrate_batch(source, target_ep, db, batch)
                batch = []
                check_deadline(deadline)
        if batch:
            copied += copy_batch(source, target, batch) if target else migrate_batch(source, target_ep, db, batch)
    finally:
        source.close()
        if target is not None:
            target.close()
    return copied


def migrate_batch(source: redis.Redis, target_ep: Endpoint, db: int, keys: list[bytes]) -> int:
    """``MIGRATE host port "" db timeout COPY REPLACE [AUTH…] KEYS …`` run on the private server.

    The password travels inside the Redis protocol to our own private server (never a process
    argument; Redis redacts MIGRATE's AUTH arguments from its slow log). Returns the keys sent.
    """
    args: list = [
        target_ep.host or "127.0.0.1",
        int(target_ep.port or 6379),
        "",
        db,
        MIGRATE_TIMEOUT_MS,
        "COPY",
        "REPLACE",
    ]
    if target_ep.password:
        args += ["AUTH2", target_ep.login, target_ep.password] if target_ep.login else ["AUTH", target_ep.password]
    reply = source.execute_command("MIGRATE", *args, "KEYS", *keys)
    return 0 if reply in (b"NOKEY", "NOKEY") else len(keys)


def copy_batch(source: redis.Redis, target: redis.Redis, keys: list[bytes]) -> int:
    """One pipelined round trip to read ``keys`` (payload, remaining TTL) and one to write them."""
    read = source.pipeline(transaction=False)
    for key in keys:
        read.dump(key)
        read.pttl(key)
    answers = read.execute()
    write = target.pipeline(transaction=False)
    n = 0
    for i, key in enumerate(keys):
        payload, pttl = answers[2 * i], answers[2 * i + 1]
        if payload is None or pttl == -2:  # expired in between
            continue
        write.restore(key, max(int(pttl), 0), payload, replace=True)
        n += 1
    write.execute()
    return n


def check_deadline(deadline: float) -> None:
    """Raise once the restore has run past its time budget."""
    if time.monotonic() > deadline:
        raise BackupToolError("redis restore did not finish within its timeout")
