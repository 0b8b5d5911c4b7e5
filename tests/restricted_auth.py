"""TEST DOUBLE: an auth manager with one per-DAG rule, for the full-stack permission test only.

``airflow standalone`` forces the simple auth manager, which has roles but no per-DAG permissions. This
subclass keeps its users, passwords and login (``POST /auth/token``) and adds a single rule: user
``no-backup`` may not read (or do anything with) the DAG ``backup``. Never configured outside tests.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

#: The user the rule restricts, and the DAG it may not read.
RESTRICTED_USER = "no-backup"
HIDDEN_DAG = "backup"


class RestrictedDagAuthManager(SimpleAuthManager):
    """The simple auth manager, except that ``no-backup`` is refused the ``backup`` DAG (test double)."""

    def is_authorized_dag(self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None) -> bool:
        if user.get_name() == RESTRICTED_USER and details is not None and details.id == HIDDEN_DAG:
            return False
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
