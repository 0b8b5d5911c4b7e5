"""The console's Backups page says when a set was verified and by which run, linking to that Airflow run:
a files target backed up, then restore-tested by a real ``verify_backups`` run (``dag.test``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.helpers import load_dag, write_inventory

TAKEN = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)


def test_a_set_verified_by_a_verify_run_links_to_that_run(airflow_db, tmp_path, monkeypatch):
    from include.backup import runner
    from include.catalog import Catalog
    from include.inventory import load_inventory
    from include.reports_view import build_app
    from include.targets import endpoint_for

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "server.yaml").write_text("max_players: 100\n")
    path = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: game-config, kind: files, tags: [config], paths: [conf]}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(path))
    inventory = load_inventory()
    catalog = Catalog.for_inventory(inventory)
    target = inventory.target("game-config")
    verified_id = runner.backup_target(inventory, target, endpoint_for(target), TAKEN, catalog)["set_id"]
    unverified_id = runner.backup_target(inventory, target, endpoint_for(target), TAKEN.replace(hour=18), catalog)[
        "set_id"
    ]

    dag = load_dag("verify_backups")
    run = dag.test(run_conf={"set_ids": [verified_id]})
    assert run.state == "success"
    record = catalog.backup_set(verified_id)
    assert (record["state"], record["verified_by_run_id"]) == ("verified", run.run_id)
    assert catalog.backup_set(unverified_id)["verified_by_run_id"] is None

    def client(readable=None):
        kwargs = {"readable": (lambda: readable)} if readable else {}
        app = build_app(lambda: catalog, lambda uri: "", lambda: inventory, **kwargs)
        return TestClient(app)

    page = client().get("/backups").text
    row = re.search(rf"<tr class='set' data-set='{verified_id}'>.*?</tr>", page, re.S).group(0)
    when = record["verified_at"].strftime("%Y-%m-%d %H:%M")
    link = f"/dags/verify_backups/runs/{run.run_id.replace(':', '%3A').replace('+', '%2B')}"
    assert f"verified {when} by <a class='verified-by' href='{link}' data-airflow><code>{run.run_id}</code>" in row
    other = re.search(rf"<tr class='set' data-set='{unverified_id}'>.*?</tr>", page, re.S).group(0)
    assert "not verified" in other and "verified-by" not in other
    # a viewer who may read backups but not verify_backups sees the run id, not a link into a DAG they cannot open
    hidden = client(readable=lambda dag_id: dag_id != "verify_backups").get("/backups").text
    assert f"by <code>{run.run_id}</code>" in hidden and "verified-by" not in hidden


def test_a_set_the_monthly_audit_verified_links_to_the_audits_run(tmp_path):
    """The monthly audit's restore test verifies sets too: the link goes to the DAG that recorded the run."""
    from include.catalog import Catalog
    from include.inventory import parse_inventory
    from include.reports_view import build_app

    inventory = parse_inventory(
        {"targets": [{"name": "files-a", "kind": "files", "paths": [str(tmp_path)]}]}, tmp_path / "inventory.yaml"
    )
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.backup_started("files-a-1", "files-a", "files", "file:///b/1")
    catalog.backup_state("files-a-1", "verified", run_id="scheduled__2026-07-01T05:00:00+00:00")
    catalog.record_check_run("monthly_audit", TAKEN, "scheduled__2026-07-01T05:00:00+00:00", "healthy", None, {}, [])
    page = TestClient(build_app(lambda: catalog, lambda uri: "", lambda: inventory)).get("/backups").text
    assert "href='/dags/monthly_audit/runs/scheduled__2026-07-01T05%3A00%3A00%2B00%3A00'" in page
    catalog.backup_state("files-a-1", "verified")  # verified again outside any run: no run claimed
    page = TestClient(build_app(lambda: catalog, lambda uri: "", lambda: inventory)).get("/backups").text
    assert "verified-by" not in page and " by <code>" not in page and "verified 20" in page
