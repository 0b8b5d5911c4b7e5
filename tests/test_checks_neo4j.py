"""Neo4j check against a REAL Bolt server (ArcadeDB, tests/servers/bolt.py) through Neo4jHook and the neo4j driver.

What that server cannot show (a database offline, an index POPULATING or FAILED) is graded from Neo4j 5's
answers replayed by the labelled FAKE driver in tests/fake_neo4j5.py.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import ServiceUnavailable

from include.checks.base import run_bounded
from include.checks.neo4j import SHOW_DATABASES, SHOW_INDEXES, SHOW_TRANSACTIONS, check
from include.clients.neo4j import Neo4jClient
from include.inventory import parse_inventory
from include.targets import Endpoint, endpoint_for
from tests.fake_neo4j5 import FakeNeo4jDriver
from tests.servers.bolt import DATABASE


def target(**fields):
    return parse_inventory(
        {"targets": [{"name": "graph", "kind": "neo4j", "conn_id": "neo4j_main", "timeout_seconds": 7, **fields}]}
    ).targets[0]


@pytest.fixture
def graph(bolt_server, monkeypatch):
    """The Airflow connection ``neo4j_main`` pointing at the real Bolt server; an admin driver for arranging."""
    monkeypatch.setenv("AIRFLOW_CONN_NEO4J_MAIN", bolt_server.connection())
    driver = bolt_server.driver()
    yield driver
    driver.close()


def admin(driver, cypher: str) -> list[dict]:
    with driver.session(database=DATABASE) as session:
        return session.run(cypher).data()


# ----------------------------------------------------------------------------------------- real server
def test_real_server_databases_listed_and_a_new_index_reported_until_online(graph):
    label = f"Person_{uuid.uuid4().hex[:6]}"
    index = f"{label.lower()}_name"
    admin(graph, f"CREATE INDEX {index} IF NOT EXISTS FOR (p:{label}) ON (p.name)")
    try:
        t = target()
        deadline = time.monotonic() + 30
        while True:  # the check reports the index; until it is ONLINE that is a warning
            result = check(t, endpoint_for(t), None)
            listed = {i["name"]: i for i in result.details["indexes"]}
            if listed.get(index, {}).get("state") == "ONLINE" or time.monotonic() > deadline:
                break
            assert result.status == "warning" and any(index in f.message for f in result.findings)
            time.sleep(0.5)
        assert index in listed, listed
        assert listed[index]["state"] == "ONLINE"
        assert {d["name"]: d["currentStatus"] for d in result.details["databases"]}[DATABASE] == "online"
        assert result.metrics["neo4j.databases"] >= 1 and result.metrics["neo4j.databases_offline"] == 0
        assert result.metrics["neo4j.indexes_not_online"] == 0
        assert result.status == "ok", result.findings
    finally:
        admin(graph, f"DROP INDEX {index} IF EXISTS")


def test_real_server_long_running_transaction_is_found(graph):
    t = target(thresholds={"long_transaction_warning_s": 1, "long_transaction_critical_s": 3600})
    quiet = check(t, endpoint_for(t), None)
    assert quiet.status == "ok", quiet.findings
    assert quiet.metrics["neo4j.oldest_transaction_s"] < 1

    # a statement that computes for many seconds (this server lists running statements as transactions)
    slow = (
        "UNWIND range(1, 1000000) AS i UNWIND range(1, 8) AS j WITH i, j WHERE (i * j) % 7 = 0"
        " AND 'tx-literal-never-shown' <> '' RETURN count(*) AS c"
    )
    outcome: list = []

    def run_slow():
        try:
            outcome.append(admin(graph, slow))
        except Exception as exc:  # noqa: BLE001 - terminated below
            outcome.append(exc)

    worker = threading.Thread(target=run_slow, daemon=True)
    worker.start()
    time.sleep(2.5)
    result = check(t, endpoint_for(t), None)
    for tx in result.details["long_transactions"]:
        admin(graph, f"TERMINATE TRANSACTION '{tx['id']}'")
    worker.join(120)
    assert result.status == "warning", result.details["long_transactions"]
    assert result.metrics["neo4j.oldest_transaction_s"] >= 2
    oldest = result.details["long_transactions"][0]
    assert oldest["user"] == "root" and oldest["elapsed_s"] >= 2 and oldest["database"] == DATABASE
    assert "oldest transaction open" in result.findings[0].message
    assert "tx-literal-never-shown" not in str(result.to_dict())  # ids only, never statements


def test_real_server_unreachable_port_becomes_unreachable_fast(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NEO4J_MAIN", "neo4j://root:pw-s3cret@127.0.0.1:1")
    t = target(timeout_seconds=2)
    started = time.monotonic()
    result = run_bounded(t.name, t.kind, lambda: check(t, endpoint_for(t), None), 10)
    assert time.monotonic() - started < 8
    assert result.status == "unreachable"
    assert "ServiceUnavailable" in result.findings[0].message
    assert "pw-s3cret" not in str(result.to_dict())


def test_real_driver_fails_fast_without_a_server():
    driver = GraphDatabase.driver("bolt://127.0.0.1:1", auth=("neo4j", "pw-s3cret"))
    client = Neo4jClient(driver, 2)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as err:
        client.query("RETURN 1", database="system")
    client.close()
    assert time.monotonic() - started < 5
    assert "pw-s3cret" not in str(err.value)


# ------------------------------------------------------------- FAKE Neo4j 5 answers (the real server cannot)
ONLINE_DBS = [
    {"name": "neo4j", "currentStatus": "online", "requestedStatus": "online"},
    {"name": "system", "currentStatus": "online", "requestedStatus": "online"},
]
ONLINE_INDEXES = [
    {"name": "person_name", "state": "ONLINE", "populationPercent": 100.0, "type": "RANGE"},
]


def fake_driver(databases=ONLINE_DBS, indexes=ONLINE_INDEXES) -> FakeNeo4jDriver:
    return FakeNeo4jDriver(
        {("system", SHOW_DATABASES): databases, (None, SHOW_INDEXES): indexes, (None, SHOW_TRANSACTIONS): []}
    )


def run_fake(driver: FakeNeo4jDriver):
    t = target()
    return check(t, Endpoint(), None, client=Neo4jClient(driver, t.timeout_seconds))


def test_neo4j5_database_down_unexpectedly_is_critical_offline_on_request_a_warning():
    dbs = ONLINE_DBS + [{"name": "sales", "currentStatus": "offline", "requestedStatus": "online"}]
    result = run_fake(fake_driver(databases=dbs))
    assert result.status == "critical"
    assert result.metrics["neo4j.databases_offline"] == 1
    assert "database sales is offline (requested online)" in result.findings[0].message

    dbs = ONLINE_DBS + [{"name": "archive", "currentStatus": "offline", "requestedStatus": "offline"}]
    result = run_fake(fake_driver(databases=dbs))
    assert result.status == "warning"
    assert "archive" in result.findings[0].message


def test_neo4j5_populating_index_is_a_warning_and_failed_index_critical():
    populating = ONLINE_INDEXES + [
        {"name": "movie_title", "state": "POPULATING", "populationPercent": 42.5, "type": "FULLTEXT"}
    ]
    result = run_fake(fake_driver(indexes=populating))
    assert result.status == "warning"
    assert result.findings[0].message == "FULLTEXT index movie_title is POPULATING (42.5% populated)"

    failed = populating + [{"name": "embedding", "state": "FAILED", "populationPercent": None, "type": "VECTOR"}]
    result = run_fake(fake_driver(indexes=failed))
    assert result.status == "critical"
    assert result.metrics["neo4j.indexes_not_online"] == 2
    assert [f.level for f in result.findings] == ["warning", "critical"]
