"""Test set-up: a private Airflow home (SQLite metadata DB) and fixtures for real local services.

Plain helpers (``free_port``, ``write_inventory``, ``mysql_run`` …) are in ``tests/helpers.py``.

The services are the real ones this machine runs (PostgreSQL 5432, MariaDB 3306,
Redis 6379); every test makes its own database / key prefix / server and
removes it afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, free_port

pytest_plugins = ["tests.servers.fixtures"]  # private Prometheus / Alertmanager instances
# Once per test session, however many times this module is imported.
_HOME = Path(os.environ.get("AEGIS_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="aegis-test-airflow-"))
os.environ.update(
    {
        "AEGIS_TEST_AIRFLOW_HOME": str(_HOME),
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
)
os.environ.setdefault("AEGIS_INVENTORY", str(REPO / "config" / "inventory.yaml"))


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated metadata DB for dag.test() (once per session)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=300,
    )
    return _HOME


@pytest.fixture
def pg_database():
    """A fresh PostgreSQL database on the local server, dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"aegis_test_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
        c.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
        c.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def redis_server():
    """A private redis-server on a spare port (so tests may change its config), stopped afterwards."""
    from include.clients.redis import private_server

    with private_server() as port:
        yield port


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers: a target that is up but hung."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    yield srv.getsockname()[1]
    srv.close()


@pytest.fixture(scope="session")
def s3_server():
    """moto's standalone S3-compatible server on a spare port (real HTTP, driven by the real S3Hook/boto3)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def s3_bucket(s3_server, monkeypatch):
    """A fresh bucket on the local S3 server and the Airflow connection ``aegis_s3_test`` pointing at it."""
    import json
    import uuid

    monkeypatch.setenv(
        "AIRFLOW_CONN_AEGIS_S3_TEST",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"},
            }
        ),
    )
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    bucket = f"aegis-test-{uuid.uuid4().hex[:10]}"
    S3Hook(aws_conn_id="aegis_s3_test").create_bucket(bucket_name=bucket)
    return bucket


# ------------------------------------------------------------------ real Kubernetes and Bolt servers
@pytest.fixture(scope="session")
def kube_cluster(request):
    """A real control plane (etcd + kube-apiserver + kube-controller-manager v1.20) for the session; see
    :mod:`tests.servers.kube`. The first use on a machine builds the binaries (minutes; progress shown)."""
    from tests.servers import kube

    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():  # the build's progress lines reach the terminal
        kube.ensure_binaries()
    yield from kube.running_cluster()


@pytest.fixture
def kube_namespace(kube_cluster):
    """A fresh namespace where Aegis's role (deploy/aegis-rbac.yaml) is bound; deleted afterwards."""
    import uuid

    from kubernetes import client

    name = f"aegis-test-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube_cluster.api())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)), _request_timeout=10)
    kube_cluster.grant(name)
    yield name
    core.delete_namespace(name, _request_timeout=10)


@pytest.fixture(scope="session")
def bolt_server():
    """A real Bolt (Neo4j protocol) server, ArcadeDB from PyPI, for the session; see :mod:`tests.servers.bolt`."""
    from tests.servers import bolt

    yield from bolt.running_server()


def pytest_terminal_summary(terminalreporter):
    """Say which real Kubernetes / Bolt server answered the tests (when any was started)."""
    from tests.servers import ANSWERED

    if ANSWERED:
        terminalreporter.section("real servers that answered")
        for line in ANSWERED:
            terminalreporter.write_line(line)


def pytest_addoption(parser):
    """``--calendar-edge NAME``: the whole session with Python's clock moved to that edge of
    :data:`tests.clock_edges.CALENDAR_EDGES` (ticking), to show the suite does not depend on today's date."""
    from tests.clock_edges import CALENDAR_EDGES

    parser.addoption(
        "--calendar-edge",
        choices=sorted(CALENDAR_EDGES),
        help="run every test with Python's clock moved to this calendar edge (time-machine, ticking)",
    )


def pytest_configure(config):
    edge = config.getoption("--calendar-edge", default=None)
    if edge:
        import time_machine

        from tests.clock_edges import CALENDAR_EDGES

        traveller = time_machine.travel(CALENDAR_EDGES[edge], tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def pytest_report_header(config):
    edge = config.getoption("--calendar-edge", default=None)
    if edge:
        from datetime import UTC, datetime

        return f"calendar edge: {edge}, Python's clock reads {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    return None
