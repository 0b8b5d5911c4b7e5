"""The host check judges CPU over a window of samples (like an alert rule's ``for:``), not one instant.

This shared machine is never idle, so "busy for one second, idle otherwise" cannot be produced for real:
the CPU readings come from a FAKE sampler (``host.cpu_samples`` replaced, labelled as such); the real
sampler is exercised for its count and timing."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from include.checks import Window, host
from include.inventory import parse_inventory
from include.targets import Endpoint

NOW = datetime.now(UTC)


def box(timeout_s: float = 10):
    thresholds = {
        "memory_warning_pct": 100,
        "memory_critical_pct": 100,
        "disk_warning_pct": 100,
        "disk_critical_pct": 100,
    }
    return parse_inventory(
        {"targets": [{"name": "box", "kind": "host", "timeout_seconds": timeout_s, "thresholds": thresholds}]}
    ).targets[0]


def cpu_findings(result) -> list[tuple[str, str]]:
    return [(f.level, f.message) for f in result.findings if f.message.startswith("CPU")]


def fake_sampler(readings: list[float]):
    """FAKE: returns fixed CPU readings, one per 0.5 s sample of a 3 s window."""

    def sample(count: int, interval_s: float) -> list[float]:
        assert count == len(readings)
        return list(readings)

    return sample


def test_busy_for_one_second_but_idle_otherwise_is_not_critical(monkeypatch):
    monkeypatch.setattr(host, "cpu_samples", fake_sampler([99.0, 100.0, 3.0, 2.0, 4.0, 1.0]))
    result = host.check(box(), Endpoint(), Window(NOW, NOW))
    assert cpu_findings(result) == []
    assert result.metrics["host.cpu_pct"] == 3.5
    assert result.details["cpu"]["peak_pct"] == 100.0


def test_busy_for_the_whole_window_is_critical(monkeypatch):
    monkeypatch.setattr(host, "cpu_samples", fake_sampler([97.0, 99.0, 96.0, 100.0, 98.0, 97.0]))
    result = host.check(box(), Endpoint(), Window(NOW, NOW))
    [(level, message)] = cpu_findings(result)
    assert level == "critical" and "median of 6 samples" in message


def test_the_real_sampler_takes_its_samples_within_a_third_of_the_timeout():
    started = time.monotonic()
    readings = host.cpu_samples(host.CPU_SAMPLES, 0.1)
    assert len(readings) == host.CPU_SAMPLES and all(0 <= r <= 100 for r in readings)
    assert 0.5 <= time.monotonic() - started < 2
    result = host.check(box(timeout_s=1.8), Endpoint(), Window(NOW, NOW))  # 6 samples of 0.1 s
    assert result.details["cpu"]["sample_s"] == 0.1 and len(result.details["cpu"]["samples_pct"]) == 6
