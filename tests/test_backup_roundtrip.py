"""backup → verify → restore through the DAGs (dag.test) on the real services.

Data written before the backup and changed after it must be back exactly as it was
(content checksums of every table, the Redis key set with values); corrupt sets must
be caught and marked failed; an interrupted backup must never look complete; no
password may reach a task log or a process argument list.
"""

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import MySQLdb
import psutil
import psycopg
import pytest
import redis

from tests.content_state import my_checksums, pg_checksums, redis_state
from tests.helpers import load_dag, write_inventory

L1 = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
PG_SECRET = "pg-Secret-never-shown-1"
MY_SECRET = "my-Secret-never-shown-2"


@pytest.fixture
def world(tmp_path, monkeypatch, pg_database, redis_server):
    my_db = f"aegis_rt_{int(time.time() * 1000) % 10**9}"
    admin = MySQLdb.connect(host="127.0.0.1", user="root", autocommit=True)
    cur = admin.cursor()
    cur.execute(f"CREATE DATABASE `{my_db}`")
    cur.execute("CREATE USER IF NOT EXISTS 'aegis_rt'@'%%' IDENTIFIED BY %s", (MY_SECRET,))
    cur.execute("CREATE USER IF NOT EXISTS 'aegis_rt'@'localhost' IDENTIFIED BY %s", (MY_SECRET,))
    for host in ("%", "localhost"):
        cur.execute(f"GRANT ALL ON `{my_db}`.* TO 'aegis_rt'@'{host}'")
        cur.execute(f"GRANT ALL ON `aegis\\_scratch\\_%`.* TO 'aegis_rt'@'{host}'")  # verification's scratch DBs
        cur.execute(f"GRANT SET USER, RELOAD, PROCESS ON *.* TO 'aegis_rt'@'{host}'")
    cur.execute(f"USE `{my_db}`")
    cur.execute(f"CREATE TABLE `{my_db}`.players (id INT PRIMARY KEY, name VARCHAR(50), score INT)")
    cur.execute(f"INSERT INTO `{my_db}`.players SELECT seq, CONCAT('p', seq), seq * 7 FROM seq_1_to_3000")

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database, autocommit=True) as c:
        c.execute("create table docs (id int primary key, body text)")
        c.execute("insert into docs select g, repeat(md5(g::text), 20) from generate_series(1, 200000) g")
        c.execute('create table "odd; name ""x""" (k text)')
        c.execute('insert into "odd; name ""x""" values (\'a\'), (\'b\')')

    r = redis.Redis(port=redis_server)
    for i in range(500):
        r.set(f"game:player:{i}", f"state-{i}")
    r.hset("game:config", mapping={"mode": "ranked", "season": "7"})
    r.set("game:session:tmp", "x", ex=3600)

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "server.yaml").write_text("max_players: 100\n")

    inv = write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        targets:
          - {{name: pg, kind: postgres, conn_id: rt_pg, tags: [db]}}
          - {{name: maria, kind: mysql, conn_id: rt_maria, tags: [db], databases: [{my_db}]}}
          - {{name: cache, kind: redis, conn_id: rt_cache, tags: [cache]}}
          - {{name: game-config, kind: files, tags: [config], paths: [conf]}}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    monkeypatch.setenv("AIRFLOW_CONN_RT_PG", f"postgresql://postgres:{PG_SECRET}@127.0.0.1:5432/{pg_database}")
    monkeypatch.setenv("AIRFLOW_CONN_RT_MARIA", f"mysql://aegis_rt:{MY_SECRET}@127.0.0.1:3306/{my_db}")
    monkeypatch.setenv("AIRFLOW_CONN_RT_CACHE", f"redis://127.0.0.1:{redis_server}/0")
    yield {"tmp": tmp_path, "pg": pg_database, "my": my_db, "redis": redis_server, "conf": conf}
    cur.execute(f"DROP DATABASE IF EXISTS `{my_db}`")
    admin.close()


class ProcessWatcher:
    """Samples every process's argv while a backup runs (what `ps` would show)."""

    def __init__(self):
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for p in psutil.process_iter(["cmdline"]):
                try:
                    if p.info["cmdline"]:
                        self.seen.add(" ".join(p.info["cmdline"]))
                except psutil.Error:
                    pass
            time.sleep(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def catalog():
    from include.catalog import Catalog
    from include.inventory import load_inventory

    return Catalog.for_inventory(load_inventory())


def task_logs(capfd, caplog) -> str:
    """Everything the tasks logged: ``dag.test()`` runs them in-process, so their log lines go to
    this process's stdout/stderr (structlog) and to the logging records pytest captures."""
    out, err = capfd.readouterr()
    return "\n".join([out, err, caplog.text])


def test_backup_verify_restore_round_trip(airflow_db, world, capfd, caplog):
    before_pg, before_my = pg_checksums(world["pg"]), my_checksums(world["my"])
    before_redis = redis_state(world["redis"])
    assert len(before_pg) == 2 and before_my

    with ProcessWatcher() as watcher:
        run = load_dag("backup").test(logical_date=L1)
    assert run.state == "success"
    sets = {s["target"]: s for s in catalog().backup_sets_of()}
    assert {t: s["state"] for t, s in sets.items()} == dict.fromkeys(
        ["pg", "maria", "cache", "game-config"], "complete"
    )

    dumps = [a for a in watcher.seen if "pg_dump" in a or "mysqldump" in a or "mariadb-dump" in a or "redis-cli" in a]
    assert any("pg_dump" in a for a in dumps), "the watcher never saw pg_dump: the argv check proved nothing"
    for argv in watcher.seen:
        assert PG_SECRET not in argv and MY_SECRET not in argv, argv

    run = load_dag("verify_backups").test(run_conf={"set_ids": [s["set_id"] for s in sets.values()]})
    assert run.state == "success"
    assert {s["target"]: s["state"] for s in catalog().backup_sets_of()} == dict.fromkeys(
        ["pg", "maria", "cache", "game-config"], "verified"
    )

    # Change everything after the backup.
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=world["pg"], autocommit=True) as c:
        c.execute("update docs set body = 'changed' where id % 10 = 0")
        c.execute("delete from docs where id > 150000")
        c.execute('drop table "odd; name ""x"""')
        c.execute("create table created_after (x int)")
    m = MySQLdb.connect(host="127.0.0.1", user="root", database=world["my"], autocommit=True)
    m.cursor().execute("UPDATE players SET score = 0 WHERE id < 100")
    m.cursor().execute("DELETE FROM players WHERE id > 2900")
    m.close()
    r = redis.Redis(port=world["redis"])
    r.set("game:player:1", "hacked")
    r.delete("game:player:2")
    r.set("game:new", "added after backup")
    (world["conf"] / "server.yaml").write_text("max_players: 1\n")
    assert pg_checksums(world["pg"]) != before_pg

    # A dry run changes nothing.
    assert load_dag("restore").test(run_conf={"target": "pg", "dry_run": True}).state == "success"
    assert "created_after" in str(pg_checksums(world["pg"]))

    # A live restore without the confirmation is refused, and changes nothing.
    assert load_dag("restore").test(run_conf={"target": "maria", "dry_run": False, "confirm": ""}).state == "failed"
    assert my_checksums(world["my"]) != before_my

    for target in ("pg", "maria", "cache"):
        run = load_dag("restore").test(run_conf={"target": target, "dry_run": False, "confirm": target})
        assert run.state == "success", target
    assert pg_checksums(world["pg"]) == before_pg
    assert my_checksums(world["my"]) == before_my
    assert redis_state(world["redis"]) == before_redis

    from airflow.sdk import Variable

    for target in ("pg", "maria", "cache"):  # maintenance mode off again
        assert Variable.get(f"aegis_maintenance.{target}", default=None) is None
    logs = task_logs(capfd, caplog)
    assert "backup set pg-20260601T170000Z" in logs
    assert PG_SECRET not in logs and MY_SECRET not in logs


def test_corrupt_sets_are_caught_and_marked_failed(airflow_db, world):
    from include.backup import runner
    from include.inventory import load_inventory
    from include.targets import endpoint_for

    inv, cat = load_inventory(), catalog()
    target = inv.target("maria")
    ep = endpoint_for(target)
    damages = {
        "flipped byte": lambda f: f.write_bytes(bytes([f.read_bytes()[0] ^ 1]) + f.read_bytes()[1:]),
        "missing file": lambda f: f.unlink(),
        "truncated dump": lambda f: f.write_bytes(f.read_bytes()[: f.stat().st_size // 2]),
    }
    for i, (name, damage) in enumerate(damages.items()):
        outcome = runner.backup_target(inv, target, ep, L1 + timedelta(hours=i), cat)
        folder = Path(outcome["uri"].removeprefix("file://"))
        damage(next(folder.glob("*.sql.gz")))
        verdict = runner.verify_set(inv, target, ep, outcome["set_id"], cat)
        assert verdict["state"] == "failed", name
        assert cat.backup_set(outcome["set_id"])["state"] == "failed", name
        assert ".sql.gz" in verdict["reason"], (name, verdict["reason"])


def test_interrupted_backup_never_claims_complete(airflow_db, world, monkeypatch):
    from include.backup import runner, store
    from include.inventory import load_inventory
    from include.targets import endpoint_for

    inv, cat = load_inventory(), catalog()
    target = inv.target("pg")
    real_publish = store._publish_file
    calls = []

    def die_midway(*args, **kw):  # the third file of the set (files are published two at a time)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("worker killed")
        return real_publish(*args, **kw)

    monkeypatch.setattr(store, "_publish_file", die_midway)
    with pytest.raises(KeyboardInterrupt):
        runner.backup_target(inv, target, endpoint_for(target), L1, cat)
    record = cat.backup_set(store.set_id_for("pg", L1))
    assert record["state"] == "failed"
    folder = runner.sets_folder(inv, "pg", record["set_id"])
    assert not (folder / "manifest.json").exists()
    monkeypatch.setattr(store, "_publish_file", real_publish)
    assert runner.verify_set(inv, target, endpoint_for(target), record["set_id"], cat)["state"] == "failed"
    # a retry of the interval produces a complete set
    assert runner.backup_target(inv, target, endpoint_for(target), L1, cat)["state"] == "complete"


def test_retention_keeps_the_newest_verified_set(airflow_db, world):
    from include.backup import runner
    from include.inventory import load_inventory
    from include.targets import endpoint_for

    inv, cat = load_inventory(), catalog()
    target = inv.target("game-config")
    ep = endpoint_for(target)
    ids = [runner.backup_target(inv, target, ep, L1 + timedelta(days=d), cat)["set_id"] for d in range(3)]
    assert runner.verify_set(inv, target, ep, ids[0], cat)["state"] == "verified"
    far_future = L1 + timedelta(days=400)  # every set is past 30 days; keep_last 7 would keep all: use 0
    object.__setattr__(target, "backup", {**target.backup, "keep_last": 0})
    planned = runner.apply_retention(inv, cat, [target], far_future, dry_run=True)
    assert {a["set_id"] for a in planned} == set(ids[1:])
    assert all(cat.backup_set(i)["state"] != "deleted" for i in ids)  # dry run: nothing gone
    runner.apply_retention(inv, cat, [target], far_future, dry_run=False)
    assert cat.backup_set(ids[0])["state"] == "verified"
    assert runner.sets_folder(inv, "game-config", ids[0]).exists()
    assert [cat.backup_set(i)["state"] for i in ids[1:]] == ["deleted", "deleted"]
    assert not runner.sets_folder(inv, "game-config", ids[1]).exists()


def test_live_restore_whose_load_times_out_leaves_the_database_and_still_reports(
    airflow_db, world, capfd, caplog, monkeypatch
):
    from include.backup import postgres as pgb

    assert load_dag("backup").test(logical_date=L1).state == "success"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=world["pg"], autocommit=True) as c:
        c.execute("insert into docs values (900001, 'written after the backup')")
        oid = c.execute("select oid from pg_database where datname = current_database()").fetchone()[0]
    before = pg_checksums(world["pg"])
    real_run_tool = pgb.run_tool

    def pg_restore_cut_short(argv, **kw):  # the real pg_restore, killed by a real timeout half-way through its load
        return real_run_tool(argv, **{**kw, "timeout_s": 0.3 if argv[0] == "pg_restore" else kw["timeout_s"]})

    monkeypatch.setattr(pgb, "run_tool", pg_restore_cut_short)
    set_id = catalog().backup_sets_of("pg")[0]["set_id"]
    run = load_dag("restore").test(run_conf={"target": "pg", "set_id": set_id, "dry_run": False, "confirm": "pg"})
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
    assert run.state == "failed" and states["restore_target"] == "success" and states["maintenance_off"] == "success"
    assert pg_checksums(world["pg"]) == before  # the previous data, the write after the backup included
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as c:
        assert c.execute("select oid from pg_database where datname = %s", (world["pg"],)).fetchone()[0] == oid
        assert (
            c.execute("select count(*) from pg_database where datname like %s", (world["pg"] + "_aegis_%",)).fetchone()[
                0
            ]
            == 0
        )  # no side copy left behind
    reports = [
        json.loads(p.read_text()) for p in (world["tmp"] / "artifacts").rglob("report.json") if "restore" in p.parts
    ]
    report = next(r for r in reports if r["run_id"] == run.run_id)
    assert report["outcome"] == "failed" and "did not finish within" in json.dumps(report)
    logs = task_logs(capfd, caplog)
    assert "alert logged only" in logs and "restore of pg" in logs.lower()


def test_a_refused_connection_during_verify_leaves_the_set_state_unchanged(airflow_db, world):
    import dataclasses

    from include.backup import runner
    from include.inventory import load_inventory
    from include.targets import endpoint_for
    from tests.helpers import free_port

    inv, cat = load_inventory(), catalog()
    for name in ("pg", "maria"):  # (a Redis set is verified in a private server: the target is not used)
        target = inv.target(name)
        outcome = runner.backup_target(inv, target, endpoint_for(target), L1, cat)
        assert runner.verify_set(inv, target, endpoint_for(target), outcome["set_id"], cat)["state"] == "verified"
        down = dataclasses.replace(endpoint_for(target), port=free_port())  # nothing listens there: refused
        verdict = runner.verify_set(inv, target, down, outcome["set_id"], cat)
        assert verdict["state"] == "skipped" and "not verified" in verdict["reason"], verdict
        assert cat.backup_set(outcome["set_id"])["state"] == "verified", name  # not turned into failed


def test_verify_on_a_scratch_server_without_the_space_is_skipped_with_a_finding(airflow_db, world, monkeypatch):
    import dataclasses

    from include.backup import runner
    from include.inventory import load_inventory
    from include.targets import endpoint_for
    from tests.helpers import free_port

    inv, cat = load_inventory(), catalog()
    target = inv.target("pg")
    outcome = runner.backup_target(inv, target, endpoint_for(target), L1, cat)
    # the separate scratch server (the local one under another connection id): really measured, then the
    # requirement raised past any disk, so the set "does not fit"
    scratch_target = dataclasses.replace(target, backup={**target.backup, "verify_scratch_conn_id": "rt_scratch"})
    monkeypatch.setenv("AIRFLOW_CONN_RT_SCRATCH", "postgresql://postgres@127.0.0.1:5432/postgres")
    monkeypatch.setattr(runner, "SCRATCH_SPACE_FACTOR", 10**9)
    verdict = runner.verify_set(inv, scratch_target, endpoint_for(target), outcome["set_id"], cat)
    assert verdict["state"] == "skipped" and "would not fit" in verdict["reason"], verdict
    assert cat.backup_set(outcome["set_id"])["state"] == "complete"
    # with room, the same scratch server verifies it; a scratch server that refuses connections skips it
    monkeypatch.setattr(runner, "SCRATCH_SPACE_FACTOR", 4)
    assert runner.verify_set(inv, scratch_target, endpoint_for(target), outcome["set_id"], cat)["state"] == "verified"
    monkeypatch.setenv("AIRFLOW_CONN_RT_SCRATCH", f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    verdict = runner.verify_set(inv, scratch_target, endpoint_for(target), outcome["set_id"], cat)
    assert verdict["state"] == "skipped" and cat.backup_set(outcome["set_id"])["state"] == "verified"
