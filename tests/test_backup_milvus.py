"""Milvus backups against real Milvus Lite databases in temporary folders."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pymilvus
import pytest
from milvus_lite.server_manager import server_manager_instance
from pymilvus import DataType, MilvusClient

from include.backup import milvus as milvus_backup
from include.clients.milvus import lite_server_running
from include.inventory import parse_inventory
from include.targets import Endpoint

DIM = 8


def milvus_target(timeout: float = 300):
    return parse_inventory(
        {"targets": [{"name": "m1", "kind": "milvus", "conn_id": "x", "backup": {"timeout_seconds": timeout}}]}
    ).targets[0]


def vector(i: int) -> list[float]:
    rng = random.Random(i)
    return [rng.uniform(-1, 1) for _ in range(DIM)]


@pytest.fixture
def source_db(tmp_path):
    """A Lite file with ``docs`` (id, vec dim 8, title VARCHAR, n INT64; 2500 rows, HNSW/COSINE) and ``empty``."""
    path = str(tmp_path / "source.db")
    client = MilvusClient(path)
    try:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
        schema.add_field("title", DataType.VARCHAR, max_length=128)
        schema.add_field("n", DataType.INT64)
        index = client.prepare_index_params()
        index.add_index("vec", index_type="HNSW", metric_type="COSINE", params={"M": 8, "efConstruction": 64})
        client.create_collection("docs", schema=schema, index_params=index)
        rows = [
            {
                "id": i * 7,
                "vec": vector(i),
                "title": f"document «{i}»",
                "n": i * i,
                **({"extra": i} if i % 5 == 0 else {}),
            }
            for i in range(2500)
        ]
        for start in range(0, len(rows), 1000):
            client.insert("docs", rows[start : start + 1000])
        client.create_collection("empty", dimension=4)
        client.close()
        server_manager_instance.release_server(path)  # as a real target: no Lite server running in this process
        yield path
    finally:
        client.close()
        server_manager_instance.release_server(path)


def records(path: str, ids: list[int]) -> list[dict]:
    client = MilvusClient(path)
    try:
        client.load_collection("docs")  # Milvus Lite forgets the load state when its server restarts
        return sorted(client.query("docs", filter=f"id in {ids}", output_fields=["*"]), key=lambda r: r["id"])
    finally:
        client.close()
        server_manager_instance.release_server(path)


def assert_same_records(expected: list[dict], actual: list[dict]) -> None:
    assert [r["id"] for r in actual] == [r["id"] for r in expected]
    for want, got in zip(expected, actual):
        assert set(got) == set(want)
        for key, value in want.items():
            if key == "vec":
                assert got[key] == pytest.approx(value, abs=1e-6)
            else:
                assert got[key] == value, key


def test_dump_writes_schema_indexes_and_rows(source_db, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    result = milvus_backup.dump(milvus_target(), Endpoint(host=source_db), work)

    assert result.facts == {"docs": 2500, "empty": 0}
    assert result.tool_versions == {"pymilvus": pymilvus.__version__}
    schema = json.loads((work / "docs" / "schema.json").read_text())
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["id"]["type"] == "INT64" and fields["id"]["is_primary"]
    assert fields["vec"]["type"] == "FLOAT_VECTOR" and fields["vec"]["params"]["dim"] == DIM
    assert fields["title"]["params"]["max_length"] == 128
    indexes = json.loads((work / "docs" / "indexes.json").read_text())
    assert [(i["field"], i["index_type"], i["metric_type"]) for i in indexes] == [("vec", "HNSW", "COSINE")]
    lines = (work / "docs" / "data.jsonl").read_text().splitlines()
    assert len(lines) == 2500
    assert len(json.loads(lines[0])["vec"]) == DIM
    # the dump released the Lite server it started: the file can be opened again
    assert not lite_server_running(source_db)


def test_round_trip_into_scratch_gives_identical_records(source_db, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    t0 = time.monotonic()
    result = milvus_backup.dump(milvus_target(), Endpoint(host=source_db), work)
    t1 = time.monotonic()
    with milvus_backup.scratch(Endpoint(host=source_db), "set-1", work) as scratch_ep:
        observed = milvus_backup.restore(scratch_ep, work, result.facts, timeout_s=300)
        t2 = time.monotonic()
        ids = [0, 7, 35, 700, 17493]
        assert_same_records(records(source_db, ids), records(scratch_ep.host, ids))
        client = MilvusClient(scratch_ep.host)
        try:
            index = client.describe_index("docs", client.list_indexes("docs")[0])
            assert (index["field_name"], index["index_type"], index["metric_type"]) == ("vec", "HNSW", "COSINE")
            client.load_collection("docs")  # records() restarted the Lite server, which forgets load state
            hits = client.search("docs", [vector(100)], limit=1, output_fields=["id"])
            assert hits[0][0]["id"] == 700
        finally:
            client.close()
            server_manager_instance.release_server(scratch_ep.host)
    print(
        f"milvus 2500 rows dim {DIM}: dump {t1 - t0:.2f}s, restore into scratch {t2 - t1:.2f}s, "
        f"data.jsonl {(work / 'docs' / 'data.jsonl').stat().st_size} bytes"
    )
    assert observed == result.facts
    assert not Path(scratch_ep.host).parent.exists()  # scratch folder removed


def test_restore_over_a_live_database_replaces_changed_collections(source_db, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    result = milvus_backup.dump(milvus_target(), Endpoint(host=source_db), work)
    client = MilvusClient(source_db)
    client.delete("docs", filter="id < 700")
    client.insert("docs", [{"id": 1, "vec": vector(1), "title": "new", "n": -1}])
    client.create_collection("other", dimension=4)
    client.close()
    server_manager_instance.release_server(source_db)

    observed = milvus_backup.restore(Endpoint(host=source_db), work, result.facts, timeout_s=300)

    assert observed == result.facts
    assert records(source_db, [1]) == []
    assert records(source_db, [0])[0]["title"] == "document «0»"
    client = MilvusClient(source_db)
    assert "other" in client.list_collections()  # collections not in the backup are left alone
    client.close()
    server_manager_instance.release_server(source_db)
