"""Milvus check against a real Milvus Lite database in a temporary directory."""

from __future__ import annotations

import subprocess
import sys
import time

import pymilvus
import pytest
from milvus_lite.server_manager import server_manager_instance

from include.checks import run_check
from include.checks.base import CheckResult
from include.checks.milvus import check, grade_collection
from include.clients.milvus import milvus_token, milvus_uri
from include.inventory import parse_inventory
from include.targets import Endpoint


def milvus_target(timeout: float = 10):
    return parse_inventory(
        {"targets": [{"name": "m1", "kind": "milvus", "conn_id": "x", "timeout_seconds": timeout}]}
    ).targets[0]


@pytest.fixture
def lite_db(tmp_path):
    """A Milvus Lite file with collection ``docs`` (7 rows, loaded) and ``archive`` (2 rows)."""
    path = str(tmp_path / "aegis.db")
    client = pymilvus.MilvusClient(path)
    try:
        for name, rows in (("docs", 7), ("archive", 2)):
            client.create_collection(name, dimension=4)
            client.insert(name, [{"id": i, "vector": [0.1 * i, 0.2, 0.3, 0.4]} for i in range(rows)])
        yield path, client
    finally:
        client.close()
        server_manager_instance.release_server(path)  # client.close() keeps the Lite server (and its lock)


def test_loaded_collections_are_ok_with_row_counts(lite_db):
    path, client = lite_db
    client.close()  # Milvus Lite holds a file lock

    result = check(milvus_target(), Endpoint(host=path), None)

    assert result.status == "ok", result.findings
    assert result.metrics["milvus.collections"] == 2
    assert result.metrics["milvus.rows_total"] == 9
    docs = result.details["collections"]["docs"]
    assert docs["rows"] == 7
    assert docs["load_state"] == "Loaded"
    assert [(i["name"], i["state"], i["indexed_rows"]) for i in docs["indexes"]] == [("vector", "Finished", 7)]


def test_released_collection_is_a_warning(lite_db):
    path, client = lite_db
    client.release_collection("archive")
    client.close()

    result = check(milvus_target(), Endpoint(host=path), None)

    assert result.status == "warning"
    assert len(result.findings) == 1
    assert "archive" in result.findings[0].message and "NotLoad" in result.findings[0].message
    assert result.details["collections"]["archive"]["load_state"] == "NotLoad"
    assert result.details["collections"]["docs"]["load_state"] == "Loaded"


OPEN_FROM_ANOTHER_PROCESS = """
import sys
from pymilvus import MilvusClient
client = MilvusClient(sys.argv[1])
print(sorted(client.list_collections()))
client.close()
"""


def test_check_releases_the_lite_file_lock(lite_db):
    path, client = lite_db
    client.close()
    server_manager_instance.release_server(path)

    check(milvus_target(), Endpoint(host=path), None)

    # Another process can only open the .db if the check's Lite server let go of its flock.
    opened = subprocess.run(
        [sys.executable, "-c", OPEN_FROM_ANOTHER_PROCESS, path], capture_output=True, text=True, timeout=120
    )
    assert opened.returncode == 0, opened.stderr[-2000:]
    assert "['archive', 'docs']" in opened.stdout


def test_check_leaves_a_lite_server_it_did_not_start_running(lite_db):
    path, client = lite_db  # the fixture's client is still open

    result = check(milvus_target(), Endpoint(host=path), None)

    assert result.metrics["milvus.collections"] == 2
    assert client.get_collection_stats("docs")["row_count"] == 7  # still usable


def test_unreachable_server_is_reported_quickly_without_the_token():
    started = time.monotonic()
    result = run_check(milvus_target(timeout=2), Endpoint(host="http://127.0.0.1:1", password="tok-s3cret"), None)

    assert result.status == "unreachable"
    assert time.monotonic() - started < 5
    assert "tok-s3cret" not in repr(result.to_dict())


def test_unbuilt_index_is_a_warning():
    # Milvus Lite builds indexes synchronously, so a pending index can only be shown with data.
    result = CheckResult("m1", "milvus")
    grade_collection(
        result,
        "docs",
        {
            "rows": 10,
            "load_state": "Loaded",
            "indexes": [{"name": "vector", "state": "InProgress", "indexed_rows": 4, "pending_index_rows": 6}],
        },
    )
    assert result.status == "warning"
    assert "index vector on docs is InProgress with 6 row(s) pending" in result.findings[0].message


@pytest.mark.parametrize(
    "endpoint, uri",
    [
        (Endpoint(host="/tmp/x.db"), "/tmp/x.db"),
        (Endpoint(host="milvus.internal", port=19531), "http://milvus.internal:19531"),
        (Endpoint(host="milvus.internal"), "http://milvus.internal:19530"),
        (Endpoint(host="https://milvus.example:443", port=19530), "https://milvus.example:443"),
    ],
)
def test_milvus_uri(endpoint, uri):
    assert milvus_uri(endpoint) == uri


def test_milvus_token():
    assert milvus_token(Endpoint(password="apikey")) == "apikey"
    assert milvus_token(Endpoint(login="root", password="pw")) == "root:pw"
    assert milvus_token(Endpoint(login="root")) == ""
