"""Scratch databases for verifying a PostgreSQL or MySQL backup, and the side copy of a live restore: the
lifecycles, written once.

A verification restores a set into empty throwaway databases on the same server, named
``aegis_scratch_<hash of set id>_<db>``, and drops them afterwards whatever happens. The
per-server create and drop are :func:`recreate_database` / :func:`drop_database` of the
client module (:mod:`include.clients.postgres`, :mod:`include.clients.mysql`), which also
says how long an identifier may be (``MAX_IDENT``, in bytes when ``IDENT_IN_BYTES``).

Before a scratch restore, :func:`free_space` measures the room on the scratch server: ``statvfs`` of its data
folder when the server runs on this host, else the node_exporter metrics of its host in the target's Prometheus
(``backup.verify_prometheus_conn_id`` + ``verify_node_instance``), else it says why it cannot know.

A live restore never drops first: :func:`load_side_then_swap` is the order both SQL kinds follow (load into a
side copy on the same server, compare it with the manifest, and only then swap it in); each kind brings its own
load, comparison and swap (PostgreSQL renames databases, MySQL moves tables with one ``RENAME TABLE``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING

from include.backup.base import BackupToolError
from include.targets import Endpoint

if TYPE_CHECKING:
    from include.inventory import Target

SCRATCH_PREFIX = "aegis_scratch_"
#: every create / drop of a scratch database is bounded by this
TIMEOUT_S = 30.0


def scratch_name(client: ModuleType, set_id: str, db: str) -> str:
    """``aegis_scratch_<hash of set id>_<db>``, cut to the server's identifier limit (with a hash of ``db``
    when cut, so two long names stay different)."""
    return fit_name(client, f"{SCRATCH_PREFIX}{hashlib.sha256(set_id.encode()).hexdigest()[:8]}_{db}", db)


def fit_name(client: ModuleType, name: str, db: str, suffix: str = "") -> str:
    """``name + suffix`` (``name`` ends with or is ``db``) cut to the server's identifier limit: when it does not
    fit, ``name`` is cut and a hash of ``db`` put before ``suffix``, so two long names stay different."""
    if _size(client, name + suffix) <= client.MAX_IDENT:
        return name + suffix
    tail = "_" + hashlib.sha256(db.encode()).hexdigest()[:8] + suffix
    room = client.MAX_IDENT - _size(client, tail)
    cut = name.encode()[:room].decode(errors="ignore") if client.IDENT_IN_BYTES else name[:room]
    return cut + tail


def _size(client: ModuleType, name: str) -> int:
    """``name``'s length as the server counts it (bytes or characters)."""
    return len(name.encode()) if client.IDENT_IN_BYTES else len(name)


@contextmanager
def scratch_databases(
    client: ModuleType, endpoint: Endpoint, set_id: str, databases: list[str]
) -> Iterator[tuple[Endpoint, dict[str, str]]]:
    """Empty throwaway databases on the server of ``endpoint``, dropped at exit, even on error.

    A leftover of a crashed earlier run with the same name is dropped first. Yields the
    endpoint (its own database set to the first scratch database) and ``{original: scratch}``.
    """
    database_map = {db: scratch_name(client, set_id, db) for db in databases}
    if len(set(database_map.values())) != len(database_map):
        raise ValueError(f"scratch names collide for {databases}")
    created: list[str] = []
    try:
        for name in database_map.values():
            client.recreate_database(endpoint, name, TIMEOUT_S)
            created.append(name)
        schema = database_map[databases[0]] if databases else endpoint.schema
        yield dataclasses.replace(endpoint, schema=schema), database_map
    finally:
        for name in created:
            client.drop_database(endpoint, name, TIMEOUT_S)


@dataclasses.dataclass(frozen=True)
class FreeSpace:
    """Free bytes where a scratch restore would write and how they were measured; ``free`` None: unknown, and
    ``how`` says why."""

    free: int | None
    how: str


def free_space(client: ModuleType, target: Target, endpoint: Endpoint, timeout_s: float) -> FreeSpace:
    """The free space of the scratch server of ``endpoint`` (``client``: its kind's client module, which reads the
    server's data folder; a server that cannot be reached raises, as the restore would). First ``statvfs`` of the
    data folder when the server is on this host, then the target's Prometheus when configured; never raises for
    a Prometheus that is down or has no series: the space is then unknown, and the reason says so."""
    from include.clients import prometheus
    from include.clients.local_disk import free_bytes_at

    folder = client.data_folder(endpoint, timeout_s)
    local = free_bytes_at(endpoint, folder)
    if local is not None:
        return FreeSpace(local, f"statvfs of {folder} on this host")
    conn_id = target.backup.get("verify_prometheus_conn_id")
    if not conn_id:
        return FreeSpace(
            None,
            f"the server {endpoint.safe()} is not on this host (or its data folder is not visible here) and no"
            " Prometheus is configured (backup.verify_prometheus_conn_id and verify_node_instance)",
        )
    instance = target.backup["verify_node_instance"]
    try:
        from include.targets import endpoint_for_conn

        free, mount = prometheus.free_bytes(
            endpoint_for_conn(conn_id),
            instance,
            timeout_s=timeout_s,
            mountpoint=target.backup.get("verify_data_mountpoint") or None,
            path=folder,
        )
    except Exception as exc:  # noqa: BLE001 - Prometheus down, refused, slow, no series: the space is unknown
        return FreeSpace(None, f"Prometheus {conn_id!r} could not tell ({type(exc).__name__}: {exc})")
    return FreeSpace(free, f"{prometheus.FREE_METRIC} of {instance} {mount} in Prometheus {conn_id!r}")


def load_side_then_swap(
    db: str,
    *,
    load: Callable[[], None],
    observe: Callable[[], dict],
    expected: dict,
    discard: Callable[[], None],
    swap: Callable[[], None],
) -> None:
    r"""Restore ``db`` without dropping it first: ``load`` the backup into its side copy, ``observe`` the copy's
    facts and compare them with ``expected``, and only then ``swap`` the copy in.

    A failed, killed or timed-out load or a comparison that differs ``discard``\ s the side copy and raises
    :class:`BackupToolError` saying that ``db`` kept its previous data (nothing of it was touched). The swap
    is the kind's own, and so is undoing it when it fails half-way.
    """
    try:
        load()
        loaded = observe()
    except Exception as exc:
        discard()
        raise BackupToolError(f"{exc}: {db} kept its previous data (its side copy was dropped)") from exc
    except BaseException:
        discard()
        raise
    if loaded != expected:
        discard()
        raise BackupToolError(
            f"the load of {db} into its side copy differs from the backup ({loaded} vs {expected}):"
            f" {db} kept its previous data (its side copy was dropped)"
        )
    swap()
