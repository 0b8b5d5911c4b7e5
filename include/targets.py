"""Target resolution: from an inventory target to something a check can talk to.

Connections (host, port, login, password, extras) live in Airflow; this is the
only module that asks Airflow for them (:func:`endpoint_for`, :func:`endpoint_for_conn`),
so the routines stay plain Python and can be given an :class:`Endpoint` directly in tests.
``include/clients/`` turns an Endpoint into a connected driver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from include.inventory import Target

#: connection extra fields whose values are secrets (matched as part of the key, case-insensitive)
SECRET_EXTRA = re.compile(r"pass|secret|token|key|credential|auth|private|cert_data|bearer", re.IGNORECASE)


@dataclass(frozen=True)
class Endpoint:
    """Where a target is and how to log in. ``repr`` never shows the password."""

    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    conn_type: str | None = None

    def safe(self) -> str:
        """A printable description: never includes the password."""
        where = f"{self.host or ''}{f':{self.port}' if self.port else ''}"
        return f"{self.conn_type or 'conn'}://{f'{self.login}@' if self.login else ''}{where}/{self.schema or ''}"


def endpoint_for(target: Target) -> Endpoint:
    """The target's connection (at task run time, never at parse time); an empty Endpoint for a kind without one."""
    if target.conn_id is None:
        return Endpoint()
    return endpoint_for_conn(target.conn_id)


def endpoint_for_conn(conn_id: str) -> Endpoint:
    """Look up Airflow connection ``conn_id`` (at task run time, never at parse time).

    The only call of ``BaseHook.get_connection`` in the project: the catalog's connection, the
    maintenance-flag Redis, the backup key and every target's connection come through here.
    """
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    mask_connection_secrets(conn.password, conn.extra_dejson or {})
    return Endpoint(
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        schema=conn.schema,
        extra=conn.extra_dejson or {},
        conn_type=conn.conn_type,
    )


def secret_extras(extra: Any, secret_key: bool = False) -> list[str]:
    """The string values of ``extra`` (nested too) under a key that names a secret (:data:`SECRET_EXTRA`)."""
    if isinstance(extra, dict):
        return [
            v
            for key, value in extra.items()
            for v in secret_extras(value, secret_key or bool(SECRET_EXTRA.search(str(key))))
        ]
    if isinstance(extra, list):
        return [v for item in extra for v in secret_extras(item, secret_key)]
    return [extra] if secret_key and isinstance(extra, str) and extra else []


def mask_connection_secrets(password: str | None, extra: dict[str, Any]) -> list[str]:
    """Register the password and the secret extras with Airflow's secrets masker, so that any log line,
    even a stray print, shows ``***`` instead; returns what was registered."""
    from airflow.sdk.log import mask_secret

    secrets = ([password] if password else []) + secret_extras(extra)
    for secret in secrets:
        mask_secret(secret)
    return secrets
