"""Security audit: rules with an id, a severity, evidence and a fix, per target. Reads only.

- the weekly security checks (:mod:`include.security`), each failed setting as a rule
  (``<kind>.<check>``: TLS, pg_hba, MySQL accounts without a password / anonymous / ``root@%``,
  Redis without a password, dangerous commands, world-writable files);
- PostgreSQL roles that log in without a password or with one that never expires, and ``CREATE`` on
  the ``public`` schema (rules :data:`PG_RULES`);
- the host's kernel tuning against the configured baseline (``audit.kernel_baseline``, read under
  ``audit.sysctl_root``, e.g. ``/proc/sys``) and the open-files limit: drift is reported, never changed;
- Airflow's own configuration (:data:`AIRFLOW_RULES`);
- known-vulnerable Python packages (the weekly OSV scan).

Each target's row carries ``details["rules"]``; :mod:`include.monthly.findings` then marks each rule
new or still open and lists the resolved ones against last month's audit.
"""

from __future__ import annotations

import re
import resource
from pathlib import Path
from typing import Any

from include.checks.base import CRITICAL, WARNING, CheckResult

AIRFLOW_TARGET = "airflow"
#: Fixes for the weekly checks' settings (by check name; pg_hba lines share one).
FIXES: dict[str, str] = {
    "ssl": "set ssl = on with a certificate (postgresql.conf) and hostssl lines in pg_hba.conf",
    "password_encryption": "set password_encryption = 'scram-sha-256' and reset the passwords",
    "listen_addresses": "listen only on the interfaces clients use (listen_addresses = 'localhost,10.0.0.5')",
    "log_connections": "set log_connections = on",
    "superusers": "ALTER ROLE ... NOSUPERUSER for roles that do not need it",
    "pg_hba": "replace trust/password lines with scram-sha-256 and narrow the addresses",
    "require_secure_transport": "set require_secure_transport = ON",
    "have_ssl": "configure ssl_cert / ssl_key on the server",
    "local_infile": "set local_infile = OFF",
    "accounts without a password": "ALTER USER ... IDENTIFIED BY a password, or DROP USER the unused account",
    "anonymous accounts": "DROP USER ''@'<host>' for each anonymous account",
    "root from any host": "DROP USER 'root'@'%'; administer from localhost or a named host",
    "login without password": "set requirepass (or ACL SETUSER default on >password) and give clients the password",
    "protected-mode": "set protected-mode yes, or bind to private interfaces and require a password",
    "bind": "bind to the interfaces clients use (bind 127.0.0.1 10.0.0.5)",
    "dangerous commands usable by the default user": "rename-command them, or ACL SETUSER default -@dangerous",
    "world-writable files": "chmod o-w the files listed",
}
PG_RULES = {
    "postgres.login_without_password": (
        WARNING,
        "set a password (ALTER ROLE ... PASSWORD) or NOLOGIN for roles that"
        " need none; pg_hba then decides who gets in without one",
    ),
    "postgres.password_never_expires": (WARNING, "ALTER ROLE ... VALID UNTIL '<date>' and rotate before it"),
    "postgres.public_schema_create": (WARNING, "REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
}
AIRFLOW_RULES = {  # (section, key, bad when, severity, fix)
    "airflow.expose_config": (
        "api",
        "expose_config",
        lambda v: v.lower() in ("true", "1", "non-sensitive-only"),
        WARNING,
        "set [api] expose_config = False",
    ),
    "airflow.load_examples": (
        "core",
        "load_examples",
        lambda v: v.lower() in ("true", "1"),
        WARNING,
        "set [core] load_examples = False",
    ),
    "airflow.no_fernet_key": (
        "core",
        "fernet_key",
        lambda v: not v.strip(),
        CRITICAL,
        "set [core] fernet_key: connection passwords are stored unencrypted",
    ),
}


def rule(rule_id: str, severity: str, message: str, evidence: Any, fix: str) -> dict[str, Any]:
    return {"id": rule_id, "severity": severity, "message": message, "evidence": evidence, "fix": fix}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def weekly_rules(scan: dict[str, Any]) -> list[dict[str, Any]]:
    """The weekly scan's failed settings (``details["checks"]``) as rules. Each failed setting adds its
    finding in the same call (``include.security._verdict``), so the two lists pair up in order."""
    failed = [c for c in scan.get("details", {}).get("checks", []) if c["verdict"] in (WARNING, CRITICAL)]
    messages = [f["message"] for f in scan.get("findings", []) if not f["message"].startswith("world-writable scan")]
    out = []
    padded: list[str | None] = [*messages, *[None] * (len(failed) - len(messages))]
    for check, message in zip(failed, padded[: len(failed)], strict=True):
        name = "pg_hba" if check["check"].startswith("pg_hba line") else check["check"]
        rule_id = f"{scan['kind']}.{slug(name)}" + (f".{slug(check['check'])}" if name == "pg_hba" else "")
        out.append(
            rule(
                rule_id,
                check["verdict"],
                message or f"{check['check']}: {check['value']}",
                check["value"],
                FIXES.get(name, "see the message"),
            )
        )
    return out


def postgres_rules(endpoint, timeout_s: float) -> list[dict[str, Any]]:
    """Login roles without a password or with one that never expires; CREATE on public for PUBLIC."""
    from include.clients.postgres import connect  # the one place this module opens a connection

    with connect(endpoint, timeout_s, application_name="aegis-monthly-audit") as conn:
        roles = conn.execute(
            "select rolname, rolpassword is null, rolvaliduntil is null or rolvaliduntil = 'infinity'"
            " from pg_authid where rolcanlogin order by 1"
        ).fetchall()
        public_create = conn.execute(
            "select has_schema_privilege('public', 'public', 'CREATE') from pg_namespace where nspname = 'public'"
        ).fetchone()
        database = (conn.execute("select current_database()").fetchone() or ("?",))[0]
    out = []
    no_password = [name for name, missing, _ in roles if missing]
    never = [name for name, missing, forever in roles if not missing and forever]
    for rule_id, names, what in (
        ("postgres.login_without_password", no_password, "log in without a password"),
        ("postgres.password_never_expires", never, "have a password that never expires"),
    ):
        if names:
            severity, fix = PG_RULES[rule_id]
            out.append(rule(rule_id, severity, f"{len(names)} login role(s) {what}: {', '.join(names)}", names, fix))
    if public_create and public_create[0]:
        severity, fix = PG_RULES["postgres.public_schema_create"]
        out.append(
            rule(
                "postgres.public_schema_create",
                severity,
                f"every role may CREATE in schema public of database {database}",
                database,
                fix,
            )
        )
    return out


def read_sysctl(root: Path, name: str) -> str | None:
    """``net.core.somaxconn`` read from ``<root>/net/core/somaxconn`` (None: not there)."""
    try:
        return " ".join((root / name.replace(".", "/")).read_text().split())
    except OSError:
        return None


def kernel_rules(settings: dict[str, Any], nofile_soft: int | None = None) -> list[dict[str, Any]]:
    """Drift of each baseline sysctl from its configured value, and an open-files limit below the minimum."""
    root, out = Path(settings["sysctl_root"]), []
    for name, wanted in sorted(settings["kernel_baseline"].items()):
        actual = read_sysctl(root, name)
        if actual is None:
            out.append(
                rule(
                    f"host.sysctl.{name}",
                    WARNING,
                    f"{name} is not readable under {root}",
                    {"expected": wanted, "actual": None},
                    f"check that {name} exists on this kernel",
                )
            )
        elif actual != " ".join(str(wanted).split()):
            out.append(
                rule(
                    f"host.sysctl.{name}",
                    WARNING,
                    f"{name} is {actual}, the baseline says {wanted}",
                    {"expected": wanted, "actual": actual},
                    f"sysctl -w {name}={wanted} and persist it in /etc/sysctl.d/ (Aegis never changes it)",
                )
            )
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0] if nofile_soft is None else nofile_soft
    minimum = settings.get("nofile_min")
    if minimum and soft != resource.RLIM_INFINITY and soft < minimum:
        out.append(
            rule(
                "host.nofile_limit",
                WARNING,
                f"open-files limit (ulimit -n) is {soft}, below {minimum}",
                {"expected_min": minimum, "actual": soft},
                f"raise nofile to {minimum} (limits.conf / systemd LimitNOFILE)",
            )
        )
    return out


def airflow_rules(read=None) -> list[dict[str, Any]]:
    """Airflow's own configuration: exposed config, example DAGs, no Fernet key."""
    if read is None:
        from airflow.configuration import conf

        def read(section: str, key: str) -> str:
            return str(conf.get(section, key, fallback=""))

    out = []
    for rule_id, (section, key, bad, severity, fix) in AIRFLOW_RULES.items():
        value = read(section, key)
        if bad(value):
            shown = "(empty)" if not value.strip() else ("(set)" if key == "fernet_key" else value)
            out.append(rule(rule_id, severity, f"[{section}] {key} is {shown}", shown, fix))
    return out


def package_rules(scan: dict[str, Any]) -> list[dict[str, Any]]:
    """The OSV scan's affected packages as rules (``python.<advisory id>``)."""
    return [
        rule(
            f"python.{m['id']}",
            m["level"],
            f"{m['package']} {m['version']} is affected by {m['id']}",
            {"package": m["package"], "version": m["version"]},
            f"upgrade to {', '.join(m['fixed'])}" if m["fixed"] else "no fixed version yet: mitigate or replace",
        )
        for m in scan.get("details", {}).get("vulnerable", [])
    ]


def as_row(target: str, kind: str, rules: list[dict[str, Any]], notes: list[str] | None = None) -> dict[str, Any]:
    """A security row: a finding per rule (``[id] message``) and the rules in ``details``."""
    result = CheckResult(target, kind, concern="security")
    for r in rules:
        result.add(r["severity"], f"[{r['id']}] {r['message']}")
    result.details["rules"] = rules
    if notes:
        result.details["not_checked"] = notes
    result.metrics["audit.findings"] = len(rules)
    return result.to_dict()


def audit_target(inventory, target) -> dict[str, Any]:
    """Every rule for one target: the weekly scan (when its kind has one) plus this audit's own rules."""
    from include.kinds import spec
    from include.targets import endpoint_for
    from include.weekly.routine import security_target

    rules: list[dict[str, Any]] = []
    notes: list[str] = []
    if spec(target.kind).security:
        scan = security_target(inventory, target.name)
        if scan["status"] == "unreachable":
            return {**scan, "concern": "security"}
        rules += weekly_rules(scan)
        notes += [
            f"{c['check']}: {c['verdict']}"
            for c in scan["details"].get("checks", [])
            if str(c["verdict"]).startswith("not checked")
        ]
    if target.kind == "postgres":
        try:
            rules += postgres_rules(endpoint_for(target), target.timeout_seconds)
        except Exception as exc:  # noqa: BLE001 - e.g. pg_authid needs superuser: said, not fatal
            notes.append(f"roles and public schema: not checked ({type(exc).__name__}: {str(exc).strip()[:200]})")
    if target.kind == "host":
        rules += kernel_rules(inventory.audit)
    return as_row(target.name, target.kind, rules, notes)


def audit_airflow(inventory) -> dict[str, Any]:
    """Airflow's configuration and this environment's packages (OSV), as one row."""
    from include.security import scan_packages

    scan = scan_packages(inventory.security.get("advisories")).to_dict()
    notes = [scan["details"]["note"]] if "skipped" in str(scan["details"].get("note", "")) else []
    return as_row(AIRFLOW_TARGET, "airflow", airflow_rules() + package_rules(scan), notes)
