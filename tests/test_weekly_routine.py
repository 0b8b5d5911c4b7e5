"""The weekly routine's glue without a scheduler: target choice per concern, bounded runs, the folded report."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from include.inventory import parse_inventory
from include.rendering import render_html, render_markdown
from include.targets import Endpoint
from include.weekly import run_concern
from include.weekly.routine import (
    ALL_CONCERNS,
    build_report,
    concern_targets,
    maintain_target,
    security_target,
    select_targets,
)
from tests.helpers import free_port

INV = parse_inventory(
    {
        "targets": [
            {"name": "pg", "kind": "postgres", "conn_id": "aegis_no_such_conn", "tags": ["db"]},
            {"name": "pg-off", "kind": "postgres", "conn_id": "c2", "tags": ["db"], "weekly": {"enabled": False}},
            {
                "name": "cache",
                "kind": "redis",
                "conn_id": "c3",
                "tags": ["cache"],
                "weekly": {"max_seconds": 5, "idle_seconds": 1},
            },
            {"name": "box", "kind": "host"},
            {"name": "api", "kind": "http_service", "conn_id": "c4"},
        ]
    },
    "/tmp/weekly-routine-inventory.yaml",
)
END = datetime(2026, 3, 15, tzinfo=UTC)


def test_each_concern_takes_its_targets_and_only_when_chosen():
    chosen = select_targets(INV, [], [], list(ALL_CONCERNS))
    assert chosen == [t.name for t in INV.targets]
    assert concern_targets(INV, "postgres", chosen, list(ALL_CONCERNS)) == ["pg"]  # pg-off has enabled: false
    assert concern_targets(INV, "redis", chosen, ["redis"]) == ["cache"]
    assert concern_targets(INV, "redis", chosen, ["postgres"]) == []
    assert concern_targets(INV, "security", chosen, ["security"]) == ["pg", "pg-off", "cache", "box"]
    assert concern_targets(INV, "trends", chosen, ["trends"]) == chosen
    assert select_targets(INV, [], ["cache"], ["redis"]) == ["cache"]


@pytest.mark.parametrize(
    "names, tags, concerns, message",
    [
        (["nope"], [], ["redis"], "unknown target"),
        ([], ["no-such-tag"], ["redis"], "no target matches"),
        ([], [], ["vacuum"], "unknown concern"),
        ([], [], [], "no concern chosen"),
    ],
)
def test_bad_form_input_is_refused_with_a_clear_error(names, tags, concerns, message):
    with pytest.raises(ValueError, match=message):
        select_targets(INV, names, tags, concerns)


def test_a_missing_connection_is_an_unreachable_result_not_a_failure():
    for result, concern in (
        (maintain_target(INV, "pg", dry_run=True), "postgres"),
        (security_target(INV, "pg"), "security"),
    ):
        assert result["status"] == "unreachable" and result["concern"] == concern
        assert "aegis_no_such_conn" in result["findings"][0]["message"]


def test_a_down_redis_is_unreachable_within_the_budget():
    started = time.monotonic()
    result = run_concern(INV.target("cache"), Endpoint(host="127.0.0.1", port=free_port()), dry_run=False)
    assert result["status"] == "unreachable"
    assert time.monotonic() - started < 10


def test_the_report_fills_in_missing_results_and_renders_sections():
    ok = {
        "target": "cache",
        "kind": "redis",
        "status": "ok",
        "findings": [],
        "metrics": {"redis.cleanup.deleted_keys": 0},
        "duration_s": 0.1,
        "details": {"patterns": [{"pattern": "aegis:cache:*", "action": "would do", "matched": 2}]},
    }
    vectors = {
        "target": "vec",
        "kind": "milvus",
        "status": "ok",
        "findings": [],
        "metrics": {},
        "duration_s": 2.0,
        "details": {
            "collections": {
                "docs": {
                    "compaction": {"state": "Completed", "action": "done"},
                    "indexes": [{"index_name": "emb", "action": "none needed"}],
                }
            }
        },
    }
    report = build_report(
        {"redis": [ok], "postgres": [None], "milvus": [vectors]},
        {"redis": ["cache"], "postgres": ["pg"], "milvus": ["vec"]},
        "run-1",
        END - timedelta(days=7),
        END,
        dry_run=True,
    )
    by = {(r.concern, r.target): r for r in report.rows}
    assert by[("postgres", "pg")].status == "critical" and by[("postgres", "pg")].kind == "postgres"
    assert report.verdict == "critical"
    assert report.summary.reasons[0].message.startswith("postgres: the task produced no result")
    md, html = render_markdown(report), render_html(report)
    for text in (md, html):
        assert "Database optimisation" in text and "Cache" in text and "dry run" in text
        assert "aegis:cache:*: would do (matched=2)" in text
        assert "docs compaction: done" in text and "docs indexes emb: none needed" in text
    assert "## Logs\n\nNothing ran in this section." in md
