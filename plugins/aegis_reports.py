"""Airflow plugin: an "Aegis reports" page in the Airflow UI navigation.

Lists each routine's recorded runs from the Aegis catalog with their verdict
and links to the HTML report. Served by the API server under ``/aegis``;
only for logged-in users.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


def _catalog():
    from include.catalog import Catalog
    from include.inventory import load_inventory

    return Catalog.for_inventory(load_inventory())


def _read(uri: str) -> str:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(uri).read_text()


def _app():
    from airflow.api_fastapi.core_api.security import requires_authenticated

    from include.reports_view import build_app

    return build_app(_catalog, _read, dependencies=[requires_authenticated()])


class AegisReportsPlugin(AirflowPlugin):
    name = "aegis_reports"
    fastapi_apps = [{"app": _app(), "url_prefix": "/aegis", "name": "Aegis reports"}]
    external_views = [{"name": "Aegis reports", "href": "aegis/", "destination": "nav",
                       "url_route": "aegis-reports", "icon": None}]
