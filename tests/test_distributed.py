"""The distributed shape, run for real (``./aegis up --distributed``'s :mod:`deploy.distributed`): CeleryExecutor
with two Celery workers (separate process sessions, private HOME / TMPDIR / cwd / AIRFLOW_HOME), the metadata DB
and the catalog in the local PostgreSQL, the broker on the local Redis, artifacts and task logs on a moto S3
server, StatsD metrics to a UDP listener here.

It proves: the daily check over 14 targets spreads over both workers and a target's ``queue:`` pins its task to
the worker serving that queue; a backup (of a ``default`` target) written on one worker is verified on the other
(the writer is stopped first: the verifying worker never saw the set, it reads S3 and the PostgreSQL catalog;
verification goes to the queue of the set's target, so the target is on ``default``); reports are in S3;
each routine's outcome reaches StatsD; ``down`` leaves no process behind.

Run alone: ``.venv/bin/python -m pytest -m distributed -q`` (about 3 to 4 minutes on 2 cores).
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from urllib.parse import quote

import httpx
import psutil
import psycopg
import pytest
import redis
from psycopg import sql

from deploy import distributed
from tests.helpers import free_port, write_inventory

pytestmark = pytest.mark.distributed

PG_TARGETS = [f"d-pg-{i}" for i in range(1, 5)]
REDIS_TARGETS = [f"d-redis-{i}" for i in range(1, 5)]
MARIA_TARGETS = [f"d-maria-{i}" for i in range(1, 4)]
PINNED = ["d-maria-3", "d-host", "d-logs"]  # queue near-db: only worker 2 serves it
DAILY_TARGETS = PG_TARGETS + REDIS_TARGETS + MARIA_TARGETS + ["d-host", "d-logs", "d-pg-cat"]
BACKED_UP = "d-backup-pg"
WORKERS = ["aegis-worker-1", "aegis-worker-2"]


class UdpListener:
    """A StatsD stand-in: keeps every datagram received on a free UDP port."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except OSError:
                continue
            self.lines.extend(data.decode(errors="replace").splitlines())

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def claim_redis_db(client_for) -> int:
    """A Redis db number nobody uses (empty), claimed with a marker key so a concurrent run picks another."""
    for db in secrets.SystemRandom().sample(range(6, 16), 10):
        r = client_for(db)
        if r.dbsize() == 0 and r.set("aegis:distributed-test:claim", "1", nx=True) and r.dbsize() == 1:
            return db
    pytest.skip("no empty Redis db number among 6..15")


@pytest.fixture
def stack(tmp_path, request):
    """The distributed mode in tmp_path on free ports, its own databases and Redis db; stopped and removed after."""
    tag = secrets.token_hex(4)
    statsd = UdpListener()
    redis_for = lambda db: redis.Redis(host="127.0.0.1", port=6379, db=db, socket_timeout=5)  # noqa: E731
    redis_db = claim_redis_db(redis_for)
    backup_db = f"aegis_dist_src_{tag}"
    admin = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True, connect_timeout=10)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(backup_db)))
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=backup_db, autocommit=True) as c:
        c.execute("CREATE TABLE orders (id int primary key, note text)")
        c.execute("INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 500) g")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text(f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())} INFO up\n")
    targets = "\n".join(
        [f"  - {{name: {n}, kind: postgres, conn_id: d_pg, tags: [db]}}" for n in PG_TARGETS]
        + [f"  - {{name: {n}, kind: redis, conn_id: d_redis, tags: [cache]}}" for n in REDIS_TARGETS]
        + [
            f"  - {{name: {n}, kind: mysql, conn_id: d_maria, tags: [db]"
            + (", queue: near-db}" if n in PINNED else "}")
            for n in MARIA_TARGETS
        ]
        + [
            "  - {name: d-host, kind: host, tags: [host], mounts: ['/'], queue: near-db}",
            "  - {name: d-logs, kind: log_source, tags: [logs], paths: ['logs/*.log'], queue: near-db}",
            "  - {name: d-pg-cat, kind: postgres, conn_id: d_pg, tags: [db]}",
            f"  - {{name: {BACKED_UP}, kind: postgres, conn_id: d_pg, tags: [backup], databases: [{backup_db}]}}",
        ]
    )
    inventory = write_inventory(
        tmp_path,
        f"""
version: 1
defaults: {{timeout_seconds: 10, fail_run_on: never}}  # this test is about where tasks run: verdicts on a shared machine vary
# February 29th: no tick since the DAGs' start date, so unpausing them creates no scheduled run (only ours run)
schedules:
  daily_health_check: {{cron: "0 0 29 2 *", timezone: UTC}}
  backup: {{cron: "0 0 29 2 *", timezone: UTC}}
  verify_backups: {{cron: "0 0 29 2 *", timezone: UTC}}
artifacts: {{base: "s3://{distributed.BUCKET}/aegis", conn_id: {distributed.ARTIFACTS_CONN}}}
catalog: {{conn_id: {distributed.CATALOG_CONN}}}
targets:
{targets}
""",
    )
    settings = distributed.Settings(
        state=tmp_path / "state",
        api_port=free_port(),
        s3_port=free_port(),
        metadata_db=f"aegis_dist_af_{tag}",
        catalog_db=f"aegis_dist_cat_{tag}",
        redis_db=redis_db,
        statsd=f"127.0.0.1:{statsd.port}",
        worker_concurrency=3,
        inventory=inventory,
    )
    base_env = {
        k: v
        for k, v in __import__("os").environ.items()
        if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AEGIS_"))
    }
    base_env.update(
        {
            "AIRFLOW_CONN_D_PG": "postgresql://postgres@127.0.0.1:5432/postgres",
            "AIRFLOW_CONN_D_REDIS": "redis://127.0.0.1:6379/0",
            "AIRFLOW_CONN_D_MARIA": "mysql://root@127.0.0.1:3306/",
        }
    )
    failed_before = request.session.testsfailed
    try:
        distributed.up(settings, base_env)
        yield settings, statsd
    finally:
        if request.session.testsfailed > failed_before:
            print(log_tails(settings))
        distributed.down(settings)
        leftover = [p for p in psutil.process_iter(["cwd"]) if str(settings.state) in (p.info.get("cwd") or "")]
        statsd.close()
        redis_for(redis_db).flushdb()
        distributed.drop_databases(settings)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(backup_db)))
        admin.close()
        assert not leftover, f"processes left behind after down: {leftover}"


def log_tails(settings: distributed.Settings, lines: int = 60) -> str:
    out = []
    for path in sorted(settings.state.glob("*.log")):
        text = path.read_text(errors="replace").splitlines()
        out.append(f"===== {path.name} (last {lines})\n" + "\n".join(text[-lines:]))
    return "\n".join(out)


class Api:
    """The api-server's REST API with a token from the simple auth manager."""

    def __init__(self, settings: distributed.Settings):
        self.client = httpx.Client(base_url=settings.api_url, timeout=30)
        password = distributed.shared_secrets(settings)["admin_password"]
        r = self.client.post("/auth/token", json={"username": "admin", "password": password})
        assert r.status_code == 201, r.text
        self.client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def get(self, path: str, **kw):
        r = self.client.get(path, **kw)
        assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:1000]}"
        return r.json()

    def wait(self, what: str, probe, timeout: float, interval: float = 2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = probe()
            if result:
                return result
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def dag_ready(self, dag_id: str, unpause: bool = True) -> None:
        def probe():
            errors = self.get("/api/v2/importErrors")
            assert errors["total_entries"] == 0, json.dumps(errors["import_errors"], indent=1)[:3000]
            r = self.client.get(f"/api/v2/dags/{dag_id}")
            return r.status_code == 200

        self.wait(f"DAG {dag_id}", probe, 180)
        r = self.client.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": not unpause})
        assert r.status_code == 200, r.text

    def trigger(self, dag_id: str, conf: dict) -> str:
        run_id = f"aegis_dist__{secrets.token_hex(5)}"
        r = self.client.post(
            f"/api/v2/dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": None, "conf": conf}
        )
        assert r.status_code == 200, r.text
        return run_id

    def finished(self, dag_id: str, run_id: str, timeout: float = 240) -> tuple[dict, list[dict]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"
        run = self.wait(
            f"{dag_id} run {run_id}",
            lambda: (lambda r: r if r["state"] in {"success", "failed"} else None)(self.get(path)),
            timeout,
        )
        tis = self.get(f"{path}/taskInstances", params={"limit": 200})["task_instances"]
        return run, tis


def test_distributed_shape_runs_on_two_workers(stack):
    settings, statsd = stack
    t0 = time.monotonic()
    distributed.wait_healthy(settings, timeout=240)
    api = Api(settings)
    for dag_id in ("daily_health_check", "backup"):
        api.dag_ready(dag_id)
    # verify_backups stays paused until the worker that writes the set is gone: otherwise the Asset could start
    # its verification on that very worker before the test stops it
    api.dag_ready("verify_backups", unpause=False)

    # Daily check over 14 targets and the backup at the same time; both workers are up.
    daily = api.trigger("daily_health_check", {"targets": DAILY_TARGETS, "alert": False})
    backup = api.trigger("backup", {"targets": [BACKED_UP]})
    run, tis = api.finished("daily_health_check", daily)
    states = {(t["task_id"], t["rendered_map_index"]): (t["state"], t["hostname"]) for t in tis}
    assert run["state"] == "success", states
    checks = [t for t in tis if t["task_id"] in {"check_targets__default", "check_targets__near-db"}]
    checked = sorted(n.strip() for t in checks for n in (t["rendered_map_index"] or "").split(","))
    assert checked == sorted(DAILY_TARGETS), checks
    assert {t["hostname"] for t in tis} == set(WORKERS), f"tasks ran on {states}"
    pinned = [t for t in checks if t["task_id"] == "check_targets__near-db"]
    assert sorted(n.strip() for t in pinned for n in t["rendered_map_index"].split(",")) == sorted(PINNED)
    assert {t["hostname"] for t in pinned} == {"aegis-worker-2"}, pinned
    assert all(t["queue"] == "near-db" for t in pinned), pinned

    run, tis = api.finished("backup", backup)
    assert run["state"] == "success", [(t["task_id"], t["state"]) for t in tis]
    (back_up,) = [
        t for t in tis if t["task_id"] in {"back_up__default", "back_up__near-db"} and t["state"] != "skipped"
    ]
    # on `default`: either worker may take it (verify goes to the queue of the set's target, so a set on
    # `near-db` would be verified on worker 2 again)
    assert back_up["hostname"] in WORKERS and back_up["queue"] == "default", back_up

    # The worker that wrote the set goes away, so the verification runs on the other, which never saw it.
    writer = f"airflow-{back_up['hostname'].removeprefix('aegis-')}"
    distributed.stop(settings, writer)
    assert not distributed.family(settings, writer)

    api.dag_ready("verify_backups")  # now: only the other worker is left to take it
    verify_id = api.trigger("verify_backups", {"targets": [BACKED_UP]})  # the target's newest set: the one just made
    run, tis = api.finished("verify_backups", verify_id)
    assert run["state"] == "success", [(t["task_id"], t["state"], t["hostname"]) for t in tis]
    (verify,) = [t for t in tis if t["task_id"] == "verify__default" and t["state"] != "skipped"]
    assert verify["hostname"] in WORKERS and verify["hostname"] != back_up["hostname"], (verify, back_up)
    verified = api.get(
        f"/api/v2/dags/verify_backups/dagRuns/{verify_id}/taskInstances/verify__default/xcomEntries/return_value",
        params={"map_index": 0},
    )
    assert '"verified"' in json.dumps(verified), verified

    # Reports of all three routines are in the S3 store; the catalog is the shared PostgreSQL database.
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=settings.s3_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=distributed.BUCKET, Prefix="aegis/")["Contents"]]
    for routine in ("daily_health_check", "backup", "verify_backups"):
        assert any(k.startswith(f"aegis/reports/{routine}/") and k.endswith("report.json") for k in keys), keys
    assert any(k.startswith(f"aegis/backups/{BACKED_UP}/") and k.endswith("manifest.json") for k in keys), keys
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=settings.catalog_db) as c:
        routines = {r[0] for r in c.execute("select routine from aegis_check_runs")}
    assert {"daily_health_check", "backup", "verify_backups"} <= routines

    # StatsD: Airflow's own metrics and every routine's outcome.
    time.sleep(1)
    names = {line.split(":", 1)[0] for line in statsd.lines}
    for routine in ("daily_health_check", "backup", "verify_backups"):
        assert {f"aegis.{routine}.verdict", f"aegis.{routine}.targets_failed", f"aegis.{routine}.duration"} <= names, (
            sorted(n for n in names if n.startswith("aegis"))
        )
    assert any(n.startswith("airflow.") for n in names), sorted(names)[:20]
    print(f"distributed test body: {time.monotonic() - t0:.0f} s")
