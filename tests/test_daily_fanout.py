"""How the daily check spreads targets over its check tasks, and checks a task's targets side by side."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from include import daily_health
from include.inventory import InventoryError, parse_inventory

END = datetime(2026, 3, 10, tzinfo=UTC)


@pytest.mark.parametrize("n, max_tasks", [(1, 10), (3, 10), (10, 10), (11, 10), (50, 10), (50, 16), (7, 1)])
def test_spread_keeps_every_target_once_in_order_with_even_tasks(n, max_tasks):
    names = [f"t{i:02d}" for i in range(n)]
    tasks = daily_health.spread(names, max_tasks)
    assert [name for task in tasks for name in task] == names
    assert len(tasks) == min(n, max_tasks)
    sizes = {len(t) for t in tasks}
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


def test_while_targets_fit_every_task_checks_one_target():
    assert daily_health.spread(["a", "b", "c"], 10) == [["a"], ["b"], ["c"]]


def test_select_targets_honours_check_tasks_from_the_inventory(tmp_path):
    targets = "\n".join(f"  - {{name: box-{i}, kind: host}}" for i in range(7))
    inv = parse_inventory(
        __import__("yaml").safe_load(f"defaults: {{check_tasks: 3}}\ntargets:\n{targets}\n"),
        tmp_path / "inventory.yaml",
    )
    tasks = daily_health.select_targets(inv, [], [], {})
    assert [len(t) for t in tasks] == [3, 2, 2]


@pytest.mark.parametrize(
    "defaults, field",
    [
        ({"check_tasks": 0}, "defaults.check_tasks"),
        ({"check_tasks": "many"}, "defaults.check_tasks"),
        ({"timeout_secnds": 5}, "defaults.timeout_secnds"),
    ],
)
def test_wrong_defaults_are_refused_naming_the_field(tmp_path, defaults, field):
    with pytest.raises(InventoryError) as err:
        parse_inventory({"defaults": defaults, "targets": [{"name": "box", "kind": "host"}]}, tmp_path / "inv.yaml")
    assert err.value.field == field


def test_a_task_checks_its_targets_side_by_side(tmp_path, monkeypatch, silent_server):
    """Three hung targets (a port that accepts and never answers, 2 s timeout each) are checked at the same
    time, not one after the other: all three checks are seen running at once, each ends unreachable."""
    inv = parse_inventory(
        {
            "targets": [
                {"name": f"hung-{i}", "kind": "redis", "conn_id": f"hung_{i}", "timeout_seconds": 2} for i in range(3)
            ]
        },
        tmp_path / "inventory.yaml",
    )
    for i in range(3):
        monkeypatch.setenv(f"AIRFLOW_CONN_HUNG_{i}", f"redis://127.0.0.1:{silent_server}/0")
    active, peak, lock = [0], [0], threading.Lock()
    real_check_one = daily_health.check_one

    def counting_check_one(*args, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            return real_check_one(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(daily_health, "check_one", counting_check_one)
    results = daily_health.check_many(inv, ["hung-0", "hung-1", "hung-2"], {}, END - timedelta(days=1), END)
    assert [r["target"] for r in results] == ["hung-0", "hung-1", "hung-2"]
    assert {r["status"] for r in results} == {"unreachable"}
    assert peak[0] == 3
