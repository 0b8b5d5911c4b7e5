"""Airflow plugin: the Aegis console (Overview, Reports, Backups, Trends) in the Airflow UI navigation.

Served by the API server under ``/aegis``, only for logged-in users; a routine's reports, runs and metrics
only for users who may read its DAG (Airflow's auth manager decides). The pages: ``include/reports_view.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from airflow.plugins_manager import AirflowPlugin


def _catalog():
    from include.catalog import Catalog
    from include.inventory import load_inventory

    return Catalog.for_inventory(load_inventory())


def _inventory():
    from include.inventory import load_inventory

    return load_inventory()


def _read(uri: str) -> str:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(uri).read_text()


def _app():
    from airflow.api_fastapi.core_api.security import get_user, requires_authenticated
    from fastapi import Depends

    from include.reports_view import build_app

    def dag_reader(user=Depends(get_user)) -> Callable[[str], bool]:  # noqa: B008 - FastAPI's dependency idiom
        """``can_read(dag_id)`` for the logged-in user, from Airflow's auth manager (answers cached per request)."""
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

        manager, answers = get_auth_manager(), {}

        def can_read(dag_id: str) -> bool:
            if dag_id not in answers:
                answers[dag_id] = manager.is_authorized_dag(method="GET", details=DagDetails(id=dag_id), user=user)
            return answers[dag_id]

        return can_read

    return build_app(_catalog, _read, _inventory, dependencies=[requires_authenticated()], readable=dag_reader)


class AegisReportsPlugin(AirflowPlugin):
    name = "aegis_reports"
    fastapi_apps = [{"app": _app(), "url_prefix": "/aegis", "name": "Aegis console"}]
    external_views = [
        {"name": "Aegis console", "href": "aegis/", "destination": "nav", "url_route": "aegis", "icon": None}
    ]
