"""``sql_migration``: ``*.sql`` files applied in name order to a PostgreSQL or MySQL database
(:mod:`include.update.migrations`); undone by restoring the update target's pre-update backup."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.update.strategies.base import PlanError, UpdateStrategy

if TYPE_CHECKING:
    from include.inventory import Inventory, Target
    from include.targets import Endpoint
    from include.update.plan import UpdatePlan


@dataclass(frozen=True)
class SqlPart:
    """The migration: its folder, the database (None: the connection's) and the files with their SHA-256."""

    folder: str
    database: str | None
    files: list[dict[str, str]] = field(default_factory=list)


class SqlMigration(UpdateStrategy):
    name = "sql_migration"
    part_key = "sql"
    target_capability = "sql_updates"
    needs_backup = True

    def plan_part(self, target: Target | None, params: Mapping[str, Any], allowed: Mapping[str, Any]) -> SqlPart:
        from include.update.allow_lists import file_inside, folder_inside
        from include.update.migrations import migration_files

        assert target is not None
        roots = list(target.update.get("migration_roots") or [])
        folder = str(
            folder_inside(
                str(params.get("migrations_folder") or ""),
                roots,
                "migrations_folder",
                f"{target.name}'s update.migration_roots",
            )
        )
        try:
            files = migration_files(Path(folder))
        except (OSError, ValueError) as exc:
            raise PlanError("migrations_folder", str(exc)) from None
        for f in files:
            file_inside(Path(folder) / f["name"], roots, "migrations_folder")
        database = str(params.get("database") or "") or (target.options.get("databases") or [None])[0]
        if database is None:  # the connection's own database: the one its backup holds when none is listed
            return SqlPart(folder, None, files)
        backed_up = backed_up_databases(target)
        if database not in backed_up:
            raise PlanError(
                "database",
                f"{database!r} is not backed up by {target.name!r} (its backup holds"
                f" {backed_up}): the migration could not be rolled back; list it in the target's"
                " databases or pick one of those",
            )
        return SqlPart(folder, database, files)

    def part_from_dict(self, raw: Mapping[str, Any]) -> SqlPart:
        return SqlPart(raw["folder"], raw["database"], list(raw["files"]))

    def describe(self, plan: UpdatePlan) -> str:
        s = _part(plan)
        return (
            f"apply {len(s.files)} migration file(s) from {s.folder} to {plan.update_target}"
            f" database {s.database or '(the connection default)'}"
        )

    def wanted(self, plan: UpdatePlan) -> str:
        return _part(plan).files[-1]["name"]

    def current_version(self, inventory: Inventory, plan: UpdatePlan) -> str | None:
        from include.update.migrations import current_version

        target, endpoint = _connection(inventory, plan)
        return current_version(target.kind, endpoint, _part(plan).database, target.timeout_seconds)

    def apply(self, inventory: Inventory, plan: UpdatePlan, run_id: str, timeout_s: float) -> dict[str, Any]:
        from include.update.migrations import apply

        s = _part(plan)
        target, endpoint = _connection(inventory, plan)
        result = apply(target.kind, endpoint, s.database, s.folder, s.files, run_id, timeout_s)
        return {"to": result["version"], "applied": result["applied"], "already_applied": result["already_applied"]}

    def undo(
        self, inventory: Inventory, plan: UpdatePlan, update: Mapping[str, Any], backups: list[dict[str, Any]]
    ) -> dict[str, Any]:
        from include.backup.restore import restore_live
        from include.update.rollback import backup_of

        target, endpoint = _connection(inventory, plan)
        backup = backup_of(backups, target.name)
        database = _part(plan).database
        restored = restore_live(
            inventory,
            target,
            endpoint,
            {
                "target": target.name,
                "kind": target.kind,
                "set_id": backup["set_id"],
                "dry_run": False,
                "databases": [database] if database else None,
            },
        )
        out = {
            "how": f"restored database {database} of pre-update backup {backup['set_id']} over {target.name}",
            "set_id": backup["set_id"],
            "seconds": restored.get("seconds"),
        }
        if restored["state"] != "restored":
            out.update(state="failed", reason=restored.get("reason", "restore failed"))
        return out


def backed_up_databases(target: Target) -> list[str]:
    """The databases the target's backup holds: its ``databases`` list, else the connection's own database
    (as :func:`include.backup.postgres.dump` / :func:`include.backup.mysql.dump` pick them)."""
    listed = list(target.options.get("databases") or [])
    if listed:
        return listed
    from include.targets import endpoint_for

    endpoint = endpoint_for(target)
    if target.kind == "postgres":
        from include.clients.postgres import maintenance_database

        return [maintenance_database(endpoint)]
    if not endpoint.schema:
        raise PlanError(
            "update_target",
            f"{target.name!r} lists no databases and its connection names none:"
            " its backup holds nothing a migration could be rolled back from",
        )
    return [endpoint.schema]


def _part(plan: UpdatePlan) -> SqlPart:
    assert plan.sql is not None, "not a sql_migration plan"
    return plan.sql


def _connection(inventory: Inventory, plan: UpdatePlan) -> tuple[Target, Endpoint]:
    """The update target and its endpoint: the one place this kind reaches a connection."""
    from include.targets import endpoint_for

    target = inventory.target(plan.update_target or "")
    return target, endpoint_for(target)
