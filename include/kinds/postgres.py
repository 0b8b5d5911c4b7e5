"""PostgreSQL servers: checked daily, backed up, maintained weekly, scanned, updated by SQL migrations."""

from include.kinds.base import KindSpec

SPEC = KindSpec(
    name="postgres",
    fields={"databases": (list, [])},
    thresholds={
        "connections_warning_pct": 75, "connections_critical_pct": 90,
        "long_transaction_warning_s": 300, "long_transaction_critical_s": 1800,
        "replication_lag_warning_s": 30, "replication_lag_critical_s": 300,
        "xid_age_warning": 500_000_000, "xid_age_critical": 1_200_000_000,
        "cache_hit_warning_min_pct": 95, "cache_hit_critical_min_pct": 85,
        "slow_statement_ms": 1000,
    },
    check="include.checks.postgres",
    backup="include.backup.postgres",
    weekly="include.weekly.postgres",
    security="include.security:check_postgres",
    sql_updates=True,
    drain=True,
    update_health=True,
    restore_health=True,
)
