"""The planned update's form, validated into one plan every task reads.

:func:`build_plan` refuses a bad request before anything is touched, naming the field and
what is wrong (:class:`PlanError`). The plan is a plain JSON dict (it travels by XCom):
which targets the window affects, what the update is, which tests decide promote or
rollback, and whether this is a dry run (the default: every step says what it would do).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from include.inventory import Inventory
from include.kinds import kinds_with

log = logging.getLogger(__name__)

KINDS = ("sql_migration", "release_switch", "k8s_image")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")


class PlanError(ValueError):
    """The update request is wrong; the message names the field and the reason."""

    def __init__(self, field: str, reason: str):
        self.field = field
        super().__init__(f"planned update: field {field!r}: {reason}")


def build_plan(inventory: Inventory, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Validate the form (``params``) against the inventory and return the plan."""
    kind = params.get("update_kind")
    if kind not in KINDS:
        raise PlanError("update_kind", f"must be one of {list(KINDS)}, got {kind!r}")
    affected = list(dict.fromkeys(params.get("targets") or []))
    update_target = params.get("update_target") or None
    plan: dict[str, Any] = {"kind": kind, "dry_run": bool(params.get("dry_run", True)), "update_target": None}
    if kind == "sql_migration":
        plan["update_target"] = _require_target(inventory, update_target, kinds_with("sql_updates"), "update_target")
        plan["sql"] = _sql_plan(inventory.target(update_target), params)
    elif kind == "k8s_image":
        plan["update_target"] = _require_target(inventory, update_target, kinds_with("image_updates"), "update_target")
        plan["k8s"] = _k8s_plan(inventory.target(update_target), params)
    else:
        plan["release"] = _release_plan(params)
    if plan["update_target"] and plan["update_target"] not in affected:
        affected.insert(0, plan["update_target"])
    try:
        targets = inventory.select(names=affected) if affected else []
    except ValueError as exc:
        raise PlanError("targets", str(exc)) from None
    plan["targets"] = [t.name for t in targets]
    plan["backups"] = [t.name for t in targets if t.backup.get("enabled")]
    if plan["update_target"] and plan["kind"] == "sql_migration" and plan["update_target"] not in plan["backups"]:
        raise PlanError("update_target", f"{plan['update_target']!r} has no enabled backup: a migration cannot"
                        " be rolled back without one (set backup.enabled in the inventory)")
    plan["drain"] = [{"name": t.name, "kind": t.kind, "conn_id": t.conn_id,
                      "databases": list(t.options.get("databases") or [])}
                     for t in targets if t.kind in kinds_with("drain")]
    plan["health"] = [t.name for t in targets if t.kind in kinds_with("update_health")]
    plan["kubernetes"] = [{"name": t.name, "namespace": t.options["namespace"]}
                          for t in targets if t.kind == "kubernetes"]
    plan["maintenance_configmap"] = str(params.get("maintenance_configmap") or "")
    plan["assertions"] = _assertions(inventory, params.get("sql_assertions") or [])
    plan["http_checks"] = _http_checks(params.get("http_checks") or [])
    plan["drain_timeout_s"] = _number(params.get("drain_timeout_minutes", 10), "drain_timeout_minutes", 0) * 60
    plan["update_timeout_s"] = _number(params.get("update_timeout_minutes", 30), "update_timeout_minutes") * 60
    plan["window"] = _window(params, now)
    plan["alertmanagers"] = [t.name for t in inventory.targets if t.kind == "alertmanager"]
    plan["silence_label"] = str(params.get("silence_label") or "target")
    log.info("%s planned update: %s", "DRY RUN:" if plan["dry_run"] else "LIVE", describe(plan))
    return plan


def describe(plan: dict[str, Any]) -> str:
    """One line saying what the update changes."""
    if plan["kind"] == "sql_migration":
        s = plan["sql"]
        return (f"apply {len(s['files'])} migration file(s) from {s['folder']} to {plan['update_target']}"
                f" database {s['database'] or '(the connection default)'}")
    if plan["kind"] == "release_switch":
        r = plan["release"]
        return f"switch {r['root']}/current to releases/{r['version']}" + (f", then run {r['command']}"
                                                                          if r["command"] else "")
    k = plan["k8s"]
    return (f"set image of {k['namespace']}/{k['deployment']} container {k['container']} to {k['image']}"
            f" on {plan['update_target']}")


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


def _sql_plan(target, params: dict[str, Any]) -> dict[str, Any]:
    from include.update.migrations import migration_files

    folder = str(params.get("migrations_folder") or "")
    if not folder or not Path(folder).is_absolute():
        raise PlanError("migrations_folder", f"must be an absolute folder path, got {folder!r}")
    try:
        files = migration_files(Path(folder))
    except (OSError, ValueError) as exc:
        raise PlanError("migrations_folder", str(exc)) from None
    database = str(params.get("database") or "") or (target.options.get("databases") or [None])[0]
    return {"folder": folder, "database": database, "files": files}


def _release_plan(params: dict[str, Any]) -> dict[str, Any]:
    root, version = str(params.get("release_root") or ""), str(params.get("release_version") or "")
    if not root or not Path(root).is_absolute():
        raise PlanError("release_root", f"must be an absolute folder path, got {root!r}")
    if not VERSION_RE.match(version):
        raise PlanError("release_version", f"must be a release folder name (letters, digits, . _ + -), got {version!r}")
    if not (Path(root) / "releases" / version).is_dir():
        raise PlanError("release_version", f"{root}/releases/{version} is not a folder")
    command = params.get("release_command") or []
    if not isinstance(command, list) or not all(isinstance(a, str) and a for a in command):
        raise PlanError("release_command", f"must be a list of arguments (argv), got {command!r}")
    return {"root": root, "version": version, "command": command,
            "command_timeout_s": _number(params.get("command_timeout_seconds", 300), "command_timeout_seconds")}


def _k8s_plan(target, params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for field in ("deployment", "container", "image"):
        value = str(params.get(field) or "")
        if not value:
            raise PlanError(field, "required for a k8s_image update")
        out[field] = value
    out["namespace"] = target.options["namespace"]
    out["rollout_timeout_s"] = _number(params.get("rollout_timeout_seconds", 300), "rollout_timeout_seconds")
    return out


def _assertions(inventory: Inventory, raw: Any) -> list[dict[str, Any]]:
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
        default_db = (inventory.target(a["target"]).options.get("databases") or [None])[0]
        out.append({"target": a["target"], "sql": a["sql"], "expect": a["expect"],
                    "database": a.get("database") or default_db})
    return out


def _http_checks(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(u, str) and re.match(r"^https?://", u) for u in raw):
        raise PlanError("http_checks", f"must be a list of http:// or https:// URLs, got {raw!r}")
    return list(raw)


def _number(value: Any, field: str, minimum: float = 1) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise PlanError(field, f"must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def _window(params: dict[str, Any], now: datetime) -> dict[str, str]:
    """When the window opens (``window_start``; empty: now) and closes (``window_minutes`` later)."""
    raw = str(params.get("window_start") or "")
    if raw:
        try:
            start = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise PlanError("window_start", f"must be an ISO date-time like 2026-01-15T02:00:00+09:00, got {raw!r}")
        if start.tzinfo is None:
            raise PlanError("window_start", f"needs a time zone offset (e.g. +09:00 or Z), got {raw!r}")
    else:
        start = now
    minutes = _number(params.get("window_minutes", 60), "window_minutes")
    start = start.astimezone(timezone.utc)
    return {"start": start.isoformat(), "end": (start + timedelta(minutes=minutes)).isoformat()}
