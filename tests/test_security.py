"""Security checks against the real local services and a private redis-server; the OSV matcher on files it writes."""

from __future__ import annotations

import json
import os
import uuid
from importlib.metadata import version

import pytest
import redis

from include import security
from include.clients.redis import private_server
from include.inventory import parse_inventory
from include.targets import Endpoint
from tests.helpers import free_port, mysql_run

INV = parse_inventory(
    {
        "targets": [
            {"name": "pg", "kind": "postgres", "conn_id": "pg", "timeout_seconds": 5},
            {"name": "maria", "kind": "mysql", "conn_id": "maria", "timeout_seconds": 5},
            {"name": "cache", "kind": "redis", "conn_id": "cache", "timeout_seconds": 3},
            {"name": "box", "kind": "host"},
        ]
    }
)


def checks_by_name(result) -> dict:
    return {c["check"]: c for c in result.details["checks"]}


def test_postgres_trust_authentication_is_a_critical_finding():
    result = security.check_postgres(INV.target("pg"), Endpoint(host="127.0.0.1", port=5432, login="postgres"), {})
    # This machine's pg_hba.conf: trust for local sockets and 127.0.0.1 (read back from the server itself).
    trust = [f for f in result.findings if "uses trust" in f.message]
    assert trust and all(f.level == "critical" for f in trust)
    assert result.status == "critical"
    assert result.metrics["security.pg_hba_risky_rules"] >= len(trust)
    checks = checks_by_name(result)
    assert checks["ssl"]["value"] in ("on", "off")
    assert (checks["ssl"]["verdict"] == "warning") == (checks["ssl"]["value"] == "off")
    assert checks["password_encryption"]["verdict"] in ("ok", "warning")
    assert result.metrics["security.pg_superusers"] >= 1  # postgres itself


def test_postgres_superuser_count_is_graded_against_the_setting():
    endpoint = Endpoint(host="127.0.0.1", port=5432, login="postgres")
    strict = security.check_postgres(INV.target("pg"), endpoint, {"max_superusers": 0})
    lenient = security.check_postgres(INV.target("pg"), endpoint, {"max_superusers": 100})
    assert any("superusers can log in" in f.message for f in strict.findings)
    assert not any("superusers can log in" in f.message for f in lenient.findings)


def test_postgres_hba_rules_are_graded_line_by_line():
    from include.checks.base import CheckResult

    result = CheckResult("pg", "postgres")
    security._hba_rules(
        result,
        [
            {
                "line": 1,
                "type": "local",
                "database": ["all"],
                "user": ["postgres"],
                "address": None,
                "netmask": None,
                "method": "peer",
                "error": None,
            },
            {
                "line": 2,
                "type": "host",
                "database": ["all"],
                "user": ["all"],
                "address": "0.0.0.0",
                "netmask": "0.0.0.0",
                "method": "scram-sha-256",
                "error": None,
            },
            {
                "line": 3,
                "type": "hostssl",
                "database": ["app"],
                "user": ["app"],
                "address": "10.0.0.0",
                "netmask": "255.0.0.0",
                "method": "password",
                "error": None,
            },
            {
                "line": 4,
                "type": "host",
                "database": ["all"],
                "user": ["all"],
                "address": "10.1.2.3",
                "netmask": "255.255.255.255",
                "method": "trust",
                "error": None,
            },
        ],
    )
    levels = {f.message.split(" (")[0]: f.level for f in result.findings}
    assert levels == {
        "pg_hba.conf line 2": "warning",
        "pg_hba.conf line 3": "warning",
        "pg_hba.conf line 4": "critical",
    }
    assert "anyone who reaches the port" in result.findings[-1].message
    assert result.metrics["security.pg_hba_risky_rules"] == 3


@pytest.fixture
def mysql_accounts():
    """An account without a password and an anonymous one on the local MariaDB (unique names), dropped after."""
    user = f"aegis_sec_{uuid.uuid4().hex[:8]}"
    host = f"sec-{uuid.uuid4().hex[:6]}.invalid"  # a host no client comes from: harmless while it exists
    mysql_run("CREATE USER %s@'localhost' IDENTIFIED BY ''", args=(user,))
    mysql_run("CREATE USER ''@%s", args=(host,))
    yield user, host
    mysql_run("DROP USER IF EXISTS %s@'localhost'", args=(user,))
    mysql_run("DROP USER IF EXISTS ''@%s", args=(host,))


def test_mysql_empty_password_and_anonymous_accounts_are_critical(mysql_accounts):
    user, host = mysql_accounts
    result = security.check_mysql(INV.target("maria"), Endpoint(host="127.0.0.1", port=3306, login="root"), {})
    checks = checks_by_name(result)
    assert f"'{user}'@'localhost'" in checks["accounts without a password"]["value"]
    assert f"''@'{host}'" in checks["anonymous accounts"]["value"]
    assert checks["anonymous accounts"]["verdict"] == "critical"
    assert result.status == "critical"
    assert checks["local_infile"]["verdict"] == ("warning" if checks["local_infile"]["value"] == "ON" else "ok")


def test_mysql_dropped_accounts_are_no_longer_reported(mysql_accounts):
    user, host = mysql_accounts
    mysql_run("DROP USER %s@'localhost'", args=(user,))
    mysql_run("DROP USER ''@%s", args=(host,))
    result = security.check_mysql(INV.target("maria"), Endpoint(host="127.0.0.1", port=3306, login="root"), {})
    checks = checks_by_name(result)
    assert f"'{user}'@'localhost'" not in checks["accounts without a password"]["value"]
    assert f"''@'{host}'" not in checks["anonymous accounts"]["value"]


def test_redis_open_server_vs_locked_down_server(redis_server):
    endpoint = Endpoint(host="127.0.0.1", port=redis_server)
    open_ = security.check_redis(INV.target("cache"), endpoint, {})
    messages = " ".join(f.message for f in open_.findings)
    assert open_.status == "critical" and "without a password" in messages
    assert "FLUSHALL" in checks_by_name(open_)["dangerous commands usable by the default user"]["value"]

    client = redis.Redis(port=redis_server)
    client.execute_command("ACL", "SETUSER", "default", "on", ">s3cret-pass", "~*", "&*", "+@all", "-@dangerous")
    client.close()
    locked = security.check_redis(
        INV.target("cache"), Endpoint(host="127.0.0.1", port=redis_server, password="s3cret-pass"), {}
    )
    checks = checks_by_name(locked)
    assert checks["login without password"] == {"check": "login without password", "value": "refused", "verdict": "ok"}
    assert "not checked" in checks["protected-mode, bind"]["verdict"]  # CONFIG is now forbidden to this login
    assert "not checked" in checks["dangerous commands"]["verdict"]  # and so is ACL
    assert locked.status == "ok", locked.findings
    assert "s3cret-pass" not in json.dumps(locked.to_dict())


def test_redis_protected_mode_off_and_bind_everywhere():
    with private_server(options=("--bind", "* -::*", "--protected-mode", "no")) as port:
        result = security.check_redis(INV.target("cache"), Endpoint(host="127.0.0.1", port=port), {})
    checks = checks_by_name(result)
    assert checks["protected-mode"]["verdict"] == "critical"  # off and no password
    assert checks["bind"]["verdict"] == "warning"


def test_redis_down_is_unreachable_within_the_timeout():
    result = security.scan_target(INV.target("cache"), Endpoint(host="127.0.0.1", port=free_port()), {})
    assert result["status"] == "unreachable"
    assert result["duration_s"] < 5


def test_host_world_writable_files_and_private_inventory(tmp_path):
    watched = tmp_path / "watched"
    (watched / "sub").mkdir(parents=True)
    bad_file, fine_file, sticky = watched / "sub" / "open.conf", watched / "fine.conf", watched / "sticky"
    bad_file.write_text("x")
    fine_file.write_text("x")
    sticky.mkdir()
    os.chmod(bad_file, 0o666)
    os.chmod(fine_file, 0o644)
    os.chmod(sticky, 0o1777)  # like /tmp: world-writable but sticky, fine
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("targets: []")
    os.chmod(inventory, 0o600)
    settings = {"writable_paths": [str(watched)], "protected_files": [str(inventory)]}

    result = security.check_host(INV.target("box"), Endpoint(), settings)
    assert result.details["world_writable"] == [str(bad_file)]
    assert result.status == "warning"

    os.chmod(inventory, 0o666)
    result = security.check_host(INV.target("box"), Endpoint(), settings)
    assert result.status == "critical"
    assert any(str(inventory) in f.message for f in result.findings if f.level == "critical")


def osv(advisory_id: str, package: str, events: list[dict], severity: str = "HIGH", **extra) -> dict:
    return {
        "id": advisory_id,
        "summary": f"{advisory_id} summary",
        "database_specific": {"severity": severity},
        "affected": [
            {"package": {"ecosystem": "PyPI", "name": package}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}
        ],
        **extra,
    }


def test_vulnerable_packages_from_a_local_osv_folder(tmp_path):
    from packaging.version import Version

    installed = Version(version("packaging"))  # a real installed distribution of this environment
    above = f"{installed.major + 1}.0"
    folder = tmp_path / "osv"
    (folder / "nested").mkdir(parents=True)
    (folder / "hit.json").write_text(json.dumps(osv("TEST-HIT", "Packaging", [{"introduced": "0"}, {"fixed": above}])))
    (folder / "nested" / "list.json").write_text(
        json.dumps(
            [
                osv("TEST-FIXED", "packaging", [{"introduced": "0"}, {"fixed": str(installed)}]),  # fixed in ours
                osv("TEST-LATER", "packaging", [{"introduced": above}], severity="MODERATE"),  # only newer versions
                osv("TEST-LAST", "packaging", [{"introduced": "0"}, {"last_affected": str(installed)}], severity="LOW"),
                osv("TEST-WITHDRAWN", "packaging", [{"introduced": "0"}], withdrawn="2024-01-01T00:00:00Z"),
                osv("TEST-OTHER", "surely-not-installed-aegis", [{"introduced": "0"}]),
            ]
        )
    )
    (folder / "broken.json").write_text("{not json")

    result = security.scan_packages(str(folder))
    ids = {m["id"]: m for m in result.details["vulnerable"]}
    assert set(ids) == {"TEST-HIT", "TEST-LAST"}
    assert ids["TEST-HIT"]["level"] == "critical" and ids["TEST-HIT"]["fixed"] == [above]
    assert ids["TEST-LAST"]["level"] == "warning"
    assert result.metrics["security.vulnerable_packages"] == 1
    assert result.metrics["security.advisories"] == 5  # six written, the withdrawn one left out
    assert result.status == "critical"
    assert any("unreadable" in f.message for f in result.findings)
    assert any(f"packaging {installed} is affected by TEST-HIT" in f.message for f in result.findings)


def test_without_advisories_the_package_scan_is_skipped_with_a_note(tmp_path):
    skipped = security.scan_packages(None)
    assert skipped.status == "ok" and skipped.findings == []
    assert "skipped" in skipped.details["note"] and "security.advisories" in skipped.details["note"]
    missing = security.scan_packages(str(tmp_path / "nope"))
    assert missing.status == "warning" and "does not exist" in missing.findings[0].message


def test_airflow_configuration_findings_with_the_fix(monkeypatch):
    """Aegis itself: the standalone's SimpleAuthManager, expose_config, a missing Fernet key and a password
    kept in a connection's extra are findings (real Airflow configuration, read from the environment)."""
    monkeypatch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER", "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
    )
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    monkeypatch.setenv("AIRFLOW__API__EXPOSE_CONFIG", "True")
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "")
    monkeypatch.setenv("AIRFLOW_CONN_SEC_LEAKY", '{"conn_type": "http", "host": "h", "extra": {"api_password": "p"}}')
    monkeypatch.setenv("AIRFLOW_CONN_SEC_CLEAN", '{"conn_type": "http", "host": "h", "extra": {"region": "eu"}}')
    result = security.check_airflow(["sec_leaky", "sec_clean"])
    found = {f.message.split(" ")[0] + " " + f.level for f in result.findings}
    messages = " | ".join(f.message for f in result.findings)
    assert "SimpleAuthManager" in messages and "Fix: configure the FAB" in messages
    assert "expose_config = True" in messages and "fernet_key is missing" in messages
    assert "connection sec_leaky keeps a secret in its extra field(s) ['api_password']" in messages
    assert "sec_clean" not in messages and "p'" not in messages
    assert result.metrics["security.critical"] == 1 and len(result.findings) == 4, found

    monkeypatch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER", "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
    )
    monkeypatch.setenv("AIRFLOW__API__EXPOSE_CONFIG", "False")
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "x" * 43 + "=")
    assert security.check_airflow(["sec_clean"]).findings == []
