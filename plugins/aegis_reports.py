"""Airflow plugin: an "Aegis reports" page in the Airflow UI navigation.

Lists each routine's recorded runs from the Aegis catalog with their verdict
and links to the HTML report. Served by the API server under ``/aegis``;
only for logged-in users who may read the routine's DAG (:func:`may_read_routine`).
"""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user, requires_access_dag, requires_authenticated
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, Request


def _catalog():
    from include.catalog import Catalog
    from include.inventory import load_inventory

    return Catalog.for_inventory(load_inventory())


def _read(uri: str) -> str:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(uri).read_text()


def may_read_routine(request: Request, user: Annotated[BaseUser, Depends(get_user)]) -> None:
    """403 unless the auth manager lets ``user`` read the DAG of the requested routine (``?routine=``, the DAG
    id; default ``daily_health_check``): a user sees a routine's reports only if they may read its DAG."""
    routine = request.query_params.get("routine", "daily_health_check")
    requires_access_dag("GET", param_dag_id=routine)(request, user)


def _app():
    from include.reports_view import build_app

    return build_app(_catalog, _read, dependencies=[requires_authenticated(), may_read_routine])


class AegisReportsPlugin(AirflowPlugin):
    name = "aegis_reports"
    fastapi_apps = [{"app": _app(), "url_prefix": "/aegis", "name": "Aegis reports"}]
    external_views = [{"name": "Aegis reports", "href": "aegis/", "destination": "nav",
                       "url_route": "aegis-reports", "icon": None}]
