"""The inventory is validated as a whole; every mistake names file, field and reason."""

import pytest

from include.inventory import InventoryError, load_inventory, parse_inventory
from tests.helpers import REPO, write_inventory


def test_demo_inventory_loads_with_seed_defaults():
    inv = load_inventory(REPO / "config" / "inventory.yaml")
    host = inv.target("this-host")
    assert host.thresholds["disk_warning_pct"] == 75
    assert host.thresholds["disk_critical_pct"] == 85
    assert inv.schedule("daily_health_check", "x").timezone == "Asia/Seoul"
    assert {t.kind for t in inv.targets} >= {"host", "postgres", "mysql", "redis", "milvus", "log_source"}


def test_overrides_per_target_and_per_kind(tmp_path):
    inv = parse_inventory(
        {
            "defaults": {"thresholds": {"host": {"disk_warning_pct": 60}}},
            "targets": [
                {"name": "a", "kind": "host"},
                {"name": "b", "kind": "host", "thresholds": {"disk_warning_pct": 70, "disk_critical_pct": 80}},
            ],
        },
        tmp_path / "inv.yaml",
    )
    assert inv.target("a").thresholds["disk_warning_pct"] == 60
    assert inv.target("a").thresholds["disk_critical_pct"] == 85
    assert inv.target("b").thresholds["disk_critical_pct"] == 80


@pytest.mark.parametrize(
    "target, field, reason",
    [
        ({"name": "x", "kind": "postgress", "conn_id": "c"}, "targets[0].kind", "unknown kind 'postgress'"),
        ({"name": "x", "kind": "postgres"}, "targets[0].conn_id", "non-empty string"),
        (
            {"name": "x", "kind": "host", "thresholds": {"disk_warning_pct": "high"}},
            "targets[0].thresholds.disk_warning_pct",
            "must be a number",
        ),
        (
            {"name": "x", "kind": "host", "thresholds": {"disk_warning_pct": 90}},
            "targets[0].thresholds.disk_warning_pct",
            "above critical",
        ),
        (
            {"name": "x", "kind": "host", "thresholds": {"disk_warn": 90}},
            "targets[0].thresholds.disk_warn",
            "unknown threshold",
        ),
        (
            {"name": "x", "kind": "redis", "conn_id": "r", "timeout_seconds": 0},
            "targets[0].timeout_seconds",
            "positive",
        ),
        ({"name": "x", "kind": "log_source"}, "targets[0].paths", "required"),
        (
            {"name": "x", "kind": "log_source", "paths": ["/a"], "pattern": "("},
            "targets[0].pattern",
            "regular expression",
        ),
        ({"name": "Bad Name", "kind": "host"}, "targets[0].name", "lower-case"),
        ({"name": "x", "kind": "host", "colour": "red"}, "targets[0].colour", "unknown field"),
    ],
)
def test_each_mistake_names_file_field_and_reason(tmp_path, target, field, reason):
    path = write_inventory(tmp_path, "targets: []\n")
    with pytest.raises(InventoryError) as err:
        parse_inventory({"targets": [target]}, path)
    assert err.value.field == field
    assert reason in err.value.reason
    assert str(path) in str(err.value) and field in str(err.value)


def test_file_level_mistakes(tmp_path):
    with pytest.raises(InventoryError, match="file not found"):
        load_inventory(tmp_path / "missing.yaml")
    bad = write_inventory(tmp_path, "targets: [\n")
    with pytest.raises(InventoryError, match="not valid YAML"):
        load_inventory(bad)
    with pytest.raises(InventoryError, match=r"'targets\[0\].name': 'aegis' is reserved"):
        parse_inventory({"targets": [{"name": "aegis", "kind": "host"}]})
    with pytest.raises(InventoryError, match="duplicate target name 'a'"):
        parse_inventory({"targets": [{"name": "a", "kind": "host"}, {"name": "a", "kind": "host"}]})
    with pytest.raises(InventoryError, match="schedules.daily_health_check.cron"):
        parse_inventory(
            {"targets": [{"name": "a", "kind": "host"}], "schedules": {"daily_health_check": {"cron": "every day"}}}
        )
    with pytest.raises(InventoryError, match="unknown timezone"):
        parse_inventory(
            {
                "targets": [{"name": "a", "kind": "host"}],
                "schedules": {"daily_health_check": {"cron": "0 9 * * *", "timezone": "Mars/Base"}},
            }
        )


def test_selection_by_name_and_tag_refuses_unknown_names():
    inv = parse_inventory(
        {
            "targets": [
                {"name": "a", "kind": "host", "tags": ["x"]},
                {"name": "b", "kind": "host", "tags": ["y"]},
                {"name": "c", "kind": "host", "tags": ["x", "y"]},
            ]
        }
    )
    assert [t.name for t in inv.select(tags=["x"])] == ["a", "c"]
    assert [t.name for t in inv.select(names=["b", "c"], tags=["x"])] == ["c"]
    assert len(inv.select()) == 3
    with pytest.raises(InventoryError, match="unknown target name"):
        inv.select(names=["zzz"])


def test_relative_paths_resolve_against_the_inventory_file(tmp_path):
    inv = parse_inventory(
        {
            "catalog": {"path": "cat.db"},
            "artifacts": {"base": "out"},
            "targets": [{"name": "l", "kind": "log_source", "paths": ["logs/*.log"]}],
        },
        tmp_path / "inv.yaml",
    )
    assert inv.catalog_path == str(tmp_path / "cat.db")
    assert inv.artifacts_base == f"file://{tmp_path / 'out'}"
    assert inv.target("l").options["paths"] == [str(tmp_path / "logs" / "*.log")]


def test_production_example_inventory_is_valid():
    inv = load_inventory(REPO / "config" / "inventory.production.yaml")
    assert inv.catalog_conn_id == "aegis_catalog"
    assert inv.artifacts_base.startswith("s3://")
    from include.kinds import all_kinds

    assert {t.kind for t in inv.targets} == set(all_kinds())  # the example shows every kind


def test_compose_file_is_the_distributed_deployment():
    import yaml

    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    env = compose["x-aegis-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert {
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-worker-1",
        "airflow-triggerer",
        "postgres",
        "redis",
    } <= set(compose["services"])
    load_inventory(REPO / "config" / env["AEGIS_INVENTORY"].rsplit("/", 1)[1])


def test_update_allow_lists_are_validated_and_resolved(tmp_path):
    """The planned update's allow-lists: a target's update: block (kinds with update_settings) and the
    top-level update: section; folders resolved relative to the inventory file, symlinks followed."""
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real")
    inv = parse_inventory(
        {
            "update": {"release_roots": ["via"], "release_commands": [["systemctl", "restart"]]},
            "targets": [{"name": "pg", "kind": "postgres", "conn_id": "pg", "update": {"migration_roots": ["via"]}}],
        },
        tmp_path / "inventory.yaml",
    )
    assert inv.target("pg").update == {"migration_roots": [str((tmp_path / "real").resolve())]}
    assert inv.update == {
        "release_roots": [str((tmp_path / "real").resolve())],
        "release_commands": [["systemctl", "restart"]],
        "http_hosts": None,
    }
    for raw, field in [
        (
            {"targets": [{"name": "c", "kind": "redis", "conn_id": "c", "update": {"migration_roots": ["/x"]}}]},
            "targets[0].update",
        ),
        (
            {"targets": [{"name": "p", "kind": "postgres", "conn_id": "p", "update": {"roots": ["/x"]}}]},
            "targets[0].update.roots",
        ),
        (
            {
                "update": {"release_commands": ["systemctl restart game"]},
                "targets": [{"name": "c", "kind": "redis", "conn_id": "c"}],
            },
            "update.release_commands",
        ),
        (
            {"update": {"http_hosts": "127.0.0.1"}, "targets": [{"name": "c", "kind": "redis", "conn_id": "c"}]},
            "update.http_hosts",
        ),
    ]:
        with pytest.raises(InventoryError) as err:
            parse_inventory(raw)
        assert err.value.field == field, str(err.value)


@pytest.mark.parametrize("key", ["keep_last", "retention_days", "jobs"])
def test_backup_settings_refuse_zero(key):
    """0 kept sets or 0 days of retention would let the retention delete every set."""
    with pytest.raises(InventoryError) as err:
        parse_inventory({"targets": [{"name": "p", "kind": "postgres", "conn_id": "p", "backup": {key: 0}}]})
    assert err.value.field == f"targets[0].backup.{key}" and "at least 1" in str(err.value)


def test_unreadable_inventory_files_name_the_file_and_line(tmp_path):
    """A folder where the file should be, a tab-indented file, an empty one: an InventoryError naming the file
    (and, for YAML, the line), never a bare OSError from deep inside a DAG file."""
    folder = tmp_path / "inventory.yaml"
    folder.mkdir()
    with pytest.raises(InventoryError, match=r"inventory\.yaml.*is a folder, not a YAML file"):
        load_inventory(folder)
    tabbed = tmp_path / "tabbed.yaml"
    tabbed.write_text("targets:\n\t- name: a\n\t  kind: host\n")
    with pytest.raises(InventoryError, match=r"(?s)tabbed\.yaml.*a tab character.*line 2") as err:
        load_inventory(tabbed)
    assert "column 1" in str(err.value)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(InventoryError, match=r"empty\.yaml.*top level must be a mapping"):
        load_inventory(empty)
