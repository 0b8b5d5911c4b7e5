"""Unit behaviour of the core checks that the DAG test does not pin down."""

from datetime import UTC, datetime, timedelta

import redis as redis_lib

from include.checks import Window, run_check
from include.checks.base import CheckResult, run_bounded
from include.checks.logs import signature
from include.inventory import parse_inventory
from include.targets import Endpoint

NOW = datetime.now(UTC)
WINDOW = Window(NOW - timedelta(days=1), NOW)


def target(**t):
    return parse_inventory({"targets": [{"name": "t", **t}]}).targets[0]


def test_signature_strips_volatile_parts():
    assert (
        signature("user 42 from 10.0.0.7:5432 failed 'abc' id 3f2a9c1e-0b1d-4e5f-8a9b-1c2d3e4f5a6b")
        == "user <n> from <ip> failed <str> id <uuid>"
    )


def test_host_grades_disk_against_thresholds():
    low = run_check(
        target(kind="host", mounts=["/"], thresholds={"disk_warning_pct": 0.01, "disk_critical_pct": 0.02}),
        Endpoint(),
        WINDOW,
    )
    assert low.status == "critical"
    assert any("disk / at" in f.message for f in low.findings)
    missing = run_check(target(kind="host", mounts=["/no/such/mount"]), Endpoint(), WINDOW)
    assert any("/no/such/mount" in f.message for f in missing.findings)


def test_run_bounded_turns_a_hang_into_unreachable():
    import time

    started = time.monotonic()
    result = run_bounded("slow", "x", lambda: time.sleep(5) or CheckResult("slow", "x"), timeout_s=0.5)
    assert result.status == "unreachable" and "no answer within 0.5s" in result.findings[0].message
    assert time.monotonic() - started < 2


def test_redis_eviction_growth_uses_the_previous_run(redis_server):
    t = target(kind="redis", conn_id="c", latency_samples=2)
    ep = Endpoint(host="127.0.0.1", port=redis_server)
    first = run_check(t, ep, WINDOW)
    assert first.metrics["redis.evictions"] == 0
    # force evictions for real: tiny maxmemory with an evicting policy
    r = redis_lib.Redis(port=redis_server)
    r.config_set("maxmemory-policy", "allkeys-lru")
    r.config_set("maxmemory", 2 * 2**20)
    for i in range(400):
        r.set(f"k{i}", b"x" * 10_000)
    second = run_check(t, ep, Window(WINDOW.start, WINDOW.end, previous=first.metrics))
    assert second.metrics["redis.evicted_keys_total"] > 0
    assert (
        second.metrics["redis.evictions"]
        == second.metrics["redis.evicted_keys_total"] - first.metrics["redis.evicted_keys_total"]
    )
    assert any("evicted since the previous check" in f.message for f in second.findings)


def test_password_never_in_an_unreachable_finding():
    from tests.helpers import free_port

    t = target(kind="mysql", conn_id="c", timeout_seconds=2)
    result = run_check(t, Endpoint(host="127.0.0.1", port=free_port(), login="root", password="hunter2-secret"), WINDOW)
    assert result.status == "unreachable"
    assert "hunter2-secret" not in repr(result.to_dict())
    assert "hunter2-secret" not in repr(Endpoint(password="hunter2-secret"))
