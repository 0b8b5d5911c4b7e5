"""A live Redis restore through the restore DAG (dag.test) whose copy into the target fails half-way, on a real
private redis-server: the target's keys (values, types, TTLs, every database, writes made after the backup
included) are back as they were, the run ends failed, and the report and the alert still go out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import redis

from tests.content_state import redis_state
from tests.helpers import back_up_redis_cache, load_dag

L1 = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)


def ttls(port: int) -> dict[bytes, int]:
    r = redis.Redis(port=port)
    try:
        return {k: r.pttl(k) for k in r.scan_iter(count=1000)}
    finally:
        r.close()


def test_a_redis_restore_failing_half_way_keeps_the_target_and_still_reports(
    airflow_db, redis_server, tmp_path, monkeypatch, capfd, caplog
):
    r = redis.Redis(port=redis_server)
    for i in range(2500):  # three MIGRATE batches of 1000
        r.set(f"game:player:{i}", f"state-{i}")
    r.hset("game:config", mapping={"mode": "ranked"})
    r.set("game:session:x", "s", ex=3600)
    from include.backup import redis as redis_backup

    outcome = back_up_redis_cache(monkeypatch, tmp_path, redis_server, L1)
    # written after the backup: a restore that loses them on failure would show here
    r.set("game:player:1", "changed after the backup")
    r.set("added:after", "kept", ex=86400)
    r.delete("game:player:2")
    redis.Redis(port=redis_server, db=2).set("other:db", "x")
    r.close()
    before, ttl_before = redis_state(redis_server), ttls(redis_server)

    real, calls = redis_backup.migrate_batch, []

    def dies_on_the_second_batch(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise redis.ConnectionError("connection lost half-way")
        return real(*args, **kw)

    monkeypatch.setattr(redis_backup, "migrate_batch", dies_on_the_second_batch)
    dag = load_dag("restore")
    # a failed restore's report task is retried once (publish's contract): not after the usual delay in a test
    dag.get_task("write_report").retry_delay = timedelta(seconds=1)
    run = dag.test(run_conf={"target": "cache", "set_id": outcome["set_id"], "dry_run": False, "confirm": "cache"})

    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
    assert run.state == "failed", states
    assert states["maintenance_off"] == "success" and states["write_report"] == "failed", states
    assert len(calls) == 2  # the first batch had gone in: the target really was half-way
    assert redis_state(redis_server) == before  # every key, type and value, the later writes included
    after = ttls(redis_server)
    assert set(after) == set(ttl_before) and after[b"added:after"] > 80_000_000  # TTLs kept
    reports = [json.loads(p.read_text()) for p in (tmp_path / "artifacts").rglob("report.json")]
    report = next(rep for rep in reports if rep["run_id"] == run.run_id)
    assert report["outcome"] == "failed" and "connection lost half-way" in json.dumps(report)
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "alert logged only" in logs and "putting its previous keys back" in logs
