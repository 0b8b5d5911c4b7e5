"""Helpers the tests share (plain functions; the fixtures stay in ``conftest.py``).

Importing this module changes nothing in the environment (``conftest.py`` sets up the
private Airflow home), so any test module, and code outside ``tests/``, may import it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from include.clients.redis import spare_port

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (nothing listens on it)."""
    return spare_port()


def write_inventory(tmp_path: Path, body: str) -> Path:
    """``body`` (dedented) as ``tmp_path/inventory.yaml``; returns its path."""
    path = tmp_path / "inventory.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def use_inventory(monkeypatch, tmp_path: Path, body: str) -> Path:
    """``body`` as the inventory (:func:`write_inventory`), and ``AEGIS_INVENTORY`` pointing at it for this test."""
    path = write_inventory(tmp_path, body)
    monkeypatch.setenv("AEGIS_INVENTORY", str(path))
    return path


def load_dag(dag_id: str):
    """The DAG ``dag_id`` parsed from ``dags/<dag_id>.py`` now (with the inventory ``AEGIS_INVENTORY`` names)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py")).get_dag(dag_id)


def task_states(run) -> dict[str, tuple[str, int]]:
    """``task id`` (``task id[map index]`` for a mapped one) -> (state, try number) of every task instance of
    ``run`` (a finished ``dag.test()`` run), read from Airflow's metadata DB."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): (ti.state, ti.try_number)
            for ti in session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id)
        }


def mysql_admin():
    """A root connection to the local MariaDB (autocommit)."""
    from include.clients.mysql import NO_DATABASE, connect
    from include.targets import Endpoint

    return connect(Endpoint(host="127.0.0.1", port=3306, login="root"), 30, NO_DATABASE)


def mysql_run(*statements, args=None):
    """Run ``statements`` on the local MariaDB as root; the rows of the last one."""
    conn = mysql_admin()
    try:
        cur = conn.cursor()
        for s in statements:
            cur.execute(s, args)
        return cur.fetchall()
    finally:
        conn.close()


def dag_test_as(run_type: str, dag, **kwargs):
    """``dag.test(**kwargs)`` as a run of ``run_type`` (``scheduled`` / ``backfill``): dag.test always
    creates a manual run, so its run is re-typed in the metadata DB right after it is created (before any
    task starts). The tasks then see ``dag_run.run_type`` as the scheduler's or a backfill's run would."""
    from unittest import mock

    from airflow.models import dagrun as dagrun_module
    from airflow.utils.types import DagRunType

    create = dagrun_module.get_or_create_dagrun

    def create_typed(**create_kwargs):
        run = create(**create_kwargs)
        run.run_type = DagRunType(run_type)
        create_kwargs["session"].merge(run)
        create_kwargs["session"].commit()
        return run

    with mock.patch.object(dagrun_module, "get_or_create_dagrun", create_typed):
        return dag.test(**kwargs)


def back_up_redis_cache(monkeypatch, tmp_path: Path, port: int, when) -> dict:
    """An inventory with one Redis target ``cache`` (connection ``rd_cache``: the redis-server on ``port``), in use
    for this test, and a real backup of it for the interval ending ``when``: the backup's outcome (``set_id`` …)."""
    use_inventory(
        monkeypatch,
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: cache, kind: redis, conn_id: rd_cache}
        """,
    )
    monkeypatch.setenv("AIRFLOW_CONN_RD_CACHE", f"redis://127.0.0.1:{port}/0")

    from include.backup import runner
    from include.catalog import Catalog
    from include.inventory import load_inventory
    from include.targets import endpoint_for

    inventory = load_inventory()
    target = inventory.target("cache")
    outcome = runner.backup_target(inventory, target, endpoint_for(target), when, Catalog.for_inventory(inventory))
    assert outcome["state"] == "complete", outcome
    return outcome
