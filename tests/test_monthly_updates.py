"""Update plan: the package manager's cached lists parsed (a fake apt output, labelled, plus the real apt bounded),
server versions read from the real PostgreSQL and compared with what the inventory declares current, the plan
ordered by severity with a ready planned_update conf per item."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime

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
    assert (conf["update_kind"], conf["update_target"], conf["packages"]) == ("host_packages", "box", ["openssl"])


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


#: FAKE apt output (the seam ``run``): one upgradable package.
FAKE_OPENSSH = "openssh-client/stable 1:9.2p1-2+deb12u10 amd64 [upgradable from: 1:9.2p1-2+deb12u6]\n"
NOW = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)


def openssh_item(update: dict | None, packages: list[str] | None = None) -> dict:
    host = {"name": "box", "kind": "host", **({"update": {"packages": packages}} if packages else {})}
    inventory = parse_inventory({"targets": [host], **({"update": update} if update else {})})
    [item] = update_plan(inventory, inventory.targets, {}, apt_upgradable(lambda argv, timeout: FAKE_OPENSSH), {}, NOW)[
        "items"
    ]
    return {"inventory": inventory, **item}


def test_a_proposed_conf_is_made_ready_from_the_inventory_and_passes_the_form_as_it_is(tmp_path):
    """The real PostgreSQL's version, one minor behind the declared current one: its conf, with the one
    allowed release root filled in, passes the planned update's form unchanged (its daily check the test)."""
    from include.update.plan import build_plan

    target = parse_inventory({"targets": [{"name": "pg", "kind": "postgres", "conn_id": "x"}]}).target("pg")
    running = server_version(target, Endpoint(host="127.0.0.1", port=5432, login="postgres", schema="postgres"))
    major, minor = numbers(running)[:2]
    inventory = parse_inventory(
        {
            "targets": [{"name": "pg", "kind": "postgres", "conn_id": "x"}],
            "audit": {"current_versions": {"postgres": f"{major}.{minor + 1}"}},
            "update": {"release_roots": [str(tmp_path)]},
        }
    )
    version = f"postgres_{major}.{minor + 1}"
    (tmp_path / "releases" / version).mkdir(parents=True)
    [item] = update_plan(inventory, inventory.targets, {}, ([], None), {"pg": running}, NOW)["items"]
    conf = item["planned_update_conf"]
    assert item["not_ready"] is None
    assert (conf["release_root"], conf["release_version"]) == (str(tmp_path.resolve()), version)
    plan = build_plan(inventory, conf, NOW)  # the conf exactly as proposed
    assert plan.dry_run is True and plan.targets == ["pg"] and plan.health == ["pg"]
    assert plan.release.root == str(tmp_path.resolve()) and plan.release.version == version


def test_a_host_package_the_host_allows_is_a_ready_conf_with_the_hosts_daily_check_as_its_test():
    """The host's daily check is the implied post-update test: a package its update.packages allows (by name or
    pattern) gives a conf the real form validation accepts as it is."""
    from include.update.plan import build_plan

    item = openssh_item(None, packages=["openssh-*"])
    conf = item["planned_update_conf"]
    assert item["not_ready"] is None
    plan = build_plan(item["inventory"], conf, NOW)  # the conf exactly as proposed
    assert plan.kind == "host_packages" and plan.dry_run is True and plan.update_target == "box"
    assert plan.packages.packages == ["openssh-client"] and plan.health == ["box"]


def test_a_host_package_proposal_that_cannot_be_ready_says_why():
    nothing_allowed = openssh_item(None)
    assert nothing_allowed["not_ready"] == (
        "planned update: field 'packages': 'box' allows no package upgrade: list the packages (or patterns)"
        " under its update.packages"
    )
    other = openssh_item(None, packages=["openssl", "lib*"])
    assert other["not_ready"] == (
        "planned update: field 'packages': 'openssh-client' is not in box's update.packages ['openssl', 'lib*']"
    )
    no_host = parse_inventory({"targets": [{"name": "pg", "kind": "postgres", "conn_id": "x"}]})
    [item] = update_plan(no_host, no_host.targets, {}, apt_upgradable(lambda argv, timeout: FAKE_OPENSSH), {}, NOW)[
        "items"
    ]
    assert item["not_ready"].startswith("planned update: field 'update_target': required for this update kind")


#: the OSV scan's match for jinja2 (a python item: a release_switch proposal running pip)
JINJA2_SCAN = {
    "details": {
        "vulnerable": [
            {"package": "jinja2", "version": "3.0.0", "id": "G", "summary": "", "fixed": ["3.1.5"], "level": "critical"}
        ]
    }
}


def pip_item(update: dict | None) -> dict:
    inventory = parse_inventory(
        {"targets": [{"name": "box", "kind": "host"}], **({"update": update} if update else {})}
    )
    [item] = update_plan(inventory, inventory.targets, JINJA2_SCAN, ([], None), {}, NOW)["items"]
    return item


def test_a_conf_that_cannot_be_made_ready_says_why(tmp_path):
    one, other = tmp_path / "one", tmp_path / "other"
    commands = [[".venv/bin/pip", "install"]]
    nothing_allowed = pip_item(None)
    assert nothing_allowed["not_ready"] == "release_root: none is allowed (inventory update.release_roots)"
    assert nothing_allowed["planned_update_conf"]["release_root"] == ""
    two = pip_item({"release_roots": [str(one), str(other)], "release_commands": commands})
    assert "release_root: 2 are" in two["not_ready"] and "choose one" in two["not_ready"]
    unprepared = pip_item({"release_roots": [str(one)], "release_commands": commands})
    assert unprepared["planned_update_conf"]["release_root"] == str(one.resolve())
    assert unprepared["not_ready"].startswith("planned update: field 'release_version'")
    assert unprepared["not_ready"].endswith("releases/jinja2_3.1.5 is not a folder")
    (one / "releases" / "jinja2_3.1.5").mkdir(parents=True)
    not_allowed = pip_item({"release_roots": [str(one)], "release_commands": [["apt-get", "upgrade"]]})
    assert not_allowed["not_ready"].startswith("planned update: field 'release_command'")
    assert "starts with none of the allowed commands" in not_allowed["not_ready"]
