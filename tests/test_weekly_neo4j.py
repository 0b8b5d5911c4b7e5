"""Neo4j maintenance against a REAL Bolt server (ArcadeDB, tests/servers/bolt.py) through Neo4jHook and the neo4j
driver; Neo4j 5's answers that server cannot give (store size from APOC, ``db.checkpoint()``, a FAILED index)
through the REAL Neo4jClient around the labelled FAKE driver of tests/fake_neo4j5.py."""

from __future__ import annotations

import time
import uuid

import pytest
from neo4j.exceptions import ServiceUnavailable

from include.checks.base import run_bounded
from include.clients.neo4j import Neo4jClient
from include.inventory import parse_inventory
from include.targets import Endpoint, endpoint_for, endpoint_for_conn
from include.weekly import neo4j as weekly_neo4j
from include.weekly.neo4j import (
    CHECKPOINT,
    COUNT_NODES,
    COUNT_RELATIONSHIPS,
    SHOW_CONSTRAINTS,
    SHOW_INDEXES,
    STORE_SIZE,
)
from tests.fake_neo4j5 import FakeNeo4jDriver, server_error
from tests.servers.bolt import DATABASE

TARGET = parse_inventory(
    {"targets": [{"name": "graph", "kind": "neo4j", "conn_id": "neo4j_weekly", "timeout_seconds": 7}]}
).targets[0]
INDEXES = [
    {
        "name": "person_name",
        "state": "ONLINE",
        "populationPercent": 100.0,
        "type": "RANGE",
        "entityType": "NODE",
        "labelsOrTypes": ["Person"],
        "properties": ["name"],
        "owningConstraint": None,
    },
    {
        "name": "person_id",
        "state": "ONLINE",
        "populationPercent": 100.0,
        "type": "RANGE",
        "entityType": "NODE",
        "labelsOrTypes": ["Person"],
        "properties": ["id"],
        "owningConstraint": "person_id_unique",
    },
]
CONSTRAINTS = [
    {
        "name": "person_id_unique",
        "type": "UNIQUENESS",
        "entityType": "NODE",
        "labelsOrTypes": ["Person"],
        "properties": ["id"],
        "ownedIndex": "person_id",
    }
]
STORE = [
    {
        "totalStoreSize": 19256826,
        "nodeStoreSize": 155610,
        "relStoreSize": 16964640,
        "propStoreSize": 416109,
        "stringStoreSize": 8192,
        "arrayStoreSize": 8192,
        "logSize": 262144000,
    }
]
NO_APOC = server_error(
    weekly_neo4j.PROCEDURE_NOT_FOUND,
    "There is no procedure with the name `apoc.monitor.store` registered for this database "
    "instance. Please ensure you've spelled the procedure name correctly and that the "
    "procedure is properly deployed.",
)


# ----------------------------------------------------------------------------------------- real server
def test_real_server_lists_indexes_and_constraints_and_says_what_it_cannot_do(bolt_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NEO4J_WEEKLY", bolt_server.connection())
    label = f"Account_{uuid.uuid4().hex[:6]}"
    index, constraint = f"{label.lower()}_email", f"{label.lower()}_id_unique"
    with bolt_server.driver() as driver, driver.session(database=DATABASE) as session:
        session.run(f"CREATE INDEX {index} IF NOT EXISTS FOR (a:{label}) ON (a.email)").consume()
        session.run(f"CREATE CONSTRAINT {constraint} IF NOT EXISTS FOR (a:{label}) REQUIRE a.id IS UNIQUE").consume()
        session.run(f"UNWIND range(1, 25) AS i CREATE (:{label} {{id: i, email: 'a' + i}})").consume()
    try:
        result = weekly_neo4j.maintain(TARGET, endpoint_for(TARGET), dict(weekly_neo4j.DEFAULTS), dry_run=True)
    finally:
        with bolt_server.driver() as driver, driver.session(database=DATABASE) as session:
            session.run(f"MATCH (a:{label}) DELETE a").consume()
            session.run(f"DROP CONSTRAINT {constraint} IF EXISTS").consume()
            session.run(f"DROP INDEX {index} IF EXISTS").consume()

    assert result.status == "ok", result.findings
    assert result.details["database"] == DATABASE
    indexes = {i["name"]: i for i in result.details["indexes"]}
    assert indexes[index]["state"] == "ONLINE" and indexes[index]["action"] == "none needed"
    assert constraint in {c["name"] for c in result.details["constraints"]}
    assert result.metrics["neo4j.constraints"] >= 1 and result.metrics["neo4j.indexes"] >= 1
    assert result.metrics["neo4j.nodes"] >= 25
    # what this server cannot do is said, not failed
    assert "neo4j.store_bytes" not in result.metrics
    assert result.details["store_size"].startswith("unavailable: apoc.monitor.store() is not supported by this server")
    assert result.details["checkpoint"]["action"] == "skipped: not supported by this server"
    assert result.details["checkpoint"]["success"] is None


# ------------------------------------------------------------- FAKE Neo4j 5 answers (the real server cannot)
def fake(db=None, indexes=INDEXES, store=STORE, checkpoint=None, errors=None, **kwargs) -> FakeNeo4jDriver:
    answers = {
        (db, SHOW_INDEXES): indexes,
        (db, SHOW_CONSTRAINTS): CONSTRAINTS,
        (db, COUNT_NODES): [{"nodes": 1200}],
        (db, COUNT_RELATIONSHIPS): [{"relationships": 5400}],
        (db, STORE_SIZE): store,
        (db, CHECKPOINT): checkpoint or [{"success": True, "message": "Checkpoint completed."}],
    }
    return FakeNeo4jDriver(answers, errors=errors, **kwargs)


def run(driver, endpoint=Endpoint(), dry_run=True, **settings):
    return weekly_neo4j.maintain(
        TARGET,
        endpoint,
        {**weekly_neo4j.DEFAULTS, **settings},
        dry_run=dry_run,
        client=Neo4jClient(driver, TARGET.timeout_seconds),
    )


def test_neo4j5_healthy_graph_reports_and_checkpoints_with_its_own_timeout():
    driver = fake()
    result = run(driver)

    assert result.status == "ok", result.findings
    assert result.metrics == {
        "neo4j.indexes_not_online": 0,
        "neo4j.indexes": 2,
        "neo4j.constraints": 1,
        "neo4j.nodes": 1200,
        "neo4j.relationships": 5400,
        "neo4j.store_bytes": 19256826,
    }
    assert result.details["constraints"][0]["ownedIndex"] == "person_id"
    assert result.details["checkpoint"] == {"success": True, "message": "Checkpoint completed.", "action": "done"}
    timeouts = {r["cypher"]: r["timeout"] for r in driver.runs}
    assert timeouts[CHECKPOINT] == 600.0
    assert timeouts[SHOW_INDEXES] == 7.0
    assert driver.runs[-1]["cypher"] == CHECKPOINT  # reports first, then the checkpoint


def test_neo4j5_failed_and_populating_indexes_are_graded_and_never_rebuilt():
    indexes = INDEXES + [
        {"name": "movie_title", "state": "POPULATING", "populationPercent": 12.5, "type": "FULLTEXT"},
        {"name": "embedding", "state": "FAILED", "populationPercent": 0.0, "type": "VECTOR"},
    ]
    driver = fake(indexes=indexes)
    result = run(driver, dry_run=False)

    assert result.status == "critical"
    assert result.metrics["neo4j.indexes_not_online"] == 2
    assert [f.level for f in result.findings] == ["warning", "critical"]
    assert "VECTOR index embedding is FAILED" in result.findings[1].message
    actions = {i["name"]: i["action"] for i in result.details["indexes"]}
    assert actions["embedding"].startswith("skipped: reported")
    assert not any("DROP" in r["cypher"].upper() or "CREATE" in r["cypher"].upper() for r in driver.runs)


def test_neo4j5_without_apoc_the_store_size_is_unavailable_and_said_so():
    result = run(fake(errors={(None, STORE_SIZE): NO_APOC}))
    assert result.status == "ok"
    assert "neo4j.store_bytes" not in result.metrics
    assert result.metrics["neo4j.nodes"] == 1200
    assert result.details["store_size"].startswith("unavailable: apoc.monitor.store() is not supported by this server")


def test_neo4j5_the_connection_schema_names_the_database_and_checkpoint_can_be_off():
    """FAKE: the real server under test has one database, so only the fake tells which one each statement used."""
    driver = fake(db="movies")
    result = run(driver, Endpoint(host="graph", schema="movies"), checkpoint=False)
    assert result.details["database"] == "movies"
    assert {r["database"] for r in driver.runs} == {"movies"}
    assert CHECKPOINT not in [r["cypher"] for r in driver.runs]
    assert result.details["checkpoint"]["action"].startswith("skipped")


def test_neo4j5_checkpoint_that_does_not_succeed_is_a_warning():
    result = run(fake(checkpoint=[{"success": False, "message": "Checkpoint interrupted by shutdown"}]))
    assert result.status == "warning"
    assert "Checkpoint interrupted by shutdown" in result.findings[0].message


def test_server_unavailable_becomes_unreachable(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NEO4J_WEEKLY", "bolt://root:pw-s3cret@127.0.0.1:1")  # nothing listens there
    result = run_bounded(
        TARGET.name,
        TARGET.kind,
        lambda: weekly_neo4j.maintain(TARGET, endpoint_for(TARGET), dict(weekly_neo4j.DEFAULTS), dry_run=True),
        20,
    )
    assert result.status == "unreachable"
    assert "ServiceUnavailable" in result.findings[0].message
    assert "pw-s3cret" not in str(result.to_dict())


def test_without_a_client_the_real_driver_is_built_from_the_endpoint(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NEO4J_WEEKLY", "neo4j://neo4j:pw-s3cret@127.0.0.1:1")
    quick = parse_inventory(
        {"targets": [{"name": "graph", "kind": "neo4j", "conn_id": "neo4j_weekly", "timeout_seconds": 2}]}
    ).targets[0]
    endpoint = endpoint_for_conn("neo4j_weekly")  # the first use imports Airflow (seconds)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as err:
        weekly_neo4j.maintain(quick, endpoint, dict(weekly_neo4j.DEFAULTS), dry_run=True)
    assert time.monotonic() - started < 2
    assert "pw-s3cret" not in str(err.value)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="checkpoint_timeout_seconds: must be greater than 0"):
        weekly_neo4j.check_settings({**weekly_neo4j.DEFAULTS, "checkpoint_timeout_seconds": 0})
