"""Update plan: pending updates the machine can tell without the network, ordered by severity, each
proposed as a ready ``planned_update`` conf (dry run, to be reviewed before it runs).

- this Python environment against the local OSV advisory folder (the weekly scan,
  :func:`include.security.scan_packages`);
- the host's packages from the package manager's cached lists (``apt list --upgradable``, bounded by
  :data:`APT_TIMEOUT_S`; no ``apt-get update``: the lists are whatever the host last fetched), each proposed
  as a ``host_packages`` update of the inventory's host target (ready when its ``update.packages`` allows the
  package; the host's daily check is the implied post-update test);
- database server versions against the versions the inventory declares current (``audit.current_versions``,
  by target name or kind: ``{postgres: "17.6"}``).

Reads only: a version query per database target and the package manager's local lists.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

APT_TIMEOUT_S = 60
#: Order of the plan: most urgent first.
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
APT_LINE = re.compile(r"^(?P<name>[^/\s]+)/(?P<suite>\S+)\s+(?P<new>\S+)\s+\S+\s+\[upgradable from: (?P<old>[^\]]+)\]")


def proposal(targets: list[str], change: str, command: list[str]) -> dict[str, Any]:
    """A ``planned_update`` conf for one update (kind ``release_switch``: the command runs after the switch,
    the targets' alerts are silenced and clients drained; dry run): ``release_root`` is filled from the
    inventory by :func:`made_ready`. Host packages have a kind of their own (:func:`packages_proposal`)."""
    return {
        "dry_run": True,
        "update_kind": "release_switch",
        "targets": targets,
        "release_root": "",
        "release_version": re.sub(r"[^A-Za-z0-9._+-]+", "_", change).strip("_"),
        "release_command": command,
        "window_minutes": 60,
    }


def packages_proposal(host: str, name: str) -> dict[str, Any]:
    """A ``planned_update`` conf upgrading one host package (kind ``host_packages``, dry run: apt's simulation)."""
    return {
        "dry_run": True,
        "update_kind": "host_packages",
        "update_target": host,
        "targets": [host],
        "packages": [name],
        "command_timeout_seconds": 1800,
        "window_minutes": 60,
    }


def made_ready(inventory, conf: dict[str, Any], now: datetime) -> tuple[dict[str, Any], str | None]:
    """The conf (a ``release_switch`` one with ``release_root`` filled from the inventory's
    ``update.release_roots`` when exactly one is allowed) and why it is not ready (None: it passes the planned
    update's form as it is).

    Ready means :func:`include.update.plan.build_plan` accepts it (validation only: nothing is run). For a
    release switch: the root allowed, ``<root>/releases/<release_version>`` prepared, the command starting
    with an allowed prefix (``update.release_commands``); for host packages: the package in the host target's
    ``update.packages``; for both the targets in the inventory and a post-update test implied.
    """
    from include.update.plan import build_plan
    from include.update.strategies.base import PlanError

    ready = conf
    if conf["update_kind"] == "release_switch":
        roots = inventory.update["release_roots"]
        if len(roots) != 1:
            allowed = "none is" if not roots else f"{len(roots)} are ({', '.join(map(str, roots))}): choose one"
            return conf, f"release_root: {allowed} allowed (inventory update.release_roots)"
        ready = {**conf, "release_root": str(roots[0])}
    try:
        build_plan(inventory, ready, now)
    except PlanError as exc:
        return ready, str(exc)
    return ready, None


def item(
    severity: str, source: str, subject: str, current: str, proposed: str, why: str, conf: dict[str, Any]
) -> dict[str, Any]:
    return {
        "severity": severity,
        "source": source,
        "subject": subject,
        "current": current,
        "proposed": proposed,
        "why": why,
        "planned_update_conf": conf,
    }


def python_items(scan: dict[str, Any]) -> list[dict[str, Any]]:
    """Known-vulnerable packages of this environment (the weekly OSV scan's matches)."""
    out = []
    for m in scan.get("details", {}).get("vulnerable", []):
        fixed = m["fixed"][0] if m["fixed"] else ""
        out.append(
            item(
                m["level"],
                "python (OSV)",
                m["package"],
                m["version"],
                fixed or "no fix yet",
                f"{m['id']}: {m['summary']}".strip(": "),
                proposal(
                    ["airflow-environment"],
                    f"{m['package']}=={fixed}" if fixed else m["package"],
                    [".venv/bin/pip", "install", f"{m['package']}=={fixed}"] if fixed else [],
                ),
            )
        )
    return out


def apt_upgradable(run: Callable[[list[str], float], str] | None = None) -> tuple[list[dict[str, str]], str | None]:
    """(upgradable packages, why not checked) from the cached lists; ``run(argv, timeout)`` is the seam."""
    if run is None:
        if shutil.which("apt") is None:
            return [], "no apt on this host: host packages not checked"

        def run(argv: list[str], timeout: float) -> str:
            return subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=True,
                env={"LANG": "C", "PATH": "/usr/bin:/bin"},
            ).stdout

    try:
        text = run(["apt", "list", "--upgradable"], APT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return [], f"apt list --upgradable did not answer within {APT_TIMEOUT_S}s: host packages not checked"
    except (OSError, subprocess.CalledProcessError) as exc:
        return [], f"apt list --upgradable failed ({type(exc).__name__}): host packages not checked"
    return [m.groupdict() for m in map(APT_LINE.match, text.splitlines()) if m], None


def apt_items(packages: list[dict[str, str]], host: str) -> list[dict[str, Any]]:
    """Upgradable host packages: from a ``-security`` suite a warning, else info; each a ``host_packages``
    proposal for ``host`` (the inventory's host target; empty: none, so not ready)."""
    return [
        item(
            "warning" if "security" in p["suite"] else "info",
            "host packages (apt)",
            p["name"],
            p["old"],
            p["new"],
            f"upgradable from {p['suite']}",
            packages_proposal(host, p["name"]),
        )
        for p in packages
    ]


def server_version(target, endpoint) -> str:
    """The version a database server reports (one read-only query)."""
    return VERSION_READERS[target.kind](endpoint, target.timeout_seconds)


def _postgres_version(endpoint, timeout_s: float) -> str:
    from include.clients.postgres import connect

    with connect(endpoint, timeout_s, application_name="aegis-monthly-audit") as conn:
        row = conn.execute("show server_version").fetchone()
    return str(row[0]).split()[0] if row else "unknown"


def _mysql_version(endpoint, timeout_s: float) -> str:
    from include.clients.mysql import connect

    conn = connect(endpoint, timeout_s)
    try:
        cur = conn.cursor()
        cur.execute("SELECT VERSION()")
        return str(cur.fetchone()[0]).split("-")[0]
    finally:
        conn.close()


def _redis_version(endpoint, timeout_s: float) -> str:
    from include.clients.redis import connect

    client = connect(endpoint, timeout_s)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()


#: How each kind's server version is read (the one place per kind this module opens a connection).
VERSION_READERS: dict[str, Callable[[Any, float], str]] = {
    "postgres": _postgres_version,
    "mysql": _mysql_version,
    "redis": _redis_version,
}
VERSION_KINDS = tuple(VERSION_READERS)


def numbers(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:3])


def server_item(target, running: str, current: str) -> dict[str, Any] | None:
    """An update when the server runs an older version than the declared current one (same major: warning)."""
    if numbers(running) >= numbers(current):
        return None
    same_major = numbers(running)[:1] == numbers(current)[:1]
    return item(
        "warning" if same_major else "info",
        f"{target.kind} server",
        target.name,
        running,
        current,
        "minor update behind the declared current version"
        if same_major
        else "major version behind the declared current one (plan a migration)",
        proposal([target.name], f"{target.kind} {current}", []),
    )


def update_plan(
    inventory,
    targets,
    packages_scan: dict[str, Any],
    apt: tuple[list[dict[str, str]], str | None],
    versions: dict[str, str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """The plan: every item, most urgent first, with what could not be checked. Each item's conf is made
    ready where it can be (:func:`made_ready`); ``not_ready`` says why not (None: ready)."""
    now = now or datetime.now(UTC)
    items = python_items(packages_scan)
    hosts = [t.name for t in [*targets, *inventory.targets] if t.kind == "host"]  # the audited one first
    host = hosts[0] if hosts else ""
    items += apt_items(apt[0], host)
    declared = inventory.audit["current_versions"]
    for t in targets:
        current = declared.get(t.name) or declared.get(t.kind)
        if t.name in versions and current:
            found = server_item(t, versions[t.name], str(current))
            if found:
                items.append(found)
    for i in items:
        i["planned_update_conf"], i["not_ready"] = made_ready(inventory, i["planned_update_conf"], now)
    items.sort(key=lambda i: (SEVERITY_ORDER.get(i["severity"], 3), i["source"], i["subject"]))
    notes = [n for n in (apt[1], packages_scan.get("details", {}).get("note")) if n and ("not" in n or "skipped" in n)]
    return {"items": items, "server_versions": versions, "notes": notes}
