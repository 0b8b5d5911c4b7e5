"""A 3-day backfill of the daily check with a Milvus Lite target: every day's report says the target is healthy.

Milvus Lite lets one process at a time open its file (a second open fails: ``Open local milvus failed``). The three
days run at once, as three ``dag.test()`` processes released together, on one Lite file (empty, as the demo's),
one Aegis catalog and one artifact folder, while a fourth process (a weekly maintenance or a backup of the file,
through the same client) has the file open for a few seconds. Each day has its own copy of the migrated Airflow
metadata database (SQLite allows one writer, and the metadata database is not what this test is about). The
client's file lock (include/clients/milvus.py) makes them take turns.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pymilvus
import pytest
from milvus_lite.server_manager import server_manager_instance

from tests.helpers import REPO, write_inventory

DAYS = [datetime(2026, 3, 10, tzinfo=UTC) + timedelta(days=i) for i in range(3)]
HOLD_S = 8

HOLD_FILE = """
import sys, time
from pathlib import Path
from include.clients.milvus import session
from include.targets import Endpoint

path, hold_s, *checking = sys.argv[1:]
with session(Endpoint(host=path), 30) as client:
    client.list_collections()
    print("open", flush=True)
    deadline = time.monotonic() + 400
    while not all(Path(c).exists() for c in checking) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(float(hold_s))  # every day is now opening the file (it takes them about 4 s from the marker)
"""

RUN_DAY = """
import logging, sys, time
from datetime import datetime
from pathlib import Path
from airflow.dag_processing.dagbag import DagBag

dag_file, day, ready, go, checking = sys.argv[1:6]


class Marker(logging.Handler):
    # touches the "checking" file when dag.test starts the check task (the holder of the file waits for them)

    def emit(self, record):
        if "starting task_id=check_targets" in record.getMessage():
            Path(checking).touch()


logging.getLogger("airflow.sdk.definitions.dag").addHandler(Marker())
dag = DagBag(dag_folder=dag_file).get_dag("daily_health_check")
Path(ready).touch()
deadline = time.monotonic() + 300
while not Path(go).exists() and time.monotonic() < deadline:
    time.sleep(0.01)
run = dag.test(logical_date=datetime.fromisoformat(day))
print("RUN", run.state, run.run_id, flush=True)
"""


@pytest.fixture
def lite_file(tmp_path):
    """A Milvus Lite file (no collection, as the demo's), its server released."""
    path = str(tmp_path / "milvus" / "demo.db")
    (tmp_path / "milvus").mkdir()
    client = pymilvus.MilvusClient(path)
    client.close()
    server_manager_instance.release_server(path)
    return path


def test_three_days_backfilled_at_once_each_report_the_lite_target_healthy(airflow_db, tmp_path, lite_file):
    inventory = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        defaults: {timeout_seconds: 60}
        targets:
          - {name: local-milvus, kind: milvus, conn_id: bf_milvus}
        """,
    )
    procs = []
    for i, day in enumerate(DAYS):
        home = tmp_path / f"airflow-{i}"
        home.mkdir()
        shutil.copy(airflow_db / "airflow.db", home / "airflow.db")
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AEGIS_INVENTORY": str(inventory),
            "AIRFLOW_CONN_BF_MILVUS": json.dumps({"conn_type": "generic", "host": lite_file}),
        }
        args = [str(REPO / "dags" / "daily_health_check.py"), day.isoformat(), str(tmp_path / f"ready-{i}")]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", RUN_DAY, *args, str(tmp_path / "go"), str(tmp_path / f"checking-{i}")],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    deadline = time.monotonic() + 240
    while not all((tmp_path / f"ready-{i}").exists() for i in range(3)) and time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), [p.communicate()[0][-3000:] for p in procs if p.poll()]
        time.sleep(0.05)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_FILE, lite_file, str(HOLD_S), *(str(tmp_path / f"checking-{i}") for i in range(3))],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    (tmp_path / "go").touch()  # the three days start together; the file stays open elsewhere until they check it
    outputs = [p.communicate(timeout=400)[0] for p in procs]
    assert all((tmp_path / f"checking-{i}").exists() for i in range(3))
    assert holder.wait(60) == 0
    for out in outputs:
        assert "RUN success" in out, out[-4000:]

    reports = sorted((tmp_path / "artifacts" / "reports" / "daily_health_check").glob("*/*/report.json"))
    by_day = {json.loads(r.read_text())["interval"][1]: json.loads(r.read_text()) for r in reports}
    assert sorted(by_day) == [d.isoformat() for d in DAYS]
    for day, report in by_day.items():
        (row,) = [r for r in report["results"] if r["target"] == "local-milvus"]
        assert row["status"] == "ok", (day, row["findings"])
        assert row["metrics"]["milvus.collections"] == 0
        assert report["summary"]["status"] == "healthy", (day, report["summary"])
