"""A small web view over the catalog: the latest runs of each routine and their reports.

Served inside the Airflow API server by ``plugins/aegis_reports.py``; kept here
so it can be built and tested without a running Airflow.
"""

from __future__ import annotations

from typing import Callable

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse

from include.rendering import render_template


def build_app(catalog_factory: Callable, read_text: Callable[[str], str], dependencies=()) -> FastAPI:
    """The view: ``catalog_factory()`` gives a Catalog, ``read_text(uri)`` reads an artifact."""
    app = FastAPI(title="Aegis reports", dependencies=[Depends(d) for d in dependencies])

    @app.get("/", response_class=HTMLResponse)
    def index(routine: str = Query("daily_health_check")) -> str:
        return render_template("runs.html.j2", routine=routine, runs=catalog_factory().runs(routine))

    @app.get("/report", response_class=HTMLResponse)
    def report(routine: str, interval_end: str, run_id: str | None = None) -> str:
        match = [r for r in catalog_factory().runs(routine, limit=1000)
                 if r["interval_end"] == interval_end and run_id in (None, r["run_id"])]
        if not match or not match[0]["report_uri"]:
            raise HTTPException(404, f"no report for {routine} at {interval_end}")
        return read_text(match[0]["report_uri"])

    return app
