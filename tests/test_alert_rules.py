"""The shipped Prometheus alert rules: valid (`promtool check rules`) and doing what their unit tests say
(`promtool test rules`), with the real promtool from Debian's ``prometheus`` package."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

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
    covered = {line.split("[../", 1)[1].split("]")[0] for t in tests for line in t.read_text().splitlines()
               if line.startswith("rule_files:")}
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
