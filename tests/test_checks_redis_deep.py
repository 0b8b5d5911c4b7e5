"""The deeper Redis checks (issue 20), each on a private redis-server made for the test: a replica
whose master goes away, a full slow log, rejected connections and the biggest keys by type (the same
keys ``redis-cli --bigkeys`` names)."""

from __future__ import annotations

import re
import subprocess
import time
from datetime import UTC, datetime

import redis as redis_lib

from include.checks import Window, run_check
from include.clients.redis import private_server
from include.inventory import parse_inventory
from include.targets import Endpoint

NOW = datetime.now(UTC)
WINDOW = Window(NOW, NOW)


def check(port: int, window: Window = WINDOW, **thresholds):
    target = parse_inventory(
        {
            "targets": [
                {
                    "name": "r",
                    "kind": "redis",
                    "conn_id": "c",
                    "latency_samples": 2,
                    "timeout_seconds": 10,
                    "thresholds": thresholds,
                }
            ]
        }
    ).targets[0]
    result = run_check(target, Endpoint(host="127.0.0.1", port=port), window)
    assert result.status != "unreachable", result.findings
    return result


def messages(result) -> str:
    return "\n".join(f"[{f.level}] {f.message}" for f in result.findings)


def start_redis_server(*options: str):
    """A private redis-server (the project's one helper), started now and stopped by :func:`stop`."""
    server = private_server(options=options)
    return server, server.__enter__()


def stop(server) -> None:
    server.__exit__(None, None, None)


def test_a_replica_whose_master_goes_away():
    master, master_port = start_redis_server()
    replica, replica_port = start_redis_server("--replicaof", "127.0.0.1", "0")
    try:
        client = redis_lib.Redis(port=replica_port, socket_timeout=5)
        client.replicaof("127.0.0.1", master_port)
        for _ in range(100):
            if client.info("replication").get("master_link_status") == "up":
                break
            time.sleep(0.1)
        up = check(replica_port)
        assert up.details["replication"]["link"] == "up" and up.metrics["redis.master_link_up"] == 1
        assert "replication link" not in messages(up)
        on_master = check(master_port)
        assert len(on_master.details["replication"]["replicas"]) == 1
        assert "redis.replication_lag_s" in on_master.metrics
        stop(master)
        master = None
        for _ in range(100):
            if client.info("replication").get("master_link_status") == "down":
                break
            time.sleep(0.1)
        down = check(replica_port)
        client.close()
    finally:
        if master:
            stop(master)
        stop(replica)
    assert down.status == "critical" and down.metrics["redis.master_link_up"] == 0
    assert f"replication link to master 127.0.0.1:{master_port} is down" in messages(down)


def test_a_full_slow_log_counts_what_rotated_out_too():
    proc, port = start_redis_server("--slowlog-log-slower-than", "0", "--slowlog-max-len", "10")
    try:
        client = redis_lib.Redis(port=port)
        first = check(port, slowlog_warning=1, slowlog_critical=40)
        for i in range(50):
            client.set(f"k{i}", "secret-value")
        second = check(port, window=Window(NOW, NOW, previous=first.metrics), slowlog_warning=1, slowlog_critical=40)
        client.close()
    finally:
        stop(proc)
    slow = second.details["slowlog"]
    # every command since the first check was logged (slower than 0 us); only 10 are kept, the rest still count
    assert slow["new_entries"] == (
        second.metrics["redis.slowlog_entries_total"] - first.metrics["redis.slowlog_entries_total"]
    )
    assert slow["new_entries"] >= 50 and slow["lost_to_rotation"] >= 40
    assert second.metrics["redis.slowlog_new"] == slow["new_entries"] and second.status == "critical"
    assert "slow log entries since the previous check" in messages(second)
    assert "secret-value" not in repr(second.to_dict())  # command names only, never arguments


def test_rejected_connections_since_the_previous_run():
    proc, port = start_redis_server("--maxclients", "2")
    try:
        first = check(port)
        hold = [redis_lib.Redis(port=port, socket_timeout=2) for _ in range(2)]
        for c in hold:
            c.ping()
        extra = redis_lib.Redis(port=port, socket_timeout=2)
        try:
            extra.ping()
        except redis_lib.ConnectionError:
            pass
        for c in hold:
            c.close()
        time.sleep(0.3)
        second = check(port, window=Window(NOW, NOW, previous=first.metrics))
    finally:
        stop(proc)
    assert second.metrics["redis.rejected_connections"] >= 1
    assert "connections rejected since the previous check (maxclients 2" in messages(second)


def test_the_biggest_keys_by_type_match_redis_cli_bigkeys():
    proc, port = start_redis_server()
    try:
        client = redis_lib.Redis(port=port)
        client.set("small:string", "x")
        client.set("big:string", "y" * 300_000)
        client.rpush("big:list", *range(500))
        client.rpush("small:list", 1)
        client.hset("big:hash", mapping={f"f{i}": i for i in range(300)})
        client.sadd("only:set", *range(20))
        result = check(port, big_key_warning_mb=0.1, big_key_critical_mb=100)
        peer = subprocess.run(
            ["redis-cli", "-p", str(port), "--bigkeys"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        client.close()
    finally:
        stop(proc)
    biggest = {kind: found["key"] for kind, found in result.details["big_keys"]["biggest_by_type"].items()}
    assert biggest == {"string": "big:string", "list": "big:list", "hash": "big:hash", "set": "only:set"}
    peer_biggest = dict(re.findall(r"Biggest\s+(\w+) found '\"?([^'\"]+)\"?'", peer))
    assert peer_biggest == biggest, peer
    assert result.details["big_keys"]["biggest_by_type"]["string"]["length"] == 300_000
    assert "biggest key 'big:string' (string, 300,000 long)" in messages(result) and result.status == "warning"


def test_memory_fragmentation_after_most_keys_are_deleted():
    proc, port = start_redis_server()
    try:
        client = redis_lib.Redis(port=port)
        pipe = client.pipeline(transaction=False)
        for i in range(300_000):
            pipe.set(f"frag:{i}", b"v" * 100)
            if i % 10_000 == 9_999:
                pipe.execute()
        pipe.execute()
        calm = check(port, fragmentation_min_mb=10)
        for start in range(0, 300_000, 10_000):  # nine keys in ten go, spread over every allocator page
            client.delete(*[f"frag:{i}" for i in range(start, start + 10_000) if i % 10])
        result = check(port, fragmentation_min_mb=10, fragmentation_warning_ratio=1.5, fragmentation_critical_ratio=100)
        ratio = float(client.info("memory")["mem_fragmentation_ratio"])
        client.close()
    finally:
        stop(proc)
    assert "redis.fragmentation_ratio" in calm.metrics and "fragmentation" not in messages(calm)
    # Redis samples RSS every 100 ms, so the figure moves between two reads; both are far above 1.5
    assert result.metrics["redis.fragmentation_ratio"] >= 1.5 and ratio >= 1.5
    assert "memory fragmentation ratio" in messages(result) and result.status == "warning"
