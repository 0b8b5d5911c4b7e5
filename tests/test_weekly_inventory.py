"""The inventory's per-target ``weekly:`` block and ``security:`` section, validated against the concern modules."""

from __future__ import annotations

import pytest

from include.inventory import InventoryError, parse_inventory
from include.kinds import all_kinds, kinds_with, spec
from include.weekly import concern_module, defaults_for
from tests.helpers import write_inventory


def test_every_registered_module_follows_the_contract():
    assert set(kinds_with("weekly")) == {"postgres", "mysql", "redis", "log_source", "milvus", "neo4j"}
    for kind in kinds_with("weekly"):
        m = concern_module(kind)
        assert m.__name__ == spec(kind).weekly and callable(m.maintain) and isinstance(m.DEFAULTS, dict)
    for kind in set(all_kinds()) - set(kinds_with("weekly")):
        with pytest.raises(KeyError, match="no weekly maintenance"):
            concern_module(kind)
        assert defaults_for(kind) == {}


def test_weekly_block_merges_over_the_module_defaults(tmp_path):
    inv = parse_inventory(
        {
            "targets": [
                {"name": "pg", "kind": "postgres", "conn_id": "pg", "weekly": {"parallelism": 4, "dead_ratio": 1}},
                {
                    "name": "cache",
                    "kind": "redis",
                    "conn_id": "r",
                    "weekly": {"patterns": ["app:tmp:*"], "enabled": False},
                },
                {"name": "pg2", "kind": "postgres", "conn_id": "pg2"},
                {"name": "box", "kind": "host"},
            ]
        },
        tmp_path / "inv.yaml",
    )
    pg = inv.target("pg").weekly
    assert pg["parallelism"] == 4 and pg["dead_ratio"] == 1
    assert pg["max_seconds"] == defaults_for("postgres")["max_seconds"] and pg["enabled"] is True
    assert inv.target("cache").weekly["patterns"] == ["app:tmp:*"] and inv.target("cache").weekly["enabled"] is False
    assert inv.target("pg2").weekly == {"enabled": True, "apply": [], **defaults_for("postgres")}
    assert inv.target("box").weekly == {}
    assert inv.target("pg").with_thresholds({}).weekly == pg  # copies keep the weekly settings


@pytest.mark.parametrize(
    "target, field, reason",
    [
        (
            {"name": "x", "kind": "postgres", "conn_id": "c", "weekly": {"paralelism": 2}},
            "targets[0].weekly.paralelism",
            "unknown weekly setting",
        ),
        (
            {"name": "x", "kind": "postgres", "conn_id": "c", "weekly": {"parallelism": "two"}},
            "targets[0].weekly.parallelism",
            "whole number",
        ),
        (
            {"name": "x", "kind": "postgres", "conn_id": "c", "weekly": {"parallelism": True}},
            "targets[0].weekly.parallelism",
            "must be int",
        ),
        (
            {
                "name": "x",
                "kind": "postgres",
                "conn_id": "c",
                "weekly": {"parallelism": 0},
            },  # the module's check_settings
            "targets[0].weekly.parallelism",
            "greater than 0",
        ),
        (
            {"name": "x", "kind": "redis", "conn_id": "c", "weekly": {"patterns": "aegis:*"}},
            "targets[0].weekly.patterns",
            "must be a list",
        ),
        (
            {"name": "x", "kind": "redis", "conn_id": "c", "weekly": {"enabled": "yes"}},
            "targets[0].weekly.enabled",
            "true or false",
        ),
        (
            {"name": "x", "kind": "redis", "conn_id": "c", "weekly": ["patterns"]},
            "targets[0].weekly",
            "must be a mapping",
        ),
        ({"name": "x", "kind": "host", "weekly": {"enabled": True}}, "targets[0].weekly", "has no weekly maintenance"),
        (
            {
                "name": "x",
                "kind": "mysql",
                "conn_id": "c",
                "weekly": {
                    "purge": [  # a nested field named by the module
                        {"table": "nodot", "column": "c", "older_than_days": 3, "batch_size": 10}
                    ]
                },
            },
            "targets[0].weekly.purge[0].table",
            "database.table",
        ),
    ],
)
def test_each_weekly_mistake_names_file_field_and_reason(tmp_path, target, field, reason):
    path = write_inventory(tmp_path, "targets: []\n")
    with pytest.raises(InventoryError) as err:
        parse_inventory({"targets": [target]}, path)
    assert err.value.field == field
    assert reason in err.value.reason
    assert str(path) in str(err.value)


def test_security_section_resolves_folders_and_refuses_unknown_keys(tmp_path):
    path = tmp_path / "inv.yaml"
    inv = parse_inventory(
        {
            "security": {"advisories": "osv", "writable_paths": ["app", "/srv/x"]},
            "targets": [{"name": "box", "kind": "host"}],
        },
        path,
    )
    assert inv.security == {
        "advisories": str(tmp_path / "osv"),
        "writable_paths": [str(tmp_path / "app"), "/srv/x"],
        "max_superusers": 2,
    }
    assert parse_inventory({"targets": [{"name": "box", "kind": "host"}]}, path).security["advisories"] is None
    with pytest.raises(InventoryError) as err:
        parse_inventory({"security": {"advisory": "osv"}, "targets": [{"name": "b", "kind": "host"}]}, path)
    assert err.value.field == "security.advisory"
    with pytest.raises(InventoryError) as err:
        parse_inventory({"security": {"writable_paths": "app"}, "targets": [{"name": "b", "kind": "host"}]}, path)
    assert err.value.field == "security.writable_paths"
    with pytest.raises(InventoryError) as err:
        parse_inventory({"security": {"max_superusers": -1}, "targets": [{"name": "b", "kind": "host"}]}, path)
    assert err.value.field == "security.max_superusers" and ">= 0" in err.value.reason
