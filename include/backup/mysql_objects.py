"""A MySQL/MariaDB schema's views, routines, triggers and events as definitions, and making a schema's objects
equal to a set of them: how a live restore (:mod:`include.backup.mysql`) carries them from its side schema into
the live one, with their ``DEFINER``, ``SQL SECURITY``, ``sql_mode`` and the grants on recreated routines.

Definitions come from ``SHOW CREATE …`` with the schema as the default one, so names inside them are unqualified
and the same definition reads alike in any schema. The login needs ``SET USER`` (MariaDB) / ``SET_USER_ID``
(MySQL) or ``SUPER`` to create an object for another DEFINER, and ``SELECT`` on ``mysql.procs_priv`` to give a
recreated routine its grants back; to record and give back the grants on a schema and its tables
(:func:`schema_grants`), ``SELECT`` on ``mysql.db`` and ``mysql.tables_priv`` and ``GRANT OPTION`` on the schema.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import MySQLdb

from include.backup.base import BackupToolError
from include.clients.mysql import quote_ident, quote_ident_with_args

log = logging.getLogger(__name__)

#: the schema objects a live restore carries over from the side copy, in the order they are created (a view may
#: call a function, a trigger a procedure), each with the query listing them (triggers in their firing order)
OBJECT_KINDS: dict[str, str] = {
    "FUNCTION": "SELECT routine_name FROM information_schema.routines"
    " WHERE routine_schema = %s AND routine_type = 'FUNCTION' ORDER BY 1",
    "PROCEDURE": "SELECT routine_name FROM information_schema.routines"
    " WHERE routine_schema = %s AND routine_type = 'PROCEDURE' ORDER BY 1",
    "VIEW": "SELECT table_name FROM information_schema.views WHERE table_schema = %s ORDER BY 1",
    "TRIGGER": "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = %s"
    " ORDER BY event_object_table, action_timing, event_manipulation, action_order",
    "EVENT": "SELECT event_name FROM information_schema.events WHERE event_schema = %s ORDER BY 1",
}


@dataclass(frozen=True)
class Definition:
    """One schema object as ``SHOW CREATE`` gives it (read with its schema as the default one, so its own name and
    the tables it uses are unqualified; ``DEFINER`` and ``SQL SECURITY`` included), with the ``sql_mode`` and
    ``time_zone`` it was created under."""

    statement: str
    sql_mode: str | None = None
    time_zone: str | None = None


#: ``{kind: {name: definition}}`` of one schema
Objects = dict[str, dict[str, Definition]]


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def read(cur, schema: str) -> Objects:
    """The views, routines, triggers and events of ``schema`` with their definitions."""
    cur.execute(f"USE {quote_ident(schema)}")
    out: Objects = {}
    for kind, query in OBJECT_KINDS.items():
        cur.execute(query, (schema,))
        out[kind] = {}
        for name in [name for (name,) in cur.fetchall()]:
            cur.execute(f"SHOW CREATE {kind} {quote_ident(name)}")
            row = {col[0].lower(): _text(v) for col, v in zip(cur.description, cur.fetchone(), strict=True)}
            statement = next(v for k, v in row.items() if k.startswith("create ") or k == "sql original statement")
            if not statement:
                raise BackupToolError(f"the definition of {kind} {schema}.{name} cannot be read by this login")
            out[kind][name] = Definition(statement, row.get("sql_mode"), row.get("time_zone"))
    return out


def without_triggers(objects: Objects) -> Objects:
    """``objects`` without its triggers (a table moves to another schema only without them)."""
    return {**objects, "TRIGGER": {}}


def set_objects(cur, schema: str, current: Objects, wanted: Objects) -> None:
    """Make ``schema``'s objects ``wanted`` (they are ``current``): those that differ or are not wanted are dropped,
    the missing ones created (a view after the views it reads); the grants on a recreated routine are given back.
    Identical objects are left alone."""
    cur.execute(f"USE {quote_ident(schema)}")
    differs = {kind: [n for n, d in current.get(kind, {}).items() if wanted[kind].get(n) != d] for kind in OBJECT_KINDS}
    grants = _routine_grants(cur, schema, differs["FUNCTION"] + differs["PROCEDURE"])
    for kind in reversed(OBJECT_KINDS):
        for name in differs[kind]:
            cur.execute(f"DROP {kind} IF EXISTS {quote_ident(name)}")
    cur.execute("SELECT @@SESSION.sql_mode, @@SESSION.time_zone")
    session_mode, session_zone = cur.fetchone()
    for kind in OBJECT_KINDS:
        pending = {n: d for n, d in wanted[kind].items() if current.get(kind, {}).get(n) != d}
        while pending:
            failed: dict[str, Exception] = {}
            for name, definition in pending.items():
                cur.execute(
                    "SET SESSION sql_mode = %s, SESSION time_zone = %s",
                    (
                        session_mode if definition.sql_mode is None else definition.sql_mode,
                        definition.time_zone or session_zone,
                    ),
                )
                try:
                    cur.execute(definition.statement)
                except MySQLdb.MySQLError as exc:
                    if kind != "VIEW":
                        raise
                    failed[name] = exc  # it reads a view not created yet: the next round
            if len(failed) == len(pending):
                raise next(iter(failed.values()))
            pending = {n: pending[n] for n in failed}
    cur.execute("SET SESSION sql_mode = %s, SESSION time_zone = %s", (session_mode, session_zone))
    _grant_routines(cur, schema, grants)


def _routine_grants(cur, schema: str, routines: list[str]) -> list[tuple]:
    """The ``mysql.procs_priv`` rows of ``routines`` (dropping a routine drops its grants)."""
    if not routines:
        return []
    try:
        cur.execute(
            "SELECT User, Host, Routine_type, Routine_name, Proc_priv FROM mysql.procs_priv WHERE Db = %s", (schema,)
        )
    except MySQLdb.MySQLError as exc:  # no SELECT on mysql.procs_priv
        log.warning(
            "%s: grants on its routines unreadable (%s): a routine the restore recreates loses them", schema, exc
        )
        return []
    wanted = {name.lower() for name in routines}
    return [row for row in cur.fetchall() if str(_text(row[3])).lower() in wanted]


def routine_grants(cur, schema: str) -> list[list[str]]:
    """Every grant on ``schema``'s routines (``mysql.procs_priv``) as ``[user, host, type, name, privileges]``
    (privileges comma-joined, sorted), what a backup records so that a restore can give back a grant dropped with
    its routine after the backup; [] when this login cannot read ``mysql.procs_priv`` (logged)."""
    try:
        cur.execute(
            "SELECT User, Host, Routine_type, Routine_name, Proc_priv FROM mysql.procs_priv WHERE Db = %s", (schema,)
        )
    except MySQLdb.MySQLError as exc:
        log.warning("%s: grants on its routines unreadable (%s): not recorded", schema, exc)
        return []
    out = []
    for user, host, kind, name, privileges in cur.fetchall():
        held = privileges if isinstance(privileges, set) else set(str(_text(privileges)).split(","))
        out.append([str(_text(user)), str(_text(host)), str(_text(kind)), str(_text(name)), ",".join(sorted(held))])
    return sorted(out)


def give_routine_grants(cur, schema: str, recorded: list[list[str]]) -> None:
    """GRANT ``recorded`` (:func:`routine_grants` of a backup) on ``schema``'s routines that exist; a GRANT only
    adds, so grants given after the backup stay."""
    _grant_routines(cur, schema, [tuple(g) for g in recorded])


def _grant_routines(cur, schema: str, grants: list[tuple]) -> None:
    """Give back the routine grants :func:`_routine_grants` read (those whose routine exists again)."""
    for user, host, kind, name, privileges in grants:
        kind, name = _text(kind), str(_text(name))
        held = set(privileges) if isinstance(privileges, set) else set(str(_text(privileges)).split(","))
        given = [p.upper() for p in ("Execute", "Alter Routine") if p in held]
        if kind not in ("FUNCTION", "PROCEDURE") or not given:
            continue
        cur.execute(
            "SELECT 1 FROM information_schema.routines WHERE routine_schema = %s AND routine_name = %s", (schema, name)
        )
        if not cur.fetchone():
            continue
        grantee, args = ("%s", (user,)) if not host else ("%s@%s", (user, host))  # no host: a role
        option = " WITH GRANT OPTION" if "Grant" in held else ""
        cur.execute(
            f"GRANT {', '.join(given)} ON {kind} {quote_ident_with_args(schema)}.{quote_ident_with_args(name)}"
            f" TO {grantee}{option}",
            args,
        )


#: ``information_schema`` tables of the privileges on a schema (``table`` '') and on its tables and views; only
#: grants naming the schema exactly (a grant through a wildcard pattern such as ``app\_%`` is not seen here)
_GRANT_QUERIES = (
    "SELECT grantee, '', privilege_type, is_grantable FROM information_schema.schema_privileges"
    " WHERE table_schema = %s",
    "SELECT grantee, table_name, privilege_type, is_grantable FROM information_schema.table_privileges"
    " WHERE table_schema = %s",
)


def _grantee(text: str) -> tuple[str, str]:
    """``'user'@'host'`` (as ``information_schema`` writes a grantee) as ``(user, host)``; a role has no host."""
    user, _, host = text.partition("'@'")
    return user.removeprefix("'").replace("''", "'"), host.removesuffix("'").replace("''", "'")


def schema_grants(cur, schema: str) -> list[list[str]]:
    """Every grant ON ``schema``.* and ON ``schema``.<table> as ``[user, host, table ('' for the schema),
    privilege, "YES"|"NO" (with grant option)]``, sorted: what a backup records (``schema_grants``) so that a
    restore gives back a grant revoked after the backup. Read from ``information_schema.schema_privileges`` and
    ``table_privileges`` (the rows this login may see: all of them for a login with ``SELECT`` on ``mysql``)."""
    out = []
    for query in _GRANT_QUERIES:
        cur.execute(query, (schema,))
        for grantee, table, privilege, grantable in cur.fetchall():
            user, host = _grantee(str(_text(grantee)))
            out.append([user, host, str(_text(table)), str(_text(privilege)), str(_text(grantable))])
    return sorted(out)


def held_schema_grants(recorded: list[list[str]], now: list[list[str]]) -> list[list[str]]:
    """Those of ``recorded`` (:func:`schema_grants`) that ``now`` holds (the grant option too when recorded)."""
    have = {tuple(g[:4]): g[4] for g in now}
    return [g for g in recorded if tuple(g[:4]) in have and (g[4] != "YES" or have[tuple(g[:4])] == "YES")]


def give_schema_grants(cur, schema: str, recorded: list[list[str]]) -> list[str]:
    """GRANT those of ``recorded`` (:func:`schema_grants` of a backup) that ``schema`` lacks now, one GRANT per
    grantee and level (``WITH GRANT OPTION`` when recorded so); a table-level grant only on a table or view that
    exists. A GRANT only adds: grants given after the backup stay. Returns what was given, as ``user@host on what:
    privileges``; a GRANT the server refuses (the grantee was dropped) is logged and left for the comparison with
    the manifest to name."""
    held = held_schema_grants(recorded, schema_grants(cur, schema))
    missing: dict[tuple[str, str, str], list[list[str]]] = {}
    for grant in recorded:
        if grant not in held:
            missing.setdefault((grant[0], grant[1], grant[2]), []).append(grant)
    given = []
    for (user, host, table), grants in sorted(missing.items()):
        if table:
            cur.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s", (schema, table)
            )
            if not cur.fetchone():
                continue
        level = f"{quote_ident(schema)}.{quote_ident(table) if table else '*'}"
        privileges = sorted({g[3] for g in grants})
        option = " WITH GRANT OPTION" if any(g[4] == "YES" for g in grants) else ""
        grantee, args = ("%s", (user,)) if not host else ("%s@%s", (user, host))  # no host: a role
        try:
            cur.execute(f"GRANT {', '.join(privileges)} ON {level} TO {grantee}{option}", args)
        except MySQLdb.MySQLError as exc:
            log.error("%s: grant of %s to %s@%s not given back: %s", schema, ", ".join(privileges), user, host, exc)
            continue
        given.append(f"{user}@{host} on {schema}.{table or '*'}: {', '.join(privileges)}")
    return given
