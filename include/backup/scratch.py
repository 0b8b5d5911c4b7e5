"""Scratch databases for verifying a PostgreSQL or MySQL backup: the lifecycle, written once.

A verification restores a set into empty throwaway databases on the same server, named
``aegis_scratch_<hash of set id>_<db>``, and drops them afterwards whatever happens. The
per-server create and drop are :func:`recreate_database` / :func:`drop_database` of the
client module (:mod:`include.clients.postgres`, :mod:`include.clients.mysql`), which also
says how long an identifier may be (``MAX_IDENT``, in bytes when ``IDENT_IN_BYTES``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from include.targets import Endpoint

SCRATCH_PREFIX = "aegis_scratch_"
#: every create / drop of a scratch database is bounded by this
TIMEOUT_S = 30.0


def scratch_name(client: ModuleType, set_id: str, db: str) -> str:
    """``aegis_scratch_<hash of set id>_<db>``, cut to the server's identifier limit (with a hash of ``db``
    when cut, so two long names stay different)."""
    name = f"{SCRATCH_PREFIX}{hashlib.sha256(set_id.encode()).hexdigest()[:8]}_{db}"
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
