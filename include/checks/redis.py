"""Redis: memory against maxmemory, evictions, hit ratio, persistence and a latency sample."""

from __future__ import annotations

from typing import TYPE_CHECKING

import statistics
import time

import redis

from include.checks.base import CheckResult
from include.clients.redis import connect

if TYPE_CHECKING:
    from include.checks import Window
    from include.inventory import Target
    from include.targets import Endpoint



def check(target: Target, endpoint: Endpoint, window: Window) -> CheckResult:
    """Grade one Redis server against the target's thresholds."""
    t = target.thresholds
    result = CheckResult(target.name, target.kind)
    client = connect(endpoint, target.timeout_seconds)
    try:
        info = client.info()
        result.details["version"] = info.get("redis_version")
        _memory(result, info, t)
        _evictions(result, info, window.previous, t)
        _hit_ratio(result, info, t)
        _persistence(result, info)
        _latency(client, result, target.options["latency_samples"], t)
    finally:
        client.close()
    return result


def _memory(result: CheckResult, info: dict, t: dict) -> None:
    used, limit = int(info["used_memory"]), int(info.get("maxmemory", 0))
    result.metrics["redis.used_memory_bytes"] = used
    result.details["memory"] = {"used": info.get("used_memory_human"), "maxmemory": limit,
                                "policy": info.get("maxmemory_policy")}
    if not limit:
        result.details["memory"]["note"] = "no maxmemory set: usage not graded"
        return
    result.grade("redis.memory_pct", round(100.0 * used / limit, 1), t["memory_warning_pct"], t["memory_critical_pct"],
                 f"memory {info.get('used_memory_human')} of maxmemory {limit} bytes ({{value}}%;"
                 f" warning {{warning:g}}%, critical {{critical:g}}%)")


def _evictions(result: CheckResult, info: dict, previous: dict, t: dict) -> None:
    total = int(info.get("evicted_keys", 0))
    result.metrics["redis.evicted_keys_total"] = total
    before = previous.get("redis.evicted_keys_total", 0)
    growth = total - before if total >= before else total  # counter reset on restart
    result.grade("redis.evictions", growth, t["evictions_warning"], t["evictions_critical"],
                 "{value:.0f} keys evicted since the previous check (warning {warning:g}, critical {critical:g})")


def hit_ratio_pct(info: dict) -> tuple[float | None, int]:
    """Keyspace hit ratio in % since the server started (None without lookups), and the lookup count."""
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    return (round(100.0 * hits / (hits + misses), 1) if hits + misses else None), hits + misses


def _hit_ratio(result: CheckResult, info: dict, t: dict) -> None:
    ratio, lookups = hit_ratio_pct(info)
    if lookups < 1000:
        result.details["hit_ratio"] = f"only {lookups} lookups since start: not graded"
        return
    result.grade_floor("redis.hit_ratio_pct", ratio,
                       t["hit_ratio_warning_min_pct"], t["hit_ratio_critical_min_pct"],
                       "hit ratio {value}% (warning below {warning:g}%, critical below {critical:g}%)")


def _persistence(result: CheckResult, info: dict) -> None:
    rdb_ok = info.get("rdb_last_bgsave_status", "ok") == "ok"
    aof_on = bool(info.get("aof_enabled"))
    aof_ok = info.get("aof_last_write_status", "ok") == "ok"
    result.details["persistence"] = {
        "rdb_last_bgsave_status": info.get("rdb_last_bgsave_status"),
        "rdb_changes_since_last_save": info.get("rdb_changes_since_last_save"),
        "rdb_last_save_time": info.get("rdb_last_save_time"),
        "aof_enabled": aof_on, "aof_last_write_status": info.get("aof_last_write_status"),
    }
    if not rdb_ok:
        result.add("critical", "last RDB background save failed (rdb_last_bgsave_status=err)")
    if aof_on and not aof_ok:
        result.add("critical", "last AOF write failed (aof_last_write_status=err)")


def _latency(client: redis.Redis, result: CheckResult, samples: int, t: dict) -> None:
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        client.ping()
        timings.append((time.perf_counter() - started) * 1000)
    result.metrics["redis.latency_p50_ms"] = round(statistics.median(timings), 3)
    result.grade("redis.latency_max_ms", round(max(timings), 3), t["latency_warning_ms"], t["latency_critical_ms"],
                 f"PING latency max {{value}} ms over {samples} samples (warning {{warning:g}} ms, critical {{critical:g}} ms)")
