"""``host_packages`` planned updates: the allow-list, the dry run through apt's real simulation (``apt-get -s``,
which only reads, also as root), and the whole planned_update DAG in dry run with the host's daily check as the
implied post-update test. No test here runs a live upgrade: the one that reaches ``apply`` hands it a labelled
fake ``apt_run`` that fails on anything but a read."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from include.inventory import parse_inventory
from include.update.apply import apply_update
from include.update.plan import PlanError, build_plan
from include.update.strategies import host_packages
from tests.helpers import load_dag, write_inventory

NOW = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(shutil.which("apt-get") is None, reason="no apt-get on this machine (not Debian)")


def inventory(packages: list[str]):
    return parse_inventory({"targets": [{"name": "box", "kind": "host", "update": {"packages": packages}}]})


def conf(*packages: str, **extra) -> dict:
    return {"update_kind": "host_packages", "update_target": "box", "packages": list(packages), **extra}


def installed(package: str) -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=True)
    return done.stdout


def upgradable() -> dict[str, dict[str, str]]:
    """What the host's cached lists say is upgradable (the monthly audit's own reader)."""
    from include.monthly.updates import apt_upgradable

    packages, why_not = apt_upgradable()
    assert why_not is None
    return {p["name"]: p for p in packages}


def test_the_form_allows_only_the_hosts_listed_packages():
    inv = inventory(["bash", "libssl*"])
    plan = build_plan(inv, conf("bash", "libssl3"), NOW)
    assert plan.packages.packages == ["bash", "libssl3"] and plan.health == ["box"] and plan.dry_run
    with pytest.raises(PlanError, match=r"'packages': 'coreutils' is not in box's update.packages"):
        build_plan(inv, conf("coreutils"), NOW)
    with pytest.raises(PlanError, match=r"'packages': 'bash; rm -rf /' is not a Debian package name"):
        build_plan(inv, conf("bash; rm -rf /"), NOW)
    with pytest.raises(PlanError, match=r"'packages': a non-empty list"):
        build_plan(inv, conf(), NOW)
    with pytest.raises(PlanError, match=r"a live update needs confirm = 'box'"):
        build_plan(inv, conf("bash", dry_run=False), NOW)
    with pytest.raises(PlanError, match=r"'box' allows no package upgrade"):
        build_plan(inventory([]), conf("bash"), NOW)
    again = type(plan).from_dict(json.loads(json.dumps(plan.to_dict())))  # through XCom's JSON
    assert again == plan


def test_the_dry_run_is_apts_simulation_and_changes_nothing():
    inv = inventory(["bash"])
    plan = build_plan(inv, conf("bash"), NOW)
    before = installed("bash")
    outcome = apply_update(inv, plan, "manual__sim", 60)
    assert outcome["state"] == "dry-run" and outcome["changed"] is False, outcome
    assert outcome["from"] == f"bash={before}"
    assert " upgraded, " in outcome["apt_summary"]
    pending = upgradable().get("bash")
    if pending:  # the cached lists have a newer bash: the simulation says exactly that upgrade
        assert outcome["would_upgrade"]["bash"] == {"from": pending["old"], "to": pending["new"]}
        assert outcome["to"].startswith(f"bash={pending['new']}")
    else:
        assert "bash" not in outcome["would_upgrade"]
    assert installed("bash") == before  # a simulation only reads


def test_a_package_apt_does_not_know_fails_the_dry_run_clearly():
    inv = inventory(["*"])
    outcome = apply_update(inv, build_plan(inv, conf("aegis-no-such-package"), NOW), "manual__sim", 60)
    assert outcome["state"] == "failed" and outcome["changed"] is False
    assert "apt-get -s exited with 100" in outcome["reason"]
    assert "Unable to locate package aegis-no-such-package" in outcome["reason"]


def test_a_live_upgrade_on_a_worker_that_is_not_root_is_refused_before_apt_runs(monkeypatch):
    calls = []

    def fake_apt_run(argv, timeout_s):  # FAKE: a live apt-get here would be a bug; reads go to the real one
        calls.append(argv)
        assert argv[0] == "dpkg-query", f"a live test must not run {argv}"
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)

    monkeypatch.setattr(host_packages, "apt_run", fake_apt_run)
    monkeypatch.setattr(host_packages.os, "geteuid", lambda: 1000)
    inv = inventory(["bash"])
    outcome = apply_update(inv, build_plan(inv, conf("bash", dry_run=False, confirm="box"), NOW), "manual__x", 60)
    assert outcome["state"] == "failed" and outcome["changed"] is False
    assert outcome["reason"] == "RuntimeError: apt-get needs root to upgrade packages; this worker runs as uid 1000"
    assert all(argv[0] == "dpkg-query" for argv in calls)


def test_the_planned_update_dag_dry_runs_a_host_package_update(airflow_db, tmp_path, monkeypatch):
    path = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: box, kind: host, update: {packages: [bash]}}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(path))
    before = installed("bash")
    dag = load_dag("planned_update")
    run = dag.test(run_conf=conf("bash"))
    assert run.state == "success"
    [report] = [
        json.loads(p.read_text()) for p in (tmp_path / "artifacts" / "reports" / "planned_update").rglob("report.json")
    ]
    assert report["outcome"] == "dry-run"
    rows = {r["target"]: r for r in report["results"]}
    assert " upgraded, " in rows["4 update"]["details"]["apt_summary"]  # the dry run ran apt's simulation
    assert rows["5 test box"]["kind"] == "host"  # the host's daily check ran as the implied post-update test
    assert "host.cpu_pct" in rows["5 test box"]["metrics"]
    assert installed("bash") == before
