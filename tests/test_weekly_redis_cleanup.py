"""Redis cleanup against a private redis-server: exactly the idle keys without TTL under the patterns go."""

from __future__ import annotations

import itertools
import time

import pytest
import redis

from include.checks.base import run_bounded
from include.inventory import parse_inventory
from include.targets import Endpoint
from include.weekly import redis_cleanup
from include.weekly.budget import Budget
from tests.helpers import free_port

TARGET = parse_inventory(
    {"targets": [{"name": "cache", "kind": "redis", "conn_id": "redis_cache", "timeout_seconds": 3}]}
).targets[0]
IDLE = ["aegis:cache:user:1", "aegis:cache:user:2", "aegis:session:abc", "aegis:temp:upload:9"]
KEEP = ["aegis:cache:with_ttl", "aegis:session:recent", "aegis:other:old", "cache:aegis:cache:x", "app:cache:1"]


def settings(**overrides):
    return {**redis_cleanup.DEFAULTS, "idle_seconds": 2, **overrides}


@pytest.fixture
def keyspace(redis_server):
    """The idle no-TTL keys under the patterns (IDLE), and keys that must stay (KEEP), ~3.5 s old."""
    client = redis.Redis(port=redis_server, socket_timeout=5)
    client.set("aegis:cache:user:1", "x" * 500)
    client.set("aegis:cache:user:2", "y")
    client.hset("aegis:session:abc", mapping={"user": "1", "ip": "10.0.0.1"})
    client.rpush("aegis:temp:upload:9", *range(50))
    client.set("aegis:cache:with_ttl", "v", ex=3600)
    client.set("aegis:session:recent", "v")
    client.set("aegis:other:old", "v")
    client.set("cache:aegis:cache:x", "v")
    client.set("app:cache:1", "v")
    time.sleep(3.5)  # OBJECT IDLETIME has a 1 s resolution: idle keys are >= 3 s, touched ones <= 1 s
    client.get("aegis:session:recent")
    yield client
    client.close()


def run(port, dry_run, **overrides):
    return redis_cleanup.maintain(TARGET, Endpoint(host="127.0.0.1", port=port), settings(**overrides), dry_run=dry_run)


def test_dry_run_reports_the_idle_keys_and_deletes_nothing(keyspace, redis_server):
    sizes = {k: keyspace.memory_usage(k) for k in IDLE}
    result = run(redis_server, dry_run=True)

    assert result.status == "ok", result.findings
    assert sorted(keyspace.keys("*")) == sorted(k.encode() for k in IDLE + KEEP)
    assert result.metrics["redis.cleanup.matched_keys"] == 4
    assert result.metrics["redis.cleanup.deleted_keys"] == 0
    assert result.metrics["redis.cleanup.reclaimable_bytes"] == sum(sizes.values())
    assert result.metrics["redis.cleanup.scanned_keys"] == 6  # 3 cache, 2 session, 1 temp
    rows = {r["pattern"]: r for r in result.details["patterns"]}
    assert {s["key"] for r in rows.values() for s in r["samples"]} == set(IDLE)
    assert rows["aegis:cache:*"]["action"] == "would do"
    assert all(s["idle_s"] >= 2 for r in rows.values() for s in r["samples"])
    assert "dry run, nothing deleted" in result.details["summary"]


def test_earnest_run_unlinks_exactly_the_idle_no_ttl_keys(keyspace, redis_server):
    sizes = {k: keyspace.memory_usage(k) for k in IDLE}
    result = run(redis_server, dry_run=False)

    assert result.status == "ok", result.findings
    assert sorted(keyspace.keys("*")) == sorted(k.encode() for k in KEEP)
    assert keyspace.ttl("aegis:cache:with_ttl") > 3000
    assert result.metrics["redis.cleanup.deleted_keys"] == 4
    assert result.metrics["redis.cleanup.freed_bytes"] == sum(sizes.values())
    assert {r["pattern"]: r["deleted"] for r in result.details["patterns"]} == {
        "aegis:cache:*": 2,
        "aegis:session:*": 1,
        "aegis:temp:*": 1,
    }

    again = run(redis_server, dry_run=False)  # idempotent: nothing left to do
    assert again.metrics["redis.cleanup.deleted_keys"] == 0
    assert sorted(keyspace.keys("*")) == sorted(k.encode() for k in KEEP)


def test_hit_ratio_is_the_servers_before_the_scan(keyspace, redis_server):
    keyspace.config_resetstat()
    keyspace.get("aegis:cache:with_ttl")
    for _ in range(3):
        keyspace.get("aegis:cache:missing")
    result = run(redis_server, dry_run=True)
    assert result.metrics["redis.cleanup.hit_ratio_pct"] == 25.0
    assert "25.0% of 4 lookups" in result.details["hit_ratio"]


def test_lfu_policy_counts_but_never_deletes(keyspace, redis_server):
    keyspace.config_set("maxmemory-policy", "allkeys-lfu")
    result = run(redis_server, dry_run=False)

    assert result.status == "warning"
    assert "allkeys-lfu" in result.findings[0].message
    assert result.metrics["redis.cleanup.deleted_keys"] == 0
    assert result.metrics["redis.cleanup.no_ttl_keys"] == 5  # the 4 idle ones and the recently read one
    assert sorted(keyspace.keys("*")) == sorted(k.encode() for k in IDLE + KEEP)
    assert all(r["action"].startswith("skipped") for r in result.details["patterns"])


def test_time_bound_stops_cleanly_and_says_what_is_unfinished(redis_server, monkeypatch):
    # the budget is spent after its 5th look, not after wall time: the bound hits mid-pattern however busy the
    # machine is (a 0.2 s budget could run out before the first SCAN on a loaded host)
    looks = itertools.count(1)
    monkeypatch.setattr(Budget, "spent", lambda self: next(looks) > 5)
    client = redis.Redis(port=redis_server)
    with client.pipeline(transaction=False) as pipe:
        for i in range(20000):
            pipe.set(f"aegis:temp:{i}", i)
        pipe.execute()
    result = run(
        redis_server,
        dry_run=False,
        patterns=["aegis:temp:*"],
        idle_seconds=3600,
        scan_count=10,
        batch_size=10,
        max_seconds=60,
    )

    row = result.details["patterns"][0]
    assert result.status == "warning"
    assert "before finishing aegis:temp:*; the next run scans them again" in result.findings[0].message
    assert row["complete"] is False and row["action"] == "done (stopped at max_seconds)"
    assert 0 < row["scanned"] < 20000
    assert row["deleted"] == 0  # fresh keys: nothing idle yet
    assert client.dbsize() == 20000
    client.close()


def test_bad_settings_are_named():
    for everything in (["*"], ["*:*"], ["app:*", "?*"], ["[a-z]*"], ["\\*x"]):
        with pytest.raises(ValueError, match="does not start with a literal prefix"):
            redis_cleanup.check_settings(settings(patterns=everything))
    redis_cleanup.check_settings(settings(patterns=["app:cache:*", "app:temp:?x*"]))  # a prefix, then globs
    with pytest.raises(ValueError, match="idle_seconds: must be greater than 0"):
        redis_cleanup.check_settings(settings(idle_seconds=-1))


def test_redis_down_fails_within_the_timeout():
    port = free_port()  # nothing listens there
    started = time.monotonic()
    result = run_bounded(TARGET.name, TARGET.kind, lambda: run(port, dry_run=False), 10)
    assert result.status == "unreachable"
    assert "ConnectionError" in result.findings[0].message
    assert time.monotonic() - started < TARGET.timeout_seconds + 1


def test_hung_redis_fails_within_the_timeout(silent_server):
    started = time.monotonic()
    result = run_bounded(TARGET.name, TARGET.kind, lambda: run(silent_server, dry_run=False), 10)
    assert result.status == "unreachable"
    assert "Timeout" in result.findings[0].message
    assert time.monotonic() - started < TARGET.timeout_seconds + 1


def test_replica_lists_candidates_but_deletes_nothing(keyspace, redis_server):
    keyspace.replicaof("127.0.0.1", free_port())  # a primary that never answers: the keys stay, writes refused
    result = run(redis_server, dry_run=False)

    assert result.status == "warning"
    assert "replica" in result.findings[0].message
    assert result.metrics["redis.cleanup.matched_keys"] == 4
    assert result.metrics["redis.cleanup.deleted_keys"] == 0
    assert sorted(keyspace.keys("*")) == sorted(k.encode() for k in IDLE + KEEP)
