"""The planned update's parts on their own: the form's validation, the drain (real PostgreSQL, MariaDB, Redis
sessions; the deferrable trigger run in an event loop), silences (labelled fake Alertmanager), the
Kubernetes image update and its rollback (labelled fake cluster, real ``include.kube_client`` code)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timezone

import MySQLdb
import psycopg
import pytest
import redis

from include.inventory import parse_inventory
from include.kube_client import KubeClient
from include.targets import Endpoint
from include.update import drain, kinds, rollback, silence
from include.update.plan import PlanError, build_plan
from tests.fake_kube_apps import FakeCluster

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)


def inventory(**extra_targets):
    return parse_inventory({"targets": [
        {"name": "pg", "kind": "postgres", "conn_id": "pg"},
        {"name": "cache", "kind": "redis", "conn_id": "cache"},
        {"name": "game", "kind": "kubernetes", "conn_id": "k8s", "namespace": "game-production"},
        {"name": "am", "kind": "alertmanager", "conn_id": "am"},
    ]})


# ------------------------------------------------------------------------------------------ the form
@pytest.mark.parametrize("params, field, words", [
    ({"update_kind": "reboot"}, "update_kind", "must be one of"),
    ({"update_kind": "sql_migration"}, "update_target", "required"),
    ({"update_kind": "sql_migration", "update_target": "cache", "migrations_folder": "/x"}, "update_target",
     "is a redis target"),
    ({"update_kind": "sql_migration", "update_target": "nope"}, "update_target", "no target named"),
    ({"update_kind": "sql_migration", "update_target": "pg", "migrations_folder": "rel/path"}, "migrations_folder",
     "absolute"),
    ({"update_kind": "release_switch", "release_root": "/tmp", "release_version": "../etc"}, "release_version",
     "release folder name"),
    ({"update_kind": "k8s_image", "update_target": "game", "deployment": "web", "container": "web"}, "image",
     "required"),
    ({"update_kind": "k8s_image", "update_target": "game", "deployment": "d", "container": "c", "image": "i",
      "targets": ["ghost"]}, "targets", "unknown target"),
    ({"update_kind": "k8s_image", "update_target": "game", "deployment": "d", "container": "c", "image": "i",
      "sql_assertions": [{"target": "pg", "sql": "select 1"}]}, "sql_assertions[0]", "needs target, sql and expect"),
    ({"update_kind": "k8s_image", "update_target": "game", "deployment": "d", "container": "c", "image": "i",
      "http_checks": ["ftp://x"]}, "http_checks", "http"),
    ({"update_kind": "k8s_image", "update_target": "game", "deployment": "d", "container": "c", "image": "i",
      "window_start": "2026-06-01 02:00"}, "window_start", "time zone"),
])
def test_bad_form_is_refused_naming_the_field(params, field, words):
    with pytest.raises(PlanError) as err:
        build_plan(inventory(), params, NOW)
    assert err.value.field == field and words in str(err.value), str(err.value)


def test_migration_target_without_backup_is_refused(tmp_path):
    (tmp_path / "001.sql").write_text("select 1;")
    inv = parse_inventory({"targets": [{"name": "pg", "kind": "postgres", "conn_id": "pg",
                                        "backup": {"enabled": False}}]})
    with pytest.raises(PlanError, match="no enabled backup"):
        build_plan(inv, {"update_kind": "sql_migration", "update_target": "pg", "migrations_folder": str(tmp_path)},
                   NOW)


def test_plan_of_a_window_in_the_future(tmp_path):
    (tmp_path / "002_b.sql").write_text("select 2;")
    (tmp_path / "001_a.sql").write_text("select 1;")
    (tmp_path / "notes.txt").write_text("not a migration")
    plan = build_plan(inventory(), {"update_kind": "sql_migration", "update_target": "pg", "targets": ["cache"],
                                    "migrations_folder": str(tmp_path), "window_start": "2026-06-02T02:00:00+09:00",
                                    "window_minutes": 90, "dry_run": False}, NOW)
    assert [f["name"] for f in plan["sql"]["files"]] == ["001_a.sql", "002_b.sql"]
    assert plan["targets"] == ["pg", "cache"] and plan["backups"] == ["pg", "cache"]
    assert [d["name"] for d in plan["drain"]] == ["pg", "cache"]
    assert plan["window"] == {"start": "2026-06-01T17:00:00+00:00", "end": "2026-06-01T18:30:00+00:00"}
    assert plan["alertmanagers"] == ["am"] and plan["dry_run"] is False


# ------------------------------------------------------------------------------------------ the drain
def test_postgres_drain_counts_work_in_flight_only(pg_database):
    ep = Endpoint(host="127.0.0.1", port=5432, login="postgres", schema="postgres")
    idle = psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database, autocommit=True)
    busy = psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database)
    busy.execute("select 1")  # idle in transaction: work in flight
    try:
        sessions = drain.active_sessions("postgres", ep, [pg_database], 5)
        assert [s["state"] for s in sessions] == ["idle in transaction"]
        busy.rollback()
        assert drain.active_sessions("postgres", ep, [pg_database], 5) == []
    finally:
        idle.close()
        busy.close()


def test_mysql_and_redis_drain_count_running_statements_and_blocked_clients(redis_server):
    ep = Endpoint(host="127.0.0.1", port=3306, login="root")
    sleeper = MySQLdb.connect(host="127.0.0.1", user="root")
    marker = f"aegis_drain_{time.time_ns()}"
    thread = threading.Thread(target=lambda: sleeper.cursor().execute(f"SELECT SLEEP(3) AS {marker}"))
    thread.start()
    time.sleep(0.5)
    sessions = drain.active_sessions("mysql", ep, [], 5)
    assert any(marker in (s["query"] or "") for s in sessions)
    thread.join()
    sleeper.close()

    rep = Endpoint(host="127.0.0.1", port=redis_server)
    idle = redis.Redis(port=redis_server)
    idle.ping()
    time.sleep(1.1)
    assert drain.active_sessions("redis", rep, [], 5) == []  # an idle pooled connection is not work
    blocked = redis.Redis(port=redis_server, socket_timeout=10)
    t = threading.Thread(target=lambda: blocked.blpop(["aegis:never"], timeout=3))
    t.start()
    time.sleep(1.2)
    assert len(drain.active_sessions("redis", rep, [], 5)) == 1
    t.join()
    idle.close()
    blocked.close()


def test_drain_trigger_fires_at_the_deadline_and_when_drained(pg_database, monkeypatch):
    from include import targets
    from include.update.triggers import DrainTrigger

    monkeypatch.setattr(targets, "endpoint_for", lambda t: Endpoint(host="127.0.0.1", login="postgres"))
    spec = [{"name": "pg", "kind": "postgres", "conn_id": "pg", "databases": [pg_database]}]
    busy = psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database)
    busy.execute("select 1")

    async def first_event(trigger):
        return await anext(trigger.run())

    now = time.time()
    t0 = time.monotonic()
    event = asyncio.run(first_event(DrainTrigger(spec, deadline=now + 1.5, started=now, poll_s=0.2)))
    assert event.payload["drained"] is False and event.payload["counts"] == {"pg": 1}
    assert 1.4 <= time.monotonic() - t0 < 5
    threading.Timer(0.8, busy.close).start()
    now = time.time()
    event = asyncio.run(first_event(DrainTrigger(spec, deadline=now + 30, started=now, poll_s=0.2)))
    assert event.payload["drained"] is True and event.payload["counts"] == {"pg": 0}
    assert event.payload["waited_s"] < 10
    classpath, kwargs = DrainTrigger(spec, 1.0, 0.0).serialize()
    assert classpath == "include.update.triggers.DrainTrigger" and "password" not in str(kwargs)


# ------------------------------------------------------------------------------------------ silences
def test_silence_is_created_once_per_run_scoped_and_expired(fresh_alertmanager):
    am = fresh_alertmanager
    ep = Endpoint(host="127.0.0.1", port=am.port)
    if True:
        first = silence.create(ep, "run-1", "target", ["pg", "game.v2"], "2026-06-01T02:00:00+00:00",
                               "2099-01-01T00:00:00+00:00")
        again = silence.create(ep, "run-1", "target", ["pg", "game.v2"], "2026-06-01T02:00:00+00:00",
                               "2099-01-01T00:00:00+00:00")
        other = silence.create(ep, "run-2", "target", ["cache"], "2026-06-01T02:00:00+00:00",
                               "2099-01-01T00:00:00+00:00")
        assert first == again != other
        matcher = {s["id"]: s for s in am.silences()}[first]["matchers"][0]
        assert matcher == {"name": "target", "value": r"pg|game\.v2", "isRegex": True, "isEqual": True}
        assert silence.expire(ep, "run-1") == [first]
        assert [s["id"] for s in am.active_silences()] == [other]  # another run's silence is left alone
        assert silence.expire(ep, "run-1") == []


# ------------------------------------------------------------------------------------------ Kubernetes
@pytest.fixture
def cluster(monkeypatch):
    fake = FakeCluster("game-production", "game-server", "game-server", "game:1.4", broken_images=("game:1.5-bad",))
    monkeypatch.setattr(kinds, "kube_for", lambda target: KubeClient(fake, 5, apps_v1=fake))
    return fake


def k8s_plan(image: str, **kw):
    return build_plan(inventory(), {"update_kind": "k8s_image", "update_target": "game", "deployment": "game-server",
                                    "container": "game-server", "image": image, "rollout_timeout_seconds": 1,
                                    "dry_run": False, **kw}, NOW)


def test_k8s_image_update_that_never_rolls_out_is_rolled_back(cluster):
    plan = k8s_plan("game:1.5-bad")
    outcome = kinds.apply_update(inventory(), plan, "run-1", 60)
    assert outcome["state"] == "failed" and "TimeoutError" in outcome["reason"] and outcome["from"] == "game:1.4"
    backups = [{"target": "game", "state": "complete", "set_id": "game-1"}]
    branch, reasons = rollback.decide(plan, backups, outcome, None)
    assert branch == "rollback" and "rollout of game-production/game-server not done" in reasons[0]
    undone = rollback.roll_back(inventory(), plan, outcome, backups)
    assert undone["state"] == "rolled-back" and cluster.image() == "game:1.4"
    assert [c[1]["spec"]["template"]["spec"]["containers"][0]["image"] for c in cluster.calls] == \
        ["game:1.5-bad", "game:1.4"]


def test_k8s_image_update_that_rolls_out_stays(cluster):
    plan = k8s_plan("game:1.5")
    outcome = kinds.apply_update(inventory(), plan, "run-1", 60)
    assert outcome["state"] == "updated" and outcome["to"] == "game:1.5" and "2 of 2 replicas" in outcome["rollout"]
    backups = [{"target": "game", "state": "complete", "set_id": "game-1"}]
    assert rollback.decide(plan, backups, outcome, {"passed": True, "failures": [], "results": []})[0] == "promote"
    assert cluster.image() == "game:1.5"


def test_maintenance_mode_patches_the_configmap_all_or_nothing(cluster, monkeypatch):
    from include import maintenance as flag
    from include.update.window import maintenance

    # No task context here, so no Airflow Variable: its storage is a dict for this test (the dag.test
    # suite checks the real Variable and Redis key).
    stored = {}
    monkeypatch.setattr(flag, "_flags", lambda: dict(stored))
    monkeypatch.setattr(flag, "_save", lambda flags: (stored.clear(), stored.update(flags)))
    plan = k8s_plan("game:1.5", maintenance_configmap="game-config")
    assert maintenance(inventory(), plan, True, "test") == {"game": "on", "game:game-production/game-config": "on"}
    assert cluster.config_maps == {"game-config": {"maintenance_mode": "true"}} and "game" in stored
    maintenance(inventory(), plan, False, "")
    assert cluster.config_maps == {"game-config": {"maintenance_mode": "false"}} and stored == {}

    # the ConfigMap cannot be patched: the flags already raised are lowered again, and the task fails
    cluster.namespace = "elsewhere"
    with pytest.raises(RuntimeError, match="game-production/game-config"):
        maintenance(inventory(), plan, True, "test")
    assert stored == {}
