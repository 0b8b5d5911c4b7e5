"""Per-target leases (include/locks.py) on the real catalog and the real routines against a real PostgreSQL.

A restore and a backup started together on one target take turns; a loser that waits past the limit is skipped
with the reason in its report; a holder killed while holding stops blocking after its TTL; a retry of the same
task of the same run takes its own lease back.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from include.backup import restore, runner, store
from include.backup.dag_support import outcome_rows
from include.backup.reporting import build
from include.catalog import Catalog
from include.inventory import load_inventory
from include.locks import Holder, TargetBusy, lease_of, target_lease
from include.publish import run_failure
from include.targets import endpoint_for
from tests.content_state import pg_checksums
from tests.helpers import REPO, load_dag, write_inventory

T1 = datetime(2026, 5, 31, 17, 0, tzinfo=UTC)  # interval ends of the backups (set ids), not "now"
T2 = T1 + timedelta(days=1)
T3 = T2 + timedelta(days=1)


@pytest.fixture
def world(tmp_path, monkeypatch, pg_database):
    """A PostgreSQL target with data, an inventory (SQLite catalog, local artifacts) whose wait limit is 60 s."""
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database, autocommit=True) as c:
        c.execute("create table docs (id int primary key, body text)")
        c.execute("insert into docs select g, repeat(md5(g::text), 10) from generate_series(1, 300000) g")
    inv = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        defaults: {lock_wait_s: 60}
        targets:
          - {name: pg, kind: postgres, conn_id: lk_pg}
        """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    monkeypatch.setenv("AIRFLOW_CONN_LK_PG", f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
    inventory = load_inventory(inv)
    yield {"tmp": tmp_path, "db": pg_database, "inventory": inventory, "inv_path": inv}


def change(db: str) -> None:
    """The data after the first backup: a third of the rows gone, others edited."""
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=db, autocommit=True) as c:
        c.execute("delete from docs where id % 3 = 0")
        c.execute("update docs set body = 'changed' where id % 5 = 0")


def backup(world, ts):
    inventory = world["inventory"]
    target = inventory.target("pg")
    return runner.backup_target(inventory, target, endpoint_for(target), ts, Catalog.for_inventory(inventory))


def restore_set(world, set_id):
    inventory = world["inventory"]
    catalog = Catalog.for_inventory(inventory)
    plan = restore.plan_restore(inventory, catalog, "pg", set_id, dry_run=False, confirm="pg")
    target = inventory.target("pg")
    return restore.restore_live(inventory, target, endpoint_for(target), plan)


def set_facts(world, set_id):
    folder = runner.sets_folder(world["inventory"], "pg", set_id)
    return store.read_manifest(folder).facts["databases"]


class LeaseLog(logging.Handler):
    """The lease lines (taken / released / busy) in the order they were logged, with the thread."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record):
        self.lines.append((record.threadName, record.getMessage()))


@pytest.fixture
def lease_log():
    handler = LeaseLog()
    logger = logging.getLogger("include.locks")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(old)


@pytest.mark.parametrize("first", ["restore", "backup"])
def test_a_restore_and_a_backup_started_together_take_turns(world, lease_log, first):
    """The second starts while the first holds the target (so it must wait, whichever comes first)."""
    db = world["db"]
    old = backup(world, T1)
    v1 = pg_checksums(db)
    change(db)
    now = backup(world, T2)  # the target as it is before the race: what a backup that goes first must hold
    facts_v1, facts_v2 = set_facts(world, old["set_id"]), set_facts(world, now["set_id"])
    assert facts_v1 != facts_v2
    catalog = Catalog.for_inventory(world["inventory"])
    lease_log.clear()

    results: dict[str, dict] = {}
    work = {"restore": lambda: restore_set(world, old["set_id"]), "backup": lambda: backup(world, T3)}
    threads = {
        name: threading.Thread(target=lambda n=name: results.__setitem__(n, work[n]()), name=name) for name in work
    }
    second = "backup" if first == "restore" else "restore"
    threads[first].start()
    deadline = time.monotonic() + 60
    while lease_of(catalog, "pg") is None and threads[first].is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    threads[second].start()
    for t in threads.values():
        t.join(300)

    assert results["restore"]["state"] == "restored", results["restore"]
    assert results["backup"]["state"] == "complete", results["backup"]
    # the second waited: it logged who held the target, and the lease was never held by both at once
    assert any(who == second and msg.startswith("pg is busy: aegis run") for who, msg in lease_log), lease_log
    turns = [  # the target's lease (the restore also holds its set's lease, set:<id>, while downloading it)
        (who, msg.split(": ")[1].split(" by")[0])
        for who, msg in lease_log
        if msg.startswith("pg: ") and ("lease taken" in msg or "released" in msg)
    ]
    assert turns == [
        (first, "lease taken"),
        (first, "lease released"),
        (second, "lease taken"),
        (second, "lease released"),
    ]
    # the outcome is the one of the two in turn: the target is the restored set; the backup holds what the
    # target held when its turn came (before the restore: the changed data; after it: the restored data)
    assert pg_checksums(db) == v1
    assert set_facts(world, results["backup"]["set_id"]) == (facts_v1 if first == "restore" else facts_v2)
    assert lease_of(catalog, "pg") is None  # released


def test_a_backup_that_waits_past_the_limit_is_skipped_with_the_reason_in_its_report(world):
    inventory = world["inventory"] = dataclasses.replace(world["inventory"], lock_wait_s=1.0)
    catalog = Catalog.for_inventory(inventory)
    restorer = Holder("restore", "manual__2026-05-31T17:00:00+00:00", "restore_target")
    with target_lease(catalog, "pg", wait_s=0, holder=restorer):
        t0 = time.monotonic()
        with pytest.raises(TargetBusy) as busy:
            backup(world, T1)
        waited = time.monotonic() - t0
    assert 1.0 <= waited < 10
    assert "restore run manual__2026-05-31T17:00:00+00:00 (restore_target) holds pg since" in str(busy.value)
    # the report of the run: the target's row says why, the verdict is critical and the run ends failed
    rows = outcome_rows(inventory, catalog, [], ["pg"], T1)
    report = build("backup", "backup", "scheduled__x", T1, T1, rows, fail_run_on="critical")
    assert report.verdict == "critical"
    (reason,) = report.summary.reasons
    assert reason.target == "pg" and "not backed up: busy: restore run manual__" in reason.message
    assert run_failure(report) is not None
    assert catalog.backup_set(store.set_id_for("pg", T1))["state"] == "failed"
    assert not runner.sets_folder(inventory, "pg", store.set_id_for("pg", T1)).exists()  # nothing half-written
    # once the restore is done, the retry of the same interval backs up
    assert backup(world, T1)["state"] == "complete"


def test_a_restore_that_waits_past_the_limit_changes_nothing_and_says_why(world):
    first = backup(world, T1)
    change(world["db"])
    before = pg_checksums(world["db"])
    inventory = world["inventory"] = dataclasses.replace(world["inventory"], lock_wait_s=0.5)
    weekly = Holder("weekly_maintenance", "scheduled__2026-06-07T03:00:00+00:00", "maintain_postgres[0]")
    with target_lease(Catalog.for_inventory(inventory), "pg", wait_s=0, holder=weekly):
        outcome = restore_set(world, first["set_id"])
    assert outcome["state"] == "not-run"
    assert (
        "weekly_maintenance run scheduled__2026-06-07T03:00:00+00:00 (maintain_postgres[0]) holds pg"
        in (outcome["reason"])
    )
    assert pg_checksums(world["db"]) == before


HOLD = """
import sys, time
from include.catalog import Catalog
from include.locks import Holder, target_lease
url, target, run_id, ttl = sys.argv[1:5]
with target_lease(Catalog(url), target, wait_s=0, holder=Holder("backup", run_id, "back_up[0]"), ttl_s=float(ttl)):
    print("held", flush=True)
    time.sleep(3600)
"""


def hold_in_subprocess(world, run_id: str, ttl_s: float) -> subprocess.Popen:
    """A process holding pg's lease (heartbeat running) until killed."""
    url = f"sqlite:///{world['tmp'] / 'catalog.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, url, "pg", run_id, str(ttl_s)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_holder_killed_while_holding_expires_and_the_next_run_proceeds(world, lease_log):
    catalog = Catalog.for_inventory(world["inventory"])
    proc = hold_in_subprocess(world, "scheduled__crashed", ttl_s=2)
    try:
        time.sleep(3)  # past one TTL: only the heartbeat keeps it
        held = lease_of(catalog, "pg")
        assert held is not None and held["run_id"] == "scheduled__crashed"
        assert held["expires_at"] > held["acquired_at"] + timedelta(seconds=2)  # renewed
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    row = lease_of(catalog, "pg")
    assert row is not None  # the killed holder could not release it
    expires = row["expires_at"].replace(tzinfo=UTC)
    other = Holder("restore", "manual__next", "restore_target")
    with pytest.raises(TargetBusy, match="backup run scheduled__crashed"):  # before its expiry: still held
        with target_lease(catalog, "pg", wait_s=0, holder=other, clock=lambda: expires - timedelta(seconds=1)):
            pass
    with target_lease(catalog, "pg", wait_s=0, holder=other, clock=lambda: expires + timedelta(seconds=1)):
        assert lease_of(catalog, "pg")["run_id"] == "manual__next"
    # and the real routine, on the real clock, waits out the dead holder's last seconds and proceeds
    proc = hold_in_subprocess(world, "scheduled__crashed-again", ttl_s=2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    lease_log.clear()
    t0 = time.monotonic()
    assert backup(world, T1)["state"] == "complete"
    assert time.monotonic() - t0 < 30  # far below the 60 s wait limit: the lease expired by its TTL
    assert any("scheduled__crashed-again" in msg and "is busy" in msg for _, msg in lease_log)
    assert lease_of(catalog, "pg") is None


def test_a_retry_of_the_same_run_takes_its_own_lease_back(world):
    catalog = Catalog.for_inventory(world["inventory"])
    attempt_1 = hold_in_subprocess(world, "scheduled__2026-06-01T02:00:00+00:00", ttl_s=600)
    attempt_1.send_signal(signal.SIGKILL)  # the worker died; Airflow retries the task
    attempt_1.wait(10)
    same_task = Holder("backup", "scheduled__2026-06-01T02:00:00+00:00", "back_up[0]")
    other_task = Holder("backup", "scheduled__2026-06-01T02:00:00+00:00", "back_up[1]")
    other_run = Holder("backup", "manual__2026-06-01T02:00:05+00:00", "back_up[0]")
    for stranger in (other_task, other_run):  # not theirs: the lease is live for another 10 minutes
        with pytest.raises(TargetBusy):
            with target_lease(catalog, "pg", wait_s=0, holder=stranger):
                pass
    t0 = time.monotonic()
    with target_lease(catalog, "pg", wait_s=0, holder=same_task):
        assert time.monotonic() - t0 < 5
        assert lease_of(catalog, "pg")["step"] == "back_up[0]"
        with target_lease(catalog, "pg", wait_s=0, holder=same_task):  # nested in one process: no deadlock
            pass
        assert lease_of(catalog, "pg") is not None  # the inner exit left the outer's lease in place
    assert lease_of(catalog, "pg") is None


def test_weekly_maintenance_of_a_busy_target_is_a_visible_warning(world):
    from include.weekly.routine import maintain_target

    inventory = world["inventory"] = dataclasses.replace(world["inventory"], lock_wait_s=0.2)
    backup_run = Holder("backup", "scheduled__2026-06-01T02:00:00+00:00", "back_up[0]")
    with target_lease(Catalog.for_inventory(inventory), "pg", wait_s=0, holder=backup_run):
        result = maintain_target(inventory, "pg", dry_run=True)
    assert result["status"] == "warning"
    (finding,) = result["findings"]
    assert finding["message"].startswith("weekly maintenance not run: busy: backup run scheduled__2026-06-01")


def test_lock_wait_s_is_validated(tmp_path):
    from include.inventory import InventoryError

    bad = write_inventory(tmp_path, "defaults: {lock_wait_s: -1}\ntargets: [{name: h, kind: host}]\n")
    with pytest.raises(InventoryError, match="defaults.lock_wait_s"):
        load_inventory(bad)
    good = write_inventory(tmp_path, "defaults: {lock_wait_s: 30}\ntargets: [{name: h, kind: host}]\n")
    assert load_inventory(good).lock_wait_s == 30.0


def test_verify_of_a_set_whose_target_is_busy_is_skipped_and_the_set_keeps_its_state(world):
    made = backup(world, T1)
    inventory = world["inventory"] = dataclasses.replace(world["inventory"], lock_wait_s=0.2)
    catalog = Catalog.for_inventory(inventory)
    target = inventory.target("pg")
    restorer = Holder("restore", "manual__r", "restore_target")
    with target_lease(catalog, "pg", wait_s=0, holder=restorer):
        outcome = runner.verify_set(inventory, target, endpoint_for(target), made["set_id"], catalog)
    assert outcome["state"] == "skipped"
    assert "busy: restore run manual__r (restore_target) holds pg" in outcome["reason"]
    assert catalog.backup_set(made["set_id"])["state"] == "complete"


def test_a_planned_update_of_a_busy_target_is_not_applied(world, tmp_path):
    from include.update import apply
    from include.update.plan import build_plan

    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "001_add.sql").write_text("create table from_update (x int);")
    inv_path = write_inventory(
        tmp_path / "migrations",
        f"""
        catalog: {{path: {tmp_path / "catalog.db"}}}
        defaults: {{lock_wait_s: 0.3}}
        targets:
          - {{name: pg, kind: postgres, conn_id: lk_pg, update: {{migration_roots: ["{tmp_path}"]}}}}
        """,
    )
    inventory = load_inventory(inv_path)
    params = {
        "update_kind": "sql_migration",
        "update_target": "pg",
        "migrations_folder": str(tmp_path / "migrations"),
        "dry_run": False,
        "confirm": "pg",
    }
    plan = build_plan(inventory, params, T1)
    backup_run = Holder("backup", "scheduled__b", "back_up[0]")
    with target_lease(Catalog.for_inventory(inventory), "pg", wait_s=0, holder=backup_run):
        outcome = apply.apply_update(inventory, plan, "manual__u", 60, {"from": None})
    assert outcome["state"] == "failed" and outcome["changed"] is False
    assert "busy: backup run scheduled__b (back_up[0]) holds pg" in outcome["reason"]
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=world["db"]) as c:
        assert c.execute("select to_regclass('public.from_update')").fetchone()[0] is None


@pytest.fixture(params=["sqlite", "postgres"])
def catalog_url(request, tmp_path) -> str:
    """An empty catalog: a SQLite file, or a PostgreSQL database made for this test and dropped after."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{request.getfixturevalue('pg_database')}"


def test_on_either_catalog_one_holder_at_a_time_and_expiry_by_the_clock(catalog_url):
    catalog = Catalog(catalog_url)
    inside, most, errors = [0], [0], []
    guard = threading.Lock()
    go = threading.Barrier(4)

    def step(i):
        try:
            go.wait()
            with target_lease(catalog, "db1", wait_s=60, holder=Holder("backup", f"run-{i}", "back_up")):
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.05)
                with guard:
                    inside[0] -= 1
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=step, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and most[0] == 1
    assert lease_of(catalog, "db1") is None
    # a lease is live until its expiry by the clock the acquirers pass, then anyone's
    t0 = datetime(2026, 2, 28, 23, 59, tzinfo=UTC)
    dead = Holder("weekly_maintenance", "scheduled__w", "maintain_mysql[0]")
    with target_lease(catalog, "db1", wait_s=0, holder=dead, ttl_s=60, clock=lambda: t0):
        pass
    from include.locks import try_acquire

    assert try_acquire(catalog, "db1", dead, 60, t0) is None  # left held, as by a holder that died
    other = Holder("restore", "manual__r", "restore_target")
    held = try_acquire(catalog, "db1", other, 60, t0 + timedelta(seconds=59))
    assert held is not None and held["run_id"] == "scheduled__w"
    assert try_acquire(catalog, "db1", other, 60, t0 + timedelta(seconds=60)) is None  # 28 Feb → 1 Mar: expired
    assert lease_of(catalog, "db1")["run_id"] == "manual__r"


def test_inside_airflow_the_holder_is_the_task_instance_so_a_retry_is_the_same_holder(airflow_db, world, lease_log):
    """dag.test() of the backup DAG: the lease is held by (DAG id, run id, task id[map index]), what an Airflow retry
    of that task instance has too."""

    dag = load_dag("backup")
    run = dag.test(logical_date=T1)
    assert run.state == "success"
    taken = [msg for _, msg in lease_log if "lease taken" in msg]
    assert taken == [f"pg: lease taken by backup run {run.run_id} (back_up[0])"]


# -- backup sets: retention never deletes a set under a reader; verify never reads a set still being written --


def pause(monkeypatch, module, name: str, before: bool = True):
    """Make ``module.name`` stop (before or after the real call) until the returned ``go`` is set; ``there`` is
    set once the caller has arrived. Only the pause is added: the real function does the work."""
    real, there, go = getattr(module, name), threading.Event(), threading.Event()

    def paused(*args, **kwargs):
        if before:
            there.set()
            assert go.wait(120)
        out = real(*args, **kwargs)
        if not before:
            there.set()
            assert go.wait(120)
        return out

    monkeypatch.setattr(module, name, paused)
    return there, go


def retain(world):
    """Retention in earnest on pg with keep_last 1 and 1 day, run 5 days after the newest set was started (the
    catalog stamps sets with the real clock): every set but the newest (and the newest verified) goes."""
    t = world["inventory"].target("pg")
    t = dataclasses.replace(t, backup={**t.backup, "keep_last": 1, "retention_days": 1})
    catalog = Catalog.for_inventory(world["inventory"])
    newest = max(s["started_at"] for s in catalog.backup_sets_of("pg"))
    now = (newest if newest.tzinfo else newest.replace(tzinfo=UTC)) + timedelta(days=5)
    return {a["set_id"]: a for a in runner.apply_retention(world["inventory"], catalog, [t], now, dry_run=False)}


def test_retention_keeps_a_set_a_restore_is_reading_and_deletes_it_on_a_later_run(world, monkeypatch):
    old, new = backup(world, T1), backup(world, T2)
    change(world["db"])
    catalog = Catalog.for_inventory(world["inventory"])
    there, go = pause(monkeypatch, store, "fetch")  # the restore stops at its download (set lease held)
    result: dict = {}
    reader = threading.Thread(target=lambda: result.update(restore_set(world, old["set_id"])))
    reader.start()
    try:
        assert there.wait(60)
        actions = retain(world)
    finally:
        go.set()
        reader.join(300)
    kept = actions[old["set_id"]]
    assert kept["action"] == "kept" and "in use: busy: aegis run" in kept["reason"]
    assert f"holds set:{old['set_id']}" in kept["reason"]
    assert new["set_id"] not in actions  # the newest stays anyway
    assert result["state"] == "restored", result  # the restore read its whole set
    assert set_facts(world, old["set_id"]) == result["facts"]["databases"]
    assert catalog.backup_set(old["set_id"])["state"] == "complete"
    # no reader any more: the next retention deletes it
    assert retain(world)[old["set_id"]]["action"] == "deleted"
    assert catalog.backup_set(old["set_id"])["state"] == "deleted"
    assert not runner.sets_folder(world["inventory"], "pg", old["set_id"]).exists()
    assert lease_of(catalog, f"set:{old['set_id']}") is None


def test_a_restore_of_a_set_retention_deleted_since_the_plan_is_not_run(world):
    old, _ = backup(world, T1), backup(world, T2)
    inventory, catalog = world["inventory"], Catalog.for_inventory(world["inventory"])
    plan = restore.plan_restore(inventory, catalog, "pg", old["set_id"], dry_run=False, confirm="pg")
    change(world["db"])
    before = pg_checksums(world["db"])
    assert retain(world)[old["set_id"]]["action"] == "deleted"
    outcome = restore.restore_live(inventory, inventory.target("pg"), endpoint_for(inventory.target("pg")), plan)
    assert outcome["state"] == "not-run"
    assert f"not restored: backup set {old['set_id']} is deleted" in outcome["reason"]
    assert pg_checksums(world["db"]) == before


def test_verify_of_a_set_still_being_written_skips_it_and_the_backup_completes_it(world, monkeypatch):
    from include.backup.dag_support import verify_one

    catalog = Catalog.for_inventory(world["inventory"])
    set_id = store.set_id_for("pg", T1)
    there, go = pause(monkeypatch, store, "publish")  # the backup has dumped; its set is running, no manifest
    result: dict = {}
    writer = threading.Thread(target=lambda: result.update(backup(world, T1)))
    writer.start()
    try:
        assert there.wait(120)
        assert catalog.backup_set(set_id)["state"] == "running"
        outcome = verify_one(world["inventory"], catalog, set_id, "manual__verify")
        assert catalog.backup_set(set_id)["state"] == "running"  # verify did not touch it
    finally:
        go.set()
        writer.join(300)
    assert outcome["state"] == "skipped"
    assert "is running (its backup is still writing it)" in outcome["reason"]
    assert result["state"] == "complete"
    assert verify_one(world["inventory"], catalog, set_id, "manual__verify")["state"] == "verified"


def test_a_set_retention_deletes_while_verify_restores_it_is_not_marked_verified(world, monkeypatch):
    old, _ = backup(world, T1), backup(world, T2)
    catalog = Catalog.for_inventory(world["inventory"])
    there, go = pause(monkeypatch, runner, "restore_into_scratch", before=False)  # downloaded, restore-tested
    result: dict = {}
    target = world["inventory"].target("pg")
    args = (world["inventory"], target, endpoint_for(target), old["set_id"], catalog, "manual__verify")
    verifier = threading.Thread(target=lambda: result.update(runner.verify_set(*args)))
    verifier.start()
    try:
        assert there.wait(120)
        assert retain(world)[old["set_id"]]["action"] == "deleted"  # not being read
    finally:
        go.set()
        verifier.join(300)
    assert result["state"] == "skipped"
    assert "matched, but not marked verified: backup set" in result["reason"] and "is deleted" in result["reason"]
    assert catalog.backup_set(old["set_id"])["state"] == "deleted"


def test_two_backups_of_one_interval_at_once_make_one_set_and_the_second_does_nothing(world, lease_log):
    """Two runs of the same interval (a backfill beside a retry, say) start together: the second waits for the
    lease, then finds the set complete and leaves it alone: one dump, one intact set."""
    results: list[dict] = []
    threads = [threading.Thread(target=lambda: results.append(backup(world, T1))) for _ in range(2)]
    catalog = Catalog.for_inventory(world["inventory"])
    threads[0].start()
    deadline = time.monotonic() + 60
    while lease_of(catalog, "pg") is None and threads[0].is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    threads[1].start()  # while the first dumps
    for t in threads:
        t.join(300)
    set_id = store.set_id_for("pg", T1)
    assert sorted(bool(r.get("skipped")) for r in results) == [False, True], results
    assert {r["set_id"] for r in results} == {set_id} and {r["state"] for r in results} == {"complete"}
    assert any("pg is busy" in msg for _, msg in lease_log)  # the second waited for the first
    assert catalog.backup_set(set_id)["state"] == "complete"
    (dumped,) = [r for r in results if not r.get("skipped")]
    with runner.workspace("check") as workdir:  # every file matches its checksum: nothing was written twice
        assert store.fetch(runner.sets_folder(world["inventory"], "pg", set_id), workdir).facts == dumped["facts"]
