"""Airflow's metadata database for ``./aegis up`` and the full-stack tests: the local PostgreSQL (a dedicated
database, created) when it answers, SQLite when it does not (a closed port), chosen within a short timeout."""

from __future__ import annotations

import os
import secrets
import subprocess
import time

import psycopg
import pytest

from deploy import metadata
from tests import airflow_server
from tests.helpers import REPO, free_port


def exists(name: str) -> bool:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", connect_timeout=5) as c:
        return c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


@pytest.fixture
def database_name():
    name = f"aegis_test_metadata_{secrets.token_hex(4)}"
    yield name
    metadata.drop_database("127.0.0.1", 5432, name)


def test_postgresql_when_it_answers_with_its_own_database_created(database_name, tmp_path):
    url = metadata.metadata_url(str(tmp_path / "airflow.db"), address="127.0.0.1:5432", database=database_name)
    assert url == f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database_name}"
    assert exists(database_name)
    again = metadata.metadata_url(str(tmp_path / "airflow.db"), address="127.0.0.1:5432", database=database_name)
    assert again == url  # idempotent: an existing database is used as it is
    # the URL works for Airflow's driver
    import sqlalchemy as sa

    with sa.create_engine(url).connect() as c:
        assert c.execute(sa.text("select current_database()")).scalar() == database_name


def test_sqlite_when_no_postgresql_answers_and_quickly(database_name, tmp_path):
    closed = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    url = metadata.metadata_url(str(tmp_path / "airflow.db"), address=closed, database=database_name)
    assert url == f"sqlite:///{tmp_path / 'airflow.db'}"
    assert time.monotonic() - started < metadata.PROBE_TIMEOUT_S + 1
    assert not exists(database_name)  # nothing created anywhere


def test_a_bad_address_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"AEGIS_METADATA_PG: expected host:port, got '127\.0\.0\.1'"):
        metadata.metadata_url(str(tmp_path / "a.db"), address="127.0.0.1")


def aegis_env(**extra: str) -> dict[str, str]:
    """``./aegis env``'s exports as a mapping (the environment ``./aegis up`` starts Airflow with)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AEGIS_"))} | extra
    out = subprocess.run(
        ["bash", str(REPO / "aegis"), "env"], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines() if line.startswith("export "))


def test_aegis_env_points_airflow_at_postgresql_or_falls_back_to_sqlite(database_name):
    on_pg = aegis_env(AEGIS_STANDALONE_METADATA_DB=database_name)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert on_pg == f'"postgresql+psycopg2://postgres@127.0.0.1:5432/{database_name}"'
    assert not exists(database_name)  # `env` only prints; `up` creates the database
    closed = aegis_env(AEGIS_METADATA_PG=f"127.0.0.1:{free_port()}")["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert closed == f'"sqlite:///{REPO}/.aegis/airflow/airflow.db"'


def test_the_test_harness_gives_each_server_its_own_postgresql_database(tmp_path, monkeypatch):
    one, two = airflow_server.AirflowServer(tmp_path / "a"), airflow_server.AirflowServer(tmp_path / "b")
    assert one.metadata_db and two.metadata_db and one.metadata_db != two.metadata_db
    assert one.metadata_db != metadata.STANDALONE_DB  # never a developer's `./aegis up` database
    assert one.metadata_url == metadata.postgres_url("127.0.0.1", 5432, one.metadata_db)
    assert one.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == one.metadata_url
    forced = airflow_server.AirflowServer(tmp_path / "c", metadata="sqlite")
    assert forced.metadata_db is None and forced.metadata_url == f"sqlite:///{tmp_path / 'c' / 'airflow.db'}"
    monkeypatch.setattr(airflow_server, "METADATA_PG", ("127.0.0.1", free_port()))
    down = airflow_server.AirflowServer(tmp_path / "d")
    assert down.metadata_db is None and down.metadata_url.startswith("sqlite:///")
    for server in (one, two, forced, down):
        server.client.close()


@pytest.mark.fullstack
def test_concurrent_triggers_and_a_backfill_succeed_on_postgresql_metadata(tmp_path):
    """Six triggers at once and a backfill while they start: on SQLite some answer HTTP 500 "Database error"
    and the backfill 503 "Database is locked" (seen on `./aegis up` before this change); on PostgreSQL
    metadata every request succeeds at its first attempt and every run finishes."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.helpers import write_inventory
    from tests.test_fullstack import wait_for_dag, wait_for_run

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text("2026-01-01T00:00:00 INFO quiet\n")
    inventory = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: quiet-logs, kind: log_source, paths: ["logs/*.log"]}
        """,
    )
    server = airflow_server.AirflowServer(tmp_path / "airflow-home", extra_env={"AEGIS_INVENTORY": str(inventory)})
    if not server.metadata_db:
        server.client.close()
        pytest.skip("no PostgreSQL answers on 127.0.0.1:5432: the metadata DB would be SQLite")
    started = time.monotonic()
    server.start()
    try:
        server.wait_healthy()
        server.login()
        wait_for_dag(server, dag_id="daily_health_check")
        server.patch("/api/v2/dags/daily_health_check", {"is_paused": False})
        run_ids = [f"concurrent_{i}_{secrets.token_hex(3)}" for i in range(6)]

        def trigger(run_id: str):  # one attempt each: no retry hides a locked database here
            return server.client.post(
                "/api/v2/dags/daily_health_check/dagRuns", json={"dag_run_id": run_id, "logical_date": None}
            )

        def backfill():
            body = {
                "dag_id": "daily_health_check",
                "from_date": "2026-11-01T00:00:00Z",
                "to_date": "2026-11-02T00:00:00Z",
            }
            return server.client.post("/api/v2/backfills", json=body)

        with ThreadPoolExecutor(7) as pool:
            answers = [pool.submit(trigger, r) for r in run_ids] + [pool.submit(backfill)]
            responses = [a.result() for a in answers]
        assert [r.status_code for r in responses] == [200] * 6 + [200], [r.text[:300] for r in responses]
        runs = server.get("/api/v2/dags/daily_health_check/dagRuns", params={"limit": 50})["dag_runs"]
        backfilled = [r["dag_run_id"] for r in runs if r["run_type"] == "backfill"]
        assert len(backfilled) == 2  # 1 and 2 November
        for run_id in run_ids + backfilled:
            assert wait_for_run(server, run_id, timeout=420, dag_id="daily_health_check")["state"] == "success"
        assert "database is locked" not in server.log_path.read_text(errors="replace")
        print(f"7 concurrent requests and 8 runs on PostgreSQL metadata: {time.monotonic() - started:.0f}s")
    finally:
        server.stop()
