"""
### Monthly audit

The report a team lead reads in the monthly review (seeds: `MonthlyMaintenanceTasks`, the execution log).
Scheduled monthly in the inventory's timezone (`schedules.monthly_audit`; by default 05:00 on the 1st, see
**Schedule** below); each run audits the month that just ended, so a backfill gives one report per past month.

1. **select** — the form: targets (names, tags), which sections, whether to alert.
2. one task per section, side by side:
   - **capacity** — per target and resource, a trend over the last 90 days with a 95 % prediction band and the
     dates it crosses its warning / critical thresholds (chart per resource); too little history is said so;
   - **performance** — latency, slow statements, hit ratios, errors, connections: this month against the last;
     Aegis's own runs per routine;
   - **security** — rules with id, severity, evidence and fix (the weekly checks, PostgreSQL roles and the public
     schema, the kernel-tuning baseline, Airflow's configuration, vulnerable packages), against last month's audit:
     new, resolved, still open;
   - **backups** — the newest set of each target restore-tested into a scratch copy; stale or failed sets;
     sizes and durations; recovery point and time against the inventory's objectives;
   - **updates** — pending updates (OSV folder, the package manager's cached lists, server versions against the
     declared current ones), each as a ready `planned_update` conf;
   - **maintenance_log** — every Aegis run of the month.
3. **build_report** and **write_report** — the common publish tail: HTML (with charts), JSON and Markdown under
   `<artifacts>/reports/monthly_audit/<interval end>/`, the run in the catalog, a notification with the headline.

**What it does to a target:** reads only (settings and statistics views, account lists, `INFO`, `/proc/sys`,
`apt list`). The one write is the backup restore test, into a scratch copy next to the target, dropped afterwards.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

from include.dag_defaults import DEFAULT_ARGS, dag_doc, fail_without_retry, refuse_unknown_conf, target_params
from include.inventory import load_inventory
from include.monthly import SECTIONS
from include.monthly.audit import schedule as audit_schedule

INVENTORY = load_inventory()
SCHEDULE = audit_schedule(INVENTORY)
SECTION_TIMEOUT = timedelta(hours=2)


@dag(
    schedule=CronDataIntervalTimetable(SCHEDULE.cron, timezone=SCHEDULE.timezone),
    start_date=pendulum.datetime(2026, 1, 1, tz=SCHEDULE.timezone),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["aegis", "monthly", "audit"],
    doc_md=dag_doc(__doc__, SCHEDULE),
    params={
        **target_params(INVENTORY),
        "sections": Param(
            [],
            type=["array", "null"],
            items={"type": "string", "enum": list(SECTIONS)},
            title="Sections",
            description="Only these sections (empty: all of them).",
        ),
        "alert": Param(
            True,
            type="boolean",
            title="Notify",
            description="Send the headline findings through the configured notifiers.",
        ),
    },
)
def monthly_audit():
    def checked(params) -> dict:
        """The form checked into targets and sections (pure: the report of a refused run asks it again why)."""
        from include.monthly.audit import select as choose

        with fail_without_retry(ValueError):
            return choose(INVENTORY, params["targets"], params["tags"], params["sections"])

    @task
    def select(params=None) -> dict:
        """Resolve the form to targets and sections; unknown names fail here, without retry."""
        refuse_unknown_conf()
        return checked(params)

    def window(context) -> tuple:
        from include.monthly.audit import month_window

        return month_window(context["dag_run"], context.get("data_interval_start"), context.get("data_interval_end"))

    def catalog():
        from include.catalog import Catalog

        return Catalog.for_inventory(INVENTORY)

    @task(execution_timeout=SECTION_TIMEOUT)
    def capacity(selection: dict) -> dict:
        """Trends, prediction bands and threshold crossing dates from the catalog."""
        from include.monthly.audit import capacity_section

        return capacity_section(INVENTORY, catalog(), selection, window(get_current_context())[1])

    @task(execution_timeout=SECTION_TIMEOUT)
    def performance(selection: dict) -> dict:
        """This month against the last, and Aegis's own runs."""
        from include.monthly.audit import performance_section

        return performance_section(INVENTORY, catalog(), selection, *window(get_current_context()))

    @task(execution_timeout=SECTION_TIMEOUT)
    def security(selection: dict) -> dict:
        """Security rules, compared with last month's audit."""
        from include.monthly.audit import security_section

        return security_section(INVENTORY, catalog(), selection, window(get_current_context())[1])

    @task(execution_timeout=SECTION_TIMEOUT)
    def backups(selection: dict) -> dict:
        """Restore-test the newest sets; recovery point and time against the objectives."""
        from include.monthly.audit import backups_section

        context = get_current_context()
        start, end = window(context)
        return backups_section(INVENTORY, catalog(), selection, start, end, context["run_id"])

    @task(execution_timeout=SECTION_TIMEOUT)
    def updates(selection: dict) -> dict:
        """Pending updates, each a ready planned_update conf."""
        from include.monthly.audit import updates_section

        return updates_section(INVENTORY, selection)

    @task
    def maintenance_log(selection: dict) -> dict:
        """Every Aegis run of the month from the catalog."""
        from include.monthly.audit import maintenance_log_section

        return maintenance_log_section(catalog(), selection, *window(get_current_context()))

    @task(trigger_rule="all_done")
    def build_report(selection: dict, results: list, params=None, run_id=None) -> dict:
        """Put the sections together (a failed section is a critical reason, not a missing page); a refused
        form gets its refused report instead (:func:`include.dag_defaults.require_selection`)."""
        from include.dag_defaults import require_selection
        from include.monthly.audit import ROUTINE
        from include.monthly.audit import build_report as build

        selection = require_selection(selection, ROUTINE, lambda: checked(params), INVENTORY)
        report = build(selection, results, run_id, *window(get_current_context()))
        print(report.alert_subject)
        return report.to_dict()

    @task
    def write_report(report: dict, params=None) -> dict:
        """Publish: HTML with charts, JSON, Markdown; the run in the catalog; the headline to the notifiers."""
        from include.publish import AlertWhen, publish
        from include.report import Report

        return publish(
            Report.from_dict(report),
            INVENTORY,
            context=get_current_context(),
            alert=AlertWhen.ALWAYS if params["alert"] else AlertWhen.NEVER,
        )

    chosen = select()
    sections = [
        capacity(chosen),
        performance(chosen),
        security(chosen),
        backups(chosen),
        updates(chosen),
        maintenance_log(chosen),
    ]
    write_report(build_report(chosen, sections))


monthly_audit()
