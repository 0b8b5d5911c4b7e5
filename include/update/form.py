"""The planned update's form: the Params of ``dags/planned_update.py``, grouped in sections.

The pick lists come from the inventory and the strategies (:data:`~include.update.strategies.KINDS`,
targets of :data:`~include.update.strategies.UPDATE_TARGET_KINDS`); :func:`include.update.plan.build_plan`
validates what the form cannot (paths, the kind's required fields, the window).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from include.inventory import Inventory
from include.update.strategies import KINDS, UPDATE_TARGET_KINDS

#: JSON-schema types of a field that may stay empty: with null allowed, Airflow's form does not mark it required
#: (:func:`include.update.plan.build_plan` reads an empty or null field as not given).
OPTIONAL_STRING, OPTIONAL_ARRAY = ["string", "null"], ["array", "null"]

UPDATE, SQL, RELEASE, K8S, PACKAGES, TESTS, WINDOW = (
    "The update",
    "sql_migration",
    "release_switch",
    "k8s_image",
    "host_packages",
    "Post-update tests",
    "Window and maintenance mode",
)


def update_form(inventory: Inventory) -> dict[str, Param]:
    """Every Param of the planned update, with its title, description, default and section."""
    from include.dag_defaults import SharedChoices

    all_targets = SharedChoices(sorted(t.name for t in inventory.targets))
    updatable = SharedChoices([""] + sorted(t.name for t in inventory.targets if t.kind in UPDATE_TARGET_KINDS))

    def field(default: Any, section: str, **schema: Any) -> Param:
        return Param(default, section=section, **schema)

    return {
        "dry_run": field(
            True,
            UPDATE,
            type="boolean",
            title="Dry run",
            description="On: check the plan and say what each step would do; change nothing.",
        ),
        "confirm": field(
            "",
            UPDATE,
            type=OPTIONAL_STRING,
            title="Confirm (live update)",
            description="With dry run off: type the update target's name (release_switch: the release"
            " root) to confirm the change.",
        ),
        "update_kind": field(KINDS[0], UPDATE, type="string", enum=list(KINDS), title="Update kind"),
        "update_target": field(
            "",
            UPDATE,
            type="string",
            enum=updatable,
            title="Update target",
            description="sql_migration: the PostgreSQL/MySQL target; k8s_image: the Kubernetes target;"
            " host_packages: the host target (this machine).",
        ),
        "targets": field(
            [],
            UPDATE,
            type=OPTIONAL_ARRAY,
            items={"type": "string", "enum": all_targets},
            title="Also affected",
            description="Other targets in the window: flagged, drained, backed up, health-checked.",
        ),
        "migrations_folder": field(
            "",
            SQL,
            type=OPTIONAL_STRING,
            title="Migrations folder",
            description="sql_migration: absolute folder of *.sql files, applied in name order.",
        ),
        "database": field(
            "",
            SQL,
            type=OPTIONAL_STRING,
            title="Database",
            description="sql_migration: empty = the target's first database or its connection's.",
        ),
        "release_root": field(
            "",
            RELEASE,
            type=OPTIONAL_STRING,
            title="Release root",
            description="release_switch: folder holding releases/<version>/ and the current link.",
        ),
        "release_version": field("", RELEASE, type=OPTIONAL_STRING, title="Release version"),
        "release_command": field(
            [],
            RELEASE,
            type=OPTIONAL_ARRAY,
            items={"type": "string"},
            title="Command after the switch",
            description='argv, no shell, e.g. ["systemctl", "restart", "game"]. No secrets.',
        ),
        "command_timeout_seconds": field(300, RELEASE, type="integer", minimum=1),
        "deployment": field("", K8S, type=OPTIONAL_STRING, title="Deployment"),
        "container": field("", K8S, type=OPTIONAL_STRING, title="Container"),
        "image": field("", K8S, type=OPTIONAL_STRING, title="New image"),
        "rollout_timeout_seconds": field(300, K8S, type="integer", minimum=1),
        "packages": field(
            [],
            PACKAGES,
            type=OPTIONAL_ARRAY,
            items={"type": "string"},
            title="Packages to upgrade",
            description="host_packages: Debian package names the host target's update.packages allows;"
            " upgraded only (apt-get install --only-upgrade), never installed. Dry run: apt's simulation.",
        ),
        "sql_assertions": field(
            [],
            TESTS,
            type=OPTIONAL_ARRAY,
            items={"type": "object"},
            title="SQL assertions",
            description='[{"target": "db", "sql": "select count(*) from t", "expect": 3}]',
        ),
        "http_checks": field(
            [], TESTS, type=OPTIONAL_ARRAY, items={"type": "string"}, title="HTTP health URLs (expect 200)"
        ),
        "window_start": field(
            "",
            WINDOW,
            type=OPTIONAL_STRING,
            title="Window start",
            description="ISO date-time with offset; empty: now. The run waits (deferred) for it.",
        ),
        "window_minutes": field(60, WINDOW, type="integer", minimum=1, title="Window length (minutes)"),
        "drain_timeout_minutes": field(10, WINDOW, type="number", minimum=0, title="Drain timeout (minutes)"),
        "update_timeout_minutes": field(30, WINDOW, type="number", minimum=1, title="Update timeout (minutes)"),
        "maintenance_configmap": field(
            "",
            WINDOW,
            type=OPTIONAL_STRING,
            title="Maintenance ConfigMap",
            description="Kubernetes targets: ConfigMap whose data.maintenance_mode is set.",
        ),
        "silence_label": field("target", WINDOW, type="string", title="Alert label naming the target"),
    }
