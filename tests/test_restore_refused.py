"""A refused restore request (a live restore with the wrong confirmation) through the restore DAG (dag.test), on a
real private redis-server: nothing is touched, and still the report (outcome ``refused``, naming the field and
why) is written, the alert goes out and the run ends failed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import redis

from tests.content_state import redis_state
from tests.helpers import back_up_redis_cache, load_dag

L1 = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)


def test_a_refused_restore_writes_its_report_notifies_and_fails_leaving_the_target(
    airflow_db, redis_server, tmp_path, monkeypatch, capfd, caplog
):
    r = redis.Redis(port=redis_server)
    r.set("game:player:1", "state-1")
    outcome = back_up_redis_cache(monkeypatch, tmp_path, redis_server, L1)
    r.set("game:player:1", "changed after the backup")  # a restore that ran would put the old value back
    r.close()
    before = redis_state(redis_server)

    dag = load_dag("restore")
    run = dag.test(run_conf={"target": "cache", "set_id": outcome["set_id"], "dry_run": False, "confirm": "cahce"})

    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    states = {k: str(getattr(ti.state, "value", ti.state)) for k, ti in tis.items()}
    assert run.state == "failed", states
    assert states["plan"] == "failed" and states["write_report"] == "failed", states
    assert tis["write_report"].try_number == 1  # a refusal is not retried: the same form is refused again
    assert states["restore_target"] != "success" and states["maintenance_on"] != "success", states
    assert redis_state(redis_server) == before  # untouched
    reports = [json.loads(p.read_text()) for p in (tmp_path / "artifacts").rglob("report.json")]
    report = next(rep for rep in reports if rep["run_id"] == run.run_id)
    assert report["outcome"] == "refused", report
    text = json.dumps(report)
    assert "confirm" in text and "'cahce'" in text and "refused" in text
    assert [(r["target"], r["status"]) for r in report["results"]] == [("cache", "critical")]
    from include.catalog import Catalog
    from include.inventory import load_inventory

    recorded = [r for r in Catalog.for_inventory(load_inventory()).runs("restore") if r["run_id"] == run.run_id]
    assert [r["status"] for r in recorded] == ["refused"]  # the catalog keeps the run too
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "alert logged only" in logs and "restore of cache REFUSED" in logs
