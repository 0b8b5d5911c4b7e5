"""Security scan: configuration checks per kind of target, and known-vulnerable Python packages.

Shared by the weekly maintenance (its *security* task group) and the monthly audit.
Every check reads only (statistics and settings views, ``SHOW VARIABLES``,
``CONFIG GET``, ``ACL DRYRUN``, an unauthenticated ``PING``, file modes) and returns a
:class:`~include.checks.base.CheckResult` whose findings are graded:

- **critical**: anyone who reaches the service gets in (``trust`` in ``pg_hba.conf``, MySQL
  accounts without a password, anonymous accounts, ``root`` from any host, a Redis that accepts
  a client without a password, a world-writable inventory).
- **warning**: weaker than it should be (no TLS, ``md5``/clear-text passwords, listening on
  every interface, ``local_infile``, dangerous Redis commands usable by the default user,
  more superusers than expected, logins not logged, world-writable files in watched folders).

``details["checks"]`` lists every setting looked at with its value and verdict, so a clean
report shows what was verified, not only what failed. A check that the login may not run
(say ``pg_hba_file_rules`` without superuser) is listed as *not checked* with the reason.

Known-vulnerable packages: the Airflow environment's installed distributions
(``importlib.metadata``) against a local folder of OSV advisories (JSON files, e.g. an
extract of the PyPI part of osv.dev), set as ``security.advisories`` in the inventory.
Without one the scan is skipped and the report says so.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.checks.base import CRITICAL, OK, WARNING, CheckResult, run_bounded

if TYPE_CHECKING:
    from include.inventory import Target
    from include.targets import Endpoint


log = logging.getLogger(__name__)

#: PostgreSQL superusers that may log in before it is a finding (inventory ``security.max_superusers``).
MAX_SUPERUSERS = 2
#: Redis commands that wipe, reconfigure, block or stop a server (with arguments ``ACL DRYRUN`` accepts).
DANGEROUS_REDIS_COMMANDS = {
    "FLUSHALL": (),
    "FLUSHDB": (),
    "CONFIG": ("SET", "dir", "/tmp"),
    "DEBUG": ("SLEEP", "0"),
    "KEYS": ("*",),
    "SHUTDOWN": (),
    "MODULE": ("LOAD", "/nonexistent.so"),
}
#: Bounds of the world-writable walk (entries looked at, seconds).
WALK_MAX_ENTRIES, WALK_MAX_SECONDS = 200_000, 30.0
OPEN_ADDRESSES = {"all", "0.0.0.0", "::", "*"}
PACKAGES_TARGET = "airflow-environment"


def _verdict(result: CheckResult, check: str, value: Any, level: str = OK, message: str | None = None) -> None:
    """Record one looked-at setting in ``details["checks"]`` and, above ok, a finding."""
    result.details.setdefault("checks", []).append({"check": check, "value": value, "verdict": level})
    if level != OK:
        result.add(level, message or f"{check}: {value}")


def _not_checked(result: CheckResult, check: str, why: str) -> None:
    result.details.setdefault("checks", []).append({"check": check, "value": None, "verdict": f"not checked: {why}"})


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _count(result: CheckResult) -> CheckResult:
    result.metrics["security.findings"] = len(result.findings)
    result.metrics["security.critical"] = sum(1 for f in result.findings if f.level == CRITICAL)
    return result


# -- PostgreSQL --------------------------------------------------------------------------------------


def check_postgres(target: Target, endpoint: Endpoint, settings: dict[str, Any]) -> CheckResult:
    """TLS, password hashing, pg_hba rules, listen addresses, superusers and login logging."""
    import psycopg

    from include.clients.postgres import connect, scalar

    result = CheckResult(target.name, target.kind)
    with connect(endpoint, target.timeout_seconds) as conn:

        def show(name: str) -> str:
            return scalar(conn, "select current_setting(%s)", (name,))

        ssl = show("ssl")
        _verdict(
            result,
            "ssl",
            ssl,
            WARNING if ssl != "on" else OK,
            "ssl is off: passwords and data cross the network in clear text",
        )
        enc = show("password_encryption")
        _verdict(
            result,
            "password_encryption",
            enc,
            WARNING if enc != "scram-sha-256" else OK,
            f"password_encryption is {enc!r}: new passwords are not stored as scram-sha-256",
        )
        listen = show("listen_addresses")
        everywhere = bool({a.strip() for a in listen.split(",")} & OPEN_ADDRESSES)
        _verdict(
            result,
            "listen_addresses",
            listen,
            WARNING if everywhere else OK,
            f"listen_addresses is {listen!r}: the server listens on every network interface",
        )
        logged = show("log_connections")
        _verdict(
            result,
            "log_connections",
            logged,
            WARNING if logged in ("off", "", "false", "0") else OK,
            "log_connections is off: logins leave no trace in the server log",
        )
        supers = [
            r[0]
            for r in conn.execute("select rolname from pg_roles where rolsuper and rolcanlogin order by 1").fetchall()
        ]
        result.metrics["security.pg_superusers"] = len(supers)
        most = settings.get("max_superusers", MAX_SUPERUSERS)
        _verdict(
            result,
            "superusers",
            supers,
            WARNING if len(supers) > most else OK,
            f"{len(supers)} superusers can log in ({', '.join(supers)}); expected at most {most}",
        )
        try:
            rules = conn.execute(
                "select line_number, type, database, user_name, address, netmask, auth_method, error"
                " from pg_hba_file_rules order by line_number"
            ).fetchall()
        except psycopg.Error as exc:
            _not_checked(result, "pg_hba rules", f"pg_hba_file_rules unreadable ({_first_line(exc)})")
            return _count(result)
    _hba_rules(
        result,
        [dict(zip(("line", "type", "database", "user", "address", "netmask", "method", "error"), r)) for r in rules],
    )
    return _count(result)


def _hba_rules(result: CheckResult, rules: list[dict[str, Any]]) -> None:
    """Grade each pg_hba.conf line: trust, clear-text passwords, open addresses, broken lines."""
    bad = 0
    for r in rules:
        where = (
            f"pg_hba.conf line {r['line']} ({r['type']} {','.join(r['database'] or [])} "
            f"{','.join(r['user'] or [])} {r['address'] or ''})"
        ).replace("  ", " ")
        if r["error"]:
            bad += 1
            _verdict(result, f"pg_hba line {r['line']}", r["error"], WARNING, f"{where} is invalid: {r['error']}")
            continue
        is_open = r["type"] != "local" and (
            r["address"] in OPEN_ADDRESSES or (r["address"] and r["netmask"] in ("0.0.0.0", "::"))
        )
        if r["method"] == "trust":
            who = (
                "any local operating-system user"
                if r["type"] == "local" or _loopback(r["address"])
                else "anyone who reaches the port"
            )
            _verdict(
                result,
                f"pg_hba line {r['line']}",
                r["method"],
                CRITICAL,
                f"{where} uses trust: {who} logs in as any role without a password",
            )
        elif r["method"] == "password":
            _verdict(
                result,
                f"pg_hba line {r['line']}",
                r["method"],
                WARNING,
                f"{where} uses 'password': passwords are sent in clear text (use scram-sha-256)",
            )
        elif is_open and r["method"] != "reject":
            _verdict(
                result,
                f"pg_hba line {r['line']}",
                f"{r['address']}/{r['netmask'] or ''}",
                WARNING,
                f"{where} accepts logins from any address",
            )
        else:
            _verdict(result, f"pg_hba line {r['line']}", r["method"])
            continue
        bad += 1
    result.metrics["security.pg_hba_risky_rules"] = bad


def _loopback(address: str | None) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return address == "localhost"


# -- MySQL / MariaDB ---------------------------------------------------------------------------------

PASSWORD_PLUGINS = {"", "mysql_native_password", "caching_sha2_password", "sha256_password", "mysql_old_password"}


def check_mysql(target: Target, endpoint: Endpoint, settings: dict[str, Any]) -> CheckResult:
    """Accounts (empty passwords, anonymous, root from anywhere), TLS and local_infile."""
    import MySQLdb

    from include.clients.mysql import connect

    result = CheckResult(target.name, target.kind)
    conn = connect(endpoint, target.timeout_seconds)
    try:
        cur = conn.cursor()
        cur.execute(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN"
            " ('require_secure_transport', 'have_ssl', 'local_infile', 'version')"
        )
        variables = dict(cur.fetchall())
        result.details["version"] = variables.get("version")
        secure = variables.get("require_secure_transport")
        if secure is None:
            _not_checked(result, "require_secure_transport", "not a variable of this server version")
        else:
            _verdict(
                result,
                "require_secure_transport",
                secure,
                WARNING if secure.upper() in ("OFF", "0") else OK,
                "require_secure_transport is OFF: clients may log in without TLS",
            )
        have_ssl = variables.get("have_ssl")
        if have_ssl is not None:
            _verdict(
                result,
                "have_ssl",
                have_ssl,
                WARNING if have_ssl.upper() != "YES" else OK,
                f"have_ssl is {have_ssl}: the server offers no TLS",
            )
        infile = variables.get("local_infile", "")
        _verdict(
            result,
            "local_infile",
            infile,
            WARNING if infile.upper() in ("ON", "1") else OK,
            "local_infile is ON: a client can make the server read files from the client host (LOAD DATA LOCAL)",
        )
        try:
            accounts = _accounts(cur)
        except MySQLdb.Error as exc:
            _not_checked(result, "accounts", f"mysql.user unreadable ({_first_line(exc)})")
            return _count(result)
    finally:
        conn.close()
    _grade_accounts(result, accounts)
    return _count(result)


def _accounts(cur) -> list[dict[str, Any]]:
    """user, host, plugin, authentication string and lock state of every account (MariaDB or MySQL)."""
    try:  # MariaDB 10.4+: the real table behind the mysql.user view
        cur.execute(
            "SELECT user, host, JSON_VALUE(priv, '$.plugin'), JSON_VALUE(priv, '$.authentication_string'),"
            " JSON_VALUE(priv, '$.account_locked') FROM mysql.global_priv"
        )
    except Exception:  # noqa: BLE001 - MySQL: no global_priv; its mysql.user has the columns
        cur.execute("SELECT user, host, plugin, authentication_string, account_locked FROM mysql.user")
    return [
        {"user": u, "host": h, "plugin": p or "", "auth": a or "", "locked": str(lk or "") in ("1", "Y", "true")}
        for u, h, p, a, lk in cur.fetchall()
    ]


def _grade_accounts(result: CheckResult, accounts: list[dict[str, Any]]) -> None:
    usable = [a for a in accounts if not a["locked"]]
    empty = [f"'{a['user']}'@'{a['host']}'" for a in usable if a["plugin"] in PASSWORD_PLUGINS and not a["auth"]]
    anonymous = [f"''@'{a['host']}'" for a in usable if a["user"] == ""]
    root_anywhere = [a for a in usable if a["user"] == "root" and a["host"] == "%"]
    result.metrics["security.mysql_empty_passwords"] = len(empty)
    _verdict(
        result,
        "accounts without a password",
        empty,
        CRITICAL if empty else OK,
        f"{len(empty)} account(s) log in without a password: {', '.join(empty)}",
    )
    _verdict(
        result,
        "anonymous accounts",
        anonymous,
        CRITICAL if anonymous else OK,
        f"anonymous account(s) exist: {', '.join(anonymous)} (drop them)",
    )
    _verdict(
        result,
        "root from any host",
        bool(root_anywhere),
        CRITICAL if root_anywhere else OK,
        "root can log in from any host ('root'@'%')",
    )


# -- Redis -------------------------------------------------------------------------------------------


def check_redis(target: Target, endpoint: Endpoint, settings: dict[str, Any]) -> CheckResult:
    """Login without a password, protected mode, bind addresses, dangerous commands of the default user."""
    import redis

    from include.clients.redis import connect

    result = CheckResult(target.name, target.kind)
    client = connect(endpoint, target.timeout_seconds)
    try:
        no_password = _redis_default_user(endpoint, target.timeout_seconds, result)
        try:
            config = {k: v for name in ("protected-mode", "bind") for k, v in client.config_get(name).items()}
        except redis.ResponseError as exc:  # CONFIG renamed away or forbidden by ACL: good, but unreadable
            _not_checked(result, "protected-mode, bind", f"CONFIG not available to this login ({_first_line(exc)})")
            config = {}
        if "protected-mode" in config:
            off = config["protected-mode"] == "no"
            _verdict(
                result,
                "protected-mode",
                config["protected-mode"],
                (CRITICAL if no_password else WARNING) if off else OK,
                "protected-mode is no"
                + (" and there is no password: the server is open to any client" if no_password else ""),
            )
        if "bind" in config:
            addresses = {a.lstrip("-") for a in (config["bind"] or "").split()}
            everywhere = not addresses or bool(addresses & {"*", "::*", "0.0.0.0", "::"})
            _verdict(
                result,
                "bind",
                config["bind"],
                WARNING if everywhere else OK,
                f"bind is {config['bind']!r}: Redis listens on every network interface",
            )
        _redis_dangerous_commands(client, result)
    finally:
        client.close()
    return _count(result)


def _redis_default_user(endpoint: Endpoint, timeout_s: float, result: CheckResult) -> bool:
    """Whether a client gets in without a password: a second connection with no credentials at all sends PING."""
    import redis

    from include.clients.redis import connect
    from include.targets import Endpoint

    anonymous = connect(
        Endpoint(host=endpoint.host, port=endpoint.port, schema=endpoint.schema, extra=endpoint.extra), timeout_s
    )
    try:
        anonymous.ping()
        open_ = True
    except redis.AuthenticationError:  # NOAUTH / WRONGPASS: a password is required
        open_ = False
    except redis.ResponseError as exc:
        if "NOAUTH" not in str(exc) and "NOPERM" not in str(exc):
            raise
        open_ = False
    finally:
        anonymous.close()
    _verdict(
        result,
        "login without password",
        "accepted" if open_ else "refused",
        CRITICAL if open_ else OK,
        "the server accepts clients without a password (default user nopass / no requirepass):"
        " anyone who reaches the port can read and write every key",
    )
    return open_


def _redis_dangerous_commands(client, result: CheckResult) -> None:
    """Dangerous commands the default user may run under their own names (Redis 7 ``ACL DRYRUN``)."""
    import redis

    allowed = []
    for command, args in DANGEROUS_REDIS_COMMANDS.items():
        try:
            answer = client.execute_command("ACL", "DRYRUN", "default", command, *args)
        except redis.ResponseError as exc:
            text = str(exc)
            if "not found" in text or "unknown command" in text.lower():
                continue  # renamed or disabled (rename-command): what we want
            _not_checked(result, "dangerous commands", f"ACL DRYRUN unavailable ({_first_line(exc)})")
            return
        if answer in (b"OK", "OK"):
            allowed.append(command)
    _verdict(
        result,
        "dangerous commands usable by the default user",
        allowed,
        WARNING if allowed else OK,
        f"the default user may run {', '.join(allowed)} under their own names"
        " (rename-command them or restrict the user with ACL -@dangerous)",
    )


# -- host ---------------------------------------------------------------------------------------------


def check_host(target: Target, endpoint: Endpoint, settings: dict[str, Any]) -> CheckResult:
    """World-writable files in the watched folders; files that must be private (the inventory).

    Directories with the sticky bit (``/tmp``) are fine; symbolic links are not followed.
    """
    result = CheckResult(target.name, target.kind)
    for path in settings.get("protected_files", []):
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            _not_checked(result, f"mode of {path}", exc.strerror or str(exc))
            continue
        writable = bool(mode & stat.S_IWOTH)
        _verdict(
            result,
            f"mode of {path}",
            oct(stat.S_IMODE(mode)),
            CRITICAL if writable else OK,
            f"{path} is writable by every user: anyone on this host can change what Aegis connects to",
        )
    found, looked, complete = world_writable(settings.get("writable_paths", []))
    result.metrics["security.world_writable"] = len(found)
    result.details["world_writable"] = found[:50]
    result.details["entries_looked_at"] = looked
    if not complete:
        result.add(WARNING, f"world-writable scan stopped after {looked} entries / {WALK_MAX_SECONDS:g}s: incomplete")
    _verdict(
        result,
        "world-writable files",
        len(found),
        WARNING if found else OK,
        f"{len(found)} world-writable file(s)/folder(s) in watched folders, e.g. {', '.join(found[:5])}",
    )
    return _count(result)


def world_writable(folders: Iterable[str]) -> tuple[list[str], int, bool]:
    """(world-writable paths, entries looked at, whether the walk finished) under ``folders``."""
    found: list[str] = []
    looked, deadline = 0, time.monotonic() + WALK_MAX_SECONDS
    for folder in folders:
        for root, dirs, files in os.walk(folder, followlinks=False):
            for name in dirs + files:
                looked += 1
                if looked > WALK_MAX_ENTRIES or time.monotonic() > deadline:
                    return sorted(found), looked, False
                path = os.path.join(root, name)
                try:
                    mode = os.lstat(path).st_mode
                except OSError:
                    continue
                if stat.S_ISLNK(mode) or not mode & stat.S_IWOTH:
                    continue
                if stat.S_ISDIR(mode) and mode & stat.S_ISVTX:
                    continue
                found.append(path)
    return sorted(found), looked, True


# -- by kind ------------------------------------------------------------------------------------------


def scan_target(target: Target, endpoint: Endpoint, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The configuration checks of one target, bounded in time; unreachable becomes a result. As a dict."""
    from include.kinds import load, spec

    checks = spec(target.kind).security
    if checks is None:
        raise KeyError(f"kind {target.kind!r} has no security checks")
    check: Callable[[Any, Any, dict], CheckResult] = load(checks)
    return run_bounded(
        target.name,
        target.kind,
        lambda: check(target, endpoint, settings or {}),
        max(3 * target.timeout_seconds, WALK_MAX_SECONDS + 10),
    ).to_dict()


# -- Aegis itself: Airflow's own configuration --------------------------------------------------------

AIRFLOW_TARGET = "airflow-configuration"


def _airflow_setting(section: str, key: str) -> str:
    from airflow.configuration import conf

    return str(conf.get(section, key, fallback="") or "").strip()


def check_airflow(conn_ids: Iterable[str]) -> CheckResult:
    """Airflow's own configuration as findings with the fix: the auth manager, ``expose_config``, the Fernet
    key, and the connections of the inventory (``conn_ids``) that keep a password in ``extra``."""
    from include.targets import SECRET_EXTRA, endpoint_for_conn

    result = CheckResult(AIRFLOW_TARGET, "airflow")
    manager = _airflow_setting("core", "auth_manager")
    if manager.endswith("SimpleAuthManager"):
        if _airflow_setting("core", "simple_auth_manager_all_admins").lower() == "true":
            _verdict(
                result,
                "auth_manager",
                manager,
                CRITICAL,
                "Airflow's SimpleAuthManager runs with"
                " simple_auth_manager_all_admins: anyone who reaches the UI is an admin and can trigger every"
                " DAG. Fix: use the FAB or another real auth manager.",
            )
        else:
            _verdict(
                result,
                "auth_manager",
                manager,
                WARNING,
                "Airflow's SimpleAuthManager (development only:"
                " users and generated passwords in a file, no per-DAG permissions) guards the UI and the API."
                " Fix: configure the FAB auth manager (or your SSO's) with per-DAG roles.",
            )
    else:
        _verdict(result, "auth_manager", manager or "(default)")
    expose = _airflow_setting("api", "expose_config") or _airflow_setting("webserver", "expose_config")
    _verdict(
        result,
        "expose_config",
        expose or "False",
        WARNING if expose.lower() == "true" else OK,
        "[api] expose_config = True: every UI user can read Airflow's configuration, secrets included."
        " Fix: set it to False (or non-sensitive-only).",
    )
    fernet = bool(_airflow_setting("core", "fernet_key"))
    _verdict(
        result,
        "fernet_key",
        "set" if fernet else "missing",
        OK if fernet else CRITICAL,
        "[core] fernet_key is missing: connection passwords and variables are stored in clear text in the"
        " metadata database. Fix: generate one (Fernet.generate_key()) and set AIRFLOW__CORE__FERNET_KEY.",
    )
    for conn_id in sorted(set(conn_ids)):
        try:
            extra = endpoint_for_conn(conn_id).extra or {}
        except Exception as exc:  # noqa: BLE001 - a missing connection is the daily check's finding
            _not_checked(result, f"connection {conn_id} extra", _first_line(exc))
            continue
        secret_keys = sorted(k for k, v in extra.items() if SECRET_EXTRA.search(str(k)) and isinstance(v, str) and v)
        _verdict(
            result,
            f"connection {conn_id} extra",
            secret_keys or "no secret",
            WARNING if secret_keys else OK,
            f"connection {conn_id} keeps a secret in its extra field(s) {secret_keys}: extras are shown in the"
            " UI's connection form and exported in clear. Fix: move it to the password field or a secrets"
            " backend.",
        )
    return _count(result)


# -- known-vulnerable packages ------------------------------------------------------------------------


def scan_packages(advisories: str | None) -> CheckResult:
    """Installed distributions of this Python environment against the OSV advisories in ``advisories``."""
    result = CheckResult(PACKAGES_TARGET, "python_packages")
    if not advisories:
        result.details["note"] = (
            "skipped: no advisory database configured (inventory security.advisories: a folder"
            " of OSV JSON files); known-vulnerable packages were not checked"
        )
        return result
    if not Path(advisories).is_dir():
        result.add(WARNING, f"advisory folder {advisories} does not exist: known-vulnerable packages not checked")
        return result
    installed = installed_distributions()
    records, unreadable = load_advisories(Path(advisories))
    matches = vulnerable(installed, records)
    result.metrics["security.packages"] = len(installed)
    result.metrics["security.advisories"] = len(records)
    result.metrics["security.vulnerable_packages"] = len({m["package"] for m in matches})
    result.details.update(
        {
            "note": f"{len(installed)} installed distributions checked against {len(records)}"
            f" PyPI advisories in {advisories}",
            "vulnerable": matches,
        }
    )
    if unreadable:
        result.add(WARNING, f"{len(unreadable)} advisory file(s) unreadable, e.g. {unreadable[0]}")
    for m in matches:
        fix = f"; fixed in {', '.join(m['fixed'])}" if m["fixed"] else "; no fixed version yet"
        result.add(
            m["level"],
            f"{m['package']} {m['version']} is affected by {m['id']}"
            f"{' (' + m['summary'] + ')' if m['summary'] else ''}{fix}",
        )
    return result


def installed_distributions() -> dict[str, tuple[str, str]]:
    """canonical name → (name, version) of every distribution importlib.metadata sees."""
    from importlib.metadata import distributions

    from packaging.utils import canonicalize_name

    out: dict[str, tuple[str, str]] = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name:
            out[str(canonicalize_name(name))] = (name, dist.version)
    return out


def load_advisories(folder: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every OSV record in ``folder`` (``*.json``, one record or a list per file), withdrawn ones left out."""
    records, unreadable = [], []
    for path in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            unreadable.append(str(path))
            continue
        for record in data if isinstance(data, list) else [data]:
            if isinstance(record, dict) and record.get("id") and not record.get("withdrawn"):
                records.append(record)
    return records, unreadable


def vulnerable(installed: dict[str, tuple[str, str]], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (installed package, advisory) where the installed version is affected."""
    from packaging.utils import canonicalize_name

    matches = []
    for record in records:
        for affected in record.get("affected", []):
            package = affected.get("package", {})
            if package.get("ecosystem") != "PyPI":
                continue
            key = canonicalize_name(package.get("name", ""))
            if key not in installed:
                continue
            name, version = installed[key]
            if version_affected(version, affected):
                matches.append(
                    {
                        "package": name,
                        "version": version,
                        "id": record["id"],
                        "aliases": record.get("aliases", []),
                        "summary": record.get("summary", ""),
                        "fixed": [
                            e["fixed"] for r in affected.get("ranges", []) for e in r.get("events", []) if "fixed" in e
                        ],
                        "level": _advisory_level(record, affected),
                    }
                )
                break
    return sorted(matches, key=lambda m: (m["package"], m["id"]))


def version_affected(version: str, affected: dict[str, Any]) -> bool:
    """Whether ``version`` is in an OSV ``affected`` entry (explicit ``versions`` or ECOSYSTEM ranges)."""
    from packaging.version import InvalidVersion, Version

    if version in affected.get("versions", []):
        return True
    try:
        v = Version(version)
    except InvalidVersion:
        return False
    for r in affected.get("ranges", []):
        if r.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue
        events = []
        for e in r.get("events", []):
            for kind, raw in e.items():
                try:
                    events.append((Version(str(raw)), kind))
                except InvalidVersion:
                    continue
        inside = False  # walk the events in version order: introduced opens, fixed/limit/last_affected close
        for at, kind in sorted(events, key=lambda e: e[0]):
            if kind == "introduced" and v >= at:
                inside = True
            elif kind in ("fixed", "limit") and v >= at or kind == "last_affected" and v > at:
                inside = False
        if inside:
            return True
    return False


def _advisory_level(record: dict[str, Any], affected: dict[str, Any]) -> str:
    severity = str(
        (record.get("database_specific") or {}).get("severity")
        or (affected.get("ecosystem_specific") or {}).get("severity")
        or ""
    ).upper()
    return CRITICAL if severity in ("CRITICAL", "HIGH") else WARNING
