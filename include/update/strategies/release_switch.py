"""``release_switch``: ``<root>/current`` switched atomically to ``releases/<version>`` on the host running
the task (:mod:`include.update.release`), then an optional command; undone by switching back (and
running the command again)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.update.strategies.base import PlanError, UpdateStrategy, number

if TYPE_CHECKING:
    from include.inventory import Inventory, Target
    from include.update.plan import UpdatePlan

VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")


@dataclass(frozen=True)
class ReleasePart:
    """The release folder, the version to switch to, and the command (argv) run after each switch."""

    root: str
    version: str
    command: list[str] = field(default_factory=list)
    command_timeout_s: float = 300.0


class ReleaseSwitch(UpdateStrategy):
    name = "release_switch"
    part_key = "release"

    def plan_part(self, target: Target | None, params: Mapping[str, Any], allowed: Mapping[str, Any]) -> ReleasePart:
        from include.update.allow_lists import command_allowed, file_inside, folder_inside

        version = str(params.get("release_version") or "")
        if not VERSION_RE.match(version):
            raise PlanError(
                "release_version", f"must be a release folder name (letters, digits, . _ + -), got {version!r}"
            )
        root = str(
            folder_inside(
                str(params.get("release_root") or ""), allowed["release_roots"], "release_root", "update.release_roots"
            )
        )
        if not (Path(root) / "releases" / version).is_dir():
            raise PlanError("release_version", f"{root}/releases/{version} is not a folder")
        file_inside(Path(root) / "releases" / version, allowed["release_roots"], "release_version")
        command = params.get("release_command") or []
        if not isinstance(command, list) or not all(isinstance(a, str) and a for a in command):
            raise PlanError("release_command", f"must be a list of arguments (argv), got {command!r}")
        if command:
            command_allowed(command, allowed["release_commands"], "release_command")
        return ReleasePart(
            root, version, command, number(params.get("command_timeout_seconds", 300), "command_timeout_seconds")
        )

    def part_from_dict(self, raw: Mapping[str, Any]) -> ReleasePart:
        return ReleasePart(raw["root"], raw["version"], list(raw["command"]), float(raw["command_timeout_s"]))

    def describe(self, plan: UpdatePlan) -> str:
        r = _part(plan)
        return f"switch {r.root}/current to releases/{r.version}" + (f", then run {r.command}" if r.command else "")

    def wanted(self, plan: UpdatePlan) -> str:
        return _part(plan).version

    def current_version(self, inventory: Inventory, plan: UpdatePlan) -> str | None:
        from include.update.release import current_release

        return current_release(_part(plan).root)

    def apply(self, inventory: Inventory, plan: UpdatePlan, run_id: str, timeout_s: float) -> dict[str, Any]:
        from include.update.release import run_command, switch

        r = _part(plan)
        switched = switch(r.root, r.version)
        out: dict[str, Any] = {"to": switched["to"], "previous_release": switched["from"]}
        if r.command:
            out["command"] = run_command(r.command, f"{r.root}/current", r.command_timeout_s)
        return out

    def undo(
        self, inventory: Inventory, plan: UpdatePlan, update: Mapping[str, Any], backups: list[dict[str, Any]]
    ) -> dict[str, Any]:
        from include.update.release import current_release, run_command, switch

        r = _part(plan)
        previous = update.get("from")
        if previous is None and "from" not in update:
            raise RuntimeError("the update recorded no previous release: cannot tell what to switch back to")
        if previous is None:
            link = Path(r.root) / "current"
            if link.is_symlink():
                link.unlink()
            out: dict[str, Any] = {"how": f"removed {r.root}/current (there was none before the update)"}
        elif current_release(r.root) == previous:
            out = {"how": f"{r.root}/current already points to {previous}"}
        else:
            switch(r.root, previous)
            out = {"how": f"switched {r.root}/current back to releases/{previous}"}
        if r.command and previous is not None:
            out["command"] = run_command(r.command, f"{r.root}/current", r.command_timeout_s)
            out["how"] += f", ran {r.command[0]} again"
        return out


def _part(plan: UpdatePlan) -> ReleasePart:
    assert plan.release is not None, "not a release_switch plan"
    return plan.release
