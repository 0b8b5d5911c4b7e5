"""verify_backups measures the scratch server's free space before a scratch restore, also when the server is not
on this host: from the node_exporter metrics in Prometheus (``backup.verify_prometheus_conn_id`` +
``verify_node_instance``). Through dag.test() on the real local PostgreSQL and a real, private Prometheus.

Labelled fakes: the node_exporter is :class:`tests.servers.prometheus.Exporter`, a tiny HTTP server serving the
``node_filesystem_avail_bytes`` values a test sets (Prometheus scrapes it for real); and the scratch server (the
local PostgreSQL) counts as on another host (``local_disk.LOCAL_HOSTS`` emptied), so ``statvfs`` is not used.

Shown: a set that would not fit is skipped with a finding and keeps its state; with room the restore test runs;
Prometheus refusing connections or never answering is a bounded "free space unknown" finding, the set's state
unchanged, and the restore test runs then only when the target allows it (``verify_when_space_unknown``).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from include.targets import Endpoint
from tests.helpers import free_port, load_dag, write_inventory
from tests.servers.prometheus import Exporter, Prometheus

L1 = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
BIG = 10**13


def data_folder() -> str:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as c:
        return c.execute("show data_directory").fetchone()[0]


@pytest.fixture(scope="module")
def node_metrics(tmp_path_factory):
    """The fake node_exporter (labelled above) scraped every second by a real Prometheus: two filesystems, ``/``
    (always roomy) and the one holding the PostgreSQL data folder (its free bytes set by each test)."""
    exporter = Exporter()
    prom = Prometheus(tmp_path_factory.mktemp("prometheus"), [exporter.address], []).start()
    data_mount = os.path.dirname(data_folder().rstrip("/"))
    exporter.set('node_filesystem_avail_bytes{mountpoint="/",fstype="ext4"}', BIG)
    yield {"exporter": exporter, "prom": prom, "mount": data_mount}
    prom.stop()
    exporter.close()


def serve_free(node_metrics, free: int) -> None:
    """Serve ``free`` bytes for the data folder's filesystem and wait until Prometheus has scraped it."""
    from include.clients import prometheus

    exporter, mount = node_metrics["exporter"], node_metrics["mount"]
    exporter.set(f'node_filesystem_avail_bytes{{mountpoint="{mount}",fstype="ext4"}}', free)
    where = Endpoint(host="127.0.0.1", port=node_metrics["prom"].port)
    for _ in range(150):
        try:
            if prometheus.free_bytes(where, exporter.address, timeout_s=5, mountpoint=mount)[0] == free:
                return
        except LookupError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"Prometheus never showed {free} bytes free on {mount}")


@pytest.fixture
def world(tmp_path, monkeypatch, pg_database, node_metrics):
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database, autocommit=True) as c:
        c.execute("create table docs (id int primary key, body text)")
        c.execute("insert into docs select g, md5(g::text) from generate_series(1, 5000) g")
    from include.clients import local_disk

    monkeypatch.setattr(local_disk, "LOCAL_HOSTS", ())  # labelled seam: the scratch server counts as remote
    monkeypatch.setenv("AIRFLOW_CONN_VS_PG", f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
    monkeypatch.setenv("AIRFLOW_CONN_VS_SCRATCH", "postgresql://postgres@127.0.0.1:5432/postgres")
    monkeypatch.setenv("AIRFLOW_CONN_VS_PROM", f"http://127.0.0.1:{node_metrics['prom'].port}")
    world = {"tmp": tmp_path, "monkeypatch": monkeypatch, "instance": node_metrics["exporter"].address}
    inventory(world)
    yield world


def inventory(world, **backup) -> None:
    """The inventory with target ``pg`` verified on the scratch connection, free space from Prometheus."""
    settings = {
        "verify_scratch_conn_id": "vs_scratch",
        "verify_prometheus_conn_id": "vs_prom",
        "verify_node_instance": world["instance"],
        **backup,
    }
    settings = {k: v for k, v in settings.items() if v != ""}  # "": left out (an empty string is refused)
    inv = write_inventory(
        world["tmp"],
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        targets:
          - {{name: pg, kind: postgres, conn_id: vs_pg, timeout_seconds: 2, backup: {json.dumps(settings)}}}
        """,
    )
    world["monkeypatch"].setenv("AEGIS_INVENTORY", str(inv))


def catalog():
    from include.catalog import Catalog
    from include.inventory import load_inventory

    return Catalog.for_inventory(load_inventory())


def backed_up_set() -> str:
    from include.backup import runner
    from include.inventory import load_inventory
    from include.targets import endpoint_for

    inv = load_inventory()
    target = inv.target("pg")
    outcome = runner.backup_target(inv, target, endpoint_for(target), L1, catalog())
    assert outcome["state"] == "complete"
    return outcome["set_id"]


def verify(world, set_id: str) -> tuple[dict, dict, float]:
    """One verify_backups run of ``set_id``: (its report row, the run's task states, seconds it took)."""
    dag = load_dag("verify_backups")
    t0 = time.monotonic()
    run = dag.test(run_conf={"set_ids": [set_id]})
    seconds = time.monotonic() - t0
    reports = [json.loads(p.read_text()) for p in (world["tmp"] / "artifacts").rglob("report.json")]
    report = next(r for r in reports if r["run_id"] == run.run_id)
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
    states["run"] = str(run.state)
    return next(r for r in report["results"] if r["target"] == set_id), states, seconds


def finding(row: dict) -> str:
    return " | ".join(f"{f['level']}: {f['message']}" for f in row["findings"])


def test_a_set_that_would_not_fit_is_skipped_then_verified_once_there_is_room(airflow_db, world, node_metrics):
    set_id = backed_up_set()
    serve_free(node_metrics, 1000)  # the data folder's filesystem is full; "/" (not where the data is) has room
    row, states, _ = verify(world, set_id)
    assert row["status"] == "warning" and states["run"] == "success", (row, states)
    text = finding(row)
    assert "would not fit: 1000 bytes free" in text, text
    assert f"node_filesystem_avail_bytes of {world['instance']} {node_metrics['mount']}" in text, text
    assert catalog().backup_set(set_id)["state"] == "complete"  # not tested, not failed: as it was

    serve_free(node_metrics, BIG)
    row, states, _ = verify(world, set_id)
    assert row["status"] == "ok" and row["findings"] == [] and states["run"] == "success", (row, states)
    assert catalog().backup_set(set_id)["state"] == "verified"


@pytest.mark.parametrize("prometheus", ["refused", "silent"])
def test_prometheus_unreachable_is_a_bounded_unknown_and_the_set_keeps_its_state(
    airflow_db, world, node_metrics, silent_server, prometheus
):
    set_id = backed_up_set()
    port = free_port() if prometheus == "refused" else silent_server  # nothing listens / accepts, never answers
    world["monkeypatch"].setenv("AIRFLOW_CONN_VS_PROM", f"http://127.0.0.1:{port}")
    row, states, seconds = verify(world, set_id)
    text = finding(row)
    assert row["status"] == "warning" and states["run"] == "success", (row, states)
    assert "warning: not verified: free space unknown for pg: Prometheus 'vs_prom' could not tell" in text, text
    assert ("ConnectionError" if prometheus == "refused" else "Timeout") in text, text
    assert "the set stays complete" in text and catalog().backup_set(set_id)["state"] == "complete"
    assert seconds < 60  # bounded by the target's 2 s timeout (plus the run's own overhead)

    # the target allows a restore test without knowing the space: it runs, and the report still says so
    inventory(world, verify_when_space_unknown=True)
    row, states, _ = verify(world, set_id)
    assert states["run"] == "success" and row["status"] == "warning", (row, states)
    assert row["details"]["state"] == "verified" and catalog().backup_set(set_id)["state"] == "verified"
    assert "free space unknown for pg" in finding(row) and "restore-tested anyway" in finding(row)


def test_a_remote_scratch_server_without_prometheus_is_not_restore_tested_by_default(airflow_db, world):
    from include.backup import runner
    from include.inventory import load_inventory
    from include.targets import endpoint_for

    inventory(world, verify_prometheus_conn_id="", verify_node_instance="")
    set_id = backed_up_set()
    inv = load_inventory()
    verdict = runner.verify_set(inv, inv.target("pg"), endpoint_for(inv.target("pg")), set_id, catalog())
    assert verdict["state"] == "skipped", verdict
    assert (
        "free space unknown for pg: the server postgres://postgres@127.0.0.1:5432/postgres is not on this host"
        in (verdict["reason"])
    )
    assert catalog().backup_set(set_id)["state"] == "complete"
    # the monthly audit's restore test (the same code) says "not run" as a warning, not a failed restore
    from include.monthly.backups import validate_target

    started = catalog().backup_set(set_id)["started_at"]  # the audit's window: around the set, whatever the date
    started = started if started.tzinfo else started.replace(tzinfo=UTC)
    row = validate_target(inv, catalog(), inv.target("pg"), started - timedelta(days=1), started + timedelta(hours=1))
    test_findings = [f for f in row["findings"] if "restore test" in f["message"]]
    assert [f["level"] for f in test_findings] == ["warning"], row["findings"]
    assert "not run: not verified: free space unknown for pg" in test_findings[0]["message"]
    assert catalog().backup_set(set_id)["state"] == "complete"


@pytest.mark.parametrize(
    ("backup", "field", "reason"),
    [
        ({"verify_prometheus_conn_id": "prom"}, "verify_node_instance", "go together"),
        ({"verify_node_instance": "db1:9100"}, "verify_prometheus_conn_id", "go together"),
        (
            {"verify_prometheus_conn_id": "prom", "verify_node_instance": "db1:9100", "verify_data_mountpoint": "data"},
            "verify_data_mountpoint",
            "absolute path",
        ),
        ({"verify_when_space_unknown": "yes"}, "verify_when_space_unknown", "true or false"),
    ],
)
def test_free_space_settings_are_validated(tmp_path, backup, field, reason):
    from include.inventory import InventoryError, load_inventory

    path = write_inventory(
        tmp_path, f"targets: [{{name: pg, kind: postgres, conn_id: pg, backup: {json.dumps(backup)}}}]\n"
    )
    with pytest.raises(InventoryError, match=f"targets\\[0\\].backup.{field}': .*{reason}"):
        load_inventory(path)
