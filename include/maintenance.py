"""Maintenance mode: a flag consumers read before taking work.

The flag lives in an Airflow Variable ``aegis_maintenance`` (a JSON map of
target → reason and start time) and, where the inventory names a Redis
connection under ``maintenance.redis_conn_id``, in the Redis key
``aegis:maintenance:<target>`` (with a TTL, so a crashed run cannot leave it
on forever). Turning it off is safe to repeat.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

log = logging.getLogger(__name__)
VARIABLE = "aegis_maintenance"
REDIS_KEY = "aegis:maintenance:{target}"


def _flags() -> dict:
    from airflow.sdk import Variable

    return json.loads(Variable.get(VARIABLE, default="{}") or "{}")


def _save(flags: dict) -> None:
    from airflow.sdk import Variable

    Variable.set(VARIABLE, json.dumps(flags, sort_keys=True), description="Aegis maintenance mode per target")


def _redis(redis_conn_id: str | None):
    if not redis_conn_id:
        return None
    from include.clients.redis import connect
    from include.targets import endpoint_for_conn

    return connect(endpoint_for_conn(redis_conn_id), 5.0)


def maintenance_on(target: str, reason: str, redis_conn_id: str | None = None, ttl_s: int = 6 * 3600) -> dict:
    flags = _flags()
    flags[target] = {"reason": reason, "since": datetime.now(timezone.utc).isoformat()}
    _save(flags)
    client = _redis(redis_conn_id)
    if client is not None:
        client.set(REDIS_KEY.format(target=target), json.dumps(flags[target]), ex=ttl_s)
        client.close()
    log.info("maintenance mode ON for %s: %s", target, reason)
    return flags[target]


def maintenance_off(target: str, redis_conn_id: str | None = None) -> None:
    flags = _flags()
    flags.pop(target, None)
    _save(flags)
    client = _redis(redis_conn_id)
    if client is not None:
        client.delete(REDIS_KEY.format(target=target))
        client.close()
    log.info("maintenance mode OFF for %s", target)


def in_maintenance(target: str) -> bool:
    return target in _flags()
