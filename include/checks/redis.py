"""Redis: memory against maxmemory, evictions, hit ratio, persistence, a latency sample, replication
link and lag, rejected connections, memory fragmentation, the slow log since the previous run and the
biggest keys by type (a bounded SCAN sample, as ``redis-cli --bigkeys``)."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

import redis

from include.checks.base import CheckResult, counter_growth, literal
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
        _replication(result, info, t)
        _rejected_connections(result, info, window.previous, t)
        _fragmentation(result, info, t)
        _slowlog(client, result, window.previous, t)
        _big_keys(client, result, t)
    finally:
        client.close()
    return result


def _memory(result: CheckResult, info: dict, t: dict) -> None:
    used, limit = int(info["used_memory"]), int(info.get("maxmemory", 0))
    result.metrics["redis.used_memory_bytes"] = used
    result.details["memory"] = {
        "used": info.get("used_memory_human"),
        "maxmemory": limit,
        "policy": info.get("maxmemory_policy"),
    }
    if not limit:
        result.details["memory"]["note"] = "no maxmemory set: usage not graded"
        return
    result.grade(
        "redis.memory_pct",
        round(100.0 * used / limit, 1),
        t["memory_warning_pct"],
        t["memory_critical_pct"],
        f"memory {info.get('used_memory_human')} of maxmemory {limit} bytes ({{value}}%;"
        f" warning {{warning:g}}%, critical {{critical:g}}%)",
    )


def _evictions(result: CheckResult, info: dict, previous: dict, t: dict) -> None:
    total = int(info.get("evicted_keys", 0))
    result.metrics["redis.evicted_keys_total"] = total
    growth = counter_growth(total, previous.get("redis.evicted_keys_total", 0))  # counter reset on restart
    result.grade(
        "redis.evictions",
        growth,
        t["evictions_warning"],
        t["evictions_critical"],
        "{value:.0f} keys evicted since the previous check (warning {warning:g}, critical {critical:g})",
    )


def hit_ratio_pct(info: dict) -> tuple[float | None, int]:
    """Keyspace hit ratio in % since the server started (None without lookups), and the lookup count."""
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    return (round(100.0 * hits / (hits + misses), 1) if hits + misses else None), hits + misses


def _hit_ratio(result: CheckResult, info: dict, t: dict) -> None:
    ratio, lookups = hit_ratio_pct(info)
    if lookups < 1000:
        result.details["hit_ratio"] = f"only {lookups} lookups since start: not graded"
        return
    result.grade_floor(
        "redis.hit_ratio_pct",
        ratio,
        t["hit_ratio_warning_min_pct"],
        t["hit_ratio_critical_min_pct"],
        "hit ratio {value}% (warning below {warning:g}%, critical below {critical:g}%)",
    )


def _persistence(result: CheckResult, info: dict) -> None:
    rdb_ok = info.get("rdb_last_bgsave_status", "ok") == "ok"
    aof_on = bool(info.get("aof_enabled"))
    aof_ok = info.get("aof_last_write_status", "ok") == "ok"
    result.details["persistence"] = {
        "rdb_last_bgsave_status": info.get("rdb_last_bgsave_status"),
        "rdb_changes_since_last_save": info.get("rdb_changes_since_last_save"),
        "rdb_last_save_time": info.get("rdb_last_save_time"),
        "aof_enabled": aof_on,
        "aof_last_write_status": info.get("aof_last_write_status"),
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
    result.grade(
        "redis.latency_max_ms",
        round(max(timings), 3),
        t["latency_warning_ms"],
        t["latency_critical_ms"],
        f"PING latency max {{value}} ms over {samples} samples (warning {{warning:g}} ms, critical {{critical:g}} ms)",
    )


def _replication(result: CheckResult, info: dict, t: dict) -> None:
    """A replica: its link to the master and how long since it heard from it. A master: each replica's lag."""
    role = info.get("role")
    if role == "slave":
        master = f"{info.get('master_host')}:{info.get('master_port')}"
        link = info.get("master_link_status")
        result.details["replication"] = {
            "role": "replica",
            "master": master,
            "link": link,
            "last_io_s": info.get("master_last_io_seconds_ago"),
            "link_down_s": info.get("master_link_down_since_seconds"),
        }
        result.metrics["redis.master_link_up"] = float(link == "up")
        if link != "up":
            down = info.get("master_link_down_since_seconds")
            result.add(
                "critical",
                f"replication link to master {master} is {link}"
                + (f" for {down}s" if down not in (None, -1) else "")
                + ": this replica serves ever staler data and is no failover candidate;"
                " check the master is up and reachable, and the replica's log",
            )
            return
        lag = info.get("master_last_io_seconds_ago")
        result.grade(
            "redis.replication_lag_s",
            lag,
            t["replication_lag_warning_s"],
            t["replication_lag_critical_s"],
            f"replica last heard from master {master} {{value}}s ago (warning {{warning:g}}s,"
            " critical {critical:g}s): the link stalls; look at the network and the master's load",
        )
        return
    replicas = [v for k, v in info.items() if k.startswith("slave") and k[5:].isdigit() and isinstance(v, dict)]
    result.details["replication"] = {"role": "master", "replicas": replicas}
    lags = [int(r.get("lag", 0)) for r in replicas]
    if lags:
        result.grade(
            "redis.replication_lag_s",
            max(lags),
            t["replication_lag_warning_s"],
            t["replication_lag_critical_s"],
            "a replica lags {value}s behind (warning {warning:g}s, critical {critical:g}s):"
            " look at its network and at big writes on this master",
        )


def _counter_growth(info: dict, name: str, metric: str, result: CheckResult, previous: dict) -> int:
    """The growth of INFO counter ``name`` since the previous run (counted from zero after a restart)."""
    total = int(info.get(name, 0))
    result.metrics[metric] = total
    return int(counter_growth(total, previous.get(metric, 0)))


def _rejected_connections(result: CheckResult, info: dict, previous: dict, t: dict) -> None:
    growth = _counter_growth(info, "rejected_connections", "redis.rejected_connections_total", result, previous)
    result.grade(
        "redis.rejected_connections",
        growth,
        t["rejected_connections_warning"],
        t["rejected_connections_critical"],
        "{value} connections rejected since the previous check (maxclients "
        + f"{info.get('maxclients', '?')}, {info.get('connected_clients')} connected;"
        " warning {warning:g}, critical {critical:g}): clients got errors; raise maxclients"
        " or find the client that leaks connections",
    )


def _fragmentation(result: CheckResult, info: dict, t: dict) -> None:
    """mem_fragmentation_ratio, graded only once RSS is large enough for it to mean something."""
    ratio, rss = info.get("mem_fragmentation_ratio"), int(info.get("used_memory_rss", 0))
    result.details["fragmentation"] = {"ratio": ratio, "rss_bytes": rss}
    if ratio is None or rss < t["fragmentation_min_mb"] * 2**20:
        result.details["fragmentation"]["note"] = f"RSS under {t['fragmentation_min_mb']:g} MB: not graded"
        return
    result.grade(
        "redis.fragmentation_ratio",
        float(ratio),
        t["fragmentation_warning_ratio"],
        t["fragmentation_critical_ratio"],
        "memory fragmentation ratio {value} (RSS " + f"{rss / 2**20:.0f} MB; warning {{warning:g}},"
        " critical {critical:g}): the process holds far more memory than its data;"
        " enable activedefrag or restart the instance in a quiet hour",
    )


SLOWLOG_READ = 128  # entries read per run at most


def _slowlog(client: redis.Redis, result: CheckResult, previous: dict, t: dict) -> None:
    """Slow log entries added since the previous run, by entry id (ids count up from 0, so the last id + 1
    is how many were ever logged): entries rotated out of a full log before this run still count."""
    entries = client.slowlog_get(SLOWLOG_READ)
    total = max((int(e["id"]) + 1 for e in entries), default=0)
    result.metrics["redis.slowlog_entries_total"] = total
    before = previous.get("redis.slowlog_entries_total")
    if before is None:  # the first run is the baseline: what the log held before is history, not news
        result.details["slowlog"] = {
            "note": f"no previous run recorded: {total} entries ever logged, graded from the next run on"
        }
        return
    if total < before:  # restart or SLOWLOG RESET: counted from the start
        before = 0
    new = [e for e in entries if int(e["id"]) >= before]
    missed = max(0, int(total - before) - len(new))
    count = len(new) + missed
    slowest = sorted(new, key=lambda e: -int(e["duration"]))[:5]
    result.details["slowlog"] = {
        "new_entries": count,
        "lost_to_rotation": missed,
        "slowest": [
            {"id": int(e["id"]), "duration_us": int(e["duration"]), "command": _command_name(e.get("command"))}
            for e in slowest
        ],
    }
    top = result.details["slowlog"]["slowest"][0] if slowest else None
    result.grade(
        "redis.slowlog_new",
        count,
        t["slowlog_warning"],
        t["slowlog_critical"],
        "{value} slow log entries since the previous check"
        + (f" ({missed} rotated out of a full log)" if missed else "")
        + literal(f", slowest {top['command']} {top['duration_us']} us" if top else "")
        + " (warning {warning:g}, critical {critical:g}): the server blocks every client while these"
        " run; replace KEYS/large range commands with SCAN-style ones",
    )


def _command_name(command) -> str:
    """Only the command's name: its arguments are keys and values, which the report must not carry."""
    text = command.decode(errors="replace") if isinstance(command, bytes) else str(command or "")
    return text.split(" ", 1)[0].upper()[:40]


BIGKEYS_SAMPLE = 1000  # keys looked at per run at most (SCAN), like a bounded redis-cli --bigkeys
BIGKEYS_SECONDS = 2.0  # and no longer than this
LENGTH_COMMAND = {"string": "STRLEN", "list": "LLEN", "set": "SCARD", "zset": "ZCARD", "hash": "HLEN", "stream": "XLEN"}


def _big_keys(client: redis.Redis, result: CheckResult, t: dict) -> None:
    """The biggest key of each type in a bounded SCAN sample: its length (as redis-cli --bigkeys) and
    its memory (MEMORY USAGE); the largest by memory is graded."""
    keys = _sample_keys(client)
    biggest: dict[str, dict] = {}
    for batch in (keys[i : i + 100] for i in range(0, len(keys), 100)):
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.type(key)
            pipe.memory_usage(key)  # nested values sampled (5), never walked in full
        answers = pipe.execute(raise_on_error=False)
        lengths = client.pipeline(transaction=False)
        typed = []
        for key, kind, size in zip(batch, answers[::2], answers[1::2]):
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind in LENGTH_COMMAND and isinstance(size, int):
                typed.append((key, kind, size))
                lengths.execute_command(LENGTH_COMMAND[kind], key)
        for (key, kind, size), length in zip(typed, lengths.execute(raise_on_error=False)):
            if kind not in biggest or length > biggest[kind]["length"]:
                biggest[kind] = {
                    "key": _key_text(key),
                    "length": length if isinstance(length, int) else 0,
                    "memory_bytes": size,
                }
    result.details["big_keys"] = {"sampled": len(keys), "biggest_by_type": biggest}
    if not biggest:
        return
    kind, top = max(biggest.items(), key=lambda item: item[1]["memory_bytes"])
    result.grade(
        "redis.biggest_key_mb",
        round(top["memory_bytes"] / 2**20, 2),
        t["big_key_warning_mb"],
        t["big_key_critical_mb"],
        literal(f"biggest key {top['key']!r} ({kind}, {top['length']:,} long)")
        + " uses {value} MB (warning {warning:g} MB, critical {critical:g} MB, from a sample of "
        + f"{len(keys)} keys): reading or deleting it blocks the server; split it, delete it with UNLINK",
    )


def _sample_keys(client: redis.Redis) -> list:
    """Up to BIGKEYS_SAMPLE keys from SCAN, in at most BIGKEYS_SECONDS."""
    keys: list = []
    cursor, deadline = 0, time.monotonic() + BIGKEYS_SECONDS
    while len(keys) < BIGKEYS_SAMPLE and time.monotonic() < deadline:
        cursor, found = client.scan(cursor, count=200)
        keys.extend(found)
        if cursor == 0:
            break
    return keys[:BIGKEYS_SAMPLE]


def _key_text(key) -> str:
    return (key.decode(errors="replace") if isinstance(key, bytes) else str(key))[:120]
