"""Update plan: the package manager's cached lists parsed (a fake apt output, labelled, plus the real apt bounded),
server versions read from the real PostgreSQL and compared with what the inventory declares current, the plan
ordered by severity with a ready planned_update conf per item."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC

import pytest

from include.inventory import parse_inventory
from include.monthly.updates import apt_upgradable, numbers, server_version, update_plan
from include.targets import Endpoint

#: FAKE apt output (the seam ``run``): two upgradable packages, one from a security suite.
FAKE_APT = """Listing...
openssl/stable-security 3.0.15-1~deb12u1 amd64 [upgradable from: 3.0.14-1~deb12u2]
sed/stable 4.9-1+deb12u1 amd64 [upgradable from: 4.9-1]
"""


def test_apt_lines_become_items_security_first():
    packages, why_not = apt_upgradable(lambda argv, timeout: FAKE_APT)
    assert why_not is None
    assert packages == [
        {"name": "openssl", "suite": "stable-security", "new": "3.0.15-1~deb12u1", "old": "3.0.14-1~deb12u2"},
        {"name": "sed", "suite": "stable", "new": "4.9-1+deb12u1", "old": "4.9-1"},
    ]
    inventory = parse_inventory({"targets": [{"name": "box", "kind": "host"}]})
    plan = update_plan(inventory, inventory.targets, {}, (packages[::-1], None), {})
    assert [(i["subject"], i["severity"]) for i in plan["items"]] == [("openssl", "warning"), ("sed", "info")]
    conf = plan["items"][0]["planned_update_conf"]
    assert conf["dry_run"] is True and conf["targets"] == ["box"]
    assert conf["release_command"] == ["apt-get", "install", "--only-upgrade", "-y", "openssl"]


def test_apt_that_hangs_or_fails_is_said_not_fatal():
    def hang(argv, timeout):
        raise subprocess.TimeoutExpired(argv, timeout)

    assert apt_upgradable(hang) == ([], "apt list --upgradable did not answer within 60s: host packages not checked")


@pytest.mark.skipif(shutil.which("apt") is None, reason="no apt on this machine")
def test_the_real_cached_lists_are_read_within_the_bound():
    packages, why_not = apt_upgradable()
    assert why_not is None and all(p["name"] and p["new"] != p["old"] for p in packages)


def test_server_versions_against_the_declared_current_ones():
    target = parse_inventory({"targets": [{"name": "pg", "kind": "postgres", "conn_id": "x"}]}).target("pg")
    running = server_version(target, Endpoint(host="127.0.0.1", port=5432, login="postgres", schema="postgres"))
    major, minor = numbers(running)[:2]
    inventory = parse_inventory(
        {
            "targets": [{"name": "pg", "kind": "postgres", "conn_id": "x"}],
            "audit": {"current_versions": {"postgres": f"{major}.{minor + 1}"}},
        }
    )
    [item] = update_plan(inventory, inventory.targets, {}, ([], None), {"pg": running})["items"]
    assert (item["severity"], item["current"], item["proposed"]) == ("warning", running, f"{major}.{minor + 1}")
    same = parse_inventory(
        {
            "targets": [{"name": "pg", "kind": "postgres", "conn_id": "x"}],
            "audit": {"current_versions": {"pg": running}},
        }
    )
    assert update_plan(same, same.targets, {}, ([], None), {"pg": running})["items"] == []
    newer = parse_inventory(
        {
            "targets": [{"name": "pg", "kind": "postgres", "conn_id": "x"}],
            "audit": {"current_versions": {"postgres": f"{major + 1}.0"}},
        }
    )
    [item] = update_plan(newer, newer.targets, {}, ([], None), {"pg": running})["items"]
    assert item["severity"] == "info" and "major" in item["why"]


def test_vulnerable_python_packages_lead_the_plan():
    scan = {
        "details": {
            "vulnerable": [
                {
                    "package": "jinja2",
                    "version": "3.0.0",
                    "id": "GHSA-x",
                    "summary": "XSS",
                    "fixed": ["3.1.5"],
                    "level": "critical",
                }
            ]
        }
    }
    inventory = parse_inventory({"targets": [{"name": "box", "kind": "host"}]})
    plan = update_plan(
        inventory,
        inventory.targets,
        scan,
        ([{"name": "sed", "suite": "stable-security", "new": "2", "old": "1"}], None),
        {},
    )
    assert [i["subject"] for i in plan["items"]] == ["jinja2", "sed"]
    assert plan["items"][0]["planned_update_conf"]["release_command"] == [".venv/bin/pip", "install", "jinja2==3.1.5"]


def test_a_proposed_conf_passes_the_planned_update_form_once_its_release_root_is_filled(tmp_path):
    from datetime import datetime

    from include.update.plan import build_plan

    packages, _ = apt_upgradable(
        lambda argv, timeout: "openssh-client/stable 1:9.2p1-2+deb12u10 amd64 [upgradable from: 1:9.2p1-2+deb12u6]\n"
    )
    inventory = parse_inventory({"targets": [{"name": "box", "kind": "host"}]})
    conf = update_plan(inventory, inventory.targets, {}, (packages, None), {})["items"][0]["planned_update_conf"]
    assert conf["release_version"] == "openssh-client_1_9.2p1-2+deb12u10"
    (tmp_path / "releases" / conf["release_version"]).mkdir(parents=True)
    plan = build_plan(inventory, {**conf, "release_root": str(tmp_path)}, datetime(2026, 6, 1, tzinfo=UTC))
    assert plan.dry_run is True and plan.targets == ["box"]
    assert plan.release.command == ["apt-get", "install", "--only-upgrade", "-y", "openssh-client"]
