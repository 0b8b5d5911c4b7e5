"""Milvus maintenance against a real Milvus Lite database in a temporary directory."""

from __future__ import annotations

import time

import pymilvus
import pytest
from milvus_lite.server_manager import server_manager_instance

from include.checks.base import run_bounded
from include.inventory import parse_inventory
from include.targets import Endpoint
from include.weekly import milvus
from tests.helpers import free_port

TARGET = parse_inventory(
    {"targets": [{"name": "vectors", "kind": "milvus", "conn_id": "x", "timeout_seconds": 20}]}
).targets[0]


@pytest.fixture
def lite(tmp_path):
    """A Milvus Lite file: ``docs`` (100 rows, ids 0-49 deleted) and ``archive`` (5 rows), both loaded."""
    path = str(tmp_path / "weekly.db")
    client = pymilvus.MilvusClient(path)
    try:
        for name, rows in (("docs", 100), ("archive", 5)):
            client.create_collection(name, dimension=4)
            client.insert(name, [{"id": i, "vector": [0.01 * i, 0.2, 0.3, 0.4]} for i in range(rows)])
            client.flush(name)
        client.delete("docs", ids=list(range(50)))
        client.flush("docs")
        yield path, client
    finally:
        client.close()
        server_manager_instance.release_server(path)


def run(path, dry_run, **settings):
    return milvus.maintain(TARGET, Endpoint(host=path), {**milvus.DEFAULTS, **settings}, dry_run=dry_run)


def test_compaction_completes_on_a_collection_with_deletions_and_keeps_the_live_rows(lite):
    path, client = lite
    client.close()
    result = run(path, dry_run=True)

    assert result.status == "ok", result.findings
    docs = result.details["collections"]["docs"]
    assert docs["compaction"]["state"] == "Completed"
    assert docs["compaction"]["action"] == "done"
    assert docs["rows_after"] == 50
    assert result.metrics["milvus.compactions_completed"] == 2
    assert [(i["name"], i["state"], i["action"]) for i in docs["indexes"]] == [("vector", "Finished", "none needed")]

    client = pymilvus.MilvusClient(path)
    survivors = client.query("docs", filter="id >= 0", output_fields=["id"], limit=1000)
    assert sorted(r["id"] for r in survivors) == list(range(50, 100))
    client.close()


def test_listed_cold_collection_is_released_only_outside_dry_run(lite):
    path, client = lite
    client.close()
    dry = run(path, dry_run=True, release_collections=["archive"])
    assert dry.details["collections"]["archive"]["release"] == "would do"
    assert dry.details["collections"]["docs"]["release"].startswith("skipped: not listed")
    assert dry.metrics["milvus.collections_released"] == 0

    done = run(path, dry_run=False, release_collections=["archive"])
    assert done.details["collections"]["archive"]["release"] == "done"
    assert done.metrics["milvus.collections_released"] == 1

    client = pymilvus.MilvusClient(path)
    states = {n: milvus.load_state_name(client.get_load_state(n)) for n in ("docs", "archive")}
    client.close()
    assert states == {"docs": "Loaded", "archive": "NotLoad"}

    again = run(path, dry_run=False, release_collections=["archive"])  # idempotent: already released
    assert "release" not in again.details["collections"]["archive"]
    assert again.metrics["milvus.collections_released"] == 0


def test_unknown_collection_in_the_release_list_is_named(lite):
    path, client = lite
    client.close()
    result = run(path, dry_run=True, release_collections=["archive", "gone"])
    assert result.status == "warning"
    assert "['gone']" in result.findings[0].message


def test_rebuild_index_keeps_its_type_and_metric(lite):
    path, client = lite
    client.release_collection("archive")
    client.drop_index("archive", "vector")
    params = client.prepare_index_params()
    params.add_index(
        field_name="vector", index_type="IVF_FLAT", index_name="vector", metric_type="L2", params={"nlist": 8}
    )
    client.create_index("archive", params)
    client.load_collection("archive")
    before = client.describe_index("archive", "vector")

    milvus.rebuild_index(client, "archive", "vector", reload=True, timeout=20)

    after = client.describe_index("archive", "vector")
    assert (after["index_type"], after["metric_type"]) == ("IVF_FLAT", "L2")  # Lite does not echo build params
    assert {k: v for k, v in after.items() if k != "state"} == {k: v for k, v in before.items() if k != "state"}
    assert milvus.load_state_name(client.get_load_state("archive")) == "Loaded"


def test_time_bound_skips_the_rest_and_says_so(lite):
    path, client = lite
    client.close()
    result = run(path, dry_run=True, max_seconds=1e-9)
    assert result.status == "warning"
    assert {r["action"] for r in result.details["collections"].values()} == {
        "skipped: max_seconds reached before this collection"
    }
    assert result.metrics["milvus.compactions_completed"] == 0


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="release_collections: must be a list"):
        milvus.check_settings({**milvus.DEFAULTS, "release_collections": "archive"})


def test_milvus_down_fails_within_the_bound():
    started = time.monotonic()
    result = run_bounded(TARGET.name, TARGET.kind, lambda: run(f"http://127.0.0.1:{free_port()}", dry_run=True), 15)
    assert result.status == "unreachable"
    assert time.monotonic() - started < 16
