"""Scratch databases for verifying a PostgreSQL or MySQL backup, and the side copy of a live restore: the
lifecycles, written once.

A verification restores a set into empty throwaway databases on the same server, named
``aegis_scratch_<hash of set id>_<db>``, and drops them afterwards whatever happens. The
per-server create and drop are :func:`recreate_database` / :func:`drop_database` of the
client module (:mod:`include.clients.postgres`, :mod:`include.clients.mysql`), which also
says how long an identifier may be (``MAX_IDENT``, in bytes when ``IDENT_IN_BYTES``).

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

from include.backup.base import BackupToolError
from include.targets import Endpoint

SCRATCH_PREFIX = "aegis_scratch_"
#: every create / drop of a scratch database is bounded by this
TIMEOUT_S = 30.0


def scratch_name(client: ModuleType, set_id: str, db: str) -> str:
    """``aegis_scratch_<hash of set id>_<db>``, cut to the server's identifier limit (with a hash of ``db``
    when cut, so two long names stay different)."""
    return fit_name(client, f"{SCRATCH_PREFIX}{hashlib.sha256(set_id.encode()).hexdigest()[:8]}_{db}", db)


def fit_name(client: ModuleType, name: str, db: str) -> str:
    """``name`` (which ends with ``db``) cut to the server's identifier limit, with a hash of ``db`` when cut."""
    tail = "_" + hashlib.sha256(db.encode()).hexdigest()[:8]
    if client.IDENT_IN_BYTES:
        if len(name.encode()) <= client.MAX_IDENT:
            return name
        return name.encode()[: client.MAX_IDENT - len(tail)].decode(errors="ignore") + tail
    if len(name) <= client.MAX_IDENT:
        return name
    return name[: client.MAX_IDENT - len(tail)] + tail


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
