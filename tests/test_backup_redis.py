"""Redis backups against real private redis-server processes (the ``redis_server`` fixture and our own)."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest
import redis

from include.backup import redis as redis_backup
from include.inventory import parse_inventory
from include.targets import Endpoint
from tests.helpers import free_port


def redis_target(timeout: float = 120):
    return parse_inventory(
        {"targets": [{"name": "r1", "kind": "redis", "conn_id": "x", "backup": {"timeout_seconds": timeout}}]}
    ).targets[0]


def client(port: int, db: int = 0, password: str | None = None) -> redis.Redis:
    return redis.Redis(port=port, db=db, password=password, socket_timeout=5)


def state(c: redis.Redis) -> dict:
    """Every key of one db with its type and value (order-insensitive where Redis is)."""
    readers = {
        b"string": c.get,
        b"hash": c.hgetall,
        b"list": lambda k: c.lrange(k, 0, -1),
        b"set": c.smembers,
        b"zset": lambda k: c.zrange(k, 0, -1, withscores=True),
    }
    out = {}
    for key in c.scan_iter(count=100):
        kind = c.type(key)
        out[key] = (kind, readers[kind](key))
    return out


def no_sync_delay(port: int, password: str | None = None) -> None:
    """Redis 7 waits ``repl-diskless-sync-delay`` (5 s) before streaming to a replica: not in tests."""
    c = client(port, password=password)
    c.config_set("repl-diskless-sync-delay", 0)
    c.close()


def populate(port: int) -> None:
    """db0: every type, some with TTLs; db1: plain and volatile strings."""
    no_sync_delay(port)
    c0, c1 = client(port, 0), client(port, 1)
    c0.set("plain", "v1")
    c0.set("volatile", "v2", ex=1000)
    c0.set("volatile_ms", "v3", px=500_000)
    c0.hset("hash", mapping={"a": "1", "b": "2"})
    c0.rpush("list", "x", "y", "z")
    c0.sadd("set", "p", "q")
    c0.zadd("zset", {"m": 1.5, "n": 2.5})
    c0.set("to_delete", "bye")
    c1.set("one", "1")
    c1.set("two", "2", ex=2000)
    for i in range(1200):  # more than one SCAN/pipeline batch
        c1.set(f"bulk:{i}", i)
    c0.close()
    c1.close()


def ttls(port: int, db: int) -> dict[bytes, int]:
    c = client(port, db)
    try:
        return {k: c.pttl(k) for k in c.scan_iter(count=500)}
    finally:
        c.close()


def test_dump_then_restore_with_flush_brings_back_the_backup_state(redis_server, tmp_path):
    port = redis_server
    populate(port)
    before = {db: state(client(port, db)) for db in (0, 1)}
    ttl_before = {db: ttls(port, db) for db in (0, 1)}
    endpoint = Endpoint(host="127.0.0.1", port=port)

    result = redis_backup.dump(redis_target(), endpoint, tmp_path)

    assert (tmp_path / "dump.rdb").stat().st_size > 0
    assert result.facts == {"keys_without_ttl": {"db0": 6, "db1": 1201}}
    assert result.tool_versions["redis-cli"].startswith("redis-cli")

    c0, c1 = client(port, 0), client(port, 1)
    c0.set("plain", "changed")
    c0.delete("to_delete", "volatile")
    c0.set("added_later", "new")
    c1.rpush("new_list", "a")
    client(port, 3).set("in_another_db", "x")
    c0.close(), c1.close()

    observed = redis_backup.restore(endpoint, tmp_path, result.facts, timeout_s=60, flush=True)

    assert observed == result.facts
    assert {db: state(client(port, db)) for db in (0, 1)} == before
    assert client(port, 3).dbsize() == 0
    for db in (0, 1):
        after = ttls(port, db)
        assert set(after) == set(ttl_before[db])
        for key, ttl in ttl_before[db].items():
            if ttl == -1:
                assert after[key] == -1, key
            else:
                assert abs(after[key] - ttl) < 10_000, (key, ttl, after[key])


def test_restore_without_flush_keeps_keys_added_later(redis_server, tmp_path):
    port = redis_server
    populate(port)
    endpoint = Endpoint(host="127.0.0.1", port=port)
    result = redis_backup.dump(redis_target(), endpoint, tmp_path)
    c0 = client(port, 0)
    c0.set("plain", "changed")
    c0.set("added_later", "new")

    observed = redis_backup.restore(endpoint, tmp_path, result.facts, timeout_s=60)

    assert c0.get("plain") == b"v1"
    assert c0.get("added_later") == b"new"
    assert observed["keys_without_ttl"]["db0"] == result.facts["keys_without_ttl"]["db0"] + 1
    c0.close()


def test_scratch_loads_the_snapshot_and_is_removed_at_exit(redis_server, tmp_path):
    port = redis_server
    populate(port)
    endpoint = Endpoint(host="127.0.0.1", port=port)
    result = redis_backup.dump(redis_target(), endpoint, tmp_path)

    with redis_backup.scratch(endpoint, "set-1", tmp_path) as scratch_ep:
        assert scratch_ep.port != port
        observed = redis_backup.restore(scratch_ep, tmp_path, result.facts, timeout_s=60)
        assert client(scratch_ep.port, 0).get("plain") == b"v1"
    assert observed == result.facts
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", scratch_ep.port), timeout=1).close()


def test_a_corrupt_snapshot_fails_to_load_with_a_clear_error(tmp_path):
    (tmp_path / "dump.rdb").write_bytes(b"REDIS0009" + b"\x00garbage" * 100)
    with pytest.raises(redis_backup.BackupToolError, match="scratch redis-server exited"):
        with redis_backup.scratch(Endpoint(), "set-x", tmp_path, timeout_s=20):
            pass


@pytest.fixture
def redis_with_password(tmp_path):
    """A private redis-server requiring a password; stopped afterwards."""
    port, password = free_port(), "s3cret-Pa55word"
    folder = tmp_path / "pw-server"
    folder.mkdir()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--requirepass",
            password,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    c = client(port, password=password)
    for _ in range(100):
        try:
            c.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield port, password
    c.close()
    proc.terminate()
    proc.wait(10)


def test_password_goes_through_the_environment_never_argv(redis_with_password, tmp_path, monkeypatch):
    port, password = redis_with_password
    no_sync_delay(port, password)
    c = client(port, password=password)
    c.set("k", "v")
    c.set("k2", "v", ex=100)
    calls = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def recording_run(argv, *a, **kw):
        calls.append(("run", list(argv), kw.get("env")))
        return real_run(argv, *a, **kw)

    class RecordingPopen(real_popen):
        def __init__(self, argv, *a, **kw):
            calls.append(("popen", list(argv), kw.get("env")))
            super().__init__(argv, *a, **kw)

    monkeypatch.setattr(subprocess, "run", recording_run)
    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
    endpoint = Endpoint(host="127.0.0.1", port=port, password=password)

    result = redis_backup.dump(redis_target(), endpoint, tmp_path)
    c.set("k", "changed")
    observed = redis_backup.restore(endpoint, tmp_path, result.facts, timeout_s=60, flush=True)

    assert result.facts == {"keys_without_ttl": {"db0": 1}} and observed == result.facts
    assert c.get("k") == b"v" and 0 < c.ttl("k2") <= 100
    cli_calls = [call for call in calls if call[1][0] == "redis-cli" and "--rdb" in call[1]]
    assert cli_calls, calls
    assert cli_calls[0][2]["REDISCLI_AUTH"] == password
    for _, argv, _env in calls:
        assert not any(password in arg for arg in argv), argv
    c.close()


def test_timing_for_twenty_thousand_keys(redis_server, tmp_path):
    """Not a benchmark: records how long dump and restore take for a modest data set (printed with -s)."""
    port = redis_server
    c = client(port)
    pipe = c.pipeline(transaction=False)
    for i in range(20_000):
        pipe.set(f"user:{i}", "x" * 100, ex=3600 if i % 2 else None)
    pipe.execute()
    endpoint = Endpoint(host="127.0.0.1", port=port)
    t0 = time.monotonic()
    result = redis_backup.dump(redis_target(), endpoint, tmp_path)
    t1 = time.monotonic()
    observed = redis_backup.restore(endpoint, tmp_path, result.facts, timeout_s=120, flush=True)
    t2 = time.monotonic()
    print(
        f"redis 20k keys: dump {t1 - t0:.2f}s, restore(flush) {t2 - t1:.2f}s, "
        f"rdb {(tmp_path / 'dump.rdb').stat().st_size} bytes"
    )
    assert observed == result.facts == {"keys_without_ttl": {"db0": 10_000}}
    assert c.dbsize() == 20_000
    c.close()


def changed_after_backup(port: int) -> None:
    c0 = client(port, 0)
    c0.set("plain", "changed")
    c0.set("added_later", "new", ex=3600)
    client(port, 3).set("in_another_db", "x")
    c0.close()


def all_state(port: int) -> dict:
    return {db: state(client(port, db)) for db in (0, 1, 3)}


def test_a_copy_failing_half_way_puts_the_previous_keys_back(redis_server, tmp_path, monkeypatch):
    port = redis_server
    populate(port)
    endpoint = Endpoint(host="127.0.0.1", port=port)
    result = redis_backup.dump(redis_target(), endpoint, tmp_path)
    changed_after_backup(port)
    before, ttl_before = all_state(port), ttls(port, 0)
    real_migrate, calls = redis_backup.migrate_batch, []

    def dies_on_the_second_batch(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise redis.ConnectionError("connection lost half-way")
        return real_migrate(*args, **kw)

    monkeypatch.setattr(redis_backup, "migrate_batch", dies_on_the_second_batch)
    with pytest.raises(redis.ConnectionError):
        redis_backup.restore(endpoint, tmp_path, result.facts, timeout_s=60, flush=True)
    assert len(calls) == 2  # the first batch had gone in: the target was really half-way
    assert all_state(port) == before
    after = ttls(port, 0)
    assert after[b"added_later"] > 3_000_000 and set(after) == set(ttl_before)  # TTLs kept too


def test_a_snapshot_that_does_not_match_its_manifest_never_touches_the_target(redis_server, tmp_path):
    port = redis_server
    populate(port)
    endpoint = Endpoint(host="127.0.0.1", port=port)
    result = redis_backup.dump(redis_target(), endpoint, tmp_path)
    changed_after_backup(port)
    before = all_state(port)
    wrong = {"keys_without_ttl": {**result.facts["keys_without_ttl"], "db1": 5}}
    with pytest.raises(redis_backup.BackupToolError, match="the target was not touched"):
        redis_backup.restore(endpoint, tmp_path, wrong, timeout_s=60, flush=True)
    assert all_state(port) == before
