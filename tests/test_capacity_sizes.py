"""The sizes the monthly capacity section forecasts are recorded by the daily checks: database and table sizes
of a real PostgreSQL (MariaDB: tests/test_checks_mysql_deep.py), and their history (with Milvus rows) is
forecast as a resource each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from include.catalog import Catalog
from include.checks import Window, run_check
from include.inventory import parse_inventory
from include.monthly.capacity import is_resource, target_capacity
from include.targets import Endpoint
from include.trends import category

NOW = datetime.now(UTC)
WINDOW = Window(NOW, NOW)


def target(kind: str, databases: list[str] | None = None):
    return parse_inventory(
        {"targets": [{"name": "db", "kind": kind, "conn_id": "c", "databases": databases or []}]}
    ).targets[0]


def test_the_postgres_check_records_database_and_table_sizes(pg_database):
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database, autocommit=True) as c:
        c.execute("create table errors (id int primary key, body text)")
        c.execute("insert into errors select g, repeat('x', 500) from generate_series(1, 2000) g")
        c.execute("create table tiny (id int)")
        table = c.execute("select pg_total_relation_size('public.errors')").fetchone()[0]
    endpoint = Endpoint(host="127.0.0.1", port=5432, login="postgres", schema=pg_database)
    result = run_check(target("postgres"), endpoint, WINDOW)
    assert result.status != "unreachable", result.findings
    assert result.metrics["pg.table_bytes[public.errors]"] == float(table) > 1_000_000
    assert "pg.table_bytes[public.tiny]" in result.metrics  # ranked after the big one, still among the largest
    assert result.metrics[f"pg.database_bytes[{pg_database}]"] > table
    assert "pg.database_bytes[template0]" not in result.metrics
    assert not any(m.startswith("pg.table_bytes[pg_catalog.") for m in result.metrics)


def test_database_table_sizes_and_milvus_rows_are_forecast_as_resources(tmp_path):
    """A table named ``errors`` is a size, not an error count (the category comes from the metric, not its item);
    ``milvus.rows_total`` is a running total yet a resource; a cache hit ratio is not."""
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    end = datetime(2026, 5, 1, 5, 0, tzinfo=UTC)
    growing = {
        "pg.database_bytes[app]": lambda d: 5e9 + 1e7 * d,
        "pg.table_bytes[public.errors]": lambda d: 1e9 + 2e6 * d,
        "mysql.table_bytes[shop.orders]": lambda d: 3e8 + 1e6 * d,
        "milvus.rows_total": lambda d: 1e6 + 5e3 * d,
        "pg.cache_hit_pct[app]": lambda d: 99.0,
    }
    for day in range(30):
        when = end - timedelta(days=30 - day)
        metrics = {name: f(day) for name, f in growing.items()}
        catalog.record_check_run(
            "daily", when, f"d{day}", "ok", None, {}, [{"target": "db", "kind": "x", "metrics": metrics}]
        )
    resources = {r["metric"]: r for r in target_capacity(catalog, target("postgres"), end).details["resources"]}
    assert set(resources) == set(growing) - {"pg.cache_hit_pct[app]"}
    assert all(r["status"] == "forecast" for r in resources.values())
    assert resources["pg.table_bytes[public.errors]"]["slope_per_day"] == pytest.approx(2e6)
    assert resources["milvus.rows_total"]["slope_per_day"] == pytest.approx(5e3)
    assert category("pg.table_bytes[public.errors]") == "sizes" and category("logs.errors") == "errors"
    assert not is_resource("logs.errors")
