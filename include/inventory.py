"""The inventory: which targets exist, how to reach them, their thresholds and the schedules.

One YAML file (``$AEGIS_INVENTORY``, default ``config/inventory.yaml``) is
validated as a whole when it is loaded. Any mistake raises
:class:`InventoryError` naming the file, the field and what is wrong, so a bad
inventory shows up as a DAG import error in the Airflow UI instead of a run
that quietly checks less than it should.

Secrets never live here: a target names an Airflow connection id and the
connection holds host, login and password. What each kind accepts (fields,
thresholds, whether it has a connection, a backup, weekly maintenance) comes
from the kind registry, :mod:`include.kinds`.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from include.kinds import all_kinds, kinds_with, spec

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INVENTORY = REPO_ROOT / "config" / "inventory.yaml"

COMMON_FIELDS = {"name", "kind", "conn_id", "tags", "thresholds", "timeout_seconds", "description", "backup",
                 "weekly"}
BACKUP_DEFAULTS: dict[str, Any] = {"enabled": True, "jobs": 2, "retention_days": 30, "keep_last": 7,
                   "storage_class": "STANDARD_IA", "timeout_seconds": 3600,
                   # the connection of a separate server for verification's scratch databases ("": the target's own)
                   "verify_scratch_conn_id": ""}
#: Settings of a target's ``weekly:`` block that every concern has (the rest come from the concern's DEFAULTS).
WEEKLY_COMMON = {"enabled": True}
#: The ``security:`` section: a folder of OSV advisories (JSON), folders to look for world-writable files in,
#: and how many PostgreSQL superusers that can log in are expected.
SECURITY_DEFAULTS: dict[str, Any] = {"advisories": None, "writable_paths": [], "max_superusers": 2}
TOP_LEVEL = {"version", "defaults", "schedules", "artifacts", "catalog", "alerting", "maintenance", "security",
             "targets"}
#: Keys of the ``defaults:`` section.
DEFAULTS_KEYS = {"timeout_seconds", "thresholds", "check_tasks"}
#: At most this many parallel check tasks per daily run; more targets share tasks (threads inside each),
#: because every task is a process of its own (interpreter, Task SDK, DAG parse) and a small worker
#: spends longer starting fifty of them than checking fifty targets.
DEFAULT_CHECK_TASKS = 10
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


class InventoryError(ValueError):
    """The inventory is wrong: names the file, the field and the reason."""

    def __init__(self, path: Path | str, field_path: str, reason: str):
        self.path, self.field, self.reason = str(path), field_path, reason
        super().__init__(f"invalid inventory {path}: field '{field_path}': {reason}")


@dataclass(frozen=True)
class Target:
    """One thing Aegis looks after."""

    name: str
    kind: str
    conn_id: str | None
    tags: tuple[str, ...]
    thresholds: dict[str, float]
    timeout_seconds: float
    options: dict[str, Any]
    description: str = ""
    #: backup settings (BACKUP_DEFAULTS merged with the target's ``backup:``); empty for kinds without backups
    backup: dict[str, Any] = field(default_factory=dict)
    #: weekly maintenance settings (the concern's DEFAULTS merged with ``weekly:``); empty for kinds without one
    weekly: dict[str, Any] = field(default_factory=dict)

    def with_thresholds(self, overrides: dict[str, float]) -> "Target":
        """A copy whose thresholds are overridden where ``overrides`` names a key of this kind."""
        merged = dict(self.thresholds)
        merged.update({k: float(v) for k, v in overrides.items() if k in merged})
        return Target(self.name, self.kind, self.conn_id, self.tags, merged, self.timeout_seconds,
                      self.options, self.description, self.backup, self.weekly)


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: str


@dataclass(frozen=True)
class Inventory:
    path: Path
    targets: tuple[Target, ...]
    schedules: dict[str, Schedule]
    artifacts_base: str
    artifacts_conn_id: str | None
    catalog_conn_id: str | None
    catalog_path: str
    alerting: dict[str, Any] = field(default_factory=dict)
    #: at most this many parallel check tasks per daily run (``defaults.check_tasks``)
    check_tasks: int = DEFAULT_CHECK_TASKS
    #: Redis connection that carries the maintenance-mode flag for consumers (besides the Airflow Variable)
    maintenance_redis_conn_id: str | None = None
    #: the security scan's settings (SECURITY_DEFAULTS merged with ``security:``; folders resolved)
    security: dict[str, Any] = field(default_factory=lambda: dict(SECURITY_DEFAULTS))

    def target(self, name: str) -> Target:
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(f"no target named {name!r} in {self.path}")

    def schedule(self, routine: str, default_cron: str, default_tz: str = "UTC") -> Schedule:
        return self.schedules.get(routine, Schedule(default_cron, default_tz))

    def select(self, names: list[str] | None = None, tags: list[str] | None = None,
               kinds: list[str] | None = None) -> list[Target]:
        """Targets matching every given filter (names, any of tags, kinds); all when none is given.

        An unknown name is an error, not a silent skip: a typo in a trigger form
        must not produce a green run that checked nothing.
        """
        known = {t.name for t in self.targets}
        unknown = sorted(set(names or []) - known)
        if unknown:
            raise InventoryError(self.path, "targets", f"unknown target name(s) {unknown}; known: {sorted(known)}")
        chosen = [
            t for t in self.targets
            if (not names or t.name in names)
            and (not tags or set(tags) & set(t.tags))
            and (not kinds or t.kind in kinds)
        ]
        return chosen


def inventory_path() -> Path:
    return Path(os.environ.get("AEGIS_INVENTORY", DEFAULT_INVENTORY))


def load_inventory(path: Path | str | None = None) -> Inventory:
    """Read and validate the inventory; raise :class:`InventoryError` on any mistake."""
    path = Path(path) if path else inventory_path()
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InventoryError(path, "<file>", "file not found (set AEGIS_INVENTORY or create it)") from None
    except yaml.YAMLError as exc:
        raise InventoryError(path, "<file>", f"not valid YAML: {exc}") from None
    return parse_inventory(raw, path)


def parse_inventory(raw: Any, path: Path | str = "<inventory>") -> Inventory:
    path = Path(path)
    v = _Validator(path)
    if not isinstance(raw, dict):
        v.fail("<file>", "top level must be a mapping")
    for key in raw:
        if key not in TOP_LEVEL:
            v.fail(key, f"unknown top-level key; expected one of {sorted(TOP_LEVEL)}")
    if raw.get("version", 1) != 1:
        v.fail("version", f"unsupported version {raw.get('version')!r}; this Aegis reads version 1")

    defaults = v.mapping(raw.get("defaults", {}), "defaults")
    for key in defaults:
        if key not in DEFAULTS_KEYS:
            v.fail(f"defaults.{key}", f"unknown key; expected one of {sorted(DEFAULTS_KEYS)}")
    default_timeout = v.positive(defaults.get("timeout_seconds", 10), "defaults.timeout_seconds")
    check_tasks = defaults.get("check_tasks", DEFAULT_CHECK_TASKS)
    if isinstance(check_tasks, bool) or not isinstance(check_tasks, int) or check_tasks < 1:
        v.fail("defaults.check_tasks", f"must be a whole number >= 1, got {check_tasks!r}")
    kind_overrides = v.mapping(defaults.get("thresholds", {}), "defaults.thresholds")
    for kind, overrides in kind_overrides.items():
        if kind not in all_kinds():
            v.fail(f"defaults.thresholds.{kind}", f"unknown kind; expected one of {list(all_kinds())}")
        v.thresholds(kind, v.mapping(overrides, f"defaults.thresholds.{kind}"), f"defaults.thresholds.{kind}")

    targets_raw = raw.get("targets")
    if not isinstance(targets_raw, list) or not targets_raw:
        v.fail("targets", "must be a non-empty list of targets")
    targets: list[Target] = []
    seen: set[str] = set()
    for i, t in enumerate(targets_raw):
        target = v.target(t, f"targets[{i}]", default_timeout, kind_overrides)
        if target.name in seen:
            v.fail(f"targets[{i}].name", f"duplicate target name {target.name!r}")
        seen.add(target.name)
        targets.append(target)

    schedules = {}
    for routine, s in v.mapping(raw.get("schedules", {}), "schedules").items():
        s = v.mapping(s, f"schedules.{routine}")
        cron = v.string(s.get("cron"), f"schedules.{routine}.cron")
        v.cron(cron, f"schedules.{routine}.cron")
        tz = v.string(s.get("timezone", "UTC"), f"schedules.{routine}.timezone")
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            v.fail(f"schedules.{routine}.timezone", f"unknown timezone {tz!r}")
        schedules[routine] = Schedule(cron, tz)

    artifacts = v.mapping(raw.get("artifacts", {}), "artifacts")
    base = v.string(artifacts.get("base", str(REPO_ROOT / ".aegis" / "artifacts")), "artifacts.base")
    if "://" not in base:  # a plain folder, relative to the inventory file
        base = f"file://{_resolve(path, base)}"
    if not re.match(r"^(file|s3)://", base):
        v.fail("artifacts.base", f"must be a folder, file:// or s3:// URI, got {base!r}")
    catalog = v.mapping(raw.get("catalog", {}), "catalog")
    alerting = v.mapping(raw.get("alerting", {}), "alerting")
    for key in alerting:
        if key not in {"slack_webhook_conn_id", "webhook_conn_id", "smtp_conn_id", "email_to"}:
            v.fail(f"alerting.{key}", "unknown key; expected slack_webhook_conn_id, webhook_conn_id, smtp_conn_id, email_to")
    if alerting.get("smtp_conn_id") and not alerting.get("email_to"):
        v.fail("alerting.email_to", "required when alerting.smtp_conn_id is set")

    maintenance = v.mapping(raw.get("maintenance", {}), "maintenance")
    for key in maintenance:
        if key != "redis_conn_id":
            v.fail(f"maintenance.{key}", "unknown key; expected redis_conn_id")
    return Inventory(
        path=path,
        check_tasks=check_tasks,
        maintenance_redis_conn_id=maintenance.get("redis_conn_id"),
        security=v.security(raw.get("security")),
        targets=tuple(targets),
        schedules=schedules,
        artifacts_base=base.rstrip("/"),
        artifacts_conn_id=artifacts.get("conn_id"),
        catalog_conn_id=catalog.get("conn_id"),
        catalog_path=_resolve(path, catalog.get("path", str(REPO_ROOT / ".aegis" / "catalog.db"))),
        alerting=alerting,
    )


def _resolve(inventory_file: Path, value: str) -> str:
    """Relative paths in the inventory are relative to the inventory file's folder."""
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else (inventory_file.parent / p).resolve())


class _Validator:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, field_path: str, reason: str) -> NoReturn:
        raise InventoryError(self.path, field_path, reason)

    def mapping(self, value: Any, where: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, f"must be a mapping, got {type(value).__name__}")
        return value

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(where, f"must be a non-empty string, got {value!r}")
        return value

    def positive(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            self.fail(where, f"must be a positive number, got {value!r}")
        return float(value)

    def cron(self, expr: str, where: str) -> None:
        from croniter import croniter  # ships with Airflow

        if not croniter.is_valid(expr):
            self.fail(where, f"not a valid cron expression: {expr!r}")

    def thresholds(self, kind: str, values: dict, where: str) -> dict[str, float]:
        known = spec(kind).thresholds
        out = {}
        for key, value in values.items():
            if key not in known:
                self.fail(f"{where}.{key}", f"unknown threshold for kind {kind!r}; known: {sorted(known)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(f"{where}.{key}", f"must be a number, got {value!r}")
            out[key] = float(value)
        merged = {**known, **out}
        for key in merged:
            if key.endswith("_warning_pct") and key.replace("_warning_", "_critical_") in merged:
                crit_key = key.replace("_warning_", "_critical_")
                if merged[key] > merged[crit_key]:
                    self.fail(f"{where}.{key}", f"warning ({merged[key]:g}) is above critical {crit_key} ({merged[crit_key]:g})")
            if key.endswith("_pct") and not 0 <= merged[key] <= 100:
                self.fail(f"{where}.{key}", f"a percentage must be within 0..100, got {merged[key]:g}")
        return out

    def target(self, raw: Any, where: str, default_timeout: float, kind_overrides: dict) -> Target:
        t = self.mapping(raw, where)
        name = self.string(t.get("name"), f"{where}.name")
        if not NAME_RE.match(name):
            self.fail(f"{where}.name", f"{name!r} must be lower-case letters, digits, '_', '.', '-' (max 63)")
        kind = t.get("kind")
        if kind not in all_kinds():
            self.fail(f"{where}.kind", f"unknown kind {kind!r}; expected one of {list(all_kinds())}")
        kind_spec = spec(kind)
        allowed = COMMON_FIELDS | set(kind_spec.fields)
        for key in t:
            if key not in allowed:
                self.fail(f"{where}.{key}", f"unknown field for kind {kind!r}; allowed: {sorted(allowed)}")
        conn_id = t.get("conn_id")
        if not kind_spec.needs_connection:
            if conn_id is not None:
                self.fail(f"{where}.conn_id", f"kind {kind!r} takes no connection")
        else:
            conn_id = self.string(conn_id, f"{where}.conn_id")
        tags = t.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(x, str) and x for x in tags):
            self.fail(f"{where}.tags", f"must be a list of strings, got {tags!r}")
        thresholds = dict(kind_spec.thresholds)
        thresholds.update(self.thresholds(kind, kind_overrides.get(kind) or {}, f"defaults.thresholds.{kind}"))
        thresholds.update(self.thresholds(kind, self.mapping(t.get("thresholds", {}), f"{where}.thresholds"),
                                          f"{where}.thresholds"))
        # re-check ordering on the fully merged set
        self.thresholds(kind, thresholds, f"{where}.thresholds")
        timeout = self.positive(t.get("timeout_seconds", default_timeout), f"{where}.timeout_seconds")
        options = {}
        for key, (typ, default) in kind_spec.fields.items():
            value = t.get(key, default)
            if value is None:
                self.fail(f"{where}.{key}", f"required for kind {kind!r}")
            if isinstance(value, bool) or not isinstance(value, typ):
                self.fail(f"{where}.{key}", f"must be {getattr(typ, '__name__', typ)}, got {value!r}")
            options[key] = value
        backup = self.backup(kind, t.get("backup"), f"{where}.backup")
        weekly = self.weekly(kind, t.get("weekly"), f"{where}.weekly")
        if kind_spec.validate is not None:
            kind_spec.validate(options, _FieldErrors(self, where))
        return Target(name, kind, conn_id, tuple(tags), thresholds, timeout, options,
                      str(t.get("description", "")), backup, weekly)

    def backup(self, kind: str, raw: Any, where: str) -> dict[str, Any]:
        if not spec(kind).backup:
            if raw is not None:
                self.fail(where, f"kind {kind!r} has no backup; backups exist for {sorted(kinds_with('backup'))}")
            return {}
        raw = self.mapping(raw, where)
        out = dict(BACKUP_DEFAULTS)
        for key, value in raw.items():
            if key not in BACKUP_DEFAULTS:
                self.fail(f"{where}.{key}", f"unknown backup setting; known: {sorted(BACKUP_DEFAULTS)}")
            default = BACKUP_DEFAULTS[key]
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    self.fail(f"{where}.{key}", f"must be true or false, got {value!r}")
            elif isinstance(default, int):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    self.fail(f"{where}.{key}", f"must be a whole number >= 0, got {value!r}")
            elif not isinstance(value, str) or not value:
                self.fail(f"{where}.{key}", f"must be a non-empty string, got {value!r}")
            out[key] = value
        if out["jobs"] < 1:
            self.fail(f"{where}.jobs", "must be at least 1")
        return out

    def weekly(self, kind: str, raw: Any, where: str) -> dict[str, Any]:
        """The concern's DEFAULTS merged with ``weekly:``: known keys, the defaults' types, its own checks."""
        from include.weekly import concern_module, defaults_for

        if not spec(kind).weekly:
            if raw is not None:
                self.fail(where, f"kind {kind!r} has no weekly maintenance; "
                                 f"it exists for {sorted(kinds_with('weekly'))}")
            return {}
        raw = self.mapping(raw, where)
        defaults = {**WEEKLY_COMMON, **defaults_for(kind)}
        out = dict(defaults)
        for key, value in raw.items():
            if key not in defaults:
                self.fail(f"{where}.{key}", f"unknown weekly setting for kind {kind!r}; known: {sorted(defaults)}")
            problem = _type_problem(defaults[key], value)
            if problem:
                self.fail(f"{where}.{key}", problem)
            out[key] = value
        check = getattr(concern_module(kind), "check_settings", None)
        if check is not None:
            try:
                check(out)
            except ValueError as exc:
                key, _, reason = str(exc).partition(": ")
                if reason and " " not in key:
                    self.fail(f"{where}.{key}", reason)
                self.fail(where, str(exc))
        return out

    def security(self, raw: Any) -> dict[str, Any]:
        raw = self.mapping(raw, "security")
        out = dict(SECURITY_DEFAULTS)
        for key, value in raw.items():
            if key not in SECURITY_DEFAULTS:
                self.fail(f"security.{key}", f"unknown key; expected one of {sorted(SECURITY_DEFAULTS)}")
        if raw.get("advisories") is not None:
            out["advisories"] = _resolve(self.path, self.string(raw["advisories"], "security.advisories"))
        paths = raw.get("writable_paths", [])
        if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
            self.fail("security.writable_paths", f"must be a list of folders, got {paths!r}")
        out["writable_paths"] = [_resolve(self.path, p) for p in paths]
        most = raw.get("max_superusers", out["max_superusers"])
        if isinstance(most, bool) or not isinstance(most, int) or most < 0:
            self.fail("security.max_superusers", f"must be a whole number >= 0, got {most!r}")
        out["max_superusers"] = most
        return out


class _FieldErrors:
    """What a kind's validation hook may do: refuse one of the target's fields, resolve a path."""

    def __init__(self, validator: _Validator, where: str):
        self.validator, self.where = validator, where

    def fail(self, key: str, reason: str) -> NoReturn:
        self.validator.fail(f"{self.where}.{key}", reason)

    def resolve(self, path: str) -> str:
        return _resolve(self.validator.path, path)


def _type_problem(default: Any, value: Any) -> str | None:
    """Why ``value`` cannot replace ``default`` (same type; ints where floats go; anything for a None default)."""
    if default is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if isinstance(value, bool):
        return f"must be {type(default).__name__}, got {value!r}"
    if isinstance(default, int):
        return None if isinstance(value, int) else f"must be a whole number, got {value!r}"
    if isinstance(default, float):
        return None if isinstance(value, (int, float)) else f"must be a number, got {value!r}"
    if isinstance(default, (list, tuple)):
        return None if isinstance(value, (list, tuple)) else f"must be a list, got {value!r}"
    if isinstance(default, dict):
        return None if isinstance(value, dict) else f"must be a mapping, got {value!r}"
    if isinstance(default, str):
        return None if isinstance(value, str) else f"must be a string, got {value!r}"
    return None if isinstance(value, type(default)) else f"must be {type(default).__name__}, got {value!r}"
