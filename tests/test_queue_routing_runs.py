"""The queue-routed DAGs run end to end (dag.test, in-process: Celery queues are not used here, the
split per queue is): with an inventory of two queues, the backup of a Redis target on ``near-db`` is
verified by the ``verify__near-db`` copy, restored by ``restore_target__near-db``, and maintained by
``redis.maintain__near-db``; the copies on ``default`` have nothing to do; the reports count the target.
Which worker serves which queue is shown by ``tests/test_distributed.py``."""

import json

import pytest
import redis

from tests.helpers import load_dag, write_inventory


def states(run) -> dict[tuple[str, int], str]:
    """(task id, map index) -> state of every task instance of ``run``."""
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}


def reports(tmp_path, routine: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in (tmp_path / "artifacts").rglob("report.json") if routine in p.parts]


@pytest.fixture
def two_queues(tmp_path, monkeypatch, redis_server):
    r = redis.Redis(port=redis_server)
    r.mset({f"game:player:{i}": f"state-{i}" for i in range(50)})
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "server.yaml").write_text("max_players: 100\n")
    inv = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        defaults: {fail_run_on: never}  # the weekly security scan finds this test Redis open; not the point here
        targets:
          - {name: cache, kind: redis, conn_id: qr_cache, tags: [cache], queue: near-db}
          - {name: game-config, kind: files, tags: [config], paths: [conf]}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    monkeypatch.setenv("AIRFLOW_CONN_QR_CACHE", f"redis://127.0.0.1:{redis_server}/0")
    return r


def test_backup_verify_restore_and_weekly_run_through_the_queue_copies(airflow_db, two_queues, tmp_path):
    from include.catalog import Catalog
    from include.inventory import load_inventory

    assert load_dag("backup").test().state == "success"
    sets = {s["target"]: s["set_id"] for s in Catalog.for_inventory(load_inventory()).backup_sets_of()}
    assert set(sets) == {"cache", "game-config"}

    run = load_dag("verify_backups").test(run_conf={"set_ids": [sets["cache"], sets["game-config"]]})
    assert run.state == "success"
    ran = states(run)
    assert ran[("verify__near-db", 0)] == ran[("verify__default", 0)] == "success"
    assert ("verify__near-db", 1) not in ran and ("verify__default", 1) not in ran  # one set each
    states_now = {s["target"]: s["state"] for s in Catalog.for_inventory(load_inventory()).backup_sets_of()}
    assert states_now == {"cache": "verified", "game-config": "verified"}

    two_queues.set("game:player:1", "hacked")
    run = load_dag("restore").test(run_conf={"target": "cache", "dry_run": False, "confirm": "cache"})
    assert run.state == "success"
    ran = states(run)
    assert ran[("restore_target__near-db", 0)] == "success"
    assert ("restore_target__default", 0) not in ran  # nothing mapped on default: the restore ran only on near-db
    assert two_queues.get("game:player:1") == b"state-1"
    (report,) = reports(tmp_path, "restore")
    assert report["outcome"] == "restored"  # the routed copy's outcome reached the report
    assert report["results"][0]["target"] == "cache" and report["results"][0]["details"]["state"] == "restored"

    run = load_dag("weekly_maintenance").test(run_conf={"concerns": ["redis", "security"]})
    assert run.state == "success"
    ran = states(run)
    assert ran[("redis.maintain__near-db", 0)] == "success"
    assert ("redis.maintain__default", 0) not in ran
    assert ran[("security.check_configuration__near-db", 0)] == "success"
    (weekly,) = reports(tmp_path, "weekly_maintenance")
    of_cache = [r["details"] for r in weekly["results"] if r["target"] == "cache"]
    assert weekly["summary"]["counts"]["missing"] == 0, weekly["summary"]  # every routed result reached the report
    assert len(of_cache) == 2 and any("idle_seconds" in d for d in of_cache) and any("checks" in d for d in of_cache)
