"""``host_packages``: Debian packages of the machine running the task upgraded with ``apt-get install
--only-upgrade`` (never a new package), confined to the host target's allow-list (``update.packages``); the
dry run is apt's own simulation (``apt-get -s``, which only reads); undone by installing the versions
recorded before the upgrade (``pkg=version``, when apt can still get them).

No shell, no ``apt-get update``: apt uses the package lists the host last fetched. A live upgrade needs root;
a worker that is not root is refused before anything is run.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from include.update.strategies.base import PlanError, UpdateStrategy, number

if TYPE_CHECKING:
    from include.inventory import Inventory, Target
    from include.update.plan import UpdatePlan

log = logging.getLogger(__name__)

#: A Debian package name (Debian Policy 5.6.1), optionally with ``:arch``.
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?$")
#: ``Inst <pkg> [<old>] (<new> <origin>...)`` lines of apt's simulation (``[<old>]`` absent: a new package).
SIMULATED = re.compile(r"^Inst (?P<name>\S+)(?: \[(?P<old>[^\]]+)\])? \((?P<new>\S+)")
#: apt's environment: no prompt, no translated messages, a fixed PATH.
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LANG": "C", "LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
READ_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class PackagesPart:
    """The packages to upgrade (names as apt knows them) and how long apt may take."""

    packages: list[str] = field(default_factory=list)
    command_timeout_s: float = 1800.0


def allowed_packages(target: Target) -> list[str]:
    """The host target's allow-list (``update.packages``: names or shell-style patterns like ``libssl*``)."""
    return list(target.update.get("packages") or [])


def check_allowed(packages: list[str], allow: list[str], host: str) -> None:
    """A :class:`PlanError` naming the first package the allow-list does not cover."""
    if not allow:
        raise PlanError(
            "packages",
            f"{host!r} allows no package upgrade: list the packages (or patterns) under its update.packages",
        )
    for name in packages:
        if not any(fnmatch.fnmatchcase(name, pattern) for pattern in allow):
            raise PlanError("packages", f"{name!r} is not in {host}'s update.packages {allow}")


def apt_run(argv: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    """Run an apt/dpkg command (argv, no shell, bounded); a timeout raises naming the command."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False, env=APT_ENV)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{argv[0]} did not finish within {timeout_s:g}s") from None


def installed_versions(packages: list[str]) -> dict[str, str | None]:
    """package -> its installed version (None: not installed), from dpkg's database (reads only)."""
    done = apt_run(["dpkg-query", "-W", "-f=${Package}\t${Version}\t${db:Status-Status}\n", "--", *packages], 60)
    found: dict[str, str] = {}
    for line in done.stdout.splitlines():
        name, _, rest = line.partition("\t")
        version, _, status = rest.partition("\t")
        if status == "installed" and version:
            found[name] = version
    return {p: found.get(p.split(":")[0]) for p in packages}


def simulate(packages: list[str], timeout_s: float) -> dict[str, Any]:
    """apt's simulation of the upgrade (``apt-get -s``: reads only, also as root): what it would upgrade
    (``{pkg: {from, to}}``, dependencies pulled along included) and its summary line. Raises when apt refuses."""
    done = apt_run(["apt-get", "-s", "install", "--only-upgrade", "--", *packages], timeout_s)
    text = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise RuntimeError(f"apt-get -s exited with {done.returncode}: {text[-1500:]}")
    would = {m["name"]: {"from": m["old"], "to": m["new"]} for m in map(SIMULATED.match, done.stdout.splitlines()) if m}
    summary = next((line for line in done.stdout.splitlines() if " upgraded, " in line), "")
    return {"would_upgrade": would, "apt_summary": summary}


class HostPackages(UpdateStrategy):
    name = "host_packages"
    part_key = "packages"
    target_capability = "package_updates"

    def plan_part(self, target: Target | None, params: Mapping[str, Any], allowed: Mapping[str, Any]) -> PackagesPart:
        assert target is not None
        packages = params.get("packages") or []
        if not isinstance(packages, list) or not packages:
            raise PlanError("packages", f"a non-empty list of Debian package names is required, got {packages!r}")
        for name in packages:
            if not isinstance(name, str) or not PACKAGE_RE.match(name):
                raise PlanError("packages", f"{name!r} is not a Debian package name")
        check_allowed(packages, allowed_packages(target), target.name)
        timeout = number(params.get("command_timeout_seconds", 1800), "command_timeout_seconds")
        return PackagesPart(list(dict.fromkeys(packages)), timeout)

    def part_from_dict(self, raw: Mapping[str, Any]) -> PackagesPart:
        return PackagesPart(list(raw["packages"]), float(raw["command_timeout_s"]))

    def describe(self, plan: UpdatePlan) -> str:
        return f"upgrade host package(s) {', '.join(_part(plan).packages)} on {plan.update_target} (apt-get)"

    def wanted(self, plan: UpdatePlan) -> str:
        return ", ".join(f"{p}=(candidate)" for p in _part(plan).packages)

    def current_version(self, inventory: Inventory, plan: UpdatePlan) -> str | None:
        versions = installed_versions(_part(plan).packages)
        return ", ".join(f"{p}={v or '(not installed)'}" for p, v in versions.items())

    def simulate(self, inventory: Inventory, plan: UpdatePlan) -> dict[str, Any]:
        out = simulate(_part(plan).packages, min(_part(plan).command_timeout_s, READ_TIMEOUT_S))
        upgrades = out["would_upgrade"]
        if upgrades:
            out["to"] = ", ".join(f"{p}={v['to']}" for p, v in upgrades.items())
        log.info(
            "DRY RUN: apt would upgrade %s (%s)",
            ", ".join(f"{p} {v['from']} -> {v['to']}" for p, v in upgrades.items()) or "nothing",
            out["apt_summary"],
        )
        return out

    def apply(self, inventory: Inventory, plan: UpdatePlan, run_id: str, timeout_s: float) -> dict[str, Any]:
        part = _part(plan)
        assert plan.update_target is not None
        check_allowed(part.packages, allowed_packages(inventory.target(plan.update_target)), plan.update_target)
        if os.geteuid() != 0:
            error = RuntimeError(f"apt-get needs root to upgrade packages; this worker runs as uid {os.geteuid()}")
            error.untouched = True  # type: ignore[attr-defined]  # refused before apt ran: nothing changed
            raise error
        before = installed_versions(part.packages)
        argv = ["apt-get", "install", "--only-upgrade", "-y", "--", *part.packages]
        log.info("running %s", " ".join(argv))
        done = apt_run(argv, min(part.command_timeout_s, timeout_s))
        if done.returncode != 0:
            raise RuntimeError(f"apt-get exited with {done.returncode}: {(done.stdout + done.stderr).strip()[-1500:]}")
        after = installed_versions(part.packages)
        return {
            "to": ", ".join(f"{p}={v or '(not installed)'}" for p, v in after.items()),
            "upgraded": {p: {"from": before[p], "to": after[p]} for p in part.packages if before[p] != after[p]},
        }

    def undo(
        self, inventory: Inventory, plan: UpdatePlan, update: Mapping[str, Any], backups: list[dict[str, Any]]
    ) -> dict[str, Any]:
        previous = {p: v for p, v in _versions(str(update.get("from") or "")).items() if v}
        now = installed_versions(list(previous))
        back = [f"{p}={v}" for p, v in previous.items() if now.get(p) != v]
        if not back:
            return {"how": "every package is at its version from before the update"}
        done = apt_run(["apt-get", "install", "--allow-downgrades", "-y", "--", *back], _part(plan).command_timeout_s)
        if done.returncode != 0:
            raise RuntimeError(
                f"could not install the previous version(s) {back} (apt may no longer have them):"
                f" {(done.stdout + done.stderr).strip()[-1000:]}"
            )
        return {"how": f"installed the previous version(s) {', '.join(back)}"}


def _versions(text: str) -> dict[str, str | None]:
    """``"a=1.0, b=(not installed)"`` (what :meth:`HostPackages.current_version` records) back as a dict."""
    out: dict[str, str | None] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, version = item.partition("=")
        out[name] = None if version.startswith("(") else version
    return out


def _part(plan: UpdatePlan) -> PackagesPart:
    assert plan.packages is not None, "not a host_packages plan"
    return plan.packages
