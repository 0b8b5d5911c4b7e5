"""The deeper PostgreSQL checks (issue 20), each state made for real and, where Debian has a peer
(``check_postgres``), measured by it too: both must agree.

States that the shared server cannot hold (``max_prepared_transactions`` is 0 there, archiving is
off) are made on a private cluster (initdb/pg_ctl on a spare port in a temporary folder), never by
reconfiguring the shared server.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from include.checks import Window, run_check
from include.inventory import parse_inventory
from include.targets import Endpoint
from tests.helpers import free_port

NOW = datetime.now(UTC)
WINDOW = Window(NOW, NOW)
SHARED = Endpoint(host="127.0.0.1", port=5432, login="postgres")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
needs_check_postgres = pytest.mark.skipif(
    shutil.which("check_postgres") is None, reason="check_postgres (Debian package check-postgres) not installed"
)


def target(databases: list[str] | None = None, **thresholds):
    return parse_inventory(
        {
            "targets": [
                {
                    "name": "pg",
                    "kind": "postgres",
                    "conn_id": "c",
                    "databases": databases or [],
                    "thresholds": thresholds,
                }
            ]
        }
    ).targets[0]


def check(endpoint: Endpoint = SHARED, databases: list[str] | None = None, window: Window = WINDOW, **thresholds):
    result = run_check(target(databases, **thresholds), endpoint, window)
    assert result.status != "unreachable", result.findings
    return result


def check_postgres(action: str, *args: str, port: int = 5432) -> str:
    """Run the peer tool; its one output line."""
    done = subprocess.run(
        ["check_postgres", f"--action={action}", "--host=127.0.0.1", f"--port={port}", "--dbuser=postgres", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.startswith("POSTGRES_"), done.stdout + done.stderr
    return done.stdout


def db_connect(dbname: str, port: int = 5432) -> psycopg.Connection:
    return psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=dbname, autocommit=True)


def messages(result) -> str:
    return "\n".join(f"[{f.level}] {f.message}" for f in result.findings)


def test_every_idle_in_transaction_session_is_counted_and_graded(pg_database):
    sessions = [db_connect(pg_database) for _ in range(15)]
    try:
        for c in sessions:
            c.execute("begin")
            c.execute("select 1")
        before = check(idle_in_transaction_warning=10, idle_in_transaction_critical=15)
        peer = check_postgres("txn_idle", "--warning=+1")  # a signed number: count sessions, not seconds
        after = check()
    finally:
        for c in sessions:
            c.close()
    assert before.metrics["pg.idle_in_transaction"] >= 15  # was capped at 10 (the ten oldest transactions)
    assert before.status == "critical"
    assert re.search(r"\d+ sessions idle in transaction.*idle_in_transaction_session_timeout", messages(before))
    # check_postgres counts them too ("Total idle in transaction: N"), between our two looks: same count
    count = int(re.search(r"Total idle in transaction: (\d+)", peer).group(1))
    low, high = sorted([before.metrics["pg.idle_in_transaction"], after.metrics["pg.idle_in_transaction"]])
    assert low <= count <= high, (peer, low, high)
    assert check().metrics["pg.idle_in_transaction"] < before.metrics["pg.idle_in_transaction"]


@pytest.fixture
def second_database():
    name = f"aegis_test_cold_{int(time.time() * 1000) % 10**8}"
    with db_connect("postgres") as c:
        c.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield name
    with db_connect("postgres") as c:
        c.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@needs_check_postgres
def test_a_cold_database_is_graded_on_its_own_beside_a_busy_one(pg_database, second_database):
    busy, cold = pg_database, second_database
    with db_connect(busy) as c:  # ~2 MB, stays in shared_buffers: every read a hit
        c.execute("create table t as select g as id, repeat('x', 100) as pad from generate_series(1, 15000) g")
        for _ in range(60):
            c.execute("select count(*) from t").fetchone()
    with db_connect(cold) as c:  # 45 MB > shared_buffers/4: sequential scans use a ring buffer, reads miss
        c.execute("create table t as select g as id, repeat('y', 20) as pad from generate_series(1, 800000) g")
        for _ in range(3):
            c.execute("select count(*) from t").fetchone()
    time.sleep(1.5)  # statistics of closed sessions are flushed
    result = check(cache_hit_warning_min_pct=95, cache_hit_critical_min_pct=85)
    ratios = result.details["cache_hit"]["per_database_pct"]
    assert ratios[busy] >= 95 and ratios[cold] < 85, ratios
    assert f"cache hit ratio of database {cold}" in messages(result)
    assert f"cache hit ratio of database {busy}" not in messages(result)
    assert result.metrics["pg.cache_hit_pct"] == min(ratios.values())  # the worst database
    # the whole server's sum would hide it: together they are far above the cold database alone
    peer = check_postgres("hitratio", "--warning=90%", "--critical=80%", f"--include={cold}")
    peer_value = float(re.search(rf"{cold}=([\d.]+)", peer).group(1))
    assert abs(peer_value - ratios[cold]) <= 0.02, peer


@needs_check_postgres
def test_an_inactive_replication_slot_and_the_wal_it_retains(pg_database):
    slot = f"aegis_test_slot_{int(time.time() * 1000) % 10**8}"
    with db_connect("postgres") as admin:
        admin.execute("select pg_create_physical_replication_slot(%s, true)", (slot,))
        try:
            with db_connect(pg_database) as c:  # ~20 MB of WAL while nobody consumes the slot
                c.execute("create table w (pad text)")
                c.execute("insert into w select repeat('z', 200) from generate_series(1, 80000)")
                c.execute("select pg_switch_wal()")
            result = check(slot_retained_wal_warning_mb=5, slot_retained_wal_critical_mb=100000)
            peer = check_postgres("replication_slots", "--warning=1000MB", "--critical=2000MB", f"--include={slot}")
        finally:
            admin.execute("select pg_drop_replication_slot(%s)", (slot,))
    ours = next(s for s in result.details["replication_slots"] if s["slot"] == slot)
    assert not ours["active"] and ours["retained_bytes"] >= 15 * 2**20
    assert result.metrics["pg.inactive_slots"] >= 1
    text = messages(result)
    assert "no consumer attached" in text and slot in text
    if result.details["replication_slots"][0]["slot"] == slot:
        assert re.search(rf"slot '{slot}' \(inactive\) retains [\d,.]+ MB of WAL", text)
    # check_postgres measures the same distance (current WAL position - restart_lsn); WAL others write in between
    # only adds to its figure
    peer_bytes = int(re.search(rf"{slot}=(\d+)", peer).group(1))
    assert ours["retained_bytes"] <= peer_bytes <= ours["retained_bytes"] + 64 * 2**20, peer


@needs_check_postgres
def test_a_sequence_at_98_percent_and_a_serial_key_near_its_integer_maximum(pg_database):
    with db_connect(pg_database) as c:
        c.execute("create sequence nearly_out as integer maxvalue 1000")
        c.execute("select setval('nearly_out', 980)")
        c.execute("create sequence wide_ids as bigint")  # bigint sequence feeding an int4 key: the int4 max bites
        c.execute("create table orders (id integer primary key default nextval('wide_ids'))")
        c.execute("alter sequence wide_ids owned by orders.id")
        c.execute("select setval('wide_ids', 1717986918)")  # 80 % of 2,147,483,647
    result = check(databases=[pg_database], sequence_warning_pct=75, sequence_critical_pct=95)
    found = {s["sequence"]: s for s in result.details["sequences"]}
    assert found["public.nearly_out"]["used_pct"] == 98.0
    assert found["public.wide_ids"]["max_value"] == 2147483647 and found["public.wide_ids"]["used_pct"] == 80.0
    assert found["public.wide_ids"]["column"] == "orders.id (int4)"
    assert result.metrics[f"pg.sequence_used_pct[{pg_database}]"] == 98.0
    assert result.status == "critical" and "nearly_out at 980 of 1,000" in messages(result)
    peer = check_postgres("sequence", f"--dbname={pg_database}", "--warning=75%", "--critical=95%")
    assert re.search(r"public\.nearly_out=98%", peer), peer


def test_an_integer_primary_key_near_its_type_maximum(pg_database):
    with db_connect(pg_database) as c:  # keys the application picks itself: no sequence to watch
        c.execute('create table "Ledger" (entry integer primary key)')
        c.execute('insert into "Ledger" values (1), (2104533975)')  # 98 % of 2,147,483,647
        c.execute("create table tiny (id smallint primary key)")
        c.execute("insert into tiny values (100)")
    result = check(databases=[pg_database], sequence_warning_pct=75, sequence_critical_pct=95)
    keys = {k["key"]: k for k in result.details["integer_keys"]}
    assert keys["public.Ledger.entry"]["used_pct"] == 98.0 and keys["public.tiny.id"]["used_pct"] == 0.31
    assert result.metrics[f"pg.integer_key_used_pct[{pg_database}]"] == 98.0 and result.status == "critical"
    assert "primary key " + pg_database + ":public.Ledger.entry (int4) at 2,104,533,975 of 2,147,483,647" in messages(
        result
    )


def test_a_session_blocking_another_is_named_with_its_wait(pg_database):
    with db_connect(pg_database) as c:
        c.execute("create table locked (id int)")
    blocker = db_connect(pg_database)
    blocker.execute("begin")
    blocker.execute("lock table locked in access exclusive mode")
    blocker_pid = blocker.info.backend_pid
    waiter = db_connect(pg_database)
    waiter.execute("set statement_timeout = '20s'")
    waiter_pid = waiter.info.backend_pid
    thread = threading.Thread(target=lambda: _ignore(lambda: waiter.execute("select count(*) from locked")))
    thread.start()
    try:
        time.sleep(2.5)
        result = check(blocked_warning_s=1, blocked_critical_s=600)
    finally:
        blocker.close()
        thread.join(25)
        waiter.close()
    chain = next(c for c in result.details["blocked_sessions"] if c["pid"] == waiter_pid)
    assert chain["blocked_by"] == [blocker_pid] and chain["waiting_s"] >= 2
    if result.details["blocked_sessions"][0]["pid"] == waiter_pid:
        assert f"behind pid {blocker_pid} (idle in transaction" in messages(result)
    assert result.status in ("warning", "critical")
    assert all(c["pid"] != waiter_pid for c in check().details["blocked_sessions"])  # released: gone


def test_long_statements_are_graded_apart_from_long_transactions(pg_database):
    runner = db_connect(pg_database)
    thread = threading.Thread(target=lambda: runner.execute("select pg_sleep(3)"))
    thread.start()
    try:
        time.sleep(2)
        result = check(long_statement_warning_s=1, long_statement_critical_s=600)
    finally:
        thread.join(10)
        runner.close()
    assert result.metrics["pg.longest_statement_s"] >= 1.5
    assert "longest running statement" in messages(result) and "pg_sleep" in messages(result)


def _ignore(fn) -> None:
    try:
        fn()
    except psycopg.Error:
        pass


@pytest.fixture(scope="module")
def private_cluster():
    """A private PostgreSQL 15 (initdb, pg_ctl) on a spare port with max_prepared_transactions > 0 and
    archiving on to a command that always fails; stopped and removed afterwards."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries not installed")
    folder = Path(tempfile.mkdtemp(prefix="aegis-pg-private-"))
    shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        [
            *as_postgres,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(folder / "log"),
            "-w",
            "-o",
            (
                f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_prepared_transactions=5"
                " -c archive_mode=on -c archive_command=/bin/false -c wal_level=replica"
            ),
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield port
    finally:
        subprocess.run(
            [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)


@needs_check_postgres
def test_a_prepared_transaction_left_open(private_cluster):
    port = private_cluster
    endpoint = Endpoint(host="127.0.0.1", port=port, login="postgres")
    with db_connect("postgres", port) as c:
        c.execute("create table if not exists twophase (id int)")
        c.execute("begin")
        c.execute("insert into twophase values (1)")
        c.execute("prepare transaction 'aegis-test-forgotten'")
    try:
        time.sleep(2)
        result = check(endpoint, prepared_transaction_warning_s=1, prepared_transaction_critical_s=3600)
        peer = check_postgres("prepared_txns", "--warning=1", "--critical=3600", port=port)
    finally:
        with db_connect("postgres", port) as c:
            c.execute("rollback prepared 'aegis-test-forgotten'")
    assert result.metrics["pg.prepared_transactions"] == 1
    age = result.metrics["pg.oldest_prepared_transaction_s"]
    assert age >= 2 and result.status == "warning"
    assert "prepared transaction 'aegis-test-forgotten' open" in messages(result)
    found = re.search(r"\| time=\S+ postgres=(\d+)s;", peer)
    assert found, peer
    assert abs(float(found.group(1)) - age) <= 2, peer
    assert check(endpoint).metrics["pg.prepared_transactions"] == 0


def test_wal_archiving_failures_since_the_previous_run(private_cluster):
    endpoint = Endpoint(host="127.0.0.1", port=private_cluster, login="postgres")
    first = check(endpoint)
    with db_connect("postgres", private_cluster) as c:
        c.execute("create table if not exists walgen (pad text)")
        c.execute("insert into walgen select repeat('a', 100) from generate_series(1, 1000)")
        c.execute("select pg_switch_wal()")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the archiver retries /bin/false every second or so
        second = check(endpoint, window=Window(NOW, NOW, previous=first.metrics))
        if second.metrics["pg.archive_failures"] >= 1:
            break
        time.sleep(1)
    assert second.metrics["pg.archive_failures"] >= 1
    assert second.metrics["pg.archive_failures"] == (
        second.metrics["pg.archive_failed_total"] - first.metrics.get("pg.archive_failed_total", 0)
    )
    assert "WAL archiving failure(s) since the previous check" in messages(second)
    assert second.details["archiver"]["last_failed_wal"]
    # the previous run's counter is what growth is measured from: nothing new, nothing graded
    third = check(endpoint, window=Window(NOW, NOW, previous={"pg.archive_failed_total": 10**9}))
    assert third.metrics["pg.archive_failures"] == third.metrics["pg.archive_failed_total"]  # reset detected


def test_checkpoint_age_is_graded_once_wal_was_written_since(private_cluster):
    endpoint = Endpoint(host="127.0.0.1", port=private_cluster, login="postgres")
    with db_connect("postgres", private_cluster) as c:
        c.execute("checkpoint")
    time.sleep(2)
    idle = check(endpoint, checkpoint_age_warning_s=1, checkpoint_age_critical_s=3600)
    assert "pg.checkpoint_age_s" not in idle.metrics and "idle, not graded" in idle.details["checkpoint"]["note"]
    with db_connect("postgres", private_cluster) as c:  # ~25 MB of WAL, more than one 16 MB segment
        c.execute("create table if not exists ckpt (pad text)")
        c.execute("insert into ckpt select repeat('c', 200) from generate_series(1, 100000)")
    busy = check(endpoint, checkpoint_age_warning_s=1, checkpoint_age_critical_s=3600)
    assert 2 <= busy.metrics["pg.checkpoint_age_s"] < 120
    assert busy.details["checkpoint"]["wal_since_redo_bytes"] >= 16 * 2**20
    assert "last checkpoint" in messages(busy) and "MB of WAL written since" in messages(busy)
    assert "last checkpoint" not in messages(check(endpoint))  # default thresholds: an hour


def test_a_listed_database_that_cannot_be_opened_is_a_warning_and_the_others_are_checked(pg_database):
    with db_connect(pg_database) as c:
        c.execute("create sequence half as integer maxvalue 100")
        c.execute("select setval('half', 50)")
    result = check(databases=["aegis_no_such_database", pg_database])
    assert any("database aegis_no_such_database: cannot be opened" in f.message for f in result.findings)
    assert {s["sequence"] for s in result.details["sequences"]} == {"public.half"}
