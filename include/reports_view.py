"""A small web view over the catalog: the latest runs of each routine and their reports.

Served inside the Airflow API server by ``plugins/aegis_reports.py``; kept here
so it can be built and tested without a running Airflow.
"""

from __future__ import annotations

import html
from typing import Callable

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse

from include.report import STATUS_COLOUR

def build_app(catalog_factory: Callable, read_text: Callable[[str], str], dependencies=()) -> FastAPI:
    """The view: ``catalog_factory()`` gives a Catalog, ``read_text(uri)`` reads an artifact."""
    app = FastAPI(title="Aegis reports", dependencies=[Depends(d) for d in dependencies])

    @app.get("/", response_class=HTMLResponse)
    def index(routine: str = Query("daily_health_check")) -> str:
        catalog = catalog_factory()
        rows = "".join(
            f"<tr><td>{html.escape(r['interval_end'])}</td>"
            f"<td><span style='color:#fff;border-radius:4px;padding:0 6px;background:{STATUS_COLOUR.get(r['status'], '#555')}'>"
            f"{html.escape(r['status'])}</span></td><td><code>{html.escape(r['run_id'])}</code></td>"
            f"<td><a href='report?routine={html.escape(routine)}&interval_end={html.escape(r['interval_end'])}'>report</a></td></tr>"
            for r in catalog.runs(routine)
        ) or "<tr><td colspan=4>No run recorded yet.</td></tr>"
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>Aegis</title></head>"
                f"<body style='font-family:system-ui;margin:1.5rem'><h1>Aegis — {html.escape(routine)}</h1>"
                f"<table cellpadding=6><tr><th>interval end</th><th>status</th><th>run</th><th></th></tr>{rows}"
                f"</table></body></html>")

    @app.get("/report", response_class=HTMLResponse)
    def report(routine: str, interval_end: str) -> str:
        match = [r for r in catalog_factory().runs(routine, limit=1000) if r["interval_end"] == interval_end]
        if not match or not match[0]["report_uri"]:
            raise HTTPException(404, f"no report for {routine} at {interval_end}")
        return read_text(match[0]["report_uri"])

    return app
