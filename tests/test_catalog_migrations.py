"""The catalog's Alembic migrations: a catalog made by the code before them (decf943's ``create_all``)
upgrades in place with every row kept; a new catalog (SQLite and PostgreSQL) comes up at the head
revision with the tables the code queries; two processes opening a new catalog at once both succeed."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from include.catalog import VERSION_TABLE, Catalog, current_revision, head_revision, metadata, upgrade
from tests.helpers import REPO

# -- the schema as decf943 made it, frozen here (not imported: the code's tables will change) -----------------
DECF943 = sa.MetaData()
sa.Table(
    "aegis_check_runs",
    DECF943,
    sa.Column("routine", sa.String(100), primary_key=True),
    sa.Column("interval_end", sa.String(40), primary_key=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("report_uri", sa.Text),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "aegis_metrics",
    DECF943,
    sa.Column("routine", sa.String(100), primary_key=True),
    sa.Column("interval_end", sa.String(40), primary_key=True),
    sa.Column("target", sa.String(100), primary_key=True),
    sa.Column("metric", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Index("ix_aegis_metrics_target_metric", "target", "metric", "interval_end"),
)
sa.Table(
    "aegis_backup_sets",
    DECF943,
    sa.Column("set_id", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(100), nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("detail", sa.Text),
    sa.Column("verified_at", sa.DateTime(timezone=True)),
)

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ROWS = {
    "aegis_check_runs": [
        {
            "routine": "daily_health_check",
            "interval_end": "2026-11-30T00:00:00Z",
            "run_id": "scheduled__1",
            "status": "warning",
            "report_uri": "file:///r/report.html",
            "summary": '{"status": "warning"}',
            "recorded_at": T0,
        },
        {
            "routine": "weekly_maintenance",
            "interval_end": "2026-11-29T18:00:00Z",
            "run_id": "scheduled__2",
            "status": "healthy",
            "report_uri": None,
            "summary": "{}",
            "recorded_at": T0,
        },
    ],
    "aegis_metrics": [
        {
            "routine": "daily_health_check",
            "interval_end": "2026-11-30T00:00:00Z",
            "target": "cache",
            "metric": "redis.memory_pct",
            "kind": "redis",
            "value": 91.5,
        },
        {
            "routine": "daily_health_check",
            "interval_end": "2026-11-30T00:00:00Z",
            "target": "pg",
            "metric": "pg.connections",
            "kind": "postgres",
            "value": 12.0,
        },
    ],
    "aegis_backup_sets": [
        {
            "set_id": "pg-20261130T020000Z",
            "target": "pg",
            "kind": "postgres",
            "state": "verified",
            "uri": "file:///b/pg/1",
            "started_at": T0,
            "finished_at": T0,
            "size_bytes": 2**33,
            "detail": None,
            "verified_at": T0,
        },
        {
            "set_id": "cache-20261130T020000Z",
            "target": "cache",
            "kind": "redis",
            "state": "failed",
            "uri": "file:///b/cache/1",
            "started_at": T0,
            "finished_at": None,
            "size_bytes": None,
            "detail": "redis-cli exited 1",
            "verified_at": None,
        },
    ],
}


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path) -> str:
    """A new, empty database: a SQLite file, or a PostgreSQL database made for this test and dropped after."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{request.getfixturevalue('pg_database')}"


def all_rows(engine: sa.Engine, table: str) -> list[dict]:
    frozen = DECF943.tables[table]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(frozen).order_by(*frozen.primary_key.columns)).mappings().all()
    return [{k: _utc(v) for k, v in r.items()} for r in rows]


def _utc(value):
    """SQLite gives back naive datetimes (it stores no zone): compare them as UTC."""
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


def test_a_catalog_made_before_the_migrations_keeps_every_row(url):
    legacy = sa.create_engine(url)
    DECF943.create_all(legacy)
    with legacy.begin() as conn:
        for table, rows in ROWS.items():
            conn.execute(DECF943.tables[table].insert(), rows)
    before = {table: all_rows(legacy, table) for table in ROWS}
    assert sa.inspect(legacy).has_table(VERSION_TABLE) is False
    legacy.dispose()

    catalog = Catalog(url)  # opening it runs the migrations

    assert current_revision(catalog.engine) == head_revision()
    for table, rows in ROWS.items():
        assert all_rows(catalog.engine, table) == before[table] != []
        assert len(before[table]) == len(rows)
    # and the code reads them
    assert [r["run_id"] for r in catalog.runs("daily_health_check")] == ["scheduled__1"]
    assert catalog.previous_metrics("cache", T0) == {"redis.memory_pct": 91.5}
    with catalog.engine.connect() as conn:  # old metrics belong to the run recorded for their interval
        assert set(conn.execute(sa.text("select distinct run_id from aegis_metrics")).scalars()) == {"scheduled__1"}
    assert catalog.backup_set("cache-20261130T020000Z")["detail"] == "redis-cli exited 1"
    assert catalog.backup_set("pg-20261130T020000Z")["size_bytes"] == 2**33


def test_a_new_catalog_comes_up_at_head_with_the_schema_the_code_queries(url):
    catalog = Catalog(url)
    engine = catalog.engine
    assert current_revision(engine) == head_revision()
    tables = set(sa.inspect(engine).get_table_names())
    assert tables == set(metadata.tables) | {VERSION_TABLE}
    with engine.connect() as conn:  # the migrations and the table definitions in include/catalog.py agree
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": False})
        assert compare_metadata(context, metadata) == []
    # the decf943 schema is contained in it, column by column, index by index; runs are keyed by run id too
    # (0005_runs_keyed_by_run_id: the metrics gained the column; 0007_verified_by_run: the backup sets one)
    inspector = sa.inspect(engine)
    for name, frozen in DECF943.tables.items():
        columns = {c["name"]: c for c in inspector.get_columns(name)}
        added = {"aegis_metrics": {"run_id"}, "aegis_backup_sets": {"verified_by_run_id"}}.get(name, set())
        assert set(columns) == {c.name for c in frozen.columns} | added
        assert {n: c["nullable"] for n, c in columns.items() if n not in added} == {
            c.name: c.nullable for c in frozen.columns if c.name != "run_id" or name != "aegis_check_runs"
        } | ({"run_id": False} if name == "aegis_check_runs" else {})
        keyed = {"run_id"} if name in ("aegis_check_runs", "aegis_metrics") else set()
        assert set(inspector.get_pk_constraint(name)["constrained_columns"]) == (
            {c.name for c in frozen.primary_key} | keyed
        )
        assert {i["name"] for i in inspector.get_indexes(name)} == {i.name for i in frozen.indexes}
    # upgrading again changes nothing
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"select count(*) from {VERSION_TABLE}")).scalar() == 1
    catalog.record_check_run(
        "daily_health_check",
        T0,
        "r1",
        "healthy",
        None,
        {},
        [{"target": "cache", "kind": "redis", "metrics": {"redis.memory_pct": 10}}],
    )
    assert catalog.series("cache", "redis.memory_pct") == [("2026-11-30T09:00:00Z", 10.0)]


def test_two_processes_opening_a_new_catalog_at_once_both_succeed(url):
    code = "import sys; from include.catalog import Catalog; Catalog(sys.argv[1]); print('opened')"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outcomes = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outcomes
    engine = sa.create_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"select count(*) from {VERSION_TABLE}")).scalar() == 1
    finally:
        engine.dispose()


def test_one_engine_per_process_and_url(tmp_path):
    first, second = Catalog(f"sqlite:///{tmp_path / 'a.db'}"), Catalog(f"sqlite:///{tmp_path / 'a.db'}")
    other = Catalog(f"sqlite:///{tmp_path / 'b.db'}")
    assert first.engine is second.engine
    assert other.engine is not first.engine
