"""The kind registry: a kind added from ONE spec module (written by this test, outside include/) is
validated by the inventory, offered in the daily check's form and checked; and the registry's derived
views agree with each other and with the modules they name."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from include.inventory import InventoryError, load_inventory, parse_inventory
from include.kinds import CAPABILITIES, KindSpec, all_kinds, kinds_with, load, spec
from tests.helpers import REPO, write_inventory

LOGICAL = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)

#: A whole new kind in one module: a spool folder whose file count is graded (no connection).
SPOOL_KIND = '''
"""Spool folders: how many files wait in them."""

from __future__ import annotations

from pathlib import Path

from include.checks.base import CheckResult
from include.kinds.base import KindSpec


def validate(options, errors):
    if not Path(options["folder"]).is_absolute() and not options["folder"].strip():
        errors.fail("folder", "must name a folder")
    options["folder"] = errors.resolve(options["folder"])
    if options["glob"].startswith("/"):
        errors.fail("glob", "must be relative to the folder")


def check(target, endpoint, window) -> CheckResult:
    result = CheckResult(target.name, target.kind)
    waiting = len(list(Path(target.options["folder"]).glob(target.options["glob"])))
    result.metrics["spool.files"] = float(waiting)
    result.grade("spool.files", waiting, target.thresholds["files_warning"], target.thresholds["files_critical"],
                 "{value:g} file(s) waiting (warning at {warning:g}, critical at {critical:g})")
    return result


SPEC = KindSpec(
    name="{kind}",
    fields={{"folder": (str, None), "glob": (str, "*")}},
    thresholds={{"files_warning": 3, "files_critical": 10}},
    needs_connection=False,
    check=__name__,
    validate=validate,
)
'''


@pytest.fixture
def spool_kind(tmp_path, monkeypatch) -> str:
    """Write the spool kind's module into tmp_path and register it through AEGIS_EXTRA_KINDS; its kind name."""
    suffix = uuid.uuid4().hex[:8]
    kind, module = f"spool_{suffix}", f"aegis_test_spool_kind_{suffix}"
    code_dir = tmp_path / "kind_code"
    code_dir.mkdir()
    (code_dir / f"{module}.py").write_text(SPOOL_KIND.replace("{kind}", kind).replace("{{", "{").replace("}}", "}"))
    monkeypatch.syspath_prepend(str(code_dir))
    monkeypatch.setenv("PYTHONPATH", f"{code_dir}:{REPO}")
    monkeypatch.setenv("AEGIS_EXTRA_KINDS", module)
    yield kind
    monkeypatch.delenv("AEGIS_EXTRA_KINDS")
    assert kind not in all_kinds()  # gone again once the variable is


def spool_inventory(tmp_path: Path, kind: str, files: int) -> Path:
    spool = tmp_path / "spool"
    spool.mkdir()
    for i in range(files):
        (spool / f"job-{i}.json").write_text("{}")
    return write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        targets:
          - {{name: outbox, kind: {kind}, folder: spool, glob: "*.json", tags: [spool]}}
          - {{name: box, kind: host, mounts: ["/"]}}
    """,
    )


def test_a_new_kind_is_validated_by_the_inventory(spool_kind):
    assert spec(spool_kind).check and spool_kind in kinds_with("check")
    ok = parse_inventory({"targets": [{"name": "o", "kind": spool_kind, "folder": "/var/spool/x"}]})
    assert ok.targets[0].options == {"folder": "/var/spool/x", "glob": "*"}
    assert ok.targets[0].thresholds == {"files_warning": 3, "files_critical": 10}

    bad = [
        ({"folder": "/x", "glob": 7}, "targets[0].glob", "must be str"),  # the field's type
        ({"glob": "*"}, "targets[0].folder", "required"),  # a field without default
        ({"folder": "/x", "glob": "/abs/*"}, "targets[0].glob", "relative to the folder"),  # the spec's own hook
        ({"folder": "/x", "colour": "red"}, "targets[0].colour", "unknown field"),
        ({"folder": "/x", "conn_id": "c"}, "targets[0].conn_id", "takes no connection"),
        ({"folder": "/x", "thresholds": {"files_warning": "lots"}}, "targets[0].thresholds.files_warning", "number"),
        ({"folder": "/x", "backup": {}}, "targets[0].backup", "has no backup"),
    ]
    for fields, where, reason in bad:
        with pytest.raises(InventoryError) as err:
            parse_inventory({"targets": [{"name": "o", "kind": spool_kind, **fields}]})
        assert err.value.field == where and reason in err.value.reason, (fields, str(err.value))


def offered_choices(schema: dict) -> set[str]:
    """What a form field offers to pick: its (items') ``enum``, or the ``examples`` of a long open list."""
    items = schema.get("items") or schema
    return set(items.get("enum") or schema.get("examples") or []) - {""}


def test_a_new_kind_is_offered_in_the_daily_form_and_checked(spool_kind, tmp_path, monkeypatch, airflow_db):
    monkeypatch.setenv("AEGIS_INVENTORY", str(spool_inventory(tmp_path, spool_kind, files=4)))
    bag = DagBag(dag_folder=str(REPO / "dags" / "daily_health_check.py"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag("daily_health_check")
    assert offered_choices(dag.params.get_param("targets").schema) == {"box", "outbox"}

    from include.daily_health import check_one

    inventory = load_inventory()
    row = check_one(inventory, "outbox", {}, LOGICAL - timedelta(days=1), LOGICAL)
    assert row["status"] == "warning" and row["metrics"]["spool.files"] == 4  # 4 files: over 3, under 10
    assert check_one(inventory, "outbox", {"files_warning": 5}, LOGICAL - timedelta(days=1), LOGICAL)["status"] == "ok"

    run = dag.test(logical_date=LOGICAL, run_conf={"targets": ["outbox"], "alert": False})
    assert run.state == "success"
    [found] = (tmp_path / "artifacts" / "reports" / "daily_health_check" / "2026-03-10T000000Z").glob("*/report.json")
    report = json.loads(found.read_text())
    assert [(r["target"], r["kind"], r["status"]) for r in report["results"]] == [("outbox", spool_kind, "warning")]
    assert report["results"][0]["metrics"]["spool.files"] == 4


def test_every_spec_module_names_a_kind_and_modules_that_keep_their_contracts():
    kinds = all_kinds()
    files = {p.stem for p in (REPO / "include" / "kinds").glob("*.py")} - {"__init__", "base"}
    assert set(kinds) == files  # one module per kind, named after it
    for name, s in kinds.items():
        assert isinstance(s, KindSpec) and s.name == name
        if s.check:
            assert callable(load(s.check).check)
        if s.backup:
            module = load(s.backup)
            assert all(callable(getattr(module, f)) for f in ("dump", "restore", "scratch")), name
        if s.weekly:
            module = load(s.weekly)
            assert isinstance(module.DEFAULTS, dict) and callable(module.maintain), name
        if s.security:
            assert callable(load(s.security)), name
        for key in s.fields:
            assert key not in {"name", "kind", "conn_id", "tags", "thresholds", "backup", "weekly"}
    with pytest.raises(KeyError, match="unknown kind 'nope'"):
        spec("nope")
    with pytest.raises(KeyError, match="unknown capability"):
        kinds_with("teleport")


def test_an_unknown_extra_kind_module_is_named(monkeypatch):
    monkeypatch.setenv("AEGIS_EXTRA_KINDS", "no_such_aegis_kind_module")
    with pytest.raises(ImportError, match="AEGIS_EXTRA_KINDS: cannot import kind module 'no_such_aegis_kind_module'"):
        all_kinds()
    monkeypatch.delenv("AEGIS_EXTRA_KINDS")
    assert "postgres" in all_kinds()


def test_the_registry_views_agree():
    check, backup = set(kinds_with("check")), set(kinds_with("backup"))
    # the restore DAG offers every kind with a backup, and runs the daily check after it only where one exists
    assert set(kinds_with("restore_health")) <= backup & check
    # updates: SQL migrations only where sessions are drained and the health check runs before and after
    assert set(kinds_with("sql_updates")) <= set(kinds_with("drain")) & set(kinds_with("update_health"))
    assert set(kinds_with("image_updates")) <= set(kinds_with("update_health"))
    # host packages: the host's own daily check is the implied post-update test
    assert set(kinds_with("package_updates")) <= set(kinds_with("update_health"))
    assert set(kinds_with("update_health")) <= check
    # weekly concerns have distinct names in the DAG and the form
    concerns = [spec(k).concern for k in kinds_with("weekly")]
    assert len(concerns) == len(set(concerns)) and None not in concerns
    # a kind without a connection is one whose routines need none: no drain, no SQL, no security scan of a server;
    # its daily check runs after an update only when it is the machine itself (host packages)
    for kind in set(all_kinds()) - set(kinds_with("needs_connection")):
        assert not (spec(kind).drain or spec(kind).sql_updates)
        assert not spec(kind).update_health or spec(kind).package_updates
    assert set(CAPABILITIES) >= {"check", "backup", "weekly", "security"}


def test_the_dags_offer_exactly_the_targets_the_registry_allows(tmp_path, monkeypatch):
    """One target of every kind: each form's pick list is the set of targets whose kind has the capability."""
    example = load_inventory(REPO / "config" / "inventory.production.yaml")
    by_kind = {t.kind: t.name for t in example.targets}
    monkeypatch.setenv("AEGIS_INVENTORY", str(REPO / "config" / "inventory.production.yaml"))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert not bag.import_errors, bag.import_errors

    def offered(dag_id: str, param: str) -> set[str]:
        return offered_choices(bag.get_dag(dag_id).params.get_param(param).schema)

    names = lambda kinds: {t.name for t in example.targets if t.kind in kinds}  # noqa: E731
    assert offered("daily_health_check", "targets") == names(kinds_with("check"))
    assert offered("backup", "targets") == names(kinds_with("backup"))
    assert offered("restore", "target") == {
        t.name for t in example.targets if t.kind in kinds_with("backup") and t.backup.get("enabled")
    }
    assert offered("planned_update", "update_target") == names(
        kinds_with("sql_updates") + kinds_with("image_updates") + kinds_with("package_updates")
    )
    assert by_kind.keys() == all_kinds().keys()
