"""Redis cache cleanup: idle keys without a TTL under the configured patterns.

What it looks at: every key matching ``patterns`` (default the seeds'
``aegis:cache:*``, ``aegis:session:*``, ``aegis:temp:*``), found with ``SCAN ...
MATCH`` (never ``KEYS``, which blocks the server for the whole keyspace).
A key is a *candidate* when it has no TTL (``TTL`` is -1: nothing will ever
expire it) and has not been read or written for ``idle_seconds`` (``OBJECT
IDLETIME``). Its size comes from ``MEMORY USAGE``.

What it changes: with ``dry_run`` off, candidates are ``UNLINK``-ed (freed in a
background thread, so a large value does not stall the server). In dry-run
(the default) nothing is deleted; the report says what would be.

How: the SCAN runs inside one small Lua script per round trip
(``batch_size // scan_count`` SCAN steps of ``COUNT scan_count``); for each key
it finds, the script reads TTL and idle time, measures the candidates and (not
in dry-run) unlinks them. Key names never travel to the client (only totals and
a few samples), so the cleanup costs about what a plain ``redis-cli --scan``
costs. A script runs atomically, so check and delete happen in the same instant:
a key read or given a TTL after an earlier step is seen as such and kept (no
race window, unlike a SCAN on the client and a later re-check). Reading TTL,
idle time and memory does not count as an access (no key looks recent because of
the cleanup), but the TTL lookups do count as keyspace hits, so the hit ratio is
read before the scan. Each call blocks the server for about 5 ms per 1000 keys
it looks at (measured on Redis 7.0), so keep ``batch_size`` modest.

Bounded and safe to interrupt: the run stops SCANning after ``max_seconds`` and
reports the patterns it did not finish; it keeps no state, every batch is
complete in itself, so a killed task leaves nothing half done and the next run
simply scans again.

Under an LFU ``maxmemory-policy`` Redis does not track idle time (``OBJECT
IDLETIME`` fails) and ``OBJECT FREQ`` is a decaying access counter, not an age:
the keys without a TTL are then counted and measured but nothing is deleted,
and the report says why. On a replica nothing is deleted either (writes belong
to the primary). Redis Cluster is refused (a batch spans hash slots).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from include.checks.base import WARNING, CheckResult
from include.targets import Endpoint
from include.weekly.budget import Budget
from include.weekly.concern import concern
from include.weekly.settings_check import require_numbers

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "patterns": ["aegis:cache:*", "aegis:session:*", "aegis:temp:*"],
    "idle_seconds": 7 * 24 * 3600,  # a week without a read or a write
    "scan_count": 1000,  # SCAN's COUNT hint: hash buckets the server visits per SCAN step
    "batch_size": 1000,  # keys per round trip: batch_size // scan_count SCAN steps in one Lua call
    "max_seconds": 600,
    "sample_keys": 10,  # key names per pattern shown in the report
}

# One call: up to ARGV[3] SCAN steps (COUNT ARGV[2]) of pattern ARGV[1] from cursor ARGV[4]; every key
# found is checked (TTL -1 and OBJECT IDLETIME >= ARGV[5], or only TTL -1 when ARGV[5] is -1: LFU) and,
# when ARGV[6] is "1" and idle time is tracked, unlinked in the same atomic step. Returns
# {next_cursor, scanned, no_ttl, matched, bytes, key1, idle1, bytes1, ...} with at most ARGV[7] sample keys.
CLEANUP_SCRIPT = """
redis.replicate_commands()
local call = redis.call
local pattern, count, steps, cursor = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local threshold, samples = tonumber(ARGV[5]), tonumber(ARGV[7])
local unlink = ARGV[6] == '1' and threshold >= 0
local scanned, no_ttl, matched, bytes, out = 0, 0, 0, 0, {}
for _ = 1, steps do
  local reply = call('SCAN', cursor, 'MATCH', pattern, 'COUNT', count)
  cursor = reply[1]
  for _, key in ipairs(reply[2]) do
    scanned = scanned + 1
    if call('TTL', key) == -1 then
      no_ttl = no_ttl + 1
      local idle = -1
      if threshold >= 0 then idle = call('OBJECT', 'IDLETIME', key) end
      if idle >= threshold then
        local size = call('MEMORY', 'USAGE', key) or 0
        matched, bytes = matched + 1, bytes + size
        if #out < 3 * samples then
          out[#out + 1] = key
          out[#out + 1] = idle
          out[#out + 1] = size
        end
        if unlink then call('UNLINK', key) end
      end
    end
  end
  if cursor == '0' then break end
end
return {cursor, scanned, no_ttl, matched, bytes, unpack(out)}
"""


def literal_prefix(pattern: str) -> str:
    """The part of a SCAN MATCH ``pattern`` before its first glob character (``*``, ``?``, ``[``, ``\\``)."""
    return re.split(r"[*?\[\\]", pattern, maxsplit=1)[0]


def check_settings(settings: dict) -> None:
    """Raise ``ValueError("<key>: <reason>")`` for settings this module cannot use (missing keys: defaults)."""
    settings = {**DEFAULTS, **settings}
    patterns = settings.get("patterns")
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise ValueError(f"patterns: must be a non-empty list of SCAN MATCH patterns, got {patterns!r}")
    for p in patterns:
        if not literal_prefix(p):
            raise ValueError(
                f"patterns: {p!r} does not start with a literal prefix (e.g. 'app:cache:*'): it could"
                " match the whole keyspace"
            )
    require_numbers(
        settings, positive=("idle_seconds", "scan_count", "batch_size", "max_seconds"), non_negative=("sample_keys",)
    )


#: The destructive step (the name ``weekly.apply`` takes).
STEPS = {"redis_cleanup": "UNLINK idle keys without a TTL under the configured patterns"}


@concern(DEFAULTS, check_settings, STEPS)
def maintain(
    target: Any, endpoint: Endpoint, settings: dict[str, Any], budget: Budget, *, dry_run: bool = True
) -> CheckResult:
    """Find (and unless ``dry_run``, unlink) idle keys without a TTL under each pattern."""
    from include.checks.redis import hit_ratio_pct
    from include.clients.redis import connect

    result = CheckResult(target.name, target.kind)
    client = connect(endpoint, target.timeout_seconds)
    try:
        info = client.info()
        ratio, lookups = hit_ratio_pct(info)  # before the scan: its own TTL lookups count as hits
        if info.get("cluster_enabled"):
            raise ValueError("Redis Cluster is not supported by the cleanup (a batch would span hash slots)")
        policy = str(info.get("maxmemory_policy", ""))
        idle_tracked = "lfu" not in policy
        if not idle_tracked:
            result.add(
                WARNING,
                f"maxmemory-policy is {policy}: Redis does not track idle time under LFU, so "
                "keys without a TTL are only counted and measured, none deleted",
            )
        replica = info.get("role") != "master"
        if replica and not dry_run:
            result.add(
                WARNING,
                "this server is a replica: keys can only be deleted on its primary; nothing deleted, candidates listed",
            )
        script = client.register_script(CLEANUP_SCRIPT)
        threshold = int(settings["idle_seconds"]) if idle_tracked else -1
        unlink = not dry_run and idle_tracked and not replica
        rows = [
            _clean_pattern(client, script, pattern, threshold, unlink, settings, budget)
            for pattern in settings["patterns"]
        ]
    finally:
        client.close()

    _summarise(result, rows, ratio, lookups, dry_run or replica, idle_tracked, settings)
    return result


def _clean_pattern(
    client: Any, script: Any, pattern: str, threshold: int, unlink: bool, settings: dict[str, Any], budget: Budget
) -> dict[str, Any]:
    """SCAN one pattern to the end (or to the deadline), one atomic Lua call per batch of SCAN steps."""
    row: dict[str, Any] = {
        "pattern": pattern,
        "scanned": 0,
        "no_ttl": 0,
        "matched": 0,
        "deleted": 0,
        "bytes": 0,
        "complete": False,
        "samples": [],
    }
    steps = max(1, int(settings["batch_size"]) // int(settings["scan_count"]))
    cursor = "0"
    while not budget.spent():
        reply = script(
            args=[
                pattern,
                int(settings["scan_count"]),
                steps,
                cursor,
                threshold,
                "1" if unlink else "0",
                int(settings["sample_keys"]) - len(row["samples"]),
            ]
        )
        cursor = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        scanned, no_ttl, matched, size = (int(x) for x in reply[1:5])
        row["scanned"] += scanned
        row["no_ttl"] += no_ttl
        row["matched"] += matched
        row["bytes"] += size
        row["deleted"] += matched if unlink else 0
        for j in range(5, len(reply), 3):
            row["samples"].append(
                {"key": reply[j].decode("utf-8", "replace"), "idle_s": int(reply[j + 1]), "bytes": int(reply[j + 2])}
            )
        if cursor == "0":
            row["complete"] = True
            break
    action = "done" if unlink else ("skipped: idle time not tracked (LFU)" if threshold < 0 else "would do")
    row["action"] = action if row["complete"] else f"{action} (stopped at max_seconds)"
    log.info(
        "%s: %s %d of %d key(s) (%d bytes)%s",
        pattern,
        "unlinked" if unlink else "would unlink" if threshold >= 0 else "found without TTL",
        row["matched"],
        row["scanned"],
        row["bytes"],
        "" if row["complete"] else "; stopped at max_seconds before the end",
    )
    return row


def _summarise(
    result: CheckResult,
    rows: list[dict],
    ratio: float | None,
    lookups: int,
    dry_run: bool,
    idle_tracked: bool,
    settings: dict,
) -> None:
    """Metrics, per-pattern details and the findings of one cleanup."""
    total = {k: sum(r[k] for r in rows) for k in ("scanned", "no_ttl", "matched", "deleted", "bytes")}
    m = result.metrics
    m["redis.cleanup.scanned_keys"] = float(total["scanned"])
    m["redis.cleanup.no_ttl_keys"] = float(total["no_ttl"])
    m["redis.cleanup.matched_keys"] = float(total["matched"])
    m["redis.cleanup.deleted_keys"] = float(total["deleted"])
    m["redis.cleanup.freed_bytes" if total["deleted"] else "redis.cleanup.reclaimable_bytes"] = float(total["bytes"])
    if ratio is not None:
        m["redis.cleanup.hit_ratio_pct"] = ratio
    result.details.update(
        {
            "patterns": rows,
            "dry_run": dry_run,
            "idle_seconds": settings["idle_seconds"],
            "hit_ratio": f"{ratio}% of {lookups} lookups since the server started"
            if ratio is not None
            else "no lookups since the server started",
        }
    )
    unfinished = [r["pattern"] for r in rows if not r["complete"]]
    if unfinished:
        result.add(
            WARNING,
            f"stopped after max_seconds={settings['max_seconds']}s before finishing "
            f"{', '.join(unfinished)}; the next run scans them again",
        )
    mib = total["bytes"] / 1048576
    if not idle_tracked:
        summary = f"{total['no_ttl']} key(s) without a TTL ({mib:.1f} MiB); idle time unknown, none deleted"
    elif dry_run:
        summary = (
            f"{total['matched']} key(s) without a TTL idle over {settings['idle_seconds']}s would be "
            f"unlinked ({mib:.1f} MiB) out of {total['scanned']} scanned; dry run, nothing deleted"
        )
    else:
        summary = (
            f"unlinked {total['deleted']} key(s) without a TTL idle over {settings['idle_seconds']}s, "
            f"freeing {mib:.1f} MiB, out of {total['scanned']} scanned"
        )
    result.details["summary"] = summary
    log.info("%s", summary)
