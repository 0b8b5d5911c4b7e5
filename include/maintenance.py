"""Maintenance mode: a flag consumers read before taking work.

The flag lives in one Airflow Variable per target, ``aegis_maintenance.<target>`` (JSON: reason and
start time), so concurrent runs on different targets never read-modify-write a shared value; and,
where the inventory names a Redis connection under ``maintenance.redis_conn_id``, in the Redis key
``aegis:maintenance:<target>`` with a TTL (a crashed run cannot leave it on forever; the caller
makes it outlast its window). Turning it off is safe to repeat.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

log = logging.getLogger(__name__)
VARIABLE = "aegis_maintenance.{target}"
REDIS_KEY = "aegis:maintenance:{target}"
#: the Redis key's TTL when the caller names none (a restore); a planned update passes its window's
DEFAULT_TTL_S = 6 * 3600


def variable_key(target: str) -> str:
    """The Airflow Variable holding ``target``'s flag."""
    return VARIABLE.format(target=target)


def _set_flag(key: str, value: dict) -> None:
    from airflow.sdk import Variable

    Variable.set(key, json.dumps(value, sort_keys=True), description="Aegis maintenance mode of one target")


def _delete_flag(key: str) -> None:
    from airflow.sdk import Variable

    Variable.delete(key)


def _get_flag(key: str) -> dict | None:
    from airflow.sdk import Variable

    raw = Variable.get(key, default=None)
    return json.loads(raw) if raw else None


def _redis(redis_conn_id: str | None):
    if not redis_conn_id:
        return None
    from include.clients.redis import connect
    from include.targets import endpoint_for_conn

    return connect(endpoint_for_conn(redis_conn_id), 5.0)


def maintenance_on(target: str, reason: str, redis_conn_id: str | None = None, ttl_s: int = DEFAULT_TTL_S) -> dict:
    """Raise ``target``'s flag (its own Variable; the Redis key for ``ttl_s`` seconds)."""
    flag = {"reason": reason, "since": datetime.now(UTC).isoformat()}
    _set_flag(variable_key(target), flag)
    client = _redis(redis_conn_id)
    if client is not None:
        client.set(REDIS_KEY.format(target=target), json.dumps(flag), ex=max(1, int(ttl_s)))
        client.close()
    log.info("maintenance mode ON for %s: %s", target, reason)
    return flag


def maintenance_off(target: str, redis_conn_id: str | None = None) -> None:
    """Lower ``target``'s flag (its Variable and Redis key); nothing to lower is fine."""
    _delete_flag(variable_key(target))
    client = _redis(redis_conn_id)
    if client is not None:
        client.delete(REDIS_KEY.format(target=target))
        client.close()
    log.info("maintenance mode OFF for %s", target)


def in_maintenance(target: str) -> bool:
    return _get_flag(variable_key(target)) is not None
