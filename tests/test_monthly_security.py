"""Security audit against real services: each condition is created, reported as a rule with id, severity,
evidence and fix, and (where a control is cheap) its absence is not reported. Last month's findings
partly resolved are counted new / resolved / still open."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import redis
from psycopg import sql

from include.catalog import Catalog
from include.clients.redis import private_server
from include.inventory import parse_inventory
from include.monthly.audit import build_report, security_section
from include.monthly.findings import compare_and_record
from include.monthly.security_audit import airflow_rules, audit_target, kernel_rules
from include.rendering import render_html
from tests.helpers import mysql_run

END = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)


def rules_of(row: dict) -> dict[str, dict]:
    return {r["id"]: r for r in row["details"]["rules"]}


@pytest.fixture
def login_roles():
    """Two login roles: one whose password never expires, one whose password expires in 2099."""
    suffix = uuid.uuid4().hex[:8]
    forever, expiring = f"aegis_forever_{suffix}", f"aegis_expiring_{suffix}"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
        c.execute(
            sql.SQL("create role {} login password {}").format(sql.Identifier(forever), sql.Literal("x-" + suffix))
        )
        c.execute(
            sql.SQL("create role {} login password {} valid until '2099-01-01'").format(
                sql.Identifier(expiring), sql.Literal("y-" + suffix)
            )
        )
    yield forever, expiring
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
        for role in (forever, expiring):
            c.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


@pytest.fixture
def anonymous_mysql_account():
    """An anonymous MariaDB account on a host name no client uses (so nobody else's login is affected)."""
    host = f"aegis-anon-{uuid.uuid4().hex[:8]}.invalid"
    mysql_run("CREATE USER ''@%s", args=(host,))
    yield host
    mysql_run("DROP USER IF EXISTS ''@%s", args=(host,))


def inventory_for(tmp_path, targets: list[dict], **audit) -> object:
    return parse_inventory({"targets": targets, "audit": audit}, tmp_path / "inventory.yaml")


def test_postgres_role_whose_password_never_expires(tmp_path, monkeypatch, pg_database, login_roles):
    forever, expiring = login_roles
    monkeypatch.setenv("AIRFLOW_CONN_A_PG", f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
    inventory = inventory_for(tmp_path, [{"name": "pg", "kind": "postgres", "conn_id": "a_pg"}])
    row = audit_target(inventory, inventory.target("pg"))
    never = rules_of(row)["postgres.password_never_expires"]
    assert forever in never["evidence"] and expiring not in never["evidence"]
    assert never["severity"] == "warning" and "VALID UNTIL" in never["fix"]
    assert "x-" not in str(row) and "y-" not in str(row)  # no password in the report


def test_postgres_login_role_without_a_password_and_create_on_public(tmp_path, monkeypatch, pg_database):
    """A login role with no password at all is reported (it logs in wherever pg_hba trusts it); ``CREATE`` on
    the ``public`` schema for every role is reported while granted and gone once revoked."""
    role = f"aegis_nopw_{uuid.uuid4().hex[:8]}"
    admin: dict = {"host": "127.0.0.1", "user": "postgres", "autocommit": True}
    with psycopg.connect(dbname="postgres", **admin) as c:
        c.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
    try:
        monkeypatch.setenv("AIRFLOW_CONN_A_PG", f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
        inventory = inventory_for(tmp_path, [{"name": "pg", "kind": "postgres", "conn_id": "a_pg"}])
        with psycopg.connect(dbname=pg_database, **admin) as c:
            c.execute("grant create on schema public to public")
        granted = rules_of(audit_target(inventory, inventory.target("pg")))
        with psycopg.connect(dbname=pg_database, **admin) as c:
            c.execute("revoke create on schema public from public")
        revoked = rules_of(audit_target(inventory, inventory.target("pg")))
    finally:
        with psycopg.connect(dbname="postgres", **admin) as c:
            c.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
    no_password = granted["postgres.login_without_password"]
    assert role in no_password["evidence"]
    assert role not in granted.get("postgres.password_never_expires", {}).get("evidence", [])
    assert granted["postgres.public_schema_create"]["evidence"] == pg_database
    assert "postgres.public_schema_create" not in revoked
    assert role in revoked["postgres.login_without_password"]["evidence"]


def test_redis_without_a_password_is_critical_and_with_one_is_not(tmp_path, monkeypatch, redis_server):
    with private_server() as locked_port:
        redis.Redis(port=locked_port, socket_timeout=2).config_set("requirepass", "s3cret-never-shown")
        monkeypatch.setenv("AIRFLOW_CONN_A_OPEN", f"redis://127.0.0.1:{redis_server}/0")
        monkeypatch.setenv("AIRFLOW_CONN_A_LOCKED", f"redis://:s3cret-never-shown@127.0.0.1:{locked_port}/0")
        inventory = inventory_for(
            tmp_path,
            [
                {"name": "open", "kind": "redis", "conn_id": "a_open"},
                {"name": "locked", "kind": "redis", "conn_id": "a_locked"},
            ],
        )
        open_row = audit_target(inventory, inventory.target("open"))
        locked_row = audit_target(inventory, inventory.target("locked"))
    rule = rules_of(open_row)["redis.login_without_password"]
    assert rule["severity"] == "critical" and rule["evidence"] == "accepted" and "requirepass" in rule["fix"]
    assert open_row["status"] == "critical"
    assert "redis.login_without_password" not in rules_of(locked_row)
    assert "s3cret-never-shown" not in str(locked_row)


def test_mariadb_anonymous_account(tmp_path, monkeypatch, anonymous_mysql_account):
    monkeypatch.setenv("AIRFLOW_CONN_A_MARIA", "mysql://root@127.0.0.1:3306/")
    inventory = inventory_for(tmp_path, [{"name": "maria", "kind": "mysql", "conn_id": "a_maria"}])
    rule = rules_of(audit_target(inventory, inventory.target("maria")))["mysql.anonymous_accounts"]
    assert f"''@'{anonymous_mysql_account}'" in rule["evidence"]
    assert rule["severity"] == "critical" and rule["fix"].startswith("DROP USER")


def test_mariadb_root_from_any_host_and_an_account_without_a_password(tmp_path, monkeypatch):
    """``root``@``%`` (created here with no privilege at all and a random password, dropped at once) and an
    account without a password are rules of the monthly audit, through the weekly security checks."""
    nopw = f"aegis_nopw_{uuid.uuid4().hex[:8]}"
    mysql_run("CREATE USER %s@'localhost' IDENTIFIED BY ''", args=(nopw,))
    try:
        mysql_run("CREATE USER 'root'@'%%' IDENTIFIED BY %s", args=(uuid.uuid4().hex * 2,))
        try:
            monkeypatch.setenv("AIRFLOW_CONN_A_MARIA", "mysql://root@127.0.0.1:3306/")
            inventory = inventory_for(tmp_path, [{"name": "maria", "kind": "mysql", "conn_id": "a_maria"}])
            with_root = rules_of(audit_target(inventory, inventory.target("maria")))
        finally:
            mysql_run("DROP USER IF EXISTS 'root'@'%'")  # no args: no %-formatting
        without_root = rules_of(audit_target(inventory, inventory.target("maria")))
    finally:
        mysql_run("DROP USER IF EXISTS %s@'localhost'", args=(nopw,))
    root = with_root["mysql.root_from_any_host"]
    assert root["severity"] == "critical" and "root" in root["fix"]
    assert "mysql.root_from_any_host" not in without_root
    assert f"'{nopw}'@'localhost'" in with_root["mysql.accounts_without_a_password"]["evidence"]


def test_kernel_drift_is_read_from_the_configured_path_and_never_changed(tmp_path):
    root = tmp_path / "sys"
    (root / "net" / "core").mkdir(parents=True)
    (root / "vm").mkdir()
    (root / "net" / "core" / "somaxconn").write_text("4096\n")
    (root / "vm" / "swappiness").write_text("10\n")
    inventory = inventory_for(
        tmp_path,
        [{"name": "box", "kind": "host"}],
        sysctl_root=str(root),
        nofile_min=1024,
        kernel_baseline={"net.core.somaxconn": 65535, "vm.swappiness": 10, "net.ipv4.tcp_fin_timeout": 30},
    )
    rules = {r["id"]: r for r in kernel_rules(inventory.audit, nofile_soft=512)}
    assert rules["host.sysctl.net.core.somaxconn"]["evidence"] == {"expected": 65535, "actual": "4096"}
    assert "host.sysctl.vm.swappiness" not in rules
    assert rules["host.sysctl.net.ipv4.tcp_fin_timeout"]["evidence"]["actual"] is None  # missing: said so
    assert rules["host.nofile_limit"]["evidence"] == {"expected_min": 1024, "actual": 512}
    assert (root / "net" / "core" / "somaxconn").read_text() == "4096\n"
    row = audit_target(inventory, inventory.target("box"))
    assert "host.sysctl.net.core.somaxconn" in rules_of(row)


def test_airflow_configuration_rules():
    settings = {("api", "expose_config"): "True", ("core", "load_examples"): "False", ("core", "fernet_key"): ""}
    found = {r["id"]: r for r in airflow_rules(lambda s, k: settings[(s, k)])}
    assert set(found) == {"airflow.expose_config", "airflow.no_fernet_key"}
    assert found["airflow.no_fernet_key"]["severity"] == "critical"


def security_row(target: str, *rule_ids: str) -> dict:
    return {
        "target": target,
        "kind": "postgres",
        "status": "warning",
        "details": {
            "rules": [
                {"id": r, "severity": "warning", "message": f"{r} found", "evidence": None, "fix": "-"}
                for r in rule_ids
            ]
        },
    }


def test_last_months_findings_partly_resolved_are_counted(tmp_path):
    engine = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").engine
    may, june = END - timedelta(days=31), END
    first = compare_and_record(engine, may, [security_row("pg", "a", "b", "c"), security_row("cache", "x")])
    assert first["counts"] == {"new": 4, "still_open": 0, "resolved": 0} and first["previous_audit"] is None
    rows = [security_row("pg", "b", "d"), security_row("cache", "x")]
    second = compare_and_record(engine, june, rows)
    assert second["counts"] == {"new": 1, "still_open": 2, "resolved": 2}
    assert [(r["target"], r["rule"]) for r in second["resolved"]] == [("pg", "a"), ("pg", "c")]
    states = {r["id"]: (r["state"], r["open_days"]) for row in rows for r in row["details"]["rules"]}
    assert states == {"b": ("still open", 31), "d": ("new", 0), "x": ("still open", 31)}
    # the same interval again (a retry) gives the same answer, not "everything still open"
    again = compare_and_record(engine, june, [security_row("pg", "b", "d"), security_row("cache", "x")])
    assert again["counts"] == second["counts"]
    # a run limited to one target does not call the other's findings resolved
    july = compare_and_record(engine, june + timedelta(days=30), [security_row("cache")])
    assert july["counts"] == {"new": 0, "still_open": 0, "resolved": 1}


def test_monthly_security_section_reports_an_open_redis_with_dangerous_commands(tmp_path, monkeypatch):
    """A private Redis started without a password and with FLUSHALL, CONFIG, ... under their own names: the
    monthly audit's security section (and its HTML) reports both rules, new this month, with id, severity,
    evidence and fix; a server with those commands renamed away is not reported for them."""
    renamed = [
        o
        for c in ("FLUSHALL", "FLUSHDB", "CONFIG", "DEBUG", "KEYS", "SHUTDOWN", "MODULE")
        for o in ("--rename-command", c, "")
    ]
    with private_server() as open_port, private_server(options=renamed) as renamed_port:
        client = redis.Redis(port=open_port, socket_timeout=2)
        client.set("canary", "1")
        dir_before = client.config_get("dir")
        monkeypatch.setenv("AIRFLOW_CONN_A_WIDE_OPEN", f"redis://127.0.0.1:{open_port}/0")
        monkeypatch.setenv("AIRFLOW_CONN_A_RENAMED", f"redis://127.0.0.1:{renamed_port}/0")
        inventory = inventory_for(
            tmp_path,
            [
                {"name": "wide-open", "kind": "redis", "conn_id": "a_wide_open"},
                {"name": "renamed", "kind": "redis", "conn_id": "a_renamed"},
            ],
        )
        catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
        selection = {"targets": ["wide-open", "renamed"], "sections": ["security"]}
        section = security_section(inventory, catalog, selection, END)
        # only asked (ACL DRYRUN): nothing was flushed, the configuration is as it was
        assert client.get("canary") == b"1" and client.config_get("dir") == dir_before

    rows = {r["target"]: r for r in section["rows"]}
    found = rules_of(rows["wide-open"])
    password = found["redis.login_without_password"]
    assert (password["severity"], password["evidence"], password["state"]) == ("critical", "accepted", "new")
    assert "requirepass" in password["fix"]
    dangerous = found["redis.dangerous_commands_usable_by_the_default_user"]
    assert dangerous["severity"] == "warning" and dangerous["state"] == "new"
    assert {"FLUSHALL", "FLUSHDB", "CONFIG", "DEBUG", "SHUTDOWN"} <= set(dangerous["evidence"])
    assert "FLUSHALL" in dangerous["message"] and "rename-command" in dangerous["fix"]
    assert rows["wide-open"]["status"] == "critical"
    assert "redis.dangerous_commands_usable_by_the_default_user" not in rules_of(rows["renamed"])
    assert "redis.login_without_password" in rules_of(rows["renamed"])  # still no password there

    html = render_html(build_report(selection, [section], "m", END - timedelta(days=30), END))
    for text in ("redis.dangerous_commands_usable_by_the_default_user", "redis.login_without_password"):
        assert f"<code>{text}</code>" in html
    assert "ACL SETUSER default -@dangerous" in html and '<code>["FLUSHALL", ' in html  # fix and evidence
