"""Weekly PostgreSQL maintenance against the real local server: only bloated tables vacuumed (and their
dead tuples gone), clean ones untouched, a hostile table name, parallelism observed in pg_stat_activity,
the max_seconds budget, recommendations, settings validation and a down target."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import sql

from include.inventory import Target
from include.targets import Endpoint
from include.weekly import postgres as wpg
from tests.helpers import free_port

HOSTILE_SCHEMA = 'we"ird; schema'
HOSTILE = 'odd "name"; drop table x --'
FAST = {"dead_tuples_min": 100, "analyze_mod_min": 100, "unused_index_min_bytes": 0, "connect_timeout_s": 5}


def endpoint(db=None, **kw) -> Endpoint:
    return Endpoint(**{"host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": db, **kw})


def target(db) -> Target:
    return Target("pg-weekly-test", "postgres", None, (), {}, 10.0, {"databases": [db]})


def connect(db):
    return psycopg.connect(host="127.0.0.1", user="postgres", dbname=db, autocommit=True)


def ident(schema, table):
    return sql.Identifier(schema, table)


def make_bloated(conn, schema, table, rows=2000, delete=1500):
    """A table with ``delete`` dead tuples (autovacuum off so only our step can clean it)."""
    conn.execute(
        sql.SQL("create table {} (id int primary key, pad text) with (autovacuum_enabled = false)").format(
            ident(schema, table)
        )
    )
    conn.execute(
        sql.SQL("insert into {} select g, repeat('x', 200) from generate_series(1, %s) g").format(ident(schema, table)),
        (rows,),
    )
    # the tail goes: VACUUM can then truncate the empty pages and give the space back
    conn.execute(sql.SQL("delete from {} where id > %s").format(ident(schema, table)), (rows - delete,))


def make_clean(conn, schema, table, rows=500):
    """A table vacuumed and analyzed right after loading: nothing for the step to do."""
    conn.execute(
        sql.SQL("create table {} (id int primary key) with (autovacuum_enabled = false)").format(ident(schema, table))
    )
    conn.execute(sql.SQL("insert into {} select generate_series(1, %s)").format(ident(schema, table)), (rows,))
    conn.execute("select pg_stat_force_next_flush()")  # the inserts counted before the analyze resets them
    conn.execute("select 1")
    conn.execute(sql.SQL("vacuum (analyze) {}").format(ident(schema, table)))


def flush_stats(conn, expect_dead: dict[tuple[str, str], int]):
    """Make this backend publish its statistics and wait until every table shows its dead tuples."""
    conn.execute("select pg_stat_force_next_flush()")
    conn.execute("select 1")
    deadline = time.monotonic() + 20
    with connect(conn.info.dbname) as reader:
        while True:
            seen = {
                (s, t): d
                for s, t, d in reader.execute(
                    "select schemaname, relname, n_dead_tup from pg_stat_user_tables"
                ).fetchall()
            }
            if all(seen.get(k) == v for k, v in expect_dead.items()):
                return
            assert time.monotonic() < deadline, f"statistics never showed {expect_dead}: {seen}"
            time.sleep(0.2)


def bloated_tables(db, names, rows=400, delete=300):
    """Tables ``public.<name>`` with ``delete`` dead tuples each, statistics published."""
    tables = [("public", n) for n in names]
    with connect(db) as c:
        for s, t in tables:
            make_bloated(c, s, t, rows=rows, delete=delete)
        flush_stats(c, dict.fromkeys(tables, delete))
    return tables


def lock_tables(db, tables):
    """An open transaction holding the lock VACUUM needs on ``tables`` (commit or roll back to release)."""
    locker = connect(db)
    locker.autocommit = False
    locker.execute(
        sql.SQL("lock table {} in share update exclusive mode").format(
            sql.SQL(", ").join(ident(s, t) for s, t in tables)
        )
    )
    return locker


def table_stats(db) -> dict[tuple[str, str], tuple]:
    with connect(db) as c:
        return {
            (s, t): (dead, lv, la)
            for s, t, dead, lv, la in c.execute(
                "select schemaname, relname, n_dead_tup, last_vacuum, last_analyze from pg_stat_user_tables"
            ).fetchall()
        }


def test_only_bloated_tables_are_vacuumed_and_hostile_names_are_safe(pg_database):
    db = pg_database
    bloated = [("public", "bloat_a"), ("public", "bloat_b"), (HOSTILE_SCHEMA, HOSTILE)]
    clean = [("public", "clean_a"), ("public", "x")]
    with connect(db) as c:
        c.execute(sql.SQL("create schema {}").format(sql.Identifier(HOSTILE_SCHEMA)))
        for s, t in bloated:
            make_bloated(c, s, t)
        for s, t in clean:
            make_clean(c, s, t)
        # stale statistics only: rows loaded, never analyzed, nothing dead
        c.execute("create table stale_stats (id int) with (autovacuum_enabled = false)")
        c.execute("insert into stale_stats select generate_series(1, 300)")
        flush_stats(c, {**dict.fromkeys(bloated, 1500), ("public", "stale_stats"): 0})
    before = table_stats(db)

    # one at a time: a parallel worker's ANALYZE snapshot can hold back the other's VACUUM horizon when a
    # transaction elsewhere on the server (another test's DROP DATABASE) is open, and dead tuples would stay
    result = wpg.maintain(target(db), endpoint(), {**wpg.DEFAULTS, **FAST, "parallelism": 1}, dry_run=True)

    after = table_stats(db)
    rows = {(r["schema"], r["table"]): r for r in result.details["tables"]}
    assert set(rows) == set(bloated) | {("public", "stale_stats")}
    for key in bloated:
        assert rows[key]["operation"] == "VACUUM (ANALYZE)" and rows[key]["action"] == "done"
        assert rows[key]["dead_tuples_before"] == 1500 and rows[key]["dead_tuples_after"] == 0
        assert after[key][0] == 0 and after[key][1] is not None
        assert 0 < rows[key]["reclaimed_bytes"] == rows[key]["size_before"] - rows[key]["size_after"]
    assert rows[("public", "stale_stats")]["operation"] == "ANALYZE"
    assert after[("public", "stale_stats")][1] is None and after[("public", "stale_stats")][2] is not None
    for key in clean:  # untouched: same last vacuum and last analyze as before the run
        assert after[key][1:] == before[key][1:]
    with connect(db) as c:  # the hostile name did not drop table x, and the bloated table still has its rows
        assert c.execute("select count(*) from public.x").fetchone()[0] == 500
        assert c.execute(sql.SQL("select count(*) from {}").format(ident(HOSTILE_SCHEMA, HOSTILE))).fetchone()[0] == 500
    assert result.metrics["pg.vacuum.tables"] == 3 and result.metrics["pg.analyze.tables"] == 1
    assert result.metrics["pg.vacuum.dead_tuples_removed"] == 4500
    assert result.metrics["pg.vacuum.reclaimed_bytes"] == sum(r["reclaimed_bytes"] for r in rows.values())
    slow = result.details["slow_statements"]  # a list, or the note saying why they were not checked
    assert isinstance(slow, list) or slow.startswith(
        ("pg_stat_statements is not installed", "pg_stat_statements unreadable")
    )


def test_a_missing_database_is_a_warning_and_the_others_go_on(pg_database):
    db = pg_database
    bloated_tables(db, ["bloat"])
    missing = f"{db}_missing"
    result = wpg.maintain(
        Target("pg-weekly-test", "postgres", None, (), {}, 10.0, {"databases": [missing, db]}),
        endpoint(),
        {**wpg.DEFAULTS, **FAST},
        dry_run=True,
    )
    assert [(r["table"], r["action"]) for r in result.details["tables"]] == [("bloat", "done")]
    assert result.status == "warning"
    assert any(f.message.startswith(f"database {missing} not maintained") for f in result.findings)


def test_parallelism_is_bounded_and_used(pg_database):
    """Five bloated tables locked by the test: the VACUUMs queue on the locks, and exactly
    ``parallelism`` of them are ever in flight at once."""
    db = pg_database
    tables = bloated_tables(db, [f"t{i}" for i in range(5)])
    in_flight: list[int] = []
    stop = threading.Event()

    def sample():
        with connect(db) as c:
            while not stop.is_set():
                in_flight.append(
                    c.execute(
                        "select count(*) from pg_stat_activity where datname = current_database()"
                        " and application_name = %s and state = 'active' and query ilike 'vacuum%%'",
                        (wpg.APPLICATION_NAME,),
                    ).fetchone()[0]
                )
                time.sleep(0.02)

    locker = lock_tables(db, tables)
    sampler = threading.Thread(target=sample)
    sampler.start()
    outcome = {}
    run = threading.Thread(
        target=lambda: outcome.update(
            result=wpg.maintain(
                target(db), endpoint(), {**wpg.DEFAULTS, **FAST, "parallelism": 2, "lock_timeout_s": 60}, dry_run=True
            )
        )
    )
    try:
        run.start()
        deadline = time.monotonic() + 20
        while not in_flight or in_flight[-1] < 2:
            assert time.monotonic() < deadline, f"never saw two VACUUMs waiting: {in_flight[-10:]}"
            time.sleep(0.05)
        time.sleep(1.0)  # all five would be waiting by now if nothing bounded them
    finally:
        locker.commit()
        locker.close()
        run.join(60)
        stop.set()
        sampler.join(10)
    assert max(in_flight) == 2
    result = outcome["result"]
    assert [r["action"] for r in result.details["tables"]] == ["done"] * 5


def test_budget_stops_starting_tables_and_cuts_off_the_one_in_flight(pg_database):
    db = pg_database
    tables = bloated_tables(db, [f"b{i}" for i in range(3)])
    locker = lock_tables(db, tables)
    try:
        started = time.monotonic()
        result = wpg.maintain(
            target(db),
            endpoint(),
            {**wpg.DEFAULTS, **FAST, "parallelism": 1, "max_seconds": 2, "lock_timeout_s": 60},
            dry_run=True,
        )
        elapsed = time.monotonic() - started
    finally:
        locker.rollback()
        locker.close()
    actions = [r["action"] for r in result.details["tables"]]
    assert actions[0].startswith("failed: cut off"), actions
    assert all(a.startswith("skipped: max_seconds budget") for a in actions[1:]), actions
    assert elapsed < 10  # the lock would have held the table for a full minute
    assert result.status == "warning"
    assert any("not maintained" in f.message for f in result.findings)
    assert all(v[0] == 300 for k, v in table_stats(db).items() if k in tables)  # nothing vacuumed


def test_recommendations_name_unused_duplicate_indexes_and_seq_scanned_tables(pg_database):
    db = pg_database
    with connect(db) as c:
        c.execute("create table orders (id int primary key, customer int, note text)")
        c.execute("insert into orders select g, g % 50, 'n' from generate_series(1, 3000) g")
        c.execute("create index orders_customer on orders (customer)")
        c.execute("create index orders_customer_again on orders (customer)")
        c.execute("create unique index orders_id_unique on orders (id)")  # duplicates the primary key
        for _ in range(3):
            c.execute("select count(*) from orders where note = 'n'")
        c.execute("create table small (id int)")
        flush_stats(c, {("public", "orders"): 0})
    result = wpg.maintain(
        target(db),
        endpoint(),
        {**wpg.DEFAULTS, **FAST, "seq_scan_min_rows": 1000, "seq_scan_min": 3, "pool_size": 500},
        dry_run=True,
    )
    rec = result.details["recommendations"]
    unused = {r["index"] for r in rec["unused_indexes"]}
    assert unused == {"orders_customer", "orders_customer_again"}  # unique and primary key ones are never proposed
    dup = {tuple(r["indexes"]): r["advice"] for r in rec["duplicate_indexes"]}
    assert (
        dup[("orders_customer", "orders_customer_again")]
        == "same key: keep orders_customer, drop orders_customer_again"
    )
    assert dup[("orders_id_unique", "orders_pkey")] == "same key: keep orders_pkey, drop orders_id_unique"
    assert [r["table"] for r in rec["seq_scan_candidates"]] == ["orders"]
    assert result.details["connections"]["pool_size"] == 500
    assert any("pool size 500 exceeds" in f.message for f in result.findings)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="^parallelism: must be greater than 0"):
        wpg.check_settings({**wpg.DEFAULTS, "parallelism": 0})
    with pytest.raises(ValueError, match="^dead_ratio: must be a number"):
        wpg.check_settings({**wpg.DEFAULTS, "dead_ratio": "lots"})
    with pytest.raises(ValueError, match="^pool_size"):
        wpg.check_settings({**wpg.DEFAULTS, "pool_size": -3})
    with pytest.raises(ValueError, match="^seq_scan_min: must be >= 0, got -1"):  # the shared wording
        wpg.check_settings({**wpg.DEFAULTS, "seq_scan_min": -1})


def test_down_target_fails_within_the_connect_timeout():
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError):
        wpg.maintain(
            target("postgres"), endpoint(port=free_port()), {**wpg.DEFAULTS, "connect_timeout_s": 2}, dry_run=True
        )
    assert time.monotonic() - started < 5


def test_dead_tuples_held_by_an_open_transaction_are_reported(pg_database):
    db = pg_database
    holder = connect(db)
    holder.autocommit = False
    holder.execute("select txid_current()")  # an open transaction older than the deletes
    try:
        bloated_tables(db, ["held"])
        result = wpg.maintain(target(db), endpoint(), {**wpg.DEFAULTS, **FAST}, dry_run=True)
    finally:
        holder.rollback()
        holder.close()
    [row] = result.details["tables"]
    assert (row["action"], row["dead_tuples_after"]) == ("done", 300)
    assert any("kept most of their dead tuples" in f.message and "held" in f.message for f in result.findings)


def test_wraparound_age_gets_a_freezing_vacuum(pg_database):
    db = pg_database
    with connect(db) as c:
        make_clean(c, "public", "old_xids")
        c.execute("select txid_current()")  # the age of relfrozenxid grows with every transaction
        c.execute("select txid_current()")
        age_before, frozen_before = c.execute(
            "select age(relfrozenxid), relfrozenxid::text::bigint from pg_class where relname = 'old_xids'"
        ).fetchone()
    assert age_before >= 2
    result = wpg.maintain(target(db), endpoint(), {**wpg.DEFAULTS, **FAST, "freeze_age": 2}, dry_run=True)
    [row] = [r for r in result.details["tables"] if r["table"] == "old_xids"]
    assert (row["operation"], row["action"]) == ("VACUUM (FREEZE, ANALYZE)", "done")
    assert row["reason"].startswith("relfrozenxid age")
    with connect(db) as c:
        frozen_after = c.execute(
            "select relfrozenxid::text::bigint from pg_class where relname = 'old_xids'"
        ).fetchone()[0]
    assert frozen_after > frozen_before  # the table's oldest unfrozen transaction ID moved forward
