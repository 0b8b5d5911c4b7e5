"""``KindSpec``: what Aegis knows about one kind of target, as plain data.

A spec names its capabilities by dotted module path (``"include.checks.postgres"``) or by
``"module:function"`` so that reading the registry never imports a driver: DAG files read it
at parse time. :func:`load` imports a capability when a routine needs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

#: A kind-specific inventory field: its type(s) and default (``None``: required).
FieldSpec = tuple["type | tuple[type, ...]", Any]

#: Capabilities :func:`include.kinds.kinds_with` answers for; each is a field of :class:`KindSpec`.
CAPABILITIES = (
    "check",
    "backup",
    "weekly",
    "security",
    "sql_updates",
    "image_updates",
    "package_updates",
    "drain",
    "update_health",
    "restore_health",
    "needs_connection",
    "worker_local",
)


class FieldErrors(Protocol):
    """What a validation hook gets from the inventory validator."""

    def fail(self, key: str, reason: str) -> NoReturn:
        """Refuse the target's field ``key`` (raises :class:`include.inventory.InventoryError`)."""

    def resolve(self, path: str) -> str:
        """A path relative to the inventory file's folder, made absolute."""


@dataclass(frozen=True)
class KindSpec:
    """One kind of target: its inventory fields and thresholds, and which routines serve it."""

    #: the inventory's ``kind:`` value
    name: str
    #: fields a target of this kind accepts beyond the common ones: ``{field: (type(s), default)}``
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    #: threshold defaults; keys ending in ``_min_pct`` are "lower is worse"
    thresholds: Mapping[str, float] = field(default_factory=dict)
    #: whether a target names an Airflow connection (``conn_id``)
    needs_connection: bool = True
    #: the daily check: a module with ``check(target, endpoint, window) -> CheckResult``
    check: str | None = None
    #: backups: a module with ``dump``, ``restore``, ``scratch``, ``facts`` (see ``include/backup``)
    backup: str | None = None
    #: weekly maintenance: a concern module (``DEFAULTS``, ``maintain``; see ``include/weekly``)
    weekly: str | None = None
    #: the weekly concern's name in the DAG and the form (default: the kind's name)
    weekly_name: str | None = None
    #: the weekly security scan: ``"module:function"`` with ``(target, endpoint, settings) -> CheckResult``
    security: str | None = None
    #: planned updates: SQL migrations run on it (``sql_migration``) and SQL assertions test it
    sql_updates: bool = False
    #: planned updates: a deployment's container image is updated on it (``k8s_image``)
    image_updates: bool = False
    #: planned updates: packages of the machine are upgraded on it (``host_packages``, from ``update.packages``)
    package_updates: bool = False
    #: planned updates: its active sessions are counted and waited for before the change
    drain: bool = False
    #: planned updates: the daily check runs on it before and after the change
    update_health: bool = False
    #: restore: the daily check runs on it after a restore
    restore_health: bool = False
    #: its tasks read or write files of the machine they run on (a Milvus Lite file, log files, folders, the
    #: host itself): in distributed mode a target of this kind must name the queue of the worker on that machine
    worker_local: bool = False
    #: planned updates: the settings of a target's ``update:`` block and their defaults (the allow-lists the
    #: update form is confined to, e.g. ``migration_roots``); empty: the kind takes no ``update:`` block
    update_settings: Mapping[str, Any] = field(default_factory=dict)
    #: extra validation of the kind's fields: ``validate(options, errors)``, may rewrite ``options``
    validate: Callable[[dict[str, Any], FieldErrors], None] | None = None

    @property
    def concern(self) -> str | None:
        """The weekly concern's name, or None without weekly maintenance."""
        return (self.weekly_name or self.name) if self.weekly else None

    def has(self, capability: str) -> bool:
        """Whether this kind has ``capability`` (one of :data:`CAPABILITIES`)."""
        if capability not in CAPABILITIES:
            raise KeyError(f"unknown capability {capability!r}; known: {list(CAPABILITIES)}")
        return bool(getattr(self, capability))


def load(path: str) -> Any:
    """Import ``"package.module"`` (a module) or ``"package.module:name"`` (an attribute of it)."""
    module_name, _, attribute = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module
