"""Neo4j check through the REAL Neo4jClient around a FAKE driver (no Neo4j server on this machine)."""

from __future__ import annotations

import time

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import ServiceUnavailable

from include.checks.base import run_bounded
from include.checks.neo4j import SHOW_DATABASES, SHOW_INDEXES, check
from include.clients.neo4j import Neo4jClient, connect
from include.inventory import parse_inventory
from include.targets import Endpoint, endpoint_for_conn
from tests.fakes import FakeNeo4jDriver

TARGET = parse_inventory({"targets": [{"name": "graph", "kind": "neo4j", "conn_id": "neo4j_main",
                                       "timeout_seconds": 7}]}).targets[0]

ONLINE_DBS = [
    {"name": "neo4j", "currentStatus": "online", "requestedStatus": "online"},
    {"name": "system", "currentStatus": "online", "requestedStatus": "online"},
]
ONLINE_INDEXES = [
    {"name": "person_name", "state": "ONLINE", "populationPercent": 100.0, "type": "RANGE"},
    {"name": "index_343aff4e", "state": "ONLINE", "populationPercent": 100.0, "type": "LOOKUP"},
]


def fake_driver(databases=ONLINE_DBS, indexes=ONLINE_INDEXES, index_db=None, **kwargs) -> FakeNeo4jDriver:
    return FakeNeo4jDriver({("system", SHOW_DATABASES): databases, (index_db, SHOW_INDEXES): indexes}, **kwargs)


def run(driver: FakeNeo4jDriver, endpoint: Endpoint = Endpoint()):
    return check(TARGET, endpoint, None, client=Neo4jClient(driver, TARGET.timeout_seconds))


def test_everything_online_is_ok_and_queries_carry_the_timeout():
    driver = fake_driver()
    result = run(driver)
    assert result.status == "ok", result.findings
    assert result.metrics == {"neo4j.databases": 2, "neo4j.databases_offline": 0, "neo4j.indexes_not_online": 0}
    assert [(r["database"], r["cypher"], r["timeout"]) for r in driver.runs] == [
        ("system", SHOW_DATABASES, 7.0), (None, SHOW_INDEXES, 7.0)]
    assert all(s["connection_acquisition_timeout"] == 7.0 for s in driver.sessions)
    assert result.details["databases"] == ONLINE_DBS


def test_indexes_are_read_from_the_connection_schema_database():
    driver = fake_driver(index_db="movies")
    result = run(driver, Endpoint(host="graph", schema="movies"))
    assert result.status == "ok"
    assert driver.runs[1]["database"] == "movies"


def test_database_down_unexpectedly_is_critical():
    dbs = ONLINE_DBS + [{"name": "sales", "currentStatus": "offline", "requestedStatus": "online"}]
    result = run(fake_driver(databases=dbs))
    assert result.status == "critical"
    assert result.metrics["neo4j.databases"] == 3
    assert result.metrics["neo4j.databases_offline"] == 1
    assert result.findings[0].level == "critical"
    assert "database sales is offline (requested online)" in result.findings[0].message


def test_database_offline_on_request_is_only_a_warning():
    dbs = ONLINE_DBS + [{"name": "archive", "currentStatus": "offline", "requestedStatus": "offline"}]
    result = run(fake_driver(databases=dbs))
    assert result.status == "warning"
    assert result.metrics["neo4j.databases_offline"] == 1
    assert "archive" in result.findings[0].message


def test_populating_index_is_a_warning_and_failed_index_critical():
    populating = ONLINE_INDEXES + [{"name": "movie_title", "state": "POPULATING",
                                    "populationPercent": 42.5, "type": "FULLTEXT"}]
    result = run(fake_driver(indexes=populating))
    assert result.status == "warning"
    assert result.metrics["neo4j.indexes_not_online"] == 1
    assert "FULLTEXT index movie_title is POPULATING (42.5% populated)" == result.findings[0].message

    failed = populating + [{"name": "embedding", "state": "FAILED", "populationPercent": None, "type": "VECTOR"}]
    result = run(fake_driver(indexes=failed))
    assert result.status == "critical"
    assert result.metrics["neo4j.indexes_not_online"] == 2
    assert [f.level for f in result.findings] == ["warning", "critical"]


def test_given_client_is_left_open_for_its_owner():
    driver = fake_driver()
    run(driver)
    assert driver.closed is False
    Neo4jClient(driver, 1).close()
    assert driver.closed is True


def test_server_unavailable_becomes_unreachable():
    driver = fake_driver(error=ServiceUnavailable("Couldn't connect to graph:7687"))
    result = run_bounded(TARGET.name, TARGET.kind, lambda: run(driver), 5)
    assert result.status == "unreachable"
    assert "ServiceUnavailable" in result.findings[0].message


def test_real_driver_accepts_the_seam_session_config_and_fails_fast_without_a_server():
    """The one piece of the seam the fake cannot vouch for: the real driver's session/Query API."""
    driver = GraphDatabase.driver("bolt://127.0.0.1:1", auth=("neo4j", "pw-s3cret"))
    client = Neo4jClient(driver, 2)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as err:
        client.query("RETURN 1", database="system")
    client.close()
    assert time.monotonic() - started < 5
    assert "pw-s3cret" not in str(err.value)


def test_connect_builds_the_real_driver_from_the_airflow_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NEO4J_MAIN", "neo4j://neo4j:pw-s3cret@127.0.0.1:1")
    endpoint = endpoint_for_conn("neo4j_main")
    client = connect(endpoint, 2)
    try:
        assert type(client.driver).__module__.startswith("neo4j")
        assert client.timeout_s == 2
        with pytest.raises(ServiceUnavailable):
            client.query("RETURN 1")
    finally:
        client.close()
