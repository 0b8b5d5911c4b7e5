"""MySQL / MariaDB servers: checked daily, backed up, maintained weekly, scanned, updated by SQL migrations."""

from include.kinds.base import KindSpec

SPEC = KindSpec(
    name="mysql",
    fields={"databases": (list, [])},
    thresholds={
        "connections_warning_pct": 75,
        "connections_critical_pct": 90,
        "slow_queries_growth_warning": 10,
        "slow_queries_growth_critical": 100,
        "long_query_s": 10,
        "long_queries_critical": 5,
        # deeper checks (issue 20)
        "replication_lag_warning_s": 30,
        "replication_lag_critical_s": 300,
        "deadlocks_warning": 1,
        "deadlocks_critical": 10,
        "tables_without_pk_warning": 1,
        "redundant_indexes_warning": 1,
    },
    check="include.checks.mysql",
    backup="include.backup.mysql",
    weekly="include.weekly.mysql",
    security="include.security:check_mysql",
    sql_updates=True,
    # folders a migrations_folder must resolve inside (symlinks followed); none: no migration allowed
    update_settings={"migration_roots": []},
    drain=True,
    update_health=True,
    restore_health=True,
)
