"""Redis servers: checked daily, backed up (RDB), cleaned weekly, scanned, drained before updates."""

from include.kinds.base import KindSpec

SPEC = KindSpec(
    name="redis",
    fields={"latency_samples": (int, 20)},
    thresholds={
        "memory_warning_pct": 80,
        "memory_critical_pct": 90,
        "evictions_warning": 1,
        "evictions_critical": 1000,
        "hit_ratio_warning_min_pct": 80,
        "hit_ratio_critical_min_pct": 50,
        "latency_warning_ms": 10,
        "latency_critical_ms": 100,
        # deeper checks (issue 20)
        "replication_lag_warning_s": 10,
        "replication_lag_critical_s": 60,
        "rejected_connections_warning": 1,
        "rejected_connections_critical": 100,
        "fragmentation_warning_ratio": 1.5,
        "fragmentation_critical_ratio": 3.0,
        "fragmentation_min_mb": 100,
        "slowlog_warning": 1,
        "slowlog_critical": 100,
        "big_key_warning_mb": 10,
        "big_key_critical_mb": 100,
    },
    check="include.checks.redis",
    backup="include.backup.redis",
    weekly="include.weekly.redis_cleanup",
    security="include.security:check_redis",
    drain=True,
    update_health=True,
    restore_health=True,
)
