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

import hashlib
import math
import os
import pickle
import re
import sys
import tempfile
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from include.kinds import all_kinds, kinds_with, spec

#: A target name no inventory may use: the catalog's pseudo-target of Aegis's own metrics (each run's
#: ``aegis.<routine>.duration_s``, recorded by ``include/publish.py``, charted on the console's Trends page).
AEGIS_TARGET = "aegis"

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INVENTORY = REPO_ROOT / "config" / "inventory.yaml"

COMMON_FIELDS = {
    "name",
    "kind",
    "conn_id",
    "tags",
    "thresholds",
    "timeout_seconds",
    "description",
    "backup",
    "weekly",
    "queue",
    "update",
}
#: The Celery queue a target's tasks go to unless it names one (``queue:``).
DEFAULT_QUEUE = "default"
#: ``compress``: the dump's compression level (0-9; 1 by default: fastest, see README "Backups: compression")
BACKUP_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "jobs": 2,
    "compress": 1,
    "retention_days": 30,
    "keep_last": 7,
    "storage_class": "STANDARD_IA",
    "timeout_seconds": 3600,
    # the connection of a separate server for verification's scratch databases ("": the target's own)
    "verify_scratch_conn_id": "",
    # free space of a scratch server not on this host: a Prometheus connection and the node_exporter ``instance``
    # of the scratch server's host (and the data volume's mountpoint; "": the one holding the data folder)
    "verify_prometheus_conn_id": "",
    "verify_node_instance": "",
    "verify_data_mountpoint": "",
    # restore-test even when the scratch server's free space cannot be measured (false: skip with a finding)
    "verify_when_space_unknown": False,
    # scheduled / backfill runs delete the sets past retention (manual runs: the form's apply_retention)
    "apply_retention": False,
}
#: Settings of a target's ``weekly:`` block that every concern has (the rest come from the concern's DEFAULTS).
#: ``apply``: the destructive steps a scheduled / backfill run carries out (include/run_policy.py); the rest
#: are only planned. Default: ``defaults.weekly.apply`` (the steps of the target's kind), else none.
WEEKLY_COMMON: dict[str, Any] = {"enabled": True, "apply": []}
#: The ``security:`` section: a folder of OSV advisories (JSON), folders to look for world-writable files in,
#: and how many PostgreSQL superusers that can log in are expected.
SECURITY_DEFAULTS: dict[str, Any] = {"advisories": None, "writable_paths": [], "max_superusers": 2}
#: The top-level ``update:`` section: the planned update's allow-lists that belong to no target. Release roots
#: (a ``release_root`` must resolve inside one), release commands (argv prefixes a ``release_command`` must
#: start with) and the hosts (``host`` or ``host:port``) HTTP checks may call; ``http_hosts: null`` means the
#: hosts of the inventory's ``http_service`` targets.
UPDATE_DEFAULTS: dict[str, Any] = {"release_roots": [], "release_commands": [], "http_hosts": None}
TOP_LEVEL = {
    "version",
    "defaults",
    "schedules",
    "artifacts",
    "catalog",
    "alerting",
    "maintenance",
    "security",
    "targets",
    "audit",
    "oncall",
    "incidents",
    "update",
}
#: The ``audit:`` section (monthly audit): the kernel-tuning baseline (sysctl name -> value, from the seed's
#: performance-tuning.sh) read under ``sysctl_root`` and never changed; the file-descriptor limit expected;
#: recovery objectives (``rpo_hours``, ``rto_minutes``) by default and per target; the server versions the
#: team calls current, per target kind ("16.4") or target name.
AUDIT_DEFAULTS: dict[str, Any] = {
    "sysctl_root": "/proc/sys",
    "kernel_baseline": {
        "net.core.somaxconn": 65535,
        "net.ipv4.tcp_max_syn_backlog": 65535,
        "net.core.netdev_max_backlog": 65535,
        "net.ipv4.tcp_fin_timeout": 30,
        "net.ipv4.tcp_keepalive_time": 300,
        "vm.swappiness": 10,
    },
    "nofile_min": 100000,
    "objectives": {"rpo_hours": 48, "rto_minutes": 60},
    "target_objectives": {},
    "current_versions": {},
    "airflow_target": None,  # an http_service target pointing at Airflow's API server: run durations per routine
}
#: Keys of the ``defaults:`` section.
DEFAULTS_KEYS = {"timeout_seconds", "thresholds", "check_tasks", "fail_run_on", "weekly", "backup", "lock_wait_s"}
#: ``defaults.fail_run_on``: from which verdict a daily or weekly check run ends failed (``never``: never).
FAIL_RUN_ON_VALUES = ("critical", "warning", "never")
#: At most this many parallel check tasks per daily run; more targets share tasks (threads inside each),
#: because every task is a process of its own (interpreter, Task SDK, DAG parse) and a small worker
#: spends longer starting fifty of them than checking fifty targets.
DEFAULT_CHECK_TASKS = 10
#: The routines the inventory's ``schedules:`` may name (each DAG's default lives in its DAG file's helpers).
SCHEDULED_ROUTINES = ("daily_health_check", "backup", "verify_backups", "weekly_maintenance", "monthly_audit")

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
    #: the Celery queue its tasks are routed to (``queue:``; :data:`DEFAULT_QUEUE`)
    queue: str = DEFAULT_QUEUE
    #: the planned update's allow-lists for this target (the kind's ``update_settings`` merged with ``update:``)
    update: dict[str, Any] = field(default_factory=dict)

    def with_thresholds(self, overrides: dict[str, float]) -> Target:
        """A copy whose thresholds are overridden where ``overrides`` names a key of this kind."""
        merged = dict(self.thresholds)
        merged.update({k: float(v) for k, v in overrides.items() if k in merged})
        return Target(
            self.name,
            self.kind,
            self.conn_id,
            self.tags,
            merged,
            self.timeout_seconds,
            self.options,
            self.description,
            self.backup,
            self.weekly,
            self.queue,
            self.update,
        )


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
    #: from which verdict a daily / weekly check run ends failed (``defaults.fail_run_on``; FAIL_RUN_ON_VALUES)
    fail_run_on: str = "critical"
    #: seconds a changing step waits for a target another routine holds, then skips it (``defaults.lock_wait_s``;
    #: see include/locks.py)
    lock_wait_s: float = 900.0
    #: a target's timeout unless it sets its own (``defaults.timeout_seconds``)
    timeout_seconds: float = 10
    #: Redis connection that carries the maintenance-mode flag for consumers (besides the Airflow Variable)
    maintenance_redis_conn_id: str | None = None
    #: the security scan's settings (SECURITY_DEFAULTS merged with ``security:``; folders resolved)
    security: dict[str, Any] = field(default_factory=lambda: dict(SECURITY_DEFAULTS))
    #: the monthly audit's settings (AUDIT_DEFAULTS merged with ``audit:``)
    audit: dict[str, Any] = field(default_factory=lambda: dict(AUDIT_DEFAULTS))
    #: the on-call rotation, escalation path and classification rules (``oncall:`` / ``incidents:``)
    incidents: Any = None
    #: the planned update's inventory-wide allow-lists (UPDATE_DEFAULTS merged with ``update:``; folders resolved)
    update: dict[str, Any] = field(default_factory=lambda: dict(UPDATE_DEFAULTS))

    def target(self, name: str) -> Target:
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(f"no target named {name!r} in {self.path}")

    def schedule(self, routine: str, default_cron: str, default_tz: str = "UTC") -> Schedule:
        return self.schedules.get(routine, Schedule(default_cron, default_tz))

    def select(
        self, names: list[str] | None = None, tags: list[str] | None = None, kinds: list[str] | None = None
    ) -> list[Target]:
        """Targets matching every given filter (names, any of tags, kinds); all when none is given.

        An unknown name is an error, not a silent skip: a typo in a trigger form
        must not produce a green run that checked nothing.
        """
        known = {t.name for t in self.targets}
        unknown = sorted(set(names or []) - known)
        if unknown:
            raise InventoryError(self.path, "targets", f"unknown target name(s) {unknown}; known: {sorted(known)}")
        chosen = [
            t
            for t in self.targets
            if (not names or t.name in names)
            and (not tags or set(tags) & set(t.tags))
            and (not kinds or t.kind in kinds)
        ]
        return chosen


def inventory_path() -> Path:
    return Path(os.environ.get("AEGIS_INVENTORY", DEFAULT_INVENTORY))


def load_inventory(path: Path | str | None = None) -> Inventory:
    """Read and validate the inventory; raise :class:`InventoryError` on any mistake.

    The validated inventory is cached by the file's path, mtime, size and SHA-256 (see
    :func:`cached_inventory`): the DAG processor parses every DAG file every 30 s, and each reads it.
    """
    path = Path(path) if path else inventory_path()
    try:
        data = path.read_bytes()
        stat = path.stat()
    except FileNotFoundError:
        raise InventoryError(path, "<file>", "file not found (set AEGIS_INVENTORY or create it)") from None
    except IsADirectoryError:
        raise InventoryError(path, "<file>", "is a folder, not a YAML file (set AEGIS_INVENTORY to the file)") from None
    except OSError as exc:  # permissions, an I/O error: named, not a traceback from deep in a DAG file
        raise InventoryError(path, "<file>", f"cannot be read: {exc.strerror or exc}") from None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, hashlib.sha256(data).hexdigest())
    return cached_inventory(key, lambda: _read_inventory(path, data))


def _read_inventory(path: Path, data: bytes) -> Inventory:
    """Parse the YAML (libyaml's C loader when PyYAML has it) and validate it."""
    try:
        raw = yaml.load(data, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = data.splitlines()[mark.line : mark.line + 1] if mark is not None else []
        hint = " (a tab character: YAML indents with spaces only)" if line and b"\t" in line[0] else ""
        raise InventoryError(path, "<file>", f"not valid YAML{hint}: {exc}") from None
    return parse_inventory(raw, path)


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: inventories from this size on are also cached on disk (every one: even a small inventory's validation
#: imports each weekly concern's module, ~0.1 s of every parse, where reading the pickle takes a few ms)
DISK_CACHE_FROM_BYTES = 0
#: validated inventories kept on disk per user (the least recently written go first)
DISK_CACHE_ENTRIES = 8
#: validated inventories of this process by (resolved path, mtime ns, size, sha256 of the bytes)
_INVENTORIES: dict[tuple[str, int, int, str], Inventory] = {}


def cached_inventory(key: tuple[str, int, int, str], read: Callable[[], Inventory]) -> Inventory:
    """The inventory validated for ``key``: from this process's memory, else from the private on-disk
    cache (``$AEGIS_CACHE_DIR``; each DAG file is parsed in a new child process), else ``read()``.

    Only a valid inventory is cached; an invalid one raises again at every read.
    """
    if key in _INVENTORIES:
        return _INVENTORIES[key]
    stored = _inventory_cache_file(key) if key[2] >= DISK_CACHE_FROM_BYTES else None
    inventory = None
    if stored is not None and stored.exists():
        try:
            inventory = pickle.loads(stored.read_bytes())
        except Exception:  # noqa: BLE001  an unreadable or stale entry is read again from the YAML
            inventory = None
    if not isinstance(inventory, Inventory):
        inventory = read()
        if stored is not None:
            _store_privately(stored, pickle.dumps(inventory, protocol=pickle.HIGHEST_PROTOCOL))
    _INVENTORIES.clear()  # one inventory per process is what is in use: keep only the latest
    _INVENTORIES[key] = inventory
    return inventory


def _inventory_cache_file(key: tuple[str, int, int, str]) -> Path | None:
    """Where the validated inventory for ``key`` is kept on disk: a folder only this user can write.

    None when there is no such folder (it belongs to someone else or others may write to it: a pickle is
    only loaded from where nobody else can put one). The name also covers the code that validated it.
    """
    folder = Path(os.environ.get("AEGIS_CACHE_DIR") or Path(tempfile.gettempdir()) / f"aegis-cache-{os.getuid()}")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None
    digest = hashlib.sha256(repr((key, _code_stamp())).encode()).hexdigest()[:32]
    return folder / f"inventory-{digest}.pickle"


def _code_stamp() -> tuple:
    """Path, mtime and size of every module under ``include/``: a changed validator invalidates the cache."""
    global _CODE_STAMP
    if _CODE_STAMP is None:
        package = Path(__file__).resolve().parent
        _CODE_STAMP = (
            sys.version,
            tuple(sorted((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in package.rglob("*.py"))),
        )
    return _CODE_STAMP


_CODE_STAMP: tuple | None = None


def _store_privately(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (a temporary file beside it, then rename); errors are ignored."""
    try:
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=target.name, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, target)
        entries = sorted(target.parent.glob("inventory-*.pickle"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in entries[DISK_CACHE_ENTRIES:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


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
    fail_run_on = defaults.get("fail_run_on", "critical")
    if fail_run_on not in FAIL_RUN_ON_VALUES:
        v.fail("defaults.fail_run_on", f"must be one of {list(FAIL_RUN_ON_VALUES)}, got {fail_run_on!r}")
    lock_wait_s = defaults.get("lock_wait_s", 900)
    if isinstance(lock_wait_s, bool) or not isinstance(lock_wait_s, (int, float)) or lock_wait_s < 0:
        v.fail("defaults.lock_wait_s", f"must be a number of seconds >= 0, got {lock_wait_s!r}")
    kind_overrides = v.mapping(defaults.get("thresholds", {}), "defaults.thresholds")
    for kind, overrides in kind_overrides.items():
        if kind not in all_kinds():
            v.fail(f"defaults.thresholds.{kind}", f"unknown kind; expected one of {list(all_kinds())}")
        v.thresholds(kind, v.mapping(overrides, f"defaults.thresholds.{kind}"), f"defaults.thresholds.{kind}")
    v.default_weekly(defaults.get("weekly"))
    v.default_backup = v.backup_settings(v.mapping(defaults.get("backup"), "defaults.backup"), "defaults.backup")

    targets_raw = raw.get("targets")
    if not isinstance(targets_raw, list) or not targets_raw:
        v.fail("targets", "must be a non-empty list of targets")
    targets: list[Target] = []
    seen: set[str] = set()
    for i, t in enumerate(targets_raw):
        target = v.target(t, f"targets[{i}]", default_timeout, kind_overrides)
        if target.name in seen:
            v.fail(f"targets[{i}].name", f"duplicate target name {target.name!r}")
        if target.name == AEGIS_TARGET:
            v.fail(f"targets[{i}].name", f"{AEGIS_TARGET!r} is reserved: the catalog's name for Aegis's own metrics")
        seen.add(target.name)
        targets.append(target)

    schedules = {}
    for routine, s in v.mapping(raw.get("schedules", {}), "schedules").items():
        if routine not in SCHEDULED_ROUTINES:  # a misspelt routine would silently keep its default schedule
            v.fail(f"schedules.{routine}", f"unknown routine; expected one of {list(SCHEDULED_ROUTINES)}")
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
            v.fail(
                f"alerting.{key}",
                "unknown key; expected slack_webhook_conn_id, webhook_conn_id, smtp_conn_id, email_to",
            )
    if alerting.get("smtp_conn_id") and not alerting.get("email_to"):
        v.fail("alerting.email_to", "required when alerting.smtp_conn_id is set")

    maintenance = v.mapping(raw.get("maintenance", {}), "maintenance")
    for key in maintenance:
        if key != "redis_conn_id":
            v.fail(f"maintenance.{key}", "unknown key; expected redis_conn_id")
    return Inventory(
        path=path,
        check_tasks=check_tasks,
        fail_run_on=fail_run_on,
        lock_wait_s=float(lock_wait_s),
        timeout_seconds=default_timeout,
        maintenance_redis_conn_id=maintenance.get("redis_conn_id"),
        security=v.security(raw.get("security")),
        audit=v.audit(raw.get("audit")),
        update=v.update_section(raw.get("update")),
        targets=tuple(targets),
        schedules=schedules,
        artifacts_base=base.rstrip("/"),
        artifacts_conn_id=artifacts.get("conn_id"),
        catalog_conn_id=catalog.get("conn_id"),
        catalog_path=_resolve(path, catalog.get("path", str(REPO_ROOT / ".aegis" / "catalog.db"))),
        alerting=alerting,
        incidents=_incident_settings(v, raw),
    )


def _incident_settings(v: _Validator, raw: dict):
    """``oncall:`` and ``incidents:`` checked by :mod:`include.incidents.settings`."""
    from include.incidents.settings import SettingsError, parse

    try:
        return parse(raw.get("oncall"), raw.get("incidents"))
    except SettingsError as exc:
        v.fail(exc.where, str(exc).split(": ", 1)[1])


def _resolve(inventory_file: Path, value: str) -> str:
    """Relative paths in the inventory are relative to the inventory file's folder."""
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else (inventory_file.parent / p).resolve())


class _Validator:
    def __init__(self, path: Path):
        self.path = path
        self.default_apply: list[str] = []  # defaults.weekly.apply
        self.default_backup: dict[str, Any] = dict(BACKUP_DEFAULTS)  # BACKUP_DEFAULTS with defaults.backup

    def default_weekly(self, raw: Any) -> None:
        """``defaults.weekly``: only ``apply`` (every other weekly setting belongs to one kind)."""
        from include.weekly import all_steps

        raw = self.mapping(raw, "defaults.weekly")
        for key in raw:
            if key != "apply":
                self.fail(f"defaults.weekly.{key}", "unknown key; expected apply (the other settings are per target)")
        self.default_apply = self.steps(raw.get("apply", []), "defaults.weekly.apply", sorted(all_steps()), "any kind")

    def steps(self, value: Any, where: str, allowed: list[str], whose: str) -> list[str]:
        """A list of destructive step names out of ``allowed`` (a clear error naming the unknown one)."""
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            self.fail(where, f"must be a list of step names ({', '.join(allowed) or 'none'}), got {value!r}")
        for step in value:
            if step not in allowed:
                self.fail(
                    where,
                    f"unknown step {step!r}; the steps of {whose}: {', '.join(allowed) or 'none (nothing destructive)'}",
                )
        return list(dict.fromkeys(value))

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
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            self.fail(where, f"must be a positive number (finite), got {value!r}")
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
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                self.fail(f"{where}.{key}", f"must be a number (finite), got {value!r}")
            out[key] = float(value)
        merged = {**known, **out}
        for key in merged:
            if key.endswith("_warning_pct") and key.replace("_warning_", "_critical_") in merged:
                crit_key = key.replace("_warning_", "_critical_")
                if merged[key] > merged[crit_key]:
                    self.fail(
                        f"{where}.{key}",
                        f"warning ({merged[key]:g}) is above critical {crit_key} ({merged[crit_key]:g})",
                    )
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
        thresholds.update(
            self.thresholds(kind, self.mapping(t.get("thresholds", {}), f"{where}.thresholds"), f"{where}.thresholds")
        )
        # re-check ordering on the fully merged set
        self.thresholds(kind, thresholds, f"{where}.thresholds")
        timeout = self.positive(t.get("timeout_seconds", default_timeout), f"{where}.timeout_seconds")
        options = {}
        for key, (typ, default) in kind_spec.fields.items():
            value = t.get(key, default)
            if value is None:
                self.fail(f"{where}.{key}", f"required for kind {kind!r}")
            if not _is_field_type(value, typ):
                self.fail(f"{where}.{key}", f"must be {getattr(typ, '__name__', typ)}, got {value!r}")
            options[key] = value
        backup = self.backup(kind, t.get("backup"), f"{where}.backup")
        weekly = self.weekly(kind, t.get("weekly"), f"{where}.weekly")
        update = self.target_update(kind, t.get("update"), f"{where}.update")
        if kind_spec.validate is not None:
            kind_spec.validate(options, _FieldErrors(self, where))
        return Target(
            name,
            kind,
            conn_id,
            tuple(tags),
            thresholds,
            timeout,
            options,
            str(t.get("description", "")),
            backup,
            weekly,
            self.queue(kind, t.get("queue"), where),
            update,
        )

    def queue(self, kind: str, raw: Any, where: str) -> str:
        """The target's Celery queue; a worker-local kind must name one in distributed mode."""
        if raw is None:
            if os.environ.get("AEGIS_DISTRIBUTED") and spec(kind).worker_local:
                self.fail(
                    f"{where}.queue",
                    f"kind {kind!r} works on files of the machine its task runs on; in "
                    "distributed mode (AEGIS_DISTRIBUTED) name the queue of the worker on that machine",
                )
            return DEFAULT_QUEUE
        queue = self.string(raw, f"{where}.queue")
        if not NAME_RE.match(queue):
            self.fail(f"{where}.queue", f"{queue!r} must be lower-case letters, digits, '_', '.', '-' (max 63)")
        return queue

    def backup(self, kind: str, raw: Any, where: str) -> dict[str, Any]:
        if not spec(kind).backup:
            if raw is not None:
                self.fail(where, f"kind {kind!r} has no backup; backups exist for {sorted(kinds_with('backup'))}")
            return {}
        return self.backup_settings(self.mapping(raw, where), where, self.default_backup)

    def backup_settings(self, raw: dict, where: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
        """``raw`` over ``base`` (BACKUP_DEFAULTS), each key known and of the defaults' type."""
        out = dict(base or BACKUP_DEFAULTS)
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
        for key in ("jobs", "keep_last", "retention_days"):  # 0 kept sets / 0 days would delete every set
            if out[key] < 1:
                self.fail(f"{where}.{key}", f"must be at least 1, got {out[key]!r}")
        if out["compress"] > 9:
            self.fail(f"{where}.compress", f"must be a compression level from 0 to 9, got {out['compress']!r}")
        if bool(out["verify_prometheus_conn_id"]) != bool(out["verify_node_instance"]):
            missing = "verify_node_instance" if out["verify_prometheus_conn_id"] else "verify_prometheus_conn_id"
            self.fail(
                f"{where}.{missing}",
                "verify_prometheus_conn_id and verify_node_instance go together (the Prometheus that scrapes the"
                " scratch server's node_exporter, and that exporter's instance label)",
            )
        mount = out["verify_data_mountpoint"]
        if mount and (not mount.startswith("/") or not out["verify_node_instance"]):
            self.fail(
                f"{where}.verify_data_mountpoint",
                f"must be an absolute path (a node_exporter mountpoint label) used with verify_node_instance,"
                f" got {mount!r}",
            )
        return out

    def weekly(self, kind: str, raw: Any, where: str) -> dict[str, Any]:
        """The concern's DEFAULTS merged with ``weekly:``: known keys, the defaults' types, its own checks;
        ``apply`` defaults to the kind's steps named in ``defaults.weekly.apply``."""
        from include.weekly import concern_module, defaults_for, steps_of

        if not spec(kind).weekly:
            if raw is not None:
                self.fail(
                    where, f"kind {kind!r} has no weekly maintenance; it exists for {sorted(kinds_with('weekly'))}"
                )
            return {}
        raw = self.mapping(raw, where)
        defaults = {**WEEKLY_COMMON, **defaults_for(kind)}
        steps = sorted(steps_of(kind))
        out = {**defaults, "apply": [s for s in self.default_apply if s in steps]}
        for key, value in raw.items():
            if key not in defaults:
                self.fail(f"{where}.{key}", f"unknown weekly setting for kind {kind!r}; known: {sorted(defaults)}")
            problem = _type_problem(defaults[key], value)
            if problem:
                self.fail(f"{where}.{key}", problem)
            out[key] = value
        if "apply" in raw:
            out["apply"] = self.steps(raw["apply"], f"{where}.apply", steps, f"kind {kind!r}")
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

    def folders(self, value: Any, where: str) -> list[str]:
        """A list of folders, relative ones to the inventory file, symlinks resolved."""
        if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
            self.fail(where, f"must be a list of folders, got {value!r}")
        return [os.path.realpath(_resolve(self.path, p)) for p in value]

    def target_update(self, kind: str, raw: Any, where: str) -> dict[str, Any]:
        """The kind's ``update_settings`` merged with the target's ``update:`` block (folders resolved)."""
        defaults = spec(kind).update_settings
        if not defaults:
            if raw is not None:
                self.fail(
                    where,
                    f"kind {kind!r} takes no update settings; they exist for "
                    f"{sorted(k for k in all_kinds() if spec(k).update_settings)}",
                )
            return {}
        raw = self.mapping(raw, where)
        out = {key: list(value) if isinstance(value, list) else value for key, value in defaults.items()}
        for key, value in raw.items():
            if key not in defaults:
                self.fail(f"{where}.{key}", f"unknown update setting for kind {kind!r}; known: {sorted(defaults)}")
            out[key] = value
        if "migration_roots" in out:
            out["migration_roots"] = self.folders(out["migration_roots"], f"{where}.migration_roots")
        if "packages" in out and (
            not isinstance(out["packages"], list) or not all(isinstance(p, str) and p for p in out["packages"])
        ):
            self.fail(f"{where}.packages", f"must be a list of package names or patterns, got {out['packages']!r}")
        return out

    def update_section(self, raw: Any) -> dict[str, Any]:
        """The top-level ``update:`` section (see :data:`UPDATE_DEFAULTS`)."""
        raw = self.mapping(raw, "update")
        for key in raw:
            if key not in UPDATE_DEFAULTS:
                self.fail(f"update.{key}", f"unknown key; expected one of {sorted(UPDATE_DEFAULTS)}")
        commands = raw.get("release_commands", [])
        if not isinstance(commands, list) or not all(
            isinstance(c, list) and c and all(isinstance(a, str) and a for a in c) for c in commands
        ):
            self.fail(
                "update.release_commands",
                f"must be a list of argv prefixes (non-empty lists of strings), got {commands!r}",
            )
        hosts = raw.get("http_hosts")
        if hosts is not None and (not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts)):
            self.fail("update.http_hosts", f"must be a list of host or host:port names, got {hosts!r}")
        return {
            "release_roots": self.folders(raw.get("release_roots", []), "update.release_roots"),
            "release_commands": [list(c) for c in commands],
            "http_hosts": None if hosts is None else [h.lower() for h in hosts],
        }

    def security(self, raw: Any) -> dict[str, Any]:
        raw = self.mapping(raw, "security")
        out = dict(SECURITY_DEFAULTS)
        for key in raw:
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

    def audit(self, raw: Any) -> dict[str, Any]:
        """AUDIT_DEFAULTS merged with ``audit:``; objectives are positive numbers, targets are known names."""
        raw = self.mapping(raw, "audit")
        out = dict(AUDIT_DEFAULTS)
        for key, value in raw.items():
            if key not in AUDIT_DEFAULTS:
                self.fail(f"audit.{key}", f"unknown key; expected one of {sorted(AUDIT_DEFAULTS)}")
            problem = (
                _type_problem(AUDIT_DEFAULTS[key], value)
                if AUDIT_DEFAULTS[key] is not None
                else (None if isinstance(value, str) and value else f"must be a target name, got {value!r}")
            )
            if problem:
                self.fail(f"audit.{key}", problem)
            out[key] = value
        out["sysctl_root"] = _resolve(self.path, out["sysctl_root"])
        out["objectives"] = {**AUDIT_DEFAULTS["objectives"], **self._objectives(out["objectives"], "audit.objectives")}
        out["target_objectives"] = {
            name: self._objectives(
                self.mapping(o, f"audit.target_objectives.{name}"), f"audit.target_objectives.{name}"
            )
            for name, o in out["target_objectives"].items()
        }
        return out

    def _objectives(self, raw: dict, where: str) -> dict[str, float]:
        for key, value in raw.items():
            if key not in AUDIT_DEFAULTS["objectives"]:
                self.fail(
                    f"{where}.{key}", f"unknown objective; expected one of {sorted(AUDIT_DEFAULTS['objectives'])}"
                )
            self.positive(value, f"{where}.{key}")
        return {k: float(v) for k, v in raw.items()}


class _FieldErrors:
    """What a kind's validation hook may do: refuse one of the target's fields, resolve a path."""

    def __init__(self, validator: _Validator, where: str):
        self.validator, self.where = validator, where

    def fail(self, key: str, reason: str) -> NoReturn:
        self.validator.fail(f"{self.where}.{key}", reason)

    def resolve(self, path: str) -> str:
        return _resolve(self.validator.path, path)


def _is_field_type(value: Any, typ: type | tuple[type, ...]) -> bool:
    """Whether ``value`` is of a kind field's declared type(s); true or false is a value only of a bool field
    (not of an int one, although Python's bool is an int)."""
    types = typ if isinstance(typ, tuple) else (typ,)
    return isinstance(value, types) and (not isinstance(value, bool) or bool in types)


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
