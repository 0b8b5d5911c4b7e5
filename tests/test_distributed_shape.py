"""docker-compose.yaml / Dockerfile and ``./aegis up --distributed`` (deploy/distributed.py) express one shape:
the same services, the same commands, the same settings under the same environment variable names."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from deploy import distributed
from include.dag_defaults import routes_by_queue
from include.inventory import InventoryError, load_inventory, parse_inventory
from tests.helpers import REPO

#: Settings whose value is the same in both (the rest name hosts, ports, paths or secrets of each place).
SAME_VALUE = {
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__AUTH_MANAGER",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
    "AIRFLOW__CORE__HOSTNAME_CALLABLE",
    "AIRFLOW__CORE__LOAD_EXAMPLES",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK",
    "AIRFLOW__METRICS__STATSD_ON",
    "AIRFLOW__METRICS__STATSD_PREFIX",
    "AIRFLOW__LOGGING__REMOTE_LOGGING",
    "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER",
    "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID",
    "AIRFLOW__API__WORKERS",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY",
    "AEGIS_DISTRIBUTED",
}
#: Services of the compose file the local mode provides otherwise: the machine's PostgreSQL and Redis, the
#: metrics listener (a UDP address setting), and the one-off init (run by ``up`` before the components).
NOT_A_PROCESS = {"postgres", "redis", "statsd-exporter", "airflow-init"}


@pytest.fixture
def compose():
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


@pytest.fixture
def local(tmp_path):
    settings = distributed.Settings(state=tmp_path / "state")
    return settings, distributed.airflow_env(settings)


def test_same_settings_under_the_same_names(compose, local):
    _, env = local
    compose_env = compose["x-aegis-common"]["environment"]
    # every Airflow setting and Aegis variable, and the connections the distributed inventory needs
    assert set(compose_env) == set(env), (sorted(set(compose_env) - set(env)), sorted(set(env) - set(compose_env)))
    for key in SAME_VALUE:
        assert str(compose_env[key]) == env[key], key
    assert compose_env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and env[
        "AIRFLOW__CELERY__BROKER_URL"
    ].startswith("redis://")
    assert compose_env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("redis://")
    assert compose_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")


def test_same_services_running_the_same_commands(compose, local):
    settings, _ = local
    processes = distributed.components(settings)
    services = compose["services"]
    assert set(services) - NOT_A_PROCESS == set(processes) | {"s3"}
    for name, args in processes.items():
        assert services[name]["command"] == args, name
    for i, worker in enumerate(distributed.worker_names(settings), start=1):
        service = services[f"airflow-worker-{i}"]
        assert service["environment"]["AEGIS_WORKER_NAME"] == worker == service["hostname"]
    assert services["airflow-worker-2"]["command"][3] == f"default,{distributed.EXTRA_QUEUE}"
    # moto in both: the compose image's version is the pinned moto's
    pinned = re.search(r"^moto==(\S+)$", (REPO / "requirements.txt").read_text(), re.M).group(1)
    assert services["s3"]["image"] == f"motoserver/moto:{pinned}"


def test_dockerfile_installs_the_same_requirements_on_the_same_airflow():
    dockerfile = (REPO / "Dockerfile").read_text()
    requirements = (REPO / "requirements.txt").read_text()
    airflow = re.search(r"^apache-airflow==(\S+)$", requirements, re.M).group(1)
    python = subprocess.run(
        [".venv/bin/python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert f"FROM apache/airflow:{airflow}-python{python}" in dockerfile
    assert "pip install --no-cache-dir -r /requirements.txt" in dockerfile
    for pkg in ("apache-airflow-providers-celery", "statsd", "moto"):
        assert re.search(rf"^{pkg}==\S+$", requirements, re.M), pkg
    assert "ENV PYTHONPATH=/opt/airflow" in dockerfile


def test_compose_inventory_is_valid_in_distributed_mode(compose, monkeypatch):
    monkeypatch.setenv("AEGIS_DISTRIBUTED", "1")
    env = compose["x-aegis-common"]["environment"]
    inv = load_inventory(REPO / "config" / env["AEGIS_INVENTORY"].rsplit("/", 1)[1])
    assert inv.catalog_conn_id == "aegis_catalog"
    assert inv.artifacts_base.startswith("s3://")
    dist = load_inventory(REPO / "config" / "inventory.distributed.yaml")
    assert dist.catalog_conn_id == distributed.CATALOG_CONN and dist.artifacts_conn_id == distributed.ARTIFACTS_CONN
    assert dist.artifacts_base.startswith(f"s3://{distributed.BUCKET}/")


@pytest.mark.parametrize(
    "kind,fields",
    [
        ("milvus", "conn_id: m"),
        ("host", "mounts: ['/']"),
        ("log_source", "paths: ['/var/log/*.log']"),
        ("files", "paths: ['/etc']"),
    ],
)
def test_a_worker_local_kind_needs_a_queue_in_distributed_mode(kind, fields, monkeypatch):
    raw = yaml.safe_load(f"targets: [{{name: t, kind: {kind}, {fields}}}]")
    parse_inventory(raw)  # fine on one machine
    monkeypatch.setenv("AEGIS_DISTRIBUTED", "1")
    with pytest.raises(InventoryError, match=r"targets\[0\]\.queue.*distributed mode"):
        parse_inventory(raw)
    raw["targets"][0]["queue"] = "near-db"
    assert parse_inventory(raw).targets[0].queue == "near-db"


def test_queue_defaults_to_default_and_is_checked():
    raw = yaml.safe_load("targets: [{name: p, kind: postgres, conn_id: p}]")
    assert parse_inventory(raw).targets[0].queue == "default"
    raw["targets"][0]["queue"] = "Near DB"
    with pytest.raises(InventoryError, match=r"targets\[0\]\.queue"):
        parse_inventory(raw)


def test_each_component_gets_its_own_folders(tmp_path):
    settings = distributed.Settings(state=tmp_path / "state")
    envs = {
        name: distributed.component_env(settings, name, {"PATH": "/usr/bin"})
        for name in distributed.components(settings)
    }
    for key in ("HOME", "TMPDIR", "AIRFLOW_HOME"):
        assert len({env[key] for env in envs.values()}) == len(envs), key
    assert envs["airflow-worker-2"]["AEGIS_WORKER_NAME"] == "aegis-worker-2"
    assert "AEGIS_WORKER_NAME" not in envs["airflow-scheduler"]


def test_per_target_tasks_split_per_queue_when_the_inventory_names_several(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AEGIS_DISTRIBUTED", "1")
    monkeypatch.setenv("AEGIS_INVENTORY", str(REPO / "config" / "inventory.distributed.yaml"))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    queues_of = lambda dag_id: {t.task_id: t.queue for t in bag.dags[dag_id].tasks}  # noqa: E731
    daily = queues_of("daily_health_check")
    assert daily["check_targets__default"] == "default" and daily["check_targets__near-db"] == "near-db"
    assert "check_targets" not in daily
    backup = queues_of("backup")
    assert backup["back_up__near-db"] == "near-db" and backup["back_up__default"] == "default"
    verify = queues_of("verify_backups")
    assert verify["verify__near-db"] == "near-db" and verify["verify__default"] == "default"
    assert "verify" not in verify
    weekly = queues_of("weekly_maintenance")
    for group in ("postgres", "mysql", "redis", "logs"):
        assert weekly[f"{group}.maintain__near-db"] == "near-db", group
        assert weekly[f"{group}.maintain__default"] == "default", group
        assert f"{group}.maintain" not in weekly, group
    assert weekly["security.check_configuration__near-db"] == "near-db"
    assert weekly["security.check_configuration__default"] == "default"
    restore = queues_of("restore")
    assert restore["restore_target__near-db"] == "near-db" and restore["restore_target__default"] == "default"
    assert "restore_target" not in restore
    pools = {t.task_id: t.pool for t in bag.dags["weekly_maintenance"].tasks}
    assert pools["postgres.maintain__near-db"] == pools["postgres.maintain__default"] == "aegis_postgres_maintenance"


def test_per_target_tasks_stay_single_with_only_the_default_queue(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AEGIS_INVENTORY", str(REPO / "config" / "inventory.yaml"))
    assert not routes_by_queue(load_inventory(REPO / "config" / "inventory.yaml"))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    for dag_id, task_id in [
        ("weekly_maintenance", "postgres.maintain"),
        ("weekly_maintenance", "security.check_configuration"),
        ("verify_backups", "verify"),
        ("restore", "restore_target"),
    ]:
        ids = {t.task_id for t in bag.dags[dag_id].tasks}
        assert task_id in ids and not any("__" in i for i in ids), (dag_id, sorted(ids))


def test_by_queue_splits_batches_and_keeps_every_queue():
    from include.dag_defaults import by_queue, selected

    inv = load_inventory(REPO / "config" / "inventory.distributed.yaml")
    split = by_queue(inv, [["local-postgres", "local-mariadb"], ["this-host"]])
    assert split == {"default": [["local-postgres"]], "near-db": [["local-mariadb"], ["this-host"]]}
    assert by_queue(inv, ["local-redis"]) == {"default": ["local-redis"], "near-db": []}
    assert sorted(map(tuple, selected(split))) == [("local-mariadb",), ("local-postgres",), ("this-host",)]
    sets = {"s-maria": "local-mariadb", "s-pg": "local-postgres", "s-gone": None, "s-old": "a-removed-target"}
    assert by_queue(inv, list(sets), target_of=sets.get) == {
        "default": ["s-pg", "s-gone", "s-old"],  # a set the inventory cannot place: default, its task reports it
        "near-db": ["s-maria"],
    }
    single = parse_inventory(yaml.safe_load("targets: [{name: p, kind: postgres, conn_id: p}]"))
    assert by_queue(single, [["p"]]) == [["p"]] == selected([["p"]])
