"""Per-target leases: one changing step at a time on a target, across processes, workers and crashes.

Every step that changes a target (a backup's dump, a restore, a planned update's change and rollback, the
weekly maintenance of a target, verify's scratch restore on the target's server) runs inside
:func:`target_lease`. The lease is a row of ``aegis_target_leases`` in the Aegis catalog (SQLite or PostgreSQL,
revision ``0008_target_leases``): the target, who holds it (routine, run id, step), since when and until when.

- **Acquire** is one transaction: delete the target's row when it has expired or is the caller's own (a retry of
  the same task of the same run takes over its lease), then insert; the primary key makes a second live holder's
  insert fail, so two processes never both win.
- **Held**: a heartbeat thread pushes ``expires_at`` forward every third of the TTL. A holder that dies (a worker
  killed, a machine gone) stops renewing, and its lease expires after at most the TTL.
- **Release** deletes the row only while it is still the caller's.
- **Backup sets** have leases of their own (:func:`set_key`): held while a set is read or deleted, never while
  waiting for another lease, so they cannot deadlock with the target leases.
- **The loser** polls with a growing pause, logging who holds the target, up to the wait limit (the inventory's
  ``defaults.lock_wait_s``), then gets :class:`TargetBusy`, whose message goes into the report.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from include.catalog import Catalog, target_leases

log = logging.getLogger(__name__)

#: Seconds a lease lives without a heartbeat: how long a crashed holder blocks its target at most.
LEASE_TTL_S = 120.0
#: Seconds a step waits for a busy target unless the inventory says otherwise (``defaults.lock_wait_s``).
DEFAULT_WAIT_S = 900.0
#: The loser's pauses between attempts: from the first to the longest, doubling.
FIRST_PAUSE_S, LONGEST_PAUSE_S = 0.5, 15.0

Clock = Callable[[], datetime]
#: (target, holder) -> how deep this process holds it: a holder taking a lease it already holds nests
_HELD: dict[tuple[str, Holder], int] = {}
_HELD_LOCK = threading.Lock()


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: the routine (DAG id), its run id and the step (task id and map index).

    The same holder acquiring again (an Airflow retry of the same task instance) takes over its own lease."""

    routine: str
    run_id: str
    step: str

    def describe(self) -> str:
        return f"{self.routine} run {self.run_id} ({self.step})"


def current_holder(fallback_routine: str = "aegis") -> Holder:
    """The running Airflow task instance as a holder; outside a task (a script, a test) this process's thread
    (``<host>:<pid>:<random>``, ``thread-<id>``), which no other process or thread ever matches."""
    try:
        from airflow.sdk import get_current_context

        context = get_current_context()
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        step = ti.task_id + (f"[{map_index}]" if map_index is not None and map_index >= 0 else "")
        return Holder(ti.dag_id, str(context["run_id"]), step)
    except Exception:  # noqa: BLE001 - not inside a task: this process's thread
        return Holder(fallback_routine, f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TAG}", _thread_step())


#: tells this process from an earlier one that had the same pid
_PROCESS_TAG = uuid.uuid4().hex[:8]


def _thread_step() -> str:
    return f"thread-{threading.get_ident()}"


class TargetBusy(Exception):
    """Another routine held the target past the wait limit: the step was skipped, nothing was changed."""

    def __init__(self, target: str, holder: dict[str, Any] | None, waited_s: float):
        self.target, self.holder, self.waited_s = target, holder, waited_s
        super().__init__(busy_message(target, holder, waited_s))


def busy_message(target: str, holder: dict[str, Any] | None, waited_s: float) -> str:
    """``busy: <routine> run <id> (<step>) holds <target> since <time>; waited <n>s``: the report's reason."""
    if holder is None:
        who = f"another step held {target}"
    else:
        since = _aware(holder["acquired_at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
        who = f"{holder['routine']} run {holder['run_id']} ({holder['step']}) holds {target} since {since}"
    return f"busy: {who}; waited {waited_s:.0f}s, skipped"


def _aware(ts: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def try_acquire(catalog: Catalog, target: str, holder: Holder, ttl_s: float, now: datetime) -> dict[str, Any] | None:
    """Take ``target``'s lease for ``holder`` when it is free, expired or ``holder``'s own, in one transaction.
    None when taken; else the live holder's row (who, since when)."""
    t = target_leases.c
    row = {
        "target": target,
        "routine": holder.routine,
        "run_id": holder.run_id,
        "step": holder.step,
        "acquired_at": _utc(now),
        "expires_at": _utc(now + timedelta(seconds=ttl_s)),
    }
    try:
        with catalog.engine.begin() as conn:
            expired_or_own = sa.or_(t.expires_at <= _utc(now), _held_by(holder))
            conn.execute(target_leases.delete().where(t.target == target, expired_or_own))
            conn.execute(target_leases.insert().values(**row))
        return None
    except sa.exc.IntegrityError:
        return lease_of(catalog, target) or {"routine": "?", "run_id": "?", "step": "?", "acquired_at": now}


def _held_by(holder: Holder) -> sa.ColumnElement[bool]:
    t = target_leases.c
    return sa.and_(t.routine == holder.routine, t.run_id == holder.run_id, t.step == holder.step)


def lease_of(catalog: Catalog, target: str) -> dict[str, Any] | None:
    """The target's lease row as stored (None: free)."""
    with catalog.engine.connect() as conn:
        row = conn.execute(sa.select(target_leases).where(target_leases.c.target == target)).mappings().first()
    return dict(row) if row else None


def renew(catalog: Catalog, target: str, holder: Holder, ttl_s: float, now: datetime) -> bool:
    """Push the lease's expiry to ``now + ttl``; False when it is no longer ``holder``'s (taken over)."""
    with catalog.engine.begin() as conn:
        updated = conn.execute(
            target_leases.update()
            .where(target_leases.c.target == target, _held_by(holder))
            .values(expires_at=_utc(now + timedelta(seconds=ttl_s)))
        )
    return updated.rowcount == 1


def release(catalog: Catalog, target: str, holder: Holder) -> None:
    """Delete the lease if it is still ``holder``'s (a lease taken over by someone else is theirs)."""
    with catalog.engine.begin() as conn:
        conn.execute(target_leases.delete().where(target_leases.c.target == target, _held_by(holder)))


class _Heartbeat(threading.Thread):
    """Renews a held lease every third of its TTL until stopped; logs loudly if the lease was lost."""

    def __init__(self, catalog: Catalog, target: str, holder: Holder, ttl_s: float, clock: Clock):
        super().__init__(name=f"lease-{target}", daemon=True)
        self.args_ = (catalog, target, holder, ttl_s)
        self.clock = clock
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        catalog, target, holder, ttl_s = self.args_
        while not self.stopped.wait(ttl_s / 3):
            try:
                if not renew(catalog, target, holder, ttl_s, self.clock()):
                    self.lost = True
                    log.error("lease on %s lost: %s no longer holds it", target, holder.describe())
                    return
            except Exception as exc:  # noqa: BLE001 - the catalog blinked: the next beat tries again
                log.warning("lease on %s: heartbeat failed (%s); retrying", target, exc)


@contextmanager
def target_lease(
    catalog: Catalog,
    target: str,
    *,
    wait_s: float,
    holder: Holder | None = None,
    ttl_s: float = LEASE_TTL_S,
    clock: Clock = utcnow,
) -> Iterator[Holder]:
    """Hold ``target``'s lease for the block (see the module docstring); :class:`TargetBusy` when another holder
    keeps it for more than ``wait_s`` seconds. ``clock`` gives the lease times (tests pass a controlled one)."""
    holder = holder or current_holder()
    key = (target, holder)
    with _HELD_LOCK:
        nested = _HELD.get(key, 0) > 0
        if nested:
            _HELD[key] += 1
    if nested:  # already held by this holder in this process (a rollback's restore inside the update's lease)
        try:
            yield holder
        finally:
            with _HELD_LOCK:
                _HELD[key] -= 1
        return
    started = time.monotonic()
    pause = FIRST_PAUSE_S
    while True:
        other = try_acquire(catalog, target, holder, ttl_s, clock())
        if other is None:
            break
        waited = time.monotonic() - started
        if waited >= wait_s:
            busy = TargetBusy(target, other, waited)
            log.warning("%s: %s", target, busy)
            raise busy
        log.info(
            "%s is busy: %s holds it since %s (until %s unless renewed); waiting (%.0fs of %.0fs)",
            target,
            f"{other['routine']} run {other['run_id']} ({other['step']})",
            _aware(other["acquired_at"]).isoformat(),
            _aware(other["expires_at"]).isoformat() if other.get("expires_at") else "?",
            waited,
            wait_s,
        )
        time.sleep(max(0.0, min(pause, wait_s - waited)))
        pause = min(pause * 2, LONGEST_PAUSE_S)
    log.info("%s: lease taken by %s", target, holder.describe())
    beat = _Heartbeat(catalog, target, holder, ttl_s, clock)
    beat.start()
    with _HELD_LOCK:
        _HELD[key] = 1
    try:
        yield holder
    finally:
        with _HELD_LOCK:
            _HELD.pop(key, None)
        beat.stopped.set()
        beat.join(timeout=ttl_s)
        release(catalog, target, holder)
        log.info("%s: lease released by %s", target, holder.describe())


def set_key(set_id: str) -> str:
    """The lease key of one backup set: a reader (verify's and restore's download) holds it while it reads the set,
    retention takes it before deleting the set, so a set is never deleted under a reader."""
    return f"set:{set_id}"


@contextmanager
def lease_for(inventory, target: str, holder: Holder | None = None, catalog: Catalog | None = None) -> Iterator[Holder]:
    """:func:`target_lease` on the inventory's catalog with its wait limit (``defaults.lock_wait_s``)."""
    catalog = catalog or Catalog.for_inventory(inventory)
    with target_lease(catalog, target, wait_s=inventory.lock_wait_s, holder=holder) as held:
        yield held
