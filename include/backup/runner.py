"""The backup routine's steps as plain functions: back up a target, verify a set, restore, retention.

They tie the kind modules to the artifact store and the catalog; the DAGs only call these.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.backup import store
from include.backup.base import BackupToolError
from include.backup.manifest import CorruptBackup, Manifest
from include.backup.retention import plan

if TYPE_CHECKING:
    from include.inventory import Inventory, Target
    from include.targets import Endpoint


log = logging.getLogger(__name__)

DATABASE_KINDS = {"postgres", "mysql"}


def kind_module(kind: str):
    """The backup module of ``kind`` (named by its spec, :mod:`include.kinds`)."""
    from include.kinds import load, spec

    module = spec(kind).backup
    if module is None:
        raise KeyError(f"kind {kind!r} has no backup")
    return load(module)


def sets_folder(inventory: Inventory, target: str, set_id: str | None = None):
    from include.artifacts import artifact_folder

    return artifact_folder(inventory, "backups", target, *([set_id] if set_id else []))


@contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    """A private local folder, removed afterwards whatever happens; named after this process
    (``aegis-<prefix>-<pid>-…``) so that the folders of a process that was killed (SIGKILL: no ``finally``)
    are found and removed by the next workspace made on this host (:func:`sweep_dead_workspaces`)."""
    sweep_dead_workspaces()
    path = Path(tempfile.mkdtemp(prefix=f"aegis-{prefix}-{os.getpid()}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


#: the work folders :func:`workspace` makes: ``aegis-<prefix>-<pid>-<random>``
_WORKSPACE = re.compile(r"aegis-(?:backup|verify|restore)-(\d+)-[^/]+")


def sweep_dead_workspaces() -> list[Path]:
    """Remove the work folders (a dump, a fetched set: possibly large) of processes no longer alive."""
    import psutil

    removed = []
    for path in Path(tempfile.gettempdir()).glob("aegis-*-*-*"):
        match = _WORKSPACE.fullmatch(path.name)
        if not match or not path.is_dir() or path.is_symlink():
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or psutil.pid_exists(pid):
            continue
        shutil.rmtree(path, ignore_errors=True)
        log.warning("removed %s, left by process %d which no longer runs (killed?)", path, pid)
        removed.append(path)
    return removed


#: the states in which a set may be read (verified, restored)
READABLE_STATES = ("complete", "verified")


class SetNotReadable(Exception):
    """The set is not complete or verified (its backup is still writing it, it failed, retention deleted it):
    it was not read."""

    def __init__(self, set_id: str, state: str | None):
        self.set_id, self.state = set_id, state
        why = " (its backup is still writing it)" if state == "running" else ""
        super().__init__(
            f"backup set {set_id} is {state or 'not in the catalog'}{why}: only a complete or verified set is read"
        )


@contextmanager
def holding_set(inventory: Inventory, catalog, set_id: str) -> Iterator[dict[str, Any]]:
    """Hold the set's lease (:func:`include.locks.set_key`) for the block and yield its catalog row;
    :class:`SetNotReadable` when it is not complete or verified then. Retention deletes a set only under the same
    lease, so a set is not deleted while a verify or a restore downloads it, nor marked after it was deleted.
    Never wait for another lease inside the block (the set leases stay out of any wait cycle)."""
    from include.locks import lease_for, set_key

    with lease_for(inventory, set_key(set_id), catalog=catalog):
        record = catalog.backup_set(set_id)
        if record is None or record["state"] not in READABLE_STATES:
            raise SetNotReadable(set_id, record["state"] if record else None)
        yield record


def backup_target(inventory: Inventory, target: Target, endpoint: Endpoint, ts: datetime, catalog) -> dict[str, Any]:
    """Dump one target and publish the set; the catalog follows it running → complete (or failed).

    Idempotent per interval: a set of this interval that is already complete or verified is
    left alone (a retry or a second backfill does not back up twice). Runs holding the target's lease
    (:mod:`include.locks`); when another routine holds it past the wait limit the set is recorded failed with
    the reason and :class:`~include.locks.TargetBusy` is raised.
    """
    from include.locks import TargetBusy, lease_for

    try:
        with lease_for(inventory, target.name, catalog=catalog):
            return _backup_target(inventory, target, endpoint, ts, catalog)
    except TargetBusy as busy:
        set_id = store.set_id_for(target.name, ts)
        if (catalog.backup_set(set_id) or {}).get("state") not in ("complete", "verified"):
            catalog.backup_started(set_id, target.name, target.kind, str(sets_folder(inventory, target.name, set_id)))
            catalog.backup_state(set_id, "failed", detail=f"not backed up: {busy}")
        raise


def _backup_target(inventory: Inventory, target: Target, endpoint: Endpoint, ts: datetime, catalog) -> dict[str, Any]:
    """:func:`backup_target`'s work, the lease held."""
    set_id = store.set_id_for(target.name, ts)
    existing = catalog.backup_set(set_id)
    if existing and existing["state"] in ("complete", "verified"):
        log.info("backup set %s is already %s: nothing to do", set_id, existing["state"])
        return {"set_id": set_id, "state": existing["state"], "skipped": True, "uri": existing["uri"]}
    fail_interrupted_sets(inventory, target.name, set_id, catalog)
    folder = sets_folder(inventory, target.name, set_id)
    catalog.backup_started(set_id, target.name, target.kind, str(folder))
    started = datetime.now(UTC)
    t0 = time.monotonic()
    try:
        with workspace("backup") as workdir:
            result = kind_module(target.kind).dump(target, endpoint, workdir)
            manifest = Manifest(
                set_id=set_id,
                target=target.name,
                kind=target.kind,
                started_at=started.isoformat(),
                finished_at="",
                tool_versions=result.tool_versions,
                files=[],
                facts=result.facts,
                encrypted=result.encrypted,
            )
            manifest.finished_at = datetime.now(UTC).isoformat()
            options = {"StorageClass": target.backup["storage_class"]} if str(folder).startswith("s3://") else {}
            manifest = store.publish(workdir, folder, manifest, _s3_write_options(options))
    except BaseException as exc:
        catalog.backup_state(set_id, "failed", detail=f"{type(exc).__name__}: {exc}")
        _discard_partial(folder)
        raise
    seconds = time.monotonic() - t0
    catalog.backup_state(
        set_id, "complete", size_bytes=manifest.size_bytes, detail=f"{len(manifest.files)} files in {seconds:.1f}s"
    )
    mib_s = manifest.size_bytes / 2**20 / max(seconds, 1e-6)
    log.info("backup %s complete: %d bytes in %.1fs (%.1f MiB/s)", set_id, manifest.size_bytes, seconds, mib_s)
    return {
        "set_id": set_id,
        "state": "complete",
        "uri": str(folder),
        "bytes": manifest.size_bytes,
        "seconds": round(seconds, 2),
        "facts": manifest.facts,
    }


def fail_interrupted_sets(inventory: Inventory, target: str, set_id: str, catalog) -> list[str]:
    """Mark ``failed`` (and remove the files of) every other set of ``target`` still recorded ``running``: the
    backup that wrote it was killed before it could record anything (SIGKILL, a lost worker). Called holding the
    target's lease, which every backup of the target holds while it runs: no other backup of it is running."""
    stale = [s["set_id"] for s in catalog.backup_sets_of(target, states=("running",)) if s["set_id"] != set_id]
    for old in stale:
        log.warning("backup set %s was left running by an interrupted backup: marking it failed", old)
        catalog.backup_state(
            old, "failed", detail=f"interrupted: its backup stopped without finishing (found by the backup of {set_id})"
        )
        _discard_partial(sets_folder(inventory, target, old))
    return stale


def _s3_write_options(options: dict) -> dict:
    # s3fs passes extra ``open`` keyword arguments on to its S3 calls (PutObject / CreateMultipartUpload)
    return options


def _discard_partial(folder) -> None:
    try:
        if folder.exists():
            store.delete_set(folder)
            log.info("removed the incomplete set at %s", folder)
    except Exception as exc:  # noqa: BLE001 - the set has no manifest anyway: it can never pass as complete
        log.warning("could not remove incomplete set %s: %s", folder, exc)


#: facts a restore into a scratch copy cannot show (they belong to the database's name: owner, ACL, settings);
#: compared only when the restore reports them (a live restore)
LIVE_ONLY_FACTS = ("database_properties", "routine_grants", "schema_grants")


def facts_difference(expected: Any, observed: Any, path: str = "") -> list[str]:
    """Readable differences between the manifest's facts and what a restore shows."""
    if isinstance(expected, dict) and isinstance(observed, dict):
        out = []
        for key in sorted(set(expected) | set(observed), key=str):
            where = f"{path}.{key}" if path else str(key)
            if not path and key in LIVE_ONLY_FACTS and key not in observed:
                continue
            if key not in observed:
                out.append(f"{where}: in the backup, missing after restore")
            elif key not in expected:
                out.append(f"{where}: appeared after restore")
            else:
                out += facts_difference(expected[key], observed[key], where)
        return out
    return [] if expected == observed else [f"{path}: backup recorded {expected!r}, restore shows {observed!r}"]


#: a scratch restore needs about this many times the set's (compressed) size free on the scratch server
SCRATCH_SPACE_FACTOR = 4


class NoRoomForScratch(Exception):
    """The scratch server has not the free space a scratch restore of the set needs (a finding, not a failure)."""


class FreeSpaceUnknown(Exception):
    """The scratch server's free space cannot be measured and the target does not allow a restore test without it
    (``backup.verify_when_space_unknown`` false): a finding, not a failure."""


def check_scratch_room(target: Target, endpoint: Endpoint, manifest: Manifest) -> list[str]:
    """Before a PostgreSQL/MySQL scratch restore on ``endpoint``'s server: :class:`NoRoomForScratch` when its free
    space is below :data:`SCRATCH_SPACE_FACTOR` times the set's size, :class:`FreeSpaceUnknown` when it cannot
    be measured (unless the target allows that: then the warning to report is returned). Other kinds: ``[]``."""
    from include.backup.scratch import free_space

    if target.kind not in DATABASE_KINDS:
        return []
    client = importlib.import_module(f"include.clients.{target.kind}")
    space = free_space(client, target, endpoint, min(target.timeout_seconds, 30))
    needed = manifest.size_bytes * SCRATCH_SPACE_FACTOR
    if space.free is None:
        unknown = f"free space unknown for {target.name}: {space.how}"
        if not target.backup.get("verify_when_space_unknown"):
            raise FreeSpaceUnknown(
                f"{unknown}; the restore test was not run (backup.verify_when_space_unknown: true runs it anyway)"
            )
        log.warning("%s; restore-testing anyway (backup.verify_when_space_unknown)", unknown)
        return [f"{unknown}; restore-tested anyway (backup.verify_when_space_unknown)"]
    if space.free < needed:
        raise NoRoomForScratch(
            f"the scratch restore would not fit: {space.free} bytes free on {endpoint.safe()} ({space.how}),"
            f" about {needed} needed ({SCRATCH_SPACE_FACTOR} x the set's {manifest.size_bytes})"
        )
    log.info("scratch room: %d bytes free (%s), about %d needed", space.free, space.how, needed)
    return []


def restore_into_scratch(kind: str, endpoint: Endpoint, workdir: Path, manifest: Manifest, timeout_s: float) -> dict:
    """Load the set into a throwaway copy on ``endpoint``'s server (the target's, or the separate scratch server)
    and return the facts it shows (copy dropped); :func:`check_scratch_room` comes first."""
    module = kind_module(kind)
    if kind in DATABASE_KINDS:
        databases = list(manifest.facts.get("databases", {}))
        with module.scratch(endpoint, manifest.set_id, databases) as (scratch_ep, database_map):
            return module.restore(scratch_ep, workdir, manifest.facts, database_map=database_map, timeout_s=timeout_s)
    with module.scratch(endpoint, manifest.set_id, workdir) as scratch_ep:
        extra = {"root": scratch_ep} if kind == "files" else {}
        return module.restore(scratch_ep, workdir, manifest.facts, timeout_s=timeout_s, **extra)


#: what a native tool says when the server, not the backup, is the problem
UNREACHABLE_WORDS = (
    "connection refused",
    "could not connect",
    "can't connect",
    "timeout expired",
    "did not finish within",
    "lost connection",
    "server closed the connection",
)


def infrastructure_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the server could not be reached or answered too late (connection refused, timeout,
    connection lost) or was busy with another routine, as opposed to a set that does not restore or does not match."""
    import psycopg
    import redis

    from include.locks import TargetBusy

    if isinstance(exc, CorruptBackup):
        return False
    if isinstance(exc, (NoRoomForScratch, FreeSpaceUnknown, TargetBusy)):
        return True
    if isinstance(exc, (ConnectionError, TimeoutError, redis.ConnectionError, redis.TimeoutError)):
        return True
    if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, psycopg.errors.QueryCanceled):
        return True
    try:
        import MySQLdb

        if isinstance(exc, MySQLdb.OperationalError) and exc.args and exc.args[0] in (2002, 2003, 2006, 2013):
            return True
    except ImportError:  # pragma: no cover - the MySQL driver is a requirement
        pass
    return isinstance(exc, BackupToolError) and any(w in str(exc).lower() for w in UNREACHABLE_WORDS)


def scratch_server(target: Target, endpoint: Endpoint) -> Endpoint:
    """Where verification restores: the ``verify_scratch_conn_id`` server of the target's backup settings, else
    the target's own server."""
    conn_id = (target.backup or {}).get("verify_scratch_conn_id")
    if not conn_id:
        return endpoint
    from include.targets import endpoint_for_conn

    return endpoint_for_conn(conn_id)


def verify_set(
    inventory: Inventory, target: Target, endpoint: Endpoint, set_id: str, catalog, run_id: str | None = None
) -> dict[str, Any]:
    """Checksums, then a restore into scratch compared with the manifest's facts; marks verified (by ``run_id``,
    the verify_backups run) or failed."""
    from include.locks import TargetBusy, lease_for

    folder = sets_folder(inventory, target.name, set_id)
    t0 = time.monotonic()
    try:
        with workspace("verify") as workdir:
            with holding_set(inventory, catalog, set_id):  # not deleted by retention while it is downloaded
                manifest = store.fetch(folder, workdir)
            scratch_ep = scratch_server(target, endpoint)
            warnings = check_scratch_room(target, scratch_ep, manifest)
            with lease_for(inventory, target.name, catalog=catalog):  # the scratch copy lives on the target's server
                observed = restore_into_scratch(
                    target.kind, scratch_ep, workdir, manifest, target.backup["timeout_seconds"]
                )
        problems = facts_difference(manifest.facts, observed)
        if problems:
            raise CorruptBackup(f"backup set {set_id}: restored copy differs from the backup: " + "; ".join(problems))
    except SetNotReadable as exc:  # still being written, or deleted meanwhile: skipped; a failed set fails
        state = "failed" if exc.state in (None, "failed") else "skipped"
        log.warning("backup set %s not verified: %s", set_id, exc)
        return {"set_id": set_id, "state": state, "reason": f"not verified: {exc}"}
    except Exception as exc:
        if infrastructure_error(exc):  # the server's fault, not the set's: its state stays as it was
            record = catalog.backup_set(set_id) or {}
            why = (
                str(exc)
                if isinstance(exc, (NoRoomForScratch, FreeSpaceUnknown, TargetBusy))
                else (f"the server could not be used ({type(exc).__name__}: {exc})")
            )
            reason = f"not verified: {why}; the set stays {record.get('state', 'as it was')}"
            log.warning("backup set %s: %s", set_id, reason)
            return {"set_id": set_id, "state": "skipped", "reason": reason}
        _mark(inventory, catalog, set_id, "failed", detail=f"verification failed: {exc}")
        log.error("backup set %s FAILED verification: %s", set_id, exc)
        return {"set_id": set_id, "state": "failed", "reason": str(exc)}
    seconds = time.monotonic() - t0
    unmarked = _mark(
        inventory,
        catalog,
        set_id,
        "verified",
        detail=f"restored into scratch and matched in {seconds:.1f}s",
        run_id=run_id,
    )
    if unmarked:
        reason = f"restored into scratch and matched, but not marked verified: {unmarked}"
        log.warning("backup set %s: %s", set_id, reason)
        return {"set_id": set_id, "state": "skipped", "reason": reason}
    log.info("backup set %s verified in %.1fs (%d bytes)", set_id, seconds, manifest.size_bytes)
    return {
        "set_id": set_id,
        "state": "verified",
        "seconds": round(seconds, 2),
        "bytes": manifest.size_bytes,
        **(
            {"databases": sorted(manifest.facts["databases"])}
            if isinstance(manifest.facts.get("databases"), dict)
            else {}
        ),
        **({"warnings": warnings} if warnings else {}),
    }


def _mark(inventory: Inventory, catalog, set_id: str, state: str, **values: Any) -> str | None:
    """Record verify's verdict on the set, holding its lease, unless the set changed meanwhile (retention deleted
    it): then the catalog is left as it is and the reason is returned."""
    from include.locks import TargetBusy

    try:
        with holding_set(inventory, catalog, set_id):
            catalog.backup_state(set_id, state, **values)
    except (SetNotReadable, TargetBusy) as exc:
        return str(exc)
    return None


def apply_retention(
    inventory: Inventory, catalog, targets, now: datetime, dry_run: bool = True, *, scheduled: bool = False
) -> list[dict[str, str]]:
    """Delete (or, in dry run, list) the sets retention lets go; the newest verified set always stays.

    ``scheduled`` (a scheduled / backfill run): each target's ``backup.apply_retention`` decides instead of
    ``dry_run`` (:func:`include.run_policy.retention_dry_run`); every action says which decided (``why``)."""
    from include.run_policy import retention_dry_run

    actions = []
    for target in targets:
        dry, why = retention_dry_run(target.backup, scheduled=scheduled, form_apply=not dry_run)
        sets = catalog.backup_sets_of(target.name)
        for d in plan(sets, now, target.backup["retention_days"], target.backup["keep_last"]):
            verb = "would delete" if dry else "deleting"
            log.info("%s %s (%s; %s)", verb, d.set_id, d.reason, why)
            action, reason = verb, d.reason
            if not dry:
                action, reason = _delete_set(inventory, catalog, d)
            actions.append({"set_id": d.set_id, "target": d.target, "action": action, "reason": reason, "why": why})
    if not actions:
        log.info("retention: nothing to delete")
    return actions


def _delete_set(inventory: Inventory, catalog, d) -> tuple[str, str]:
    """Delete one set retention let go, holding its lease without waiting: a set a verify or a restore is reading
    right now, or one another run deleted already, is kept / left (the action and the reason say so)."""
    from include.locks import TargetBusy, set_key, target_lease

    try:
        with target_lease(catalog, set_key(d.set_id), wait_s=0):
            state = (catalog.backup_set(d.set_id) or {}).get("state")
            if state not in ("complete", "verified", "failed"):
                log.info("%s is %s now: left alone", d.set_id, state)
                return "left", f"{state} now (another run got there first)"
            store.delete_set(sets_folder(inventory, d.target, d.set_id))
            catalog.backup_state(d.set_id, "deleted", detail=f"retention: {d.reason}")
    except TargetBusy as busy:
        log.warning("kept %s: it is being read (%s); a later retention deletes it", d.set_id, busy)
        return "kept", f"in use: {busy}; a later retention deletes it"
    return "deleted", d.reason
