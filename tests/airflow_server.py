"""A real Airflow (``airflow standalone``) in a private AIRFLOW_HOME, driven over its REST API.

Used by the full-stack tests: it starts api-server, scheduler, dag-processor and
triggerer as one process group on a free port, logs their output to a file,
and stops every process it started (the whole session) afterwards.

Metadata database: as ``./aegis up`` (:mod:`deploy.metadata`), the local PostgreSQL when it answers, in a
database of the server's own (``aegis_test_meta_<random>``, dropped by ``stop()``) so it never meets a
developer's ``./aegis up`` or another test; SQLite in the private home otherwise (``metadata="sqlite"`` or
``AEGIS_TEST_METADATA=sqlite`` forces it).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from deploy.metadata import drop_database, ensure_database, postgres_answers, postgres_url
from tests.helpers import REPO, free_port

#: The local PostgreSQL the servers keep their metadata in when it answers.
METADATA_PG = ("127.0.0.1", 5432)
#: HTTP 500 bodies of a write that met another writer on SQLite: safe to repeat for idempotent requests.
LOCKED = ("database is locked", "Database error")


class AirflowServer:
    """``airflow standalone`` in ``home``; ``start()``, then ``login()``, then ``get``/``post``/``patch``."""

    def __init__(
        self,
        home: Path,
        extra_env: dict[str, str] | None = None,
        username: str = "admin",
        command: tuple[str, ...] = ("standalone",),
        users: dict[str, str] | None = None,
        metadata: str | None = None,
    ):
        """``command``: the ``airflow`` subcommand (``("api-server",)`` runs the API server alone, after
        ``airflow db migrate``); ``users``: more simple-auth-manager users as ``{name: role}``;
        ``metadata``: ``auto`` (PostgreSQL when it answers, else SQLite) or ``sqlite``; by default
        ``AEGIS_TEST_METADATA`` or ``auto``."""
        metadata = metadata or os.environ.get("AEGIS_TEST_METADATA") or "auto"
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://localhost:{self.port}"
        self.username = username
        self.command = command
        self.roles = {username: "admin", **(users or {})}
        self.passwords = {name: secrets.token_urlsafe(12) for name in self.roles}
        self.password = self.passwords[username]
        self.log_path = self.home / "standalone.log"
        self.proc: subprocess.Popen | None = None
        self._log_file = None
        self.token: str | None = None
        self.client = httpx.Client(base_url=self.base_url, timeout=30)
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps(self.passwords))
        venv_bin = str(Path(sys.executable).parent)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "AEGIS_"))
        }
        env.update(
            {
                "PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONPATH": str(REPO),
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                # Every DAG starts paused and each test unpauses the one it drives: otherwise the other
                # routines' scheduled runs act on the test's targets (the weekly run rotates its log files).
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                    f"{name}:{role}" for name, role in self.roles.items()
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__PARALLELISM": "8",  # LocalExecutor workers; the default 32 is heavy on 2 cores
                # Every component signs / checks the same tokens (REST JWTs and task-execution JWTs).
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            }
        )
        self.metadata_db: str | None = None  # the PostgreSQL database created for this server (dropped by stop)
        if metadata == "auto" and postgres_answers(*METADATA_PG):
            self.metadata_db = f"aegis_test_meta_{secrets.token_hex(4)}"
            env.update(
                {
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_url(*METADATA_PG, self.metadata_db),
                    # a few idle connections per process: several servers (and other tests) share the server
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "2",
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "8",
                }
            )
        env.update(extra_env or {})
        self.env = env

    @property
    def metadata_url(self) -> str:
        """The metadata database this server uses (``sqlite:///…`` or ``postgresql+psycopg2://…``)."""
        return self.env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or f"sqlite:///{self.home / 'airflow.db'}"

    # -- process -------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.metadata_db:
            ensure_database(*METADATA_PG, self.metadata_db)
        self._log_file = open(self.log_path, "ab")
        if self.command != ("standalone",):  # standalone migrates its database itself
            subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                cwd=self.home,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=300,
            )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", *self.command],
            cwd=self.home,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _family(self) -> list[psutil.Process]:
        """Every live process this server started: its session plus any descendant that left it."""
        if self.proc is None:
            return []
        sid = self.proc.pid  # start_new_session: the child leads its own session and process group
        found: dict[int, psutil.Process] = {}
        try:
            root = psutil.Process(self.proc.pid)
            found[root.pid] = root
            for child in root.children(recursive=True):
                found[child.pid] = child
        except psutil.NoSuchProcess:
            pass
        for p in psutil.process_iter():
            try:
                if os.getsid(p.pid) == sid:
                    found[p.pid] = p
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        return list(found.values())

    def stop(self, grace: float = 20) -> None:
        """SIGTERM the process group (and any stray descendant), then SIGKILL what is left."""
        if self.proc is None:
            return
        family = self._family()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for p in family:
            try:
                p.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(family, timeout=grace)
        alive += [p for p in self._family() if p.is_running()]
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=5)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.client.close()
        if self._log_file:
            self._log_file.close()
        if self.metadata_db:
            drop_database(*METADATA_PG, self.metadata_db)

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log_tails(self, lines: int = 80) -> str:
        """The end of the standalone log and of every task log: what to read when a test fails."""
        out = [_tail(self.log_path, lines * 2)]
        task_logs = sorted((self.home / "logs").rglob("*.log"), key=lambda p: p.stat().st_mtime)
        for path in task_logs[-8:]:
            out.append(_tail(path, lines))
        return "\n".join(out)

    # -- REST API ------------------------------------------------------------------------------------

    def wait_until(self, what: str, probe: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
        """Call ``probe`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.exited() is not None:
                raise AssertionError(f"airflow standalone exited ({self.exited()}) while waiting for {what}")
            try:
                result = probe()
                if result:
                    return result
            except (httpx.HTTPError, OSError) as exc:
                last_error = exc
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error!r})")

    def wait_healthy(self, timeout: float = 180) -> dict:
        def probe():
            r = self.client.get("/api/v2/monitor/health", timeout=5)
            return r.json() if r.status_code == 200 else None

        health = self.wait_until("GET /api/v2/monitor/health", probe, timeout)
        # The execution API builds its versioned app on its first request, holding the API server for a
        # minute or more on a loaded machine (measured: 93 s at load 20 on 2 cores); warm it up here rather
        # than let the first task's start time out into a retry.
        self.client.get("/execution/health", timeout=300)
        return health

    def login(self, username: str | None = None) -> str:
        """A JWT from the simple auth manager (``POST /auth/token``, JSON username/password) for ``username``
        (default: the admin), also set as this client's bearer token."""
        username = username or self.username
        r = self.client.post("/auth/token", json={"username": username, "password": self.passwords[username]})
        assert r.status_code == 201, f"POST /auth/token: {r.status_code} {r.text}"
        self.token = r.json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {self.token}"
        return self.token

    def request(
        self, method: str, path: str, expect: tuple[int, ...] = (200,), attempts: int = 5, **kwargs
    ) -> httpx.Response:
        """One API call; an idempotent one (not POST) that met a locked SQLite (HTTP 500 "database is
        locked") is repeated, a few times with a growing pause."""
        for attempt in range(1, attempts + 1):
            r = self.client.request(method, path, **kwargs)
            locked = r.status_code == 500 and any(text in r.text for text in LOCKED)
            if not locked or method.upper() == "POST" or attempt == attempts:
                break
            time.sleep(attempt)
        assert r.status_code in expect, f"{method} {path}: HTTP {r.status_code}: {r.text[:2000]}"
        return r

    def trigger(self, dag_id: str, conf: dict, attempts: int = 5) -> dict:
        """Trigger a run as the UI's form does (no logical date), under a run id chosen here.

        On SQLite (``airflow standalone``) the API server's write can collide with the scheduler's
        and answer HTTP 500 "Database error" (SQLite allows one writer). The run id makes a retry
        safe: a 409 on a retry means the earlier attempt did create the run.
        """
        run_id = f"aegis_test__{secrets.token_hex(6)}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        for attempt in range(1, attempts + 1):
            r = self.client.post(f"/api/v2/dags/{dag_id}/dagRuns", json=body)
            if r.status_code == 200 or (r.status_code == 409 and attempt > 1):
                return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if not (r.status_code == 500 and any(text in r.text for text in LOCKED)) or attempt == attempts:
                raise AssertionError(f"POST /api/v2/dags/{dag_id}/dagRuns: HTTP {r.status_code}: {r.text[:2000]}")
            time.sleep(2 * attempt)
        raise AssertionError("unreachable")

    def get(self, path: str, **kwargs) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, body: dict, **kwargs) -> Any:
        return self.request("POST", path, json=body, **kwargs).json()

    def patch(self, path: str, body: dict, **kwargs) -> Any:
        return self.request("PATCH", path, json=body, **kwargs).json()

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        """A task's log as text: the ``event`` of each structured line (JSON ``content`` list), in order."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        lines: list[str] = []
        params: dict[str, Any] = {"map_index": map_index, "full_content": True}
        for _ in range(20):  # bounded: follow continuation tokens until the end of the log
            body = self.get(path, params=params, headers={"Accept": "application/json"})
            for item in body.get("content") or []:
                if isinstance(item, str):
                    lines.append(item)
                else:
                    lines.append(str(item.get("event", "")))
            token = body.get("continuation_token")
            if not token or not body.get("content"):
                break
            params = {"map_index": map_index, "token": token}
        return "\n".join(lines)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"===== {path}: {exc}"
    return f"===== {path} (last {min(lines, len(text))} of {len(text)} lines)\n" + "\n".join(text[-lines:])
