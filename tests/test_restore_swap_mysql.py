"""A live MySQL/MariaDB restore on the real server: loaded into a side schema, swapped in table by table (one
``RENAME TABLE``) only when it matches, the schema's grants, charset, collation and comment and the DEFINERs of its
view, trigger and procedure as before; a load that fails half-way (the second table's data corrupted, or the client
killed at its timeout) leaves the previous data in place, and through the ``restore`` DAG the run fails after its
report and alert."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime

import pytest

from include.backup import mysql as myb
from include.backup import store
from include.backup.mysql import quote_ident as q
from tests.helpers import load_dag, write_inventory
from tests.helpers import mysql_run as run
from tests.test_backup_mysql import checksums, endpoint, make_target
from tests.test_run_failure import no_retries  # noqa: F401  (a fixture: the failure under test is final)

L1 = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)


def state(db: str, app: str) -> dict:
    """Everything a restore must give back: every table's checksum, the app account's grants, the definitions and
    DEFINERs of the view, trigger and procedure, and the schema's charset, collation and comment."""
    conn = myb._connect(endpoint(None), 30)
    try:
        props = myb.schema_properties(conn.cursor(), db)
    finally:
        conn.close()
    return {
        "content": checksums(db),
        "grants": sorted(g for (g,) in run(f"SHOW GRANTS FOR '{app}'@'%'")),
        "views": run(
            "SELECT table_name, definer, security_type, view_definition FROM information_schema.views"
            " WHERE table_schema = %s ORDER BY 1",
            args=(db,),
        ),
        "triggers": run(
            "SELECT trigger_name, definer, event_object_table, action_statement FROM information_schema.triggers"
            " WHERE trigger_schema = %s ORDER BY 1",
            args=(db,),
        ),
        "routines": run(
            "SELECT routine_name, definer, security_type, routine_definition FROM information_schema.routines"
            " WHERE routine_schema = %s ORDER BY 1",
            args=(db,),
        ),
        "events": run(
            "SELECT event_name, definer, time_zone, event_definition, interval_value, status FROM"
            " information_schema.events WHERE event_schema = %s ORDER BY 1",
            args=(db,),
        ),
        "properties": props,
    }


def side_schemas(db: str) -> list[str]:
    """The side (``aegis_scratch_new_…``) and replaced (``aegis_scratch_replaced_…``) schemas of ``db`` left over."""
    return [
        name
        for (name,) in run(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'aegis\\_scratch\\_%%'"
            " AND schema_name LIKE %s",
            args=("%" + db,),
        )
    ]


@pytest.fixture
def app_db():
    """A latin1 schema with a comment; an app account with grants on the schema, on a table, on a view and on a
    procedure; tables ``accounts`` and ``scores`` (3000 rows each) and ``zlog``; a view, a trigger, a procedure and
    an event whose DEFINER is the app account."""
    tag = uuid.uuid4().hex[:8]
    db, app = f"aegis_myswap_{tag}", f"aegis_app_{tag}"
    try:
        definer = f"DEFINER = '{app}'@'%'"
        run(
            f"CREATE DATABASE {q(db)} CHARACTER SET latin1 COLLATE latin1_german1_ci COMMENT 'the game''s data'",
            f"CREATE USER '{app}'@'%'",
            f"GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE, TRIGGER, EVENT ON {q(db)}.* TO '{app}'@'%'",
            f"USE {q(db)}",
            "CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(40), KEY by_name (name))",
            "INSERT INTO accounts SELECT seq, CONCAT('a', seq) FROM seq_1_to_3000",
            "CREATE TABLE scores (id INT PRIMARY KEY, score INT)",
            "INSERT INTO scores SELECT seq, seq * 3 FROM seq_1_to_3000",
            "CREATE TABLE zlog (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(40))",
            f"GRANT ALTER ON {q(db)}.accounts TO '{app}'@'%'",
            f"CREATE {definer} SQL SECURITY INVOKER VIEW top_scores AS SELECT id, score FROM scores WHERE score > 8000",
            f"CREATE {definer} TRIGGER log_score AFTER INSERT ON scores FOR EACH ROW"
            " INSERT INTO zlog (note) VALUES (CONCAT('score ', NEW.id))",
            f"CREATE {definer} PROCEDURE count_accounts() SQL SECURITY INVOKER SELECT COUNT(*) FROM accounts",
            f"GRANT ALTER ROUTINE ON PROCEDURE {q(db)}.count_accounts TO '{app}'@'%'",
            f"GRANT SHOW VIEW ON {q(db)}.top_scores TO '{app}'@'%'",
            f"CREATE {definer} EVENT trim_log ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM zlog WHERE id < 0",
            "INSERT INTO scores VALUES (3001, 1)",  # fires the trigger: zlog has a row
        )
        yield db, app
    finally:  # also when the set-up itself failed half-way
        run(f"DROP DATABASE IF EXISTS {q(db)}", f"DROP USER IF EXISTS '{app}'@'%'")
        for name in side_schemas(db):
            run(f"DROP DATABASE {q(name)}")


def test_restore_swaps_in_a_side_schema_keeping_grants_definers_and_properties(app_db, tmp_path):
    db, app = app_db
    result = myb.dump(make_target([db]), endpoint(None), tmp_path)  # jobs 2: the parallel dump
    assert (tmp_path / f"{db}.tables").is_dir()
    before = state(db, app)
    assert result.facts["database_properties"][db] == before["properties"]
    assert before["properties"] == {"charset": "latin1", "collation": "latin1_german1_ci", "comment": "the game's data"}
    assert any("ALTER ROUTINE ON PROCEDURE" in g for g in before["grants"]) and before["triggers"] and before["views"]
    run(
        f"USE {q(db)}",
        "UPDATE accounts SET name = 'changed' WHERE id <= 10",
        "DELETE FROM scores WHERE id > 2000",
        "CREATE TABLE created_after (x INT)",
        "DROP TRIGGER log_score",
        "CREATE OR REPLACE VIEW top_scores AS SELECT id FROM scores",
        # another body: the restore recreates the procedure, and must give back its grant
        "CREATE OR REPLACE PROCEDURE count_accounts() SELECT 1",
        f"GRANT ALTER ROUTINE ON PROCEDURE {q(db)}.count_accounts TO '{app}'@'%'",
        "ALTER EVENT trim_log ON SCHEDULE EVERY 2 DAY",
        f"ALTER DATABASE {q(db)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci COMMENT 'changed'",
    )
    changed = state(db, app)
    assert all(changed[k] != before[k] for k in ("content", "views", "triggers", "routines", "events", "properties"))
    assert changed["grants"] == before["grants"]

    observed = myb.restore(endpoint(None), tmp_path, result.facts, timeout_s=120, replace=True)
    notes = observed.pop("notes")
    assert observed == result.facts
    assert len(notes) == 1 and "created_after" in notes[0] and "dropped" in notes[0]
    assert state(db, app) == before  # content, grants (schema, table, routine), definers, charset, comment
    assert side_schemas(db) == []  # the side and the replaced schema gone once the swap was confirmed
    # the swapped-in trigger fires on the swapped-in table
    run(f"INSERT INTO {q(db)}.scores VALUES (5000, 1)")
    assert run(f"SELECT note FROM {q(db)}.zlog ORDER BY id DESC LIMIT 1") == (("score 5000",),)


def test_a_routine_dropped_after_the_backup_comes_back_with_its_grants(app_db, tmp_path):
    """``DROP PROCEDURE`` drops the grants on it (``mysql.procs_priv``); the backup records them, and the restore
    that recreates the procedure gives them back, without taking away a grant given after the backup."""
    db, app = app_db
    result = myb.dump(make_target([db]), endpoint(None), tmp_path)
    assert [g[2:] for g in result.facts["routine_grants"][db]] == [["PROCEDURE", "count_accounts", "Alter Routine"]]
    before = state(db, app)
    run(
        f"USE {q(db)}",
        "DROP PROCEDURE count_accounts",
        "CREATE PROCEDURE count_accounts() SELECT 2",
        f"GRANT EXECUTE ON PROCEDURE {q(db)}.count_accounts TO '{app}'@'%'",  # given after the backup: kept
    )
    assert not any("ALTER ROUTINE ON PROCEDURE" in g for g in state(db, app)["grants"])  # gone with the DROP

    observed = myb.restore(endpoint(None), tmp_path, result.facts, timeout_s=120, replace=True)
    assert observed == result.facts
    after = state(db, app)
    assert {k: after[k] for k in ("content", "routines", "views", "triggers", "properties")} == {
        k: before[k] for k in ("content", "routines", "views", "triggers", "properties")
    }
    assert set(after["grants"]) - set(before["grants"]) == {
        f"GRANT EXECUTE, ALTER ROUTINE ON PROCEDURE `{db}`.`count_accounts` TO `{app}`@`%`"
    }  # the backup's ALTER ROUTINE back, the later EXECUTE kept
    assert side_schemas(db) == []


def test_schema_and_table_grants_revoked_after_the_backup_are_given_back_and_later_ones_kept(app_db, tmp_path):
    """The backup records the grants ON the schema and ON its tables (``schema_grants``, with the grant option);
    a REVOKE after the backup is undone by the restore (a GRANT: one given after the backup stays), the restore
    says so in its notes; an older set without ``schema_grants`` restores without touching them."""
    db, app = app_db
    run(f"GRANT SELECT ON {q(db)}.scores TO '{app}'@'%' WITH GRANT OPTION")
    result = myb.dump(make_target([db]), endpoint(None), tmp_path)
    recorded = result.facts["schema_grants"][db]
    assert [app, "%", "accounts", "ALTER", "NO"] in recorded and [app, "%", "scores", "SELECT", "YES"] in recorded
    assert [app, "%", "", "INSERT", "NO"] in recorded
    before = state(db, app)
    older = {k: v for k, v in result.facts.items() if k != "schema_grants"}
    revoke = (
        f"REVOKE INSERT, DELETE ON {q(db)}.* FROM '{app}'@'%'",
        f"REVOKE ALTER ON {q(db)}.accounts FROM '{app}'@'%'",
        f"REVOKE SELECT, GRANT OPTION ON {q(db)}.scores FROM '{app}'@'%'",
    )
    run(*revoke)
    revoked = state(db, app)["grants"]
    assert myb.restore(endpoint(None), tmp_path, older, timeout_s=120, replace=True) == older  # as before
    assert state(db, app)["grants"] == revoked

    run(f"GRANT CREATE VIEW ON {q(db)}.* TO '{app}'@'%'")  # given after the backup: kept
    observed = myb.restore(endpoint(None), tmp_path, result.facts, timeout_s=120, replace=True)
    notes = observed.pop("notes")
    assert observed == result.facts
    assert len(notes) == 1 and "given back" in notes[0] and f"{app}@% on {db}.accounts: ALTER" in notes[0]
    after = state(db, app)["grants"]
    assert set(after) - set(before["grants"]) == {
        f"GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE, CREATE VIEW, EVENT, TRIGGER ON `{db}`.* TO `{app}`@`%`"
    }, after
    assert f"GRANT SELECT ON `{db}`.`scores` TO `{app}`@`%` WITH GRANT OPTION" in after
    assert side_schemas(db) == []


def test_a_set_without_recorded_properties_leaves_the_schemas_own(app_db, tmp_path):
    """A set written before the backup recorded ``database_properties``: the content is the backup's, the schema
    keeps the charset, collation and comment it has now."""
    db, app = app_db
    result = myb.dump(make_target([db]), endpoint(None), tmp_path)
    older = {"databases": result.facts["databases"]}
    run(f"DELETE FROM {q(db)}.accounts WHERE id > 10", f"ALTER DATABASE {q(db)} COMMENT 'set after the backup'")
    before = state(db, app)
    assert myb.restore(endpoint(None), tmp_path, older, timeout_s=120, replace=True) == older
    after = state(db, app)
    assert after["properties"] == {**before["properties"], "comment": "set after the backup"}
    assert after["content"]["accounts"] != before["content"]["accounts"]  # the backup's 3000 rows are back
    assert {k: after[k] for k in ("grants", "views", "triggers", "routines")} == {
        k: before[k] for k in ("grants", "views", "triggers", "routines")
    }
    assert side_schemas(db) == []


def test_a_rename_that_fails_leaves_the_live_schema_with_its_triggers(app_db, tmp_path, monkeypatch):
    """Both sides' triggers are dropped just before the one RENAME TABLE; when it fails (here: refused, as a
    metadata lock wait that timed out would be), the live triggers come back and the side schema goes."""
    db, app = app_db
    result = myb.dump(make_target([db]), endpoint(None), tmp_path)
    run(f"INSERT INTO {q(db)}.scores VALUES (9001, 9)")
    before = state(db, app)

    def refused(cur, moves):
        assert not run("SELECT 1 FROM information_schema.triggers WHERE trigger_schema = %s", args=(db,))
        raise myb.MySQLdb.OperationalError(1205, "Lock wait timeout exceeded")

    monkeypatch.setattr(myb, "_rename", refused)
    with pytest.raises(myb.MySQLdb.OperationalError, match="Lock wait"):
        myb.restore(endpoint(None), tmp_path, result.facts, timeout_s=120, replace=True)
    assert state(db, app) == before
    assert side_schemas(db) == []


def test_a_failed_swap_confirmation_puts_everything_back(app_db, tmp_path, monkeypatch):
    """The swap itself ran, then the confirmation failed: tables renamed back, triggers, view, procedure and
    properties as they were, nothing left behind."""
    db, app = app_db
    result = myb.dump(make_target([db]), endpoint(None), tmp_path)
    run(f"INSERT INTO {q(db)}.scores VALUES (9001, 9)", f"ALTER DATABASE {q(db)} COMMENT 'written after'")
    before = state(db, app)
    real_give = myb._give_properties
    calls = []

    def give_then_fail(cur, schema, props):
        real_give(cur, schema, props)
        calls.append(schema)
        if len(calls) == 1:  # the first call is the swap's; the second puts the old properties back
            raise RuntimeError("the server went away during the confirmation")

    monkeypatch.setattr(myb, "_give_properties", give_then_fail)
    with pytest.raises(RuntimeError, match="went away"):
        myb.restore(endpoint(None), tmp_path, result.facts, timeout_s=120, replace=True)
    assert calls == [db, db]
    assert state(db, app) == before
    assert side_schemas(db) == []


@pytest.fixture
def world(app_db, tmp_path, monkeypatch):
    db, app = app_db
    inv = write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        targets:
          - {{name: maria, kind: mysql, conn_id: swap_maria, tags: [db], databases: [{db}], backup: {{jobs: 1}}}}
        """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    monkeypatch.setenv("AIRFLOW_CONN_SWAP_MARIA", f"mysql://root@127.0.0.1:3306/{db}")
    return {"tmp": tmp_path, "db": db, "app": app}


class Stalling:
    """A dump stream that gives the client its first half, then stalls past the client's timeout."""

    def __init__(self, source):
        self.data, self.sent = source.read(), False

    def read(self, _n: int = -1) -> bytes:
        if self.sent:
            import time

            time.sleep(3)
            return b""
        self.sent = True
        return self.data[: len(self.data) // 2]


def corrupt_second_table(workdir, db: str) -> None:
    """The fetched (checksum-checked) copy's data of ``scores``, the second table, made into bad SQL."""
    path = workdir / f"{db}.sql.gz"
    text = gzip.decompress(path.read_bytes())
    marker = b"INSERT INTO `scores` VALUES"
    assert b"INSERT INTO `accounts` VALUES" in text.split(marker)[0]  # the first table's data comes before
    path.write_bytes(gzip.compress(text.replace(marker, marker + b" not a row,", 1)))


@pytest.mark.usefixtures("no_retries")
@pytest.mark.parametrize("failure", ["corrupt second table", "client killed at its timeout"])
def test_a_load_failing_half_way_keeps_the_target_and_the_run_fails_after_its_report(
    airflow_db, world, failure, monkeypatch, capfd, caplog
):
    from include.backup import runner
    from include.catalog import Catalog
    from include.inventory import load_inventory
    from include.targets import endpoint_for

    db, app = world["db"], world["app"]
    inventory = load_inventory()
    target = inventory.target("maria")
    outcome = runner.backup_target(inventory, target, endpoint_for(target), L1, Catalog.for_inventory(inventory))
    assert outcome["state"] == "complete"
    run(f"INSERT INTO {q(db)}.accounts VALUES (90001, 'written after the backup')")
    before = state(db, app)

    if failure == "corrupt second table":
        real_fetch = store.fetch

        def fetch_then_corrupt(folder, workdir):
            manifest = real_fetch(folder, workdir)
            corrupt_second_table(workdir, db)
            return manifest

        monkeypatch.setattr(store, "fetch", fetch_then_corrupt)
        expected_reason = "SQL syntax"
    else:
        real_stream = myb._stream

        def load_cut_short(argv, *, timeout_s, source=None, sink=None):  # the real client, killed by a real timeout
            if source is None:
                return real_stream(argv, timeout_s=timeout_s, sink=sink)
            return real_stream(argv, timeout_s=1.0, source=Stalling(source))

        monkeypatch.setattr(myb, "_stream", load_cut_short)
        expected_reason = "did not finish within 1s"

    run_ = load_dag("restore").test(
        run_conf={"target": "maria", "set_id": outcome["set_id"], "dry_run": False, "confirm": "maria"}
    )
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run_.get_task_instances()}
    assert run_.state == "failed" and states["restore_target"] == "success" and states["write_report"] == "failed"
    assert states["maintenance_off"] == "success"
    assert state(db, app) == before  # the previous data, the write after the backup included; grants, definers
    assert side_schemas(db) == []  # no side or replaced schema left behind
    reports = [json.loads(p.read_text()) for p in (world["tmp"] / "artifacts").rglob("report.json")]
    report = next(r for r in reports if r["run_id"] == run_.run_id)
    text = json.dumps(report)
    assert report["outcome"] == "failed" and expected_reason in text
    assert f"{db} kept its previous data" in text
    logs = "\n".join([*capfd.readouterr(), caplog.text])
    assert "alert logged only" in logs and "restore" in logs.lower()
