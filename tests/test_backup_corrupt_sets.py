"""Damaged backup sets and backups killed half-way, against the real artifact store and catalog.

Every damage a reviewer (or a disk) can do to a set: verify marks the set failed with a reason naming the set and
what is wrong; a restore, dry run or live, refuses it with that reason and never touches the target. A backup
killed with SIGKILL leaves neither a set that stays ``running`` nor its work folder behind once the next backup of
the target runs.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import REPO, write_inventory

L1 = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path, monkeypatch):
    import tempfile

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "server.yaml").write_text("max_players: 100\n" * 50)
    (conf / "motd.txt").write_text("welcome\n")
    inv = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: game-config, kind: files, paths: [conf]}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    work_tmp = tmp_path / "tmp"  # this test's own temp folder: the workspaces (and the sweep) look only here
    work_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(work_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(work_tmp))
    from include.catalog import Catalog
    from include.inventory import load_inventory

    inventory = load_inventory(inv)
    return {
        "tmp": tmp_path,
        "conf": conf,
        "work_tmp": work_tmp,
        "inv": inventory,
        "target": inventory.target("game-config"),
        "catalog": Catalog.for_inventory(inventory),
    }


def workspaces(world) -> list[str]:
    """The backup / verify / restore work folders in the test's temp folder."""
    return [
        p.name
        for p in world["work_tmp"].iterdir()
        if p.name.startswith(("aegis-backup-", "aegis-verify-", "aegis-restore-"))
    ]


def back_up(world, ts=L1) -> tuple[str, Path]:
    from include.backup import runner
    from include.targets import endpoint_for

    outcome = runner.backup_target(world["inv"], world["target"], endpoint_for(world["target"]), ts, world["catalog"])
    assert outcome["state"] == "complete"
    return outcome["set_id"], Path(outcome["uri"].removeprefix("file://"))


def edit_manifest(folder: Path, change) -> None:
    data = json.loads((folder / "manifest.json").read_text())
    change(data)
    (folder / "manifest.json").write_text(json.dumps(data))


def move_out_of_the_store(folder: Path) -> None:
    outside = folder.parent.parent.parent / "elsewhere"
    shutil.move(folder, outside)
    folder.symlink_to(outside, target_is_directory=True)


ARCHIVE = "files.tar.gz"
DAMAGES = {
    "truncated dump": (lambda f: (f / ARCHIVE).write_bytes((f / ARCHIVE).read_bytes()[:100]), "size 100 bytes"),
    "zero-byte dump": (lambda f: (f / ARCHIVE).write_bytes(b""), "size 0 bytes"),
    "checksum mismatch": (
        lambda f: (f / ARCHIVE).write_bytes(
            bytes([(f / ARCHIVE).read_bytes()[0] ^ 1]) + (f / ARCHIVE).read_bytes()[1:]
        ),
        "SHA-256",
    ),
    "missing manifest": (lambda f: (f / "manifest.json").unlink(), "no manifest.json: the set never completed"),
    "manifest not JSON": (lambda f: (f / "manifest.json").write_text("{not json"), "unreadable manifest"),
    "manifest is a list": (lambda f: (f / "manifest.json").write_text("[]"), "not a JSON object but list"),
    "size of the wrong type": (
        lambda f: edit_manifest(f, lambda d: d["files"][0].update(size=str(d["files"][0]["size"]))),
        "field files[0].size is str",
    ),
    "checksum of the wrong type": (
        lambda f: edit_manifest(f, lambda d: d["files"][0].update(sha256=12345)),
        "field files[0].sha256 is int",
    ),
    "files field missing": (lambda f: edit_manifest(f, lambda d: d.pop("files")), "field files is missing"),
    "manifest names a missing file": (lambda f: (f / ARCHIVE).unlink(), f"{ARCHIVE}: missing"),
    "a folder where the dump was": (
        lambda f: ((f / ARCHIVE).unlink(), (f / ARCHIVE).mkdir()),
        f"{ARCHIVE}: a folder",
    ),
    "extra unexpected file": (
        lambda f: (f / "planted.sh").write_text("rm -rf /\n"),
        "file(s) the manifest does not name: planted.sh",
    ),
    "set folder links out of the store": (move_out_of_the_store, "is a link: refusing to follow it out of the store"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_set_fails_verify_and_no_restore_touches_the_target(world, damage):
    from include.backup import restore, runner
    from include.targets import endpoint_for

    harm, words = DAMAGES[damage]
    set_id, folder = back_up(world)
    harm(folder)
    (world["conf"] / "server.yaml").write_text("changed after the backup\n")
    before = {p.name: p.read_bytes() for p in world["conf"].iterdir()}
    target, ep = world["target"], endpoint_for(world["target"])

    plan = {"target": target.name, "kind": "files", "set_id": set_id, "uri": str(folder)}
    for dry_run in (True, False):  # the set still looks complete in the catalog: the fetch finds the damage
        outcome = restore.restore_live(world["inv"], target, ep, {**plan, "dry_run": dry_run})
        assert outcome["state"] == "failed", (dry_run, outcome)
        assert set_id in outcome["reason"] and words in outcome["reason"], outcome["reason"]
        assert "game-config untouched" in outcome["reason"]
        assert {p.name: p.read_bytes() for p in world["conf"].iterdir()} == before

    verdict = runner.verify_set(world["inv"], target, ep, set_id, world["catalog"])
    assert verdict["state"] == "failed", verdict
    assert set_id in verdict["reason"] and words in verdict["reason"], verdict["reason"]
    record = world["catalog"].backup_set(set_id)
    assert record["state"] == "failed" and words in record["detail"]

    # once verify has marked it failed, a restore does not even read it
    outcome = restore.restore_live(world["inv"], target, ep, {**plan, "dry_run": False})
    assert outcome["state"] == "not-run" and f"backup set {set_id} is failed" in outcome["reason"], outcome
    assert {p.name: p.read_bytes() for p in world["conf"].iterdir()} == before
    assert workspaces(world) == []  # no fetched copy left behind


def test_a_rewritten_set_keeps_nothing_an_earlier_try_left(world):
    """A retry of an interval whose earlier try died after copying some files: the set is rewritten whole, so it
    verifies (a left-over file would be one the manifest does not name)."""
    from include.backup import runner
    from include.targets import endpoint_for

    set_id, folder = back_up(world)
    world["catalog"].backup_state(set_id, "failed", detail="the earlier try died")
    (folder / "manifest.json").unlink()
    (folder / "leftover.part").write_bytes(b"half a file")
    assert back_up(world)[0] == set_id
    assert not (folder / "leftover.part").exists()
    ep = endpoint_for(world["target"])
    assert runner.verify_set(world["inv"], world["target"], ep, set_id, world["catalog"])["state"] == "verified"


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from contextlib import contextmanager
    from datetime import datetime
    sys.path.insert(0, {repo!r})
    from include import locks
    from include.backup import runner, store
    from include.catalog import Catalog
    from include.inventory import load_inventory
    from include.targets import endpoint_for

    @contextmanager
    def short_lease(inventory, target, holder=None, catalog=None):  # so the test need not wait 120 s for expiry
        with locks.target_lease(catalog, target, wait_s=5, holder=holder, ttl_s=2) as held:
            yield held

    real = store._publish_file
    def publish_then_die(*args, **kw):
        entry = real(*args, **kw)
        os.kill(os.getpid(), signal.SIGKILL)  # the worker killed half-way: no except, no finally runs
        return entry

    locks.lease_for = short_lease
    store._publish_file = publish_then_die
    inv = load_inventory()
    target = inv.target("game-config")
    runner.backup_target(inv, target, endpoint_for(target), datetime.fromisoformat({ts!r}), Catalog.for_inventory(inv))
    """
)


def test_a_backup_killed_half_way_is_marked_failed_and_cleaned_by_the_next_backup(world):
    from include.backup import runner

    (world["conf"] / "big.bin").write_bytes(os.urandom(2 * 2**20))  # a second file worth publishing
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(repo=str(REPO), ts=L1.isoformat())],
        env={**os.environ, "TMPDIR": str(world["work_tmp"])},
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    killed = runner.sets_folder(world["inv"], "game-config", f"game-config-{L1:%Y%m%dT%H%M%SZ}")
    cat = world["catalog"]
    assert cat.backup_set(killed.name)["state"] == "running"  # what the kill leaves: nothing could record it
    assert killed.exists() and not (killed / "manifest.json").exists()
    assert workspaces(world)  # its work folder

    next_id, _ = back_up(world, L1 + timedelta(days=1))  # waits out the dead holder's 2 s lease
    record = cat.backup_set(killed.name)
    assert record["state"] == "failed" and "interrupted" in record["detail"] and next_id in record["detail"]
    assert not killed.exists()  # the partial files are gone
    assert workspaces(world) == []  # and so is the dead process's work folder
    assert [s["set_id"] for s in cat.backup_sets_of("game-config", states=("running",))] == []


def test_the_verify_and_restore_dags_report_a_damaged_set_by_name_and_end_failed(airflow_db, world, monkeypatch):
    from include import dag_defaults
    from tests.helpers import load_dag

    monkeypatch.setitem(dag_defaults.DEFAULT_ARGS, "retries", 0)  # the failure under test is final
    set_id, folder = back_up(world)
    (folder / "planted.sh").write_text("rm -rf /\n")
    words = "file(s) the manifest does not name: planted.sh"

    verify = load_dag("verify_backups").test(run_conf={"set_ids": [set_id]})
    assert verify.state == "failed"
    restore = load_dag("restore").test(run_conf={"target": "game-config", "set_id": set_id})  # a dry run
    assert restore.state == "failed"  # verify marked the set failed: the plan refuses it
    # a set whose damage came after its verification: the restore's fetch refuses it, and its report says why
    world["catalog"].backup_state(set_id, "verified", detail="verified before the damage")
    restore = load_dag("restore").test(run_conf={"target": "game-config", "set_id": set_id})
    assert restore.state == "failed"
    reports = {
        routine: json.loads(next((world["tmp"] / "artifacts" / "reports" / routine).rglob("report.json")).read_text())
        for routine in ("verify_backups", "restore")
    }
    (verified,) = reports["verify_backups"]["results"]
    assert verified["target"] == set_id and verified["status"] == "critical" and words in json.dumps(verified)
    restored = reports["restore"]["results"][0]
    assert restored["status"] == "critical" and words in json.dumps(restored) and "untouched" in json.dumps(restored)
