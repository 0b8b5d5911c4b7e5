"""The Aegis console: Overview, Reports, Backups and Trends pages over the catalog and the inventory.

Served inside the Airflow API server by ``plugins/aegis_reports.py`` (behind Airflow's login); kept here
so it can be built and tested without a running Airflow. A routine's runs, reports and metrics are shown
only to a viewer who may read the DAG of that routine (``readable`` dependency; the DAG id is the routine's
name). Links into Airflow's UI are root-relative to where Airflow serves this app and open in the top window
(the console itself is shown inside Airflow's page).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from include.console import links
from include.console.charts import PERIODS, Point, line_chart
from include.console.overview import SORT_KEYS, filter_and_sort, overview, parse_iso, retention_until
from include.inventory import AEGIS_TARGET
from include.rendering import render_template

#: Routines the console names in words (a routine not listed, e.g. one added later, shows its own name).
ROUTINE_TITLES = {
    "daily_health_check": "Daily health check",
    "weekly_maintenance": "Weekly maintenance",
    "backup": "Backup",
    "verify_backups": "Backup verification",
    "restore": "Restore",
    "planned_update": "Planned update",
    "monthly_audit": "Monthly audit",
    "incident": "Incidents",
}
#: A routine whose DAG id is not its own name (checked for the viewer's read permission).
ROUTINE_DAG: dict[str, str] = {}
RUNS_PER_ROUTINE = 10


def dag_of(routine: str) -> str:
    return ROUTINE_DAG.get(routine, routine)


def everyone_reads() -> Callable[[str], bool]:
    """The default ``readable`` dependency: every DAG may be read (tests, no auth manager)."""
    return lambda dag_id: True


def airflow_base(request: Request) -> str:
    """Where Airflow's UI is, as a root-relative prefix: the mount path of this app without ``/aegis``."""
    root = request.scope.get("root_path", "") or ""
    return root[: -len("/aegis")] if root.endswith("/aegis") else root.rsplit("/aegis", 1)[0]


def build_app(
    catalog_factory: Callable,
    read_text: Callable[[str], str],
    inventory_factory: Callable | None = None,
    dependencies=(),
    readable: Callable[..., Callable[[str], bool]] = everyone_reads,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """The console app. ``catalog_factory()`` gives a Catalog, ``read_text(uri)`` reads an artifact,
    ``inventory_factory()`` the inventory, ``readable`` is a FastAPI dependency giving ``can_read(dag_id)``."""
    app = FastAPI(title="Aegis console", dependencies=[Depends(d) for d in dependencies])

    def inventory():
        if inventory_factory is None:
            from include.inventory import load_inventory

            return load_inventory()
        return inventory_factory()

    def page(name: str, request: Request, **values: Any) -> str:
        return render_template(name, titles=ROUTINE_TITLES, airflow=airflow_base(request), **values)

    @app.get("/", response_class=HTMLResponse)
    def overview_page(
        request: Request,
        kind: str = "",
        tag: str = "",
        sort: str = "state",
        can_read: Callable[[str], bool] = Depends(readable),
    ) -> str:
        if sort not in SORT_KEYS:
            raise HTTPException(400, f"unknown sort {sort!r}; one of {', '.join(sorted(SORT_KEYS))}")
        inv = inventory()
        rows = overview(inv, catalog_factory(), now(), _schedules(inv), lambda routine: can_read(dag_of(routine)))
        return page(
            "console_overview.html.j2",
            request,
            rows=filter_and_sort(rows, kind, tag, sort),
            kinds=sorted({t.kind for t in inv.targets}),
            tags=sorted({g for t in inv.targets for g in t.tags}),
            kind=kind,
            tag=tag,
            sort=sort,
            sorts=list(SORT_KEYS),
            total=len(rows),
            now=now(),
        )

    @app.get("/reports", response_class=HTMLResponse)
    def reports_page(request: Request, routine: str = "", can_read: Callable[[str], bool] = Depends(readable)) -> str:
        if routine and not can_read(dag_of(routine)):
            raise HTTPException(403, f"you may not read the {dag_of(routine)} DAG, so not its reports either")
        catalog = catalog_factory()
        recorded = catalog.routines()  # every routine of Aegis, then any other that recorded runs
        known = [r for r in [*ROUTINE_TITLES, *sorted(set(recorded) - set(ROUTINE_TITLES))] if can_read(dag_of(r))]
        shown = [routine] if routine else known
        if routine and routine not in known:
            shown = []
        limit = 50 if routine else RUNS_PER_ROUTINE
        sections = [{"routine": r, "dag_id": dag_of(r), "runs": catalog.runs(r, limit=limit)} for r in shown]
        return page(
            "console_reports.html.j2",
            request,
            sections=sections,
            routines=known,
            routine=routine,
            run_url=links.run_url,
        )

    @app.get("/report", response_class=HTMLResponse)
    def report(
        request: Request,
        routine: str,
        interval_end: str,
        run_id: str | None = None,
        can_read: Callable[[str], bool] = Depends(readable),
    ) -> str:
        if not can_read(dag_of(routine)):
            raise HTTPException(403, f"you may not read the {dag_of(routine)} DAG, so not its reports either")
        run = catalog_factory().run(routine, interval_end, run_id)
        if not run or not run["report_uri"]:
            raise HTTPException(404, f"no report for {routine} at {interval_end}")
        banner = render_template(
            "console_banner.html.j2",
            routine=routine,
            titles=ROUTINE_TITLES,
            run=run,
            run_link=links.run_url(airflow_base(request), dag_of(routine), run["run_id"]),
        )
        return _inject_banner(read_text(run["report_uri"]), banner)

    @app.get("/backups", response_class=HTMLResponse)
    def backups_page(request: Request, target: str = "", can_read: Callable[[str], bool] = Depends(readable)) -> str:
        inv = inventory()
        if not can_read("backup"):
            raise HTTPException(403, "you may not read the backup DAG, so not its sets either")
        by_name = {t.name: t for t in inv.targets}
        catalog = catalog_factory()
        sets = catalog.backup_sets_of(target or None)
        restorable = can_read("restore")
        verifiers = catalog.routines_of_runs(s["verified_by_run_id"] for s in sets if s.get("verified_by_run_id"))
        for s in sets:
            s["verified_link"] = verified_link(airflow_base(request), s.get("verified_by_run_id"), verifiers, can_read)
            t = by_name.get(s["target"])
            s["retention_until"] = retention_until(t, s["started_at"]) if t else None
            s["duration_s"] = (
                (s["finished_at"] - s["started_at"]).total_seconds()
                if s.get("finished_at") and s.get("started_at")
                else None
            )
            s["restore_link"] = (
                links.restore_form_url(s["target"], s["set_id"])
                if restorable and s["state"] in ("complete", "verified")
                else None
            )
        targets = sorted({s["target"] for s in sets} | {t.name for t in inv.targets if t.backup.get("enabled")})
        return page("console_backups.html.j2", request, sets=sets, targets=targets, target=target)

    @app.get("/restore", response_class=HTMLResponse)
    def restore_form(
        request: Request, target: str, set_id: str, can_read: Callable[[str], bool] = Depends(readable)
    ) -> str:
        """The restore form for one set, pre-filled, dry run on; it triggers the ``restore`` DAG (REST API)."""
        if not (can_read("backup") and can_read("restore")):
            raise HTTPException(403, "you may not read the backup and restore DAGs")
        record = catalog_factory().backup_set(set_id)
        if record is None or record["target"] != target:
            raise HTTPException(404, f"no backup set {set_id!r} of {target!r} in the catalog")
        return page("console_restore.html.j2", request, record=record, here="backups")

    @app.get("/trends", response_class=HTMLResponse)
    def trends_page(
        request: Request,
        target: str = "",
        period: str = Query("30d"),
        metric: str = "",
        can_read: Callable[[str], bool] = Depends(readable),
    ) -> str:
        if period not in PERIODS:
            raise HTTPException(400, f"unknown period {period!r}; one of {', '.join(PERIODS)}")
        inv = inventory()
        names = [t.name for t in inv.targets]
        if AEGIS_TARGET not in names:  # Aegis's own routines: each run's duration (include/publish.py)
            names.append(AEGIS_TARGET)
        target = target or names[0]
        until = now()
        since = until - PERIODS[period]
        rows = [r for r in catalog_factory().metrics_since(since, target) if can_read(dag_of(r["routine"]))]
        series: dict[str, list[Point]] = {}
        for r in rows:
            series.setdefault(r["metric"], []).append(Point(parse_iso(r["interval_end"]), r["value"]))
        metrics = sorted(series)
        chosen = [metric] if metric else metrics
        charts = [
            {
                "metric": m,
                "svg": Markup(line_chart(m, series.get(m, []), since, until)),
                "last": series[m][-1].value if series.get(m) else None,
            }
            for m in chosen
        ]
        return page(
            "console_trends.html.j2",
            request,
            target=target,
            targets=names,
            period=period,
            periods=list(PERIODS),
            metric=metric,
            metrics=metrics,
            charts=charts,
        )

    return app


def verified_link(
    airflow: str, run_id: str | None, routines: dict[str, str], can_read: Callable[[str], bool]
) -> str | None:
    """The Airflow page of the run that verified a set: of the routine that recorded that run id (the monthly
    audit's restore test verifies too), else of verify_backups (its report is written after the sets are
    marked). None without a run id or for a viewer who may not read that DAG."""
    if not run_id:
        return None
    dag_id = dag_of(routines.get(run_id, "verify_backups"))
    return links.run_url(airflow, dag_id, run_id) if can_read(dag_id) else None


def _schedules(inv) -> dict:
    from include.dag_defaults import DEFAULT_SCHEDULES, schedule_of

    return {routine: schedule_of(inv, routine) for routine in DEFAULT_SCHEDULES}


def _inject_banner(html: str, banner: str) -> str:
    """The stored report with the console's banner (back link, Airflow run) right after ``<body ...>``."""
    lower = html.lower()
    at = lower.find("<body")
    end = lower.find(">", at) + 1 if at >= 0 else 0
    return html[:end] + banner + html[end:]
