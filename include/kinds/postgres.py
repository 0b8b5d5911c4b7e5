"""PostgreSQL servers: checked daily, backed up, maintained weekly, scanned, updated by SQL migrations."""

from include.kinds.base import KindSpec

SPEC = KindSpec(
    name="postgres",
    fields={"databases": (list, [])},
    thresholds={
        "connections_warning_pct": 75,
        "connections_critical_pct": 90,
        "long_transaction_warning_s": 300,
        "long_transaction_critical_s": 1800,
        "replication_lag_warning_s": 30,
        "replication_lag_critical_s": 300,
        "xid_age_warning": 500_000_000,
        "xid_age_critical": 1_200_000_000,
        "cache_hit_warning_min_pct": 95,
        "cache_hit_critical_min_pct": 85,
        "slow_statement_ms": 1000,
        # deeper checks (issue 20), defaults after check_postgres where it has one
        "idle_in_transaction_warning": 5,
        "idle_in_transaction_critical": 20,
        "long_statement_warning_s": 60,
        "long_statement_critical_s": 600,
        "blocked_warning_s": 30,
        "blocked_critical_s": 300,
        "prepared_transaction_warning_s": 60,
        "prepared_transaction_critical_s": 3600,
        "slot_retained_wal_warning_mb": 1024,
        "slot_retained_wal_critical_mb": 10240,
        "archive_failures_warning": 1,
        "archive_failures_critical": 10,
        "checkpoint_age_warning_s": 3600,
        "checkpoint_age_critical_s": 21600,
        "sequence_warning_pct": 85,
        "sequence_critical_pct": 95,
    },
    check="include.checks.postgres",
    backup="include.backup.postgres",
    weekly="include.weekly.postgres",
    security="include.security:check_postgres",
    sql_updates=True,
    # folders a migrations_folder must resolve inside (symlinks followed); none: no migration allowed
    update_settings={"migration_roots": []},
    drain=True,
    update_health=True,
    restore_health=True,
)
