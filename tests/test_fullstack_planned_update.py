"""planned_update on a REAL Airflow (standalone: scheduler, dag-processor, triggerer, api-server), over the
REST API: a release switch whose health URL fails after the switch. The run must roll back, the grid must
show the promote branch skipped, the branch task's log must name the decision and its reason, both deferred
waits (window, drain) must go through the real triggerer, and the silence and maintenance flag must be gone.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import quote

import pytest
import redis

from tests.airflow_server import AirflowServer
from tests.helpers import write_inventory
from tests.test_fullstack import wait_for_dag, wait_for_run
from tests.test_planned_update import release_app

pytestmark = pytest.mark.fullstack
DAG_ID = "planned_update"


@pytest.fixture
def stack(tmp_path, redis_server, request, alertmanager_server):
    root, service = release_app(tmp_path, {"v1": "ok", "v2": "broken"})
    am = alertmanager_server
    inventory = write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        maintenance: {{redis_conn_id: fs_cache}}
        update: {{release_roots: ["{root}"], http_hosts: [127.0.0.1]}}
        targets:
          - {{name: fs-cache, kind: redis, conn_id: fs_cache, backup: {{enabled: false}}}}
          - {{name: fs-am, kind: alertmanager, conn_id: fs_am}}
    """,
    )
    server = AirflowServer(
        tmp_path / "airflow-home",
        extra_env={
            "AEGIS_INVENTORY": str(inventory),
            "AIRFLOW_CONN_FS_CACHE": f"redis://127.0.0.1:{redis_server}/0",
            "AIRFLOW_CONN_FS_AM": f"http://127.0.0.1:{am.port}",
        },
    )
    failed_before = request.session.testsfailed
    server.start()
    try:
        yield {
            "server": server,
            "root": root,
            "am": am,
            "redis": redis_server,
            "url": f"http://127.0.0.1:{service.server_address[1]}/health",
        }
    finally:
        if request.session.testsfailed > failed_before:
            print(server.log_tails())
        server.stop()
        service.shutdown()


def test_rollback_branch_is_visible_over_the_rest_api(stack):
    server, t0 = stack["server"], time.monotonic()
    server.wait_healthy(timeout=180)
    server.login()
    dag = wait_for_dag(server, dag_id=DAG_ID)
    if dag["is_paused"]:
        server.patch(f"/api/v2/dags/{DAG_ID}", {"is_paused": False})

    # a client blocked on the cache when the window opens: the drain must defer to the real triggerer
    def blocked_client():
        r = redis.Redis(port=stack["redis"], socket_timeout=30)
        for _ in range(3000):
            if r.exists("aegis:maintenance:fs-cache"):
                r.blpop(["fs:queue:never"], timeout=8)
                break
            time.sleep(0.1)
        r.close()

    threading.Thread(target=blocked_client, daemon=True).start()
    run = server.trigger(
        DAG_ID,
        {
            "dry_run": False,
            "confirm": str(stack["root"]),
            "update_kind": "release_switch",
            "release_root": str(stack["root"]),
            "release_version": "v2",
            "http_checks": [stack["url"]],
            "targets": ["fs-cache"],
            "drain_timeout_minutes": 2,
        },
    )
    run_id = run["dag_run_id"]
    run = wait_for_run(server, run_id, timeout=300, dag_id=DAG_ID)
    tis = server.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances", params={"limit": 100})[
        "task_instances"
    ]
    states = {ti["task_id"]: ti["state"] for ti in tis}
    assert run["state"] == "failed", states  # rolled back: the update did not happen
    assert states["apply_update"] == "success" and states["decide"] == "success"
    assert states["promote"] == "skipped", states
    assert states["rollback"] == "success" and states["tests_after_rollback"] == "success", states
    assert states["maintenance_off"] == "success" and states["expire_silence"] == "success", states
    assert states["wait_for_window"] == "success" and states["drain"] == "success", states

    decide_log = server.task_log(DAG_ID, run_id, "decide")
    assert "DECISION: ROLLBACK" in decide_log, decide_log
    assert "post-update test failed" in decide_log and "answered 503" in decide_log, decide_log
    drain_log = server.task_log(DAG_ID, run_id, "drain")
    assert "deferring" in drain_log and "drained after" in drain_log, drain_log
    rollback_log = server.task_log(DAG_ID, run_id, "rollback")
    assert "switched" in rollback_log and "back to releases/v1" in rollback_log, rollback_log

    assert (stack["root"] / "current").resolve() == (stack["root"] / "releases" / "v1").resolve()
    silences = stack["am"].silences(run_id)
    assert [s["status"]["state"] for s in silences] == ["expired"] and stack["am"].active_silences(run_id) == []
    assert not list(redis.Redis(port=stack["redis"]).scan_iter("aegis:maintenance:*"))
    print(f"\nfull stack planned_update: rolled back and checked in {time.monotonic() - t0:.0f} s")
