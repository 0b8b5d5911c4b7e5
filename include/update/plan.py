"""The planned update's form, validated into one typed plan (:class:`UpdatePlan`) every task reads.

:func:`build_plan` refuses a bad request before anything is touched, naming the field and what
is wrong (:class:`PlanError`). The plan travels by XCom as JSON (:meth:`UpdatePlan.to_dict`,
:meth:`UpdatePlan.from_dict`; the keys are the report's and the drain trigger's contract): which
targets the window affects, what the update is (the kind's own part, built by its strategy in
:mod:`include.update.strategies`), which tests decide promote or rollback, and whether this is a
dry run (the default: every step says what it would do).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from include.inventory import Inventory
from include.kinds import kinds_with, spec
from include.update.allow_lists import http_hosts, read_only_query, url_allowed
from include.update.strategies import KINDS, PlanError, strategy_for
from include.update.strategies.base import number
from include.update.strategies.host_packages import PackagesPart
from include.update.strategies.k8s_image import K8sPart
from include.update.strategies.release_switch import ReleasePart
from include.update.strategies.sql_migration import SqlPart

log = logging.getLogger(__name__)

__all__ = ["KINDS", "PlanError", "UpdatePlan", "build_plan", "describe"]


@dataclass(frozen=True)
class DrainTarget:
    """A target whose active sessions the drain waits for (names and connection ids only: no secret)."""

    name: str
    kind: str
    conn_id: str | None
    databases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KubeTarget:
    """A Kubernetes target of the window and its namespace (for the maintenance ConfigMap)."""

    name: str
    namespace: str


@dataclass(frozen=True)
class Assertion:
    """A post-update SQL assertion: the first column of the first row, as text, must equal ``expect``."""

    target: str
    sql: str
    expect: Any
    database: str | None = None


@dataclass(frozen=True)
class Window:
    """The maintenance window, ISO date-times in UTC."""

    start: str
    end: str


@dataclass(frozen=True)
class UpdatePlan:
    """The validated request: one update (its kind's part under ``sql``, ``release``, ``k8s`` or ``packages``)
    and its window."""

    kind: str
    dry_run: bool
    update_target: str | None
    sql: SqlPart | None = None
    release: ReleasePart | None = None
    k8s: K8sPart | None = None
    packages: PackagesPart | None = None
    targets: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    drain: list[DrainTarget] = field(default_factory=list)
    health: list[str] = field(default_factory=list)
    kubernetes: list[KubeTarget] = field(default_factory=list)
    maintenance_configmap: str = ""
    assertions: list[Assertion] = field(default_factory=list)
    http_checks: list[str] = field(default_factory=list)
    drain_timeout_s: float = 600.0
    update_timeout_s: float = 1800.0
    window: Window = field(default_factory=lambda: Window("", ""))
    alertmanagers: list[str] = field(default_factory=list)
    silence_label: str = "target"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (for XCom): the kinds' parts other than this plan's are left out."""
        return {k: v for k, v in asdict(self).items() if v is not None or k not in PARTS}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> UpdatePlan:
        """The plan back from its JSON form."""
        values = {f.name: raw[f.name] for f in fields(cls) if f.name in raw}
        strategy = strategy_for(raw["kind"])
        values[strategy.part_key] = strategy.part_from_dict(raw[strategy.part_key])
        values["drain"] = [DrainTarget(**d) for d in raw.get("drain", [])]
        values["kubernetes"] = [KubeTarget(**k) for k in raw.get("kubernetes", [])]
        values["assertions"] = [Assertion(**a) for a in raw.get("assertions", [])]
        values["window"] = Window(**raw["window"])
        return cls(**values)


#: the plan keys of the kinds' parts
PARTS = ("sql", "release", "k8s", "packages")


def as_plan(plan: UpdatePlan | Mapping[str, Any]) -> UpdatePlan:
    """``plan`` as an :class:`UpdatePlan` (tasks receive it as JSON)."""
    return plan if isinstance(plan, UpdatePlan) else UpdatePlan.from_dict(plan)


def build_plan(inventory: Inventory, params: Mapping[str, Any], now: datetime) -> UpdatePlan:
    """Validate the form (``params``) against the inventory and return the plan."""
    strategy = strategy_for(params.get("update_kind"))  # type: ignore[arg-type]
    affected = list(dict.fromkeys(params.get("targets") or []))
    update_target = None
    if strategy.target_kinds:
        update_target = _require_target(
            inventory, params.get("update_target") or None, strategy.target_kinds, "update_target"
        )
    part = strategy.plan_part(inventory.target(update_target) if update_target else None, params, inventory.update)
    dry_run = bool(params.get("dry_run", True))
    if not dry_run:
        what = update_target or str(params.get("release_root") or "") or strategy.name
        if str(params.get("confirm") or "") != what:
            raise PlanError(
                "confirm",
                f"a live update needs confirm = {what!r} (got {params.get('confirm')!r}); or leave dry_run on",
            )
    if update_target and update_target not in affected:
        affected.insert(0, update_target)
    try:
        targets = inventory.select(names=affected) if affected else []
    except ValueError as exc:
        raise PlanError("targets", str(exc)) from None
    backups = [t.name for t in targets if t.backup.get("enabled")]
    if update_target and strategy.needs_backup and update_target not in backups:
        raise PlanError(
            "update_target",
            f"{update_target!r} has no enabled backup: a migration cannot"
            " be rolled back without one (set backup.enabled in the inventory)",
        )
    plan = UpdatePlan(
        kind=strategy.name,
        dry_run=dry_run,
        update_target=update_target,
        **{strategy.part_key: part},
        targets=[t.name for t in targets],
        backups=backups,
        drain=[
            DrainTarget(t.name, t.kind, t.conn_id, list(t.options.get("databases") or []))
            for t in targets
            if t.kind in kinds_with("drain")
        ],
        health=[t.name for t in targets if t.kind in kinds_with("update_health")],
        kubernetes=[KubeTarget(t.name, t.options["namespace"]) for t in targets if spec(t.kind).image_updates],
        maintenance_configmap=str(params.get("maintenance_configmap") or ""),
        assertions=_assertions(inventory, params.get("sql_assertions") or []),
        http_checks=_http_checks(inventory, params.get("http_checks") or []),
        drain_timeout_s=number(params.get("drain_timeout_minutes", 10), "drain_timeout_minutes", 0) * 60,
        update_timeout_s=number(params.get("update_timeout_minutes", 30), "update_timeout_minutes") * 60,
        window=_window(params, now),
        alertmanagers=[t.name for t in inventory.targets if t.kind == "alertmanager"],
        silence_label=str(params.get("silence_label") or "target"),
    )
    if not (plan.assertions or plan.http_checks or plan.health):
        raise PlanError(
            "http_checks",
            "no post-update test: the update could never be proven, so it must not be"
            " promoted; give sql_assertions or http_checks, or list in targets a target whose daily"
            " check then runs as the implied test",
        )
    log.info("%s planned update: %s", "DRY RUN:" if plan.dry_run else "LIVE", describe(plan))
    return plan


def describe(plan: UpdatePlan | Mapping[str, Any]) -> str:
    """One line saying what the update changes (the plan, or its JSON form)."""
    typed = as_plan(plan)
    return strategy_for(typed.kind).describe(typed)


def _require_target(inventory: Inventory, name: str | None, kinds: tuple[str, ...], field: str) -> str:
    if not name:
        raise PlanError(field, f"required for this update kind (a target of kind {' or '.join(kinds)})")
    try:
        target = inventory.target(name)
    except KeyError:
        raise PlanError(field, f"no target named {name!r} in the inventory") from None
    if target.kind not in kinds:
        raise PlanError(field, f"{name!r} is a {target.kind} target; this update needs {' or '.join(kinds)}")
    return name


def _assertions(inventory: Inventory, raw: Any) -> list[Assertion]:
    if not isinstance(raw, list):
        raise PlanError("sql_assertions", f"must be a list of {{target, sql, expect}}, got {raw!r}")
    out = []
    for i, a in enumerate(raw):
        where = f"sql_assertions[{i}]"
        if not isinstance(a, dict) or not {"target", "sql", "expect"} <= set(a):
            raise PlanError(where, f"needs target, sql and expect, got {a!r}")
        unknown = set(a) - {"target", "sql", "expect", "database"}
        if unknown:
            raise PlanError(where, f"unknown key(s) {sorted(unknown)}; allowed: target, sql, expect, database")
        _require_target(inventory, a["target"], kinds_with("sql_updates"), f"{where}.target")
        if not isinstance(a["sql"], str) or not a["sql"].strip():
            raise PlanError(f"{where}.sql", "must be a non-empty SQL query")
        read_only_query(a["sql"], f"{where}.sql")
        default_db = (inventory.target(a["target"]).options.get("databases") or [None])[0]
        out.append(Assertion(a["target"], a["sql"], a["expect"], a.get("database") or default_db))
    return out


def _http_checks(inventory: Inventory, raw: Any) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(u, str) and re.match(r"^https?://", u) for u in raw):
        raise PlanError("http_checks", f"must be a list of http:// or https:// URLs, got {raw!r}")
    if raw:
        hosts = http_hosts(inventory)
        for i, url in enumerate(raw):
            url_allowed(url, hosts, f"http_checks[{i}]")
    return list(raw)


def _window(params: Mapping[str, Any], now: datetime) -> Window:
    """When the window opens (``window_start``; empty: now) and closes (``window_minutes`` later)."""
    raw = str(params.get("window_start") or "")
    if raw:
        try:
            start = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise PlanError(
                "window_start", f"must be an ISO date-time like 2026-01-15T02:00:00+09:00, got {raw!r}"
            ) from None
        if start.tzinfo is None:
            raise PlanError("window_start", f"needs a time zone offset (e.g. +09:00 or Z), got {raw!r}")
    else:  # now; a clock without a zone is UTC (never the host's local time), so the end keeps its offset
        start = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    minutes = number(params.get("window_minutes", 60), "window_minutes")
    start = start.astimezone(UTC)
    return Window(start.isoformat(), (start + timedelta(minutes=minutes)).isoformat())
