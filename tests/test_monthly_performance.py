"""Performance month over month and the maintenance log, from a catalog filled with two months of runs."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from include.catalog import Catalog
from include.checks import Window
from include.checks.logs import check
from include.inventory import parse_inventory
from include.monthly.airflow_runs import percentiles
from include.monthly.audit import build_report, performance_section
from include.monthly.performance import routines, target_performance
from include.monthly.runlog import month_runs
from include.rendering import render_html, render_markdown
from include.targets import Endpoint

MAY, JUNE, JULY = (datetime(2026, m, 1, 5, 0, tzinfo=UTC) for m in (5, 6, 7))


@pytest.fixture
def catalog(tmp_path):
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    for day in range(30):
        for month_start, latency, hits, slow in ((MAY, 2.0, 99.0, 10 * day), (JUNE, 5.0, 90.0, 40 * day)):
            catalog.record_check_run(
                "daily_health_check",
                month_start + timedelta(days=day),
                f"d{day}",
                "critical" if (month_start, day) == (JUNE, 3) else "healthy",
                None,
                {},
                [
                    {
                        "target": "cache",
                        "kind": "redis",
                        "metrics": {
                            "redis.latency_p50_ms": latency,
                            "redis.hit_ratio_pct": hits,
                            "redis.slowlog_entries_total": 1000 + slow,
                            "redis.used_memory_bytes": 1e6,
                        },
                    }
                ],
            )
    catalog.record_check_run("monthly_audit", JUNE, "m", "warning", None, {}, [])
    catalog.record_check_run(
        "planned_update",
        JUNE + timedelta(days=2),
        "u",
        "rolled-back",
        None,
        {"change": "image app:1.2 -> app:1.3", "reasons": [{"target": "app"}]},
        [],
    )
    return catalog


def test_this_month_against_the_last_with_direction(catalog):
    target = parse_inventory({"targets": [{"name": "cache", "kind": "redis", "conn_id": "x"}]}).target("cache")
    row = target_performance(catalog, target, MAY, JUNE, JULY)
    by = {r["metric"]: r for r in row["details"]["month_over_month"]}
    assert by["redis.latency_p50_ms"] == {
        "metric": "redis.latency_p50_ms",
        "this_month": 5.0,
        "last_month": 2.0,
        "change": 3.0,
        "change_pct": 150.0,
        "direction": "worse",
    }
    assert by["redis.hit_ratio_pct"]["direction"] == "worse" and by["redis.hit_ratio_pct"]["change"] == -9.0
    # a counter is compared by its growth within each month: 29*10 in May, 29*40 in June
    slowlog = by["redis.slowlog_entries_total"]
    assert (slowlog["last_month"], slowlog["this_month"]) == (290, 1160)
    assert "redis.used_memory_bytes" not in by  # a size: the capacity section's, not performance's
    assert row["status"] == "warning" and len(row["findings"]) == 2  # latency +150 %, slow log +300 %; hits -9 % < 25 %


def test_the_markdown_report_has_the_performance_section_with_the_months_numbers(catalog):
    """The Markdown report (chat, notifications) carries what the HTML one does: month over month per target
    and Aegis's own routines (runs, failures; p50/p95 per DAG and task when Airflow's API was read)."""
    inventory = parse_inventory({"targets": [{"name": "cache", "kind": "redis", "conn_id": "x"}]})
    selection = {"targets": ["cache"], "sections": ["performance"]}
    section = performance_section(inventory, catalog, selection, JUNE, JULY)
    assert section["facts"]["durations"].startswith("not read: set audit.airflow_target")
    text = render_markdown(build_report(selection, [section], "m", JUNE, JULY))
    shown = text[text.index("## Performance, month over month") :]
    assert "### cache" in shown
    assert "| `redis.latency_p50_ms` | 2.0 | 5.0 | 3.0 (150.0%) | worse |" in shown
    assert "| `redis.slowlog_entries_total` | 290.0 | 1160.0 | 870.0 (300.0%) | worse |" in shown
    assert "| `redis.hit_ratio_pct` | 99.0 | 90.0 | -9.0 (-9.1%) | worse |" in shown
    assert "- `daily_health_check`: 30 run(s), 1 failed (healthy 29, critical 1)" in shown
    assert "- `planned_update`: 1 run(s), 1 failed (rolled-back 1)" in shown
    assert "Run and task durations: not read: set audit.airflow_target" in shown

    # with Airflow's API read: the routines' p50/p95 from known run and task durations
    section["facts"].update(
        durations="from Airflow's REST API",
        airflow_runs=[
            {
                "routine": "daily_health_check",
                "runs": 5,
                "failures": 1,
                **percentiles([10.0, 20.0, 30.0, 40.0, 100.0]),
                "tasks": {"check": percentiles([4.0, 6.0])},
            }
        ],
    )
    shown = render_markdown(build_report(selection, [section], "m", JUNE, JULY))
    assert "| `daily_health_check` | 5 | 1 | 30.0 s / 88.0 s | check 5.0/5.9 s |" in shown


def test_the_maintenance_log_and_the_routines_of_the_month(catalog):
    runs = month_runs(catalog.engine, JUNE, JULY)
    assert len(runs) == 31 and "monthly_audit" not in {r["routine"] for r in runs}
    update = next(r for r in runs if r["routine"] == "planned_update")
    assert (update["status"], update["change"], update["reasons"]) == ("rolled-back", "image app:1.2 -> app:1.3", 1)
    assert routines(runs) == [
        {"routine": "daily_health_check", "runs": 30, "states": {"healthy": 29, "critical": 1}, "failures": 1},
        {"routine": "planned_update", "runs": 1, "states": {"rolled-back": 1}, "failures": 1},
    ]


def test_the_maintenance_log_shows_each_runs_recorded_duration_in_html_and_markdown(catalog):
    """A run's duration is the ``aegis.<routine>.duration_s`` metric ``publish`` records with the run (same
    routine, interval end and run id); a run without one shows none."""
    from include.monthly.audit import maintenance_log_section

    when = JUNE + timedelta(days=5)
    catalog.record_check_run(
        "backup",
        when,
        "b-timed",
        "complete",
        None,
        {},
        [{"target": "aegis", "kind": "aegis", "metrics": {"aegis.backup.duration_s": 95.04}}],
    )
    catalog.record_check_run(  # the same interval end, another run: not this run's duration
        "backup", when, "b-other", "failed", None, {}, [{"target": "aegis", "kind": "aegis", "metrics": {}}]
    )
    runs = {r["run_id"]: r for r in month_runs(catalog.engine, JUNE, JULY)}
    assert runs["b-timed"]["duration_s"] == 95.0
    assert runs["b-other"]["duration_s"] is None and runs["u"]["duration_s"] is None
    selection = {"targets": ["cache"], "sections": ["maintenance_log"]}
    report = build_report(selection, [maintenance_log_section(catalog, selection, JUNE, JULY)], "m", JUNE, JULY)
    markdown = render_markdown(report)
    assert f"| {when:%Y-%m-%dT%H:%M:%SZ} | backup | complete | 95.0 s | 0 |  |" in markdown
    assert "| planned_update | rolled-back |  | 1 | image app:1.2 -> app:1.3 |" in markdown
    html = render_html(report)
    assert "<td>95.0 s</td>" in html and "<th>duration</th>" in html


def test_log_errors_by_signature_this_month_against_the_last(tmp_path):
    """The daily log check over real log files, two months of days recorded: the month's count per signature."""
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    log = tmp_path / "app.log"
    target = parse_inventory({"targets": [{"name": "app", "kind": "log_source", "paths": [str(log)]}]}).target("app")
    per_day = {  # message -> error lines a day, (May, June)
        "payment gateway timeout (order {n})": (1, 3),
        "cache miss storm on shard {n}": (2, 0),
        "connection refused from 10.0.0.{n}:5432": (0, 1),
    }
    for month, column in ((MAY, 0), (JUNE, 1)):
        for day in range(30):
            start = month + timedelta(days=day)
            lines = [
                f"{start + timedelta(minutes=i):%Y-%m-%dT%H:%M:%S} ERROR {text.format(n=day * 10 + i)}\n"
                for text, counts in per_day.items()
                for i in range(counts[column])
            ]
            log.write_text("".join([f"{start:%Y-%m-%dT%H:%M:%S} INFO started\n", *lines]))
            end = start + timedelta(days=1)
            os.utime(log, (end.timestamp() - 1, end.timestamp() - 1))
            result = check(target, Endpoint(), Window(start, end, {}))
            catalog.record_check_run(
                "daily_health_check", end, f"d{start:%m%d}", "healthy", None, {}, [result.to_dict()]
            )

    row = target_performance(catalog, target, MAY, JUNE, JULY)

    by = {r["signature"]: r for r in row["details"]["signatures"]}
    assert set(by) == {
        "payment gateway timeout (order <n>)",
        "cache miss storm on shard <n>",
        "connection refused from <ip>",
    }
    timeout = by["payment gateway timeout (order <n>)"]
    # runs count in the month their window ends in: May's 30 days end in May, June's last one on July 1st
    assert (timeout["last_month"], timeout["this_month"]) == (30, 29 * 3)
    assert (timeout["change"], timeout["change_pct"], timeout["direction"]) == (57, 190.0, "worse")
    storm = by["cache miss storm on shard <n>"]
    assert (storm["last_month"], storm["this_month"], storm["direction"]) == (60, 0, "better")
    refused = by["connection refused from <ip>"]
    assert (refused["last_month"], refused["this_month"], refused["change_pct"]) == (0, 29, None)
    assert [r["signature"] for r in row["details"]["signatures"]][0] == timeout["signature"]  # most errors first
    assert not any(m["metric"].startswith("logs.signature.") for m in row["details"]["month_over_month"])

    section = {
        "section": "performance",
        "rows": [row],
        "facts": {"routines": [], "routines_last_month": [], "durations": "not read"},
    }
    html = render_html(build_report({"targets": ["app"], "sections": ["performance"]}, [section], "m", JUNE, JULY))
    shown = html[html.index("Error lines by signature") :]
    assert "<code>payment gateway timeout (order &lt;n&gt;)</code></td><td>30</td><td>87</td><td>57 (190.0%)" in shown


def daily_log_runs(catalog, target, log, per_day: dict[str, int], days: int) -> list:
    """``days`` daily log checks in June over a log holding ``per_day`` error lines of each message a day."""
    results = []
    for day in range(days):
        start = JUNE + timedelta(days=day)
        lines = [
            f"{start + timedelta(seconds=i):%Y-%m-%dT%H:%M:%S} ERROR {text.format(n=day * 100 + i)}\n"
            for text, count in per_day.items()
            for i in range(count)
        ]
        log.write_text("".join(lines))
        end = start + timedelta(days=1)
        os.utime(log, (end.timestamp() - 1, end.timestamp() - 1))
        result = check(target, Endpoint(), Window(start, end, {}))
        catalog.record_check_run("daily_health_check", end, f"d{day}", "healthy", None, {}, [result.to_dict()])
        results.append(result)
    return results


def test_every_signature_of_a_day_is_counted_not_only_its_top_ones(tmp_path):
    """Twelve signatures a day (the old daily record kept the top five): each month count is exact; the report
    shows the ten largest and the other two as one row, and says the counts are exact."""
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    log = tmp_path / "app.log"
    target = parse_inventory({"targets": [{"name": "app", "kind": "log_source", "paths": [str(log)]}]}).target("app")
    per_day = {f"failure kind {chr(97 + k)} in job {{n}}": k + 1 for k in range(12)}  # 'a' once … 'l' 12 times
    results = daily_log_runs(catalog, target, log, per_day, days=3)
    assert len(results[0].details["top_signatures"]) == 5  # what the report of the day shows
    assert len([m for m in results[0].metrics if m.startswith("logs.signature.")]) == 12

    row = target_performance(catalog, target, MAY, JUNE, JULY)
    by = {r["signature"]: r for r in row["details"]["signatures"]}
    assert row["details"]["signatures_exact"] is True
    for k in range(2, 12):  # the ten largest one by one, three days each: exact (k+1 lines a day)
        assert by[f"failure kind {chr(97 + k)} in job <n>"]["this_month"] == 3 * (k + 1)
    assert by["(2 more signatures, not shown one by one)"]["this_month"] == 3 * (1 + 2)
    assert sum(r["this_month"] for r in row["details"]["signatures"]) == 3 * sum(per_day.values())
    text = render_markdown(
        build_report(
            {"targets": ["app"], "sections": ["performance"]},
            [{"section": "performance", "rows": [row], "facts": {"routines": [], "durations": "not read"}}],
            "m",
            JUNE,
            JULY,
        )
    )
    assert "| `failure kind f in job <n>` | 0 | 18 | 18 | worse |" in text  # the 6th largest: lost before
    assert "Counts are exact" in text


def test_signatures_beyond_the_recorded_bound_are_summed_and_marked_not_exact(tmp_path):
    """A source recording three signatures a day one by one: the rest is one ``other`` count a day, and the
    month's per-signature counts are said to be lower bounds."""
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    log = tmp_path / "app.log"
    target = parse_inventory(
        {"targets": [{"name": "app", "kind": "log_source", "paths": [str(log)], "signature_metrics": 3}]}
    ).target("app")
    per_day = {"disk full on {n}": 9, "timeout talking to {n}": 7, "retry {n}": 5, "slow {n}": 2, "odd {n}": 1}
    results = daily_log_runs(catalog, target, log, per_day, days=2)
    assert results[0].metrics["logs.signature.other"] == 3.0  # slow 2 + odd 1
    assert results[0].details["signatures"] == {"distinct": 5, "recorded": 3, "other_lines": 3}

    row = target_performance(catalog, target, MAY, JUNE, JULY)
    assert row["details"]["signatures_exact"] is False
    other = row["details"]["signatures"][-1]
    assert (other["id"], other["this_month"]) == ("other", 6)
    assert [r["this_month"] for r in row["details"]["signatures"][:3]] == [18, 14, 10]
    section = {"section": "performance", "rows": [row], "facts": {"routines": [], "durations": "not read"}}
    html = render_html(build_report({"targets": ["app"], "sections": ["performance"]}, [section], "m", JUNE, JULY))
    assert "<em>(other signatures: beyond the source&#39;s signature_metrics" in html and "Not exact" in html


def test_signature_bounds_must_be_positive():
    from include.inventory import InventoryError

    with pytest.raises(InventoryError, match="signature_metrics.*must be a whole number >= 1, got 0"):
        parse_inventory({"targets": [{"name": "a", "kind": "log_source", "paths": ["/x"], "signature_metrics": 0}]})
