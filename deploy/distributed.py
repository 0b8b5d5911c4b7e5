"""Aegis's distributed shape as real processes on one machine: ``./aegis up --distributed`` / ``./aegis down``.

The same shape as ``docker-compose.yaml`` (tests/test_distributed_shape.py compares the two):

* Airflow with the **CeleryExecutor**: api-server, scheduler, dag-processor, triggerer and **two Celery
  workers**, each a process (session) of its own with its own working folder (``HOME``, ``TMPDIR``, cwd and
  ``AIRFLOW_HOME``), so nothing passes between tasks through a local path by accident;
* Airflow's metadata database in the local PostgreSQL (a dedicated database, created), the Celery broker and
  result backend on the local Redis (a dedicated db number);
* Aegis's catalog in PostgreSQL (a dedicated database) and its artifacts (reports, backup sets, task logs) in an
  S3-compatible store: moto's standalone server, started here (a real S3 bucket in production);
* StatsD metrics on (Airflow's own, and each routine's outcome from :mod:`include.publish`).

Worker 1 serves the ``default`` queue; worker 2 serves ``default`` and :data:`EXTRA_QUEUE`, so a target with
``queue: near-db`` in the inventory only ever runs on worker 2.

Settings come from the environment (all optional; the test sets every one to keep to itself):
``AEGIS_STATE`` (folder), ``AEGIS_API_PORT`` (8080), ``AEGIS_S3_PORT`` (9000), ``AEGIS_METADATA_DB``
(aegis_airflow), ``AEGIS_CATALOG_DB`` (aegis_catalog), ``AEGIS_REDIS_DB`` (5), ``AEGIS_STATSD``
(127.0.0.1:8125), ``AEGIS_WORKER_CONCURRENCY`` (4), ``AEGIS_WORKERS`` (2), ``AEGIS_INVENTORY``
(config/inventory.distributed.yaml). Run as ``python -m deploy.distributed up|down|env``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The second queue worker 2 serves besides ``default`` (targets close to it name it in ``queue:``).
EXTRA_QUEUE = "near-db"
#: The S3 bucket (and prefix) the artifacts and task logs live under.
BUCKET = "aegis-artifacts"
#: Airflow connection ids the distributed inventory names (catalog, artifacts).
CATALOG_CONN, ARTIFACTS_CONN = "aegis_catalog", "aegis_artifacts"
PG_HOST, PG_PORT, REDIS_HOST, REDIS_PORT = "127.0.0.1", 5432, "127.0.0.1", 6379


@dataclass(frozen=True)
class Settings:
    """Where this instance of the distributed mode lives and which ports / databases it uses."""

    state: Path
    api_port: int = 8080
    s3_port: int = 9000
    metadata_db: str = "aegis_airflow"
    catalog_db: str = "aegis_catalog"
    redis_db: int = 5
    statsd: str = "127.0.0.1:8125"
    workers: int = 2
    worker_concurrency: int = 4
    inventory: Path = REPO / "config" / "inventory.distributed.yaml"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """The settings from ``AEGIS_*`` variables (see the module docstring), defaults elsewhere."""
        e = os.environ if env is None else env
        return cls(
            state=Path(e.get("AEGIS_STATE", REPO / ".aegis" / "distributed")),
            api_port=int(e.get("AEGIS_API_PORT", 8080)),
            s3_port=int(e.get("AEGIS_S3_PORT", 9000)),
            metadata_db=e.get("AEGIS_METADATA_DB", "aegis_airflow"),
            catalog_db=e.get("AEGIS_CATALOG_DB", "aegis_catalog"),
            redis_db=int(e.get("AEGIS_REDIS_DB", 5)),
            statsd=e.get("AEGIS_STATSD", "127.0.0.1:8125"),
            workers=int(e.get("AEGIS_WORKERS", 2)),
            worker_concurrency=int(e.get("AEGIS_WORKER_CONCURRENCY", 4)),
            inventory=Path(e.get("AEGIS_INVENTORY", REPO / "config" / "inventory.distributed.yaml")),
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def secrets_file(self) -> Path:
        """Secrets every component shares (JWT signing key, api secret key, the admin password): made once."""
        return self.state / "secrets.json"


def worker_names(settings: Settings) -> list[str]:
    """``aegis-worker-1`` …: the hostname each worker's task instances carry."""
    return [f"aegis-worker-{i}" for i in range(1, settings.workers + 1)]


def worker_queues(settings: Settings, index: int) -> list[str]:
    """Worker 1 serves ``default``; every further worker also serves :data:`EXTRA_QUEUE`."""
    return ["default"] if index == 0 else ["default", EXTRA_QUEUE]


def components(settings: Settings) -> dict[str, list[str]]:
    """Every long-running Airflow process: name (the docker-compose service) → ``airflow`` arguments."""
    out = {
        "airflow-apiserver": ["api-server"],
        "airflow-scheduler": ["scheduler"],
        "airflow-dag-processor": ["dag-processor"],
        "airflow-triggerer": ["triggerer", "--skip-serve-logs"],  # task logs are in S3: no log server
    }
    for i, name in enumerate(worker_names(settings)):
        out[f"airflow-worker-{i + 1}"] = [
            "celery",
            "worker",
            "--queues",
            ",".join(worker_queues(settings, i)),
            "--celery-hostname",
            f"{name}@%h",
            "--skip-serve-logs",
        ]
    return out


def shared_secrets(settings: Settings) -> dict[str, str]:
    """The secrets all components share, created on first use (kept in the state folder, mode 0600)."""
    path = settings.secrets_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "jwt_secret": secrets.token_urlsafe(32),
            "secret_key": secrets.token_urlsafe(32),
            "admin_password": secrets.token_urlsafe(12),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
    return json.loads(path.read_text())


def airflow_env(settings: Settings) -> dict[str, str]:
    """The settings every Airflow component (and every task) runs with: the same names as docker-compose.yaml's
    ``x-aegis-common`` environment."""
    s = shared_secrets(settings)
    statsd_host, statsd_port = settings.statsd.rsplit(":", 1)
    passwords = settings.state / "passwords.json"
    if not passwords.exists():
        fd = os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"admin": s["admin_password"]}, f)
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/{settings.metadata_db}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{settings.redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"redis://{REDIS_HOST}:{REDIS_PORT}/{settings.redis_db}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(settings.worker_concurrency),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.api_url}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.api_port),
        "AIRFLOW__API__BASE_URL": settings.api_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": s["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": s["secret_key"],
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "include.worker_identity.hostname",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": statsd_host,
        "AIRFLOW__METRICS__STATSD_PORT": statsd_port,
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        # Task logs in the shared store: the api-server reads any worker's log without reaching the worker.
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{BUCKET}/logs",
        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": ARTIFACTS_CONN,
        "AEGIS_INVENTORY": str(settings.inventory),
        "AEGIS_DISTRIBUTED": "1",
        f"AIRFLOW_CONN_{CATALOG_CONN.upper()}": f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{settings.catalog_db}",
        f"AIRFLOW_CONN_{ARTIFACTS_CONN.upper()}": json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": settings.s3_url, "region_name": "us-east-1"},
            }
        ),
        "PYTHONPATH": str(REPO),
    }


def component_env(settings: Settings, name: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """One component's environment: the shared settings plus a private HOME / TMPDIR / AIRFLOW_HOME, and the
    worker's name for a worker."""
    home = settings.state / name
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith("AIRFLOW__") and k != "AIRFLOW_HOME"
    }
    env.update(airflow_env(settings))
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            "AIRFLOW_HOME": str(home),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    if name.startswith("airflow-worker-"):
        env["AEGIS_WORKER_NAME"] = f"aegis-worker-{name.rsplit('-', 1)[1]}"
    return env


# -- start / stop --------------------------------------------------------------------------------------------


def _pids_file(settings: Settings) -> Path:
    return settings.state / "pids.json"


def _spawn(settings: Settings, name: str, argv: list[str], env: dict[str, str]) -> int:
    """Start ``argv`` as a session of its own in the component's folder, output to ``<state>/<name>.log``."""
    cwd = settings.state / name
    cwd.mkdir(parents=True, exist_ok=True)
    with open(settings.state / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pids = json.loads(_pids_file(settings).read_text()) if _pids_file(settings).exists() else {}
    pids[name] = proc.pid
    _pids_file(settings).write_text(json.dumps(pids))
    return proc.pid


def _run(argv: list[str], env: dict[str, str], cwd: Path, what: str, timeout: float = 600) -> None:
    done = subprocess.run(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stderr[-3000:] or done.stdout[-3000:]}")


def create_databases(settings: Settings) -> None:
    """The metadata and catalog databases in the local PostgreSQL (identifiers quoted by the driver)."""
    from deploy.metadata import ensure_database

    for db in (settings.metadata_db, settings.catalog_db):
        ensure_database(PG_HOST, PG_PORT, db)


def drop_databases(settings: Settings) -> None:
    """Drop both databases (the test's teardown; ``down`` keeps them)."""
    from deploy.metadata import drop_database

    for db in (settings.metadata_db, settings.catalog_db):
        drop_database(PG_HOST, PG_PORT, db)


def start_s3(settings: Settings, base_env: dict[str, str] | None = None) -> None:
    """moto's S3-compatible server on ``s3_port`` and the bucket; waits until it answers."""
    env = component_env(settings, "s3", base_env)
    _spawn(settings, "s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(settings.s3_port)], env)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{settings.s3_url}/moto-api/", timeout=2)
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the S3 server did not answer on {settings.s3_url}; see {settings.state}/s3.log"
                ) from exc
            time.sleep(0.3)
    import boto3
    from botocore.config import Config

    s3 = boto3.client(
        "s3",
        endpoint_url=settings.s3_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        config=Config(connect_timeout=5, read_timeout=30),
    )
    if BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=BUCKET)


def init_airflow(settings: Settings, base_env: dict[str, str] | None = None) -> None:
    """What docker-compose's ``airflow-init`` does: migrate the metadata database, create the pools."""
    env = component_env(settings, "airflow-init", base_env)
    cwd = settings.state / "airflow-init"
    airflow = [sys.executable, "-m", "airflow"]
    _run(airflow + ["db", "migrate"], env, cwd, "airflow db migrate")
    _run(
        airflow
        + [
            "pools",
            "set",
            "aegis_postgres_maintenance",
            os.environ.get("AEGIS_POSTGRES_POOL_SLOTS", "2"),
            "Aegis: PostgreSQL servers maintained at once (weekly_maintenance)",
        ],
        env,
        cwd,
        "airflow pools set",
    )


def up(settings: Settings, base_env: dict[str, str] | None = None) -> None:
    """Start everything (S3 store, databases, then every Airflow component); returns once started.

    ``base_env``: the environment the components start from (default: this process's); ``AIRFLOW__*``
    settings in it are replaced by :func:`airflow_env`, connections (``AIRFLOW_CONN_*``) are kept."""
    settings.state.mkdir(parents=True, exist_ok=True)
    if running(settings):
        raise RuntimeError(f"already running (see {_pids_file(settings)}); ./aegis down first")
    create_databases(settings)
    start_s3(settings, base_env)
    init_airflow(settings, base_env)
    for name in components(settings):
        start(settings, name, base_env)


def start(settings: Settings, name: str, base_env: dict[str, str] | None = None) -> int:
    """Start one component (``up`` starts them all; the benchmark restarts worker 2); its session id."""
    args = components(settings)[name]
    return _spawn(settings, name, [sys.executable, "-m", "airflow", *args], component_env(settings, name, base_env))


def wait_healthy(settings: Settings, timeout: float = 240) -> None:
    """Until the api-server's health endpoint answers with a healthy metadata database and scheduler."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{settings.api_url}/api/v2/monitor/health", timeout=5) as r:
                body = json.load(r)
            if body["metadatabase"]["status"] == "healthy" and body["scheduler"]["status"] == "healthy":
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(2)
    raise RuntimeError(
        f"Airflow did not become healthy on {settings.api_url} in {timeout:.0f} s; logs in {settings.state}"
    )


def sessions(settings: Settings) -> dict[str, int]:
    """Component name → session id (= the pid it was started with) of what ``up`` started."""
    path = _pids_file(settings)
    return json.loads(path.read_text()) if path.exists() else {}


def family(settings: Settings, only: str | None = None) -> list:
    """Every live process ``up`` started (``only``: of that component): each component's session and any
    descendant that left it."""
    import psutil

    sids = {sid for name, sid in sessions(settings).items() if only is None or name == only}
    found = {}
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) in sids:
                found[p.pid] = p
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    for sid in sids:
        try:
            if os.getsid(sid) != sid:  # that pid is no longer the session we started
                continue
            for child in psutil.Process(sid).children(recursive=True):
                found[child.pid] = child
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return list(found.values())


def running(settings: Settings) -> bool:
    return bool(family(settings))


def down(settings: Settings, grace: float = 30) -> None:
    """SIGTERM every session ``up`` started (and strays), SIGKILL what is left after ``grace`` s."""
    stop(settings, None, grace)
    _pids_file(settings).unlink(missing_ok=True)


def stop(settings: Settings, only: str | None, grace: float = 30) -> None:
    """Stop one component (``only``, e.g. ``airflow-worker-2``: a worker lost) or, with None, all of them."""
    import psutil

    procs = family(settings, only)
    for name, sid in sessions(settings).items():
        if only is not None and name != only:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(sid, signal.SIGTERM)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    alive += [p for p in family(settings, only) if p.is_running() and p not in alive]
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=10)


def main(argv: list[str]) -> int:
    settings = Settings.from_env()
    command = argv[0] if argv else ""
    if command == "up":
        up(settings)
        wait_healthy(settings)
        print(
            json.dumps(
                {
                    "ui": settings.api_url,
                    "user": "admin",
                    "password": shared_secrets(settings)["admin_password"],
                    "inventory": str(settings.inventory),
                    "artifacts": f"s3://{BUCKET}/aegis",
                    "s3": settings.s3_url,
                    "logs": str(settings.state),
                },
                indent=1,
            )
        )
        return 0
    if command == "down":
        down(settings)
        return 0
    if command == "env":
        for key, value in airflow_env(settings).items():
            print(f"export {key}={json.dumps(value)}")
        return 0
    print("usage: python -m deploy.distributed up|down|env", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
