"""Overall health: healthy / warning / critical, each with the reasons that made it so."""

from __future__ import annotations

from typing import Any

from include.checks.base import CRITICAL, OK, SEVERITY, UNREACHABLE, WARNING, worst

OVERALL = {OK: "healthy", WARNING: "warning", CRITICAL: "critical", UNREACHABLE: "critical"}


def evaluate(results: list[dict[str, Any]], expected: list[str]) -> dict[str, Any]:
    """Fold per-target results into one verdict.

    A target that was expected but sent no result (its check task failed or was
    lost) is itself a critical reason: silence is never counted as healthy.
    """
    by_target = {r["target"]: r for r in results}
    reasons = []
    for name in expected:
        if name not in by_target:
            reasons.append({"target": name, "level": CRITICAL, "message": "check produced no result (task failed)"})
    for r in sorted(results, key=lambda r: (-SEVERITY[r["status"]], r["target"])):
        for f in r["findings"]:
            reasons.append({"target": r["target"], "level": f["level"], "message": f["message"]})
    status = worst(*(r["status"] for r in results), *([CRITICAL] if len(by_target) < len(set(expected)) else []))
    counts = {s: sum(1 for r in results if r["status"] == s) for s in (OK, WARNING, CRITICAL, UNREACHABLE)}
    counts["missing"] = len(set(expected) - set(by_target))
    return {"status": OVERALL[status], "reasons": reasons, "counts": counts, "targets": len(set(expected))}
