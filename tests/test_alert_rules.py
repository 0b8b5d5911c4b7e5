"""The shipped Prometheus alert rules: valid (`promtool check rules`) and doing what their unit tests say
(`promtool test rules`), with the real promtool from Debian's ``prometheus`` package."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO

RULES = REPO / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: ./aegis install puts it there")


def promtool(*args: str | Path, cwd: Path = RULES) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_every_rule_file_is_valid():
    files = sorted(RULES.glob("*.rules.yml"))
    assert {f.name for f in files} >= {"seed.rules.yml", "aegis.rules.yml"}
    result = promtool("check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found" in result.stdout and "SUCCESS: 3 rules found" in result.stdout


def test_every_rule_file_has_passing_unit_tests():
    tests = sorted((RULES / "tests").glob("*.test.yml"))
    covered = {
        line.split("[../", 1)[1].split("]")[0]
        for t in tests
        for line in t.read_text().splitlines()
        if line.startswith("rule_files:")
    }
    assert covered == {f.name for f in RULES.glob("*.rules.yml")}, "a rule file without unit tests"
    result = promtool("test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_expectation_fails(tmp_path):
    """The unit tests can fail: the same series with the alert expected too early is refused."""
    (tmp_path / "seed.rules.yml").write_text((RULES / "seed.rules.yml").read_text())
    (tmp_path / "wrong.test.yml").write_text("""
rule_files: [seed.rules.yml]
tests:
  - interval: 30s
    input_series:
      - {series: 'up{job="game-server", instance="gs-1"}', values: '0x10'}
    alert_rule_test:
      - eval_time: 30s
        alertname: ServerDown
        exp_alerts: [{exp_labels: {severity: critical, team: ops, job: game-server, instance: gs-1}}]
""")
    result = promtool("test", "rules", "wrong.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "ServerDown" in result.stdout + result.stderr


def test_a_broken_rule_is_refused(tmp_path):
    bad = "groups:\n  - name: x\n    rules:\n      - alert: Bad\n        expr: up ==\n"
    (tmp_path / "bad.rules.yml").write_text(bad)
    result = promtool("check", "rules", tmp_path / "bad.rules.yml")
    assert result.returncode != 0 and "bad.rules.yml" in result.stdout + result.stderr


def test_the_seed_rule_fires_in_a_real_prometheus_and_reaches_alertmanager(tmp_path, fresh_alertmanager):
    """Exporter down → ``up == 0`` → ServerDown (its ``for`` shortened) firing in Prometheus → in Alertmanager;
    exporter back → the alert resolves in both."""
    import time

    from tests.servers.prometheus import Exporter, Prometheus

    rules = tmp_path / "seed.rules.yml"
    rules.write_text(
        (RULES / "seed.rules.yml").read_text().replace("interval: 30s", "interval: 1s").replace("for: 1m", "for: 2s")
    )
    exporter = Exporter()
    prometheus = Prometheus(
        tmp_path / "prometheus", [exporter.address], [rules], alertmanager_url=fresh_alertmanager.url, job="game-server"
    ).start()

    def wait(what, probe, timeout_s=60):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if probe():
                return
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}")

    try:
        time.sleep(3)
        assert prometheus.alerts() == []  # healthy: nothing pending or firing
        exporter.healthy = False

        def firing() -> bool:
            return any(a["labels"]["alertname"] == "ServerDown" and a["state"] == "firing" for a in prometheus.alerts())

        wait("ServerDown firing in Prometheus", firing)
        wait("ServerDown in Alertmanager", lambda: fresh_alertmanager.alerts(active="true"))
        [alert] = fresh_alertmanager.alerts(active="true")
        assert alert["labels"]["severity"] == "critical" and alert["labels"]["job"] == "game-server"
        assert alert["annotations"]["summary"] == f"Game server {exporter.address} is down"
        exporter.healthy = True
        wait(
            "ServerDown resolved", lambda: prometheus.alerts() == [] and fresh_alertmanager.alerts(active="true") == []
        )
    finally:
        prometheus.stop()
        exporter.close()
