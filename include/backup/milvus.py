"""Milvus backups: per collection its schema, its indexes and every row (vectors included) as JSON lines.

Layout in the work folder, one folder per collection::

    <collection>/schema.json    describe_collection, made JSON-safe (types by name)
    <collection>/indexes.json   [{index_name, field, index_type, metric_type, params}]
    <collection>/data.jsonl     one row per line, all fields incl. vectors and dynamic fields

Facts are ``{collection: rows}`` (rows exported; after a restore, ``count(*)``).

Works against a Milvus server and Milvus Lite (a ``.db`` file). A Lite server
this module starts is released afterwards, so its file lock is not kept.
``restore`` drops and recreates each collection of the backup (other
collections are left alone); ``scratch`` is a fresh Milvus Lite file in a
temporary folder. Not covered: partitions (rows come back in ``_default``),
aliases and schema functions (BM25 …).
"""

from __future__ import annotations

import base64
import enum
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.backup.base import BackupToolError, DumpResult
from include.checks.milvus import index_definition, index_params, load_state_name
from include.clients.milvus import release_lite_server
from include.clients.milvus import session as milvus_client
from include.targets import Endpoint

if TYPE_CHECKING:
    from include.inventory import Target


log = logging.getLogger(__name__)

SCHEMA, INDEXES, DATA = "schema.json", "indexes.json", "data.jsonl"
BATCH = 1000
FIELD_FLAGS = ("is_primary", "auto_id", "is_partition_key", "is_clustering_key", "nullable")


# ------------------------------------------------------------------ JSON safety
def json_safe(value: Any) -> Any:
    """Enums by name, bytes as ``{"__bytes__": base64}``, numpy scalars/arrays as Python, protobuf values unwrapped."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, enum.Enum):  # before int: DataType is an IntEnum
        return value.name
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "tolist"):  # numpy
        return json_safe(value.tolist())
    if hasattr(value, "WhichOneof"):  # protobuf ValueField (a field's default_value)
        kind = value.WhichOneof("data")
        return json_safe(getattr(value, kind)) if kind else None
    raise TypeError(f"cannot store {type(value).__name__} {value!r} in a Milvus backup")


def from_json(value: Any) -> Any:
    """Undo :func:`json_safe` for row values (bytes come back as bytes)."""
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


# ------------------------------------------------------------------------- dump
def dump(target: Target, endpoint: Endpoint, workdir: Path) -> DumpResult:
    """Write schema, indexes and rows of every collection into ``workdir``; facts ``{collection: rows}``."""
    import pymilvus

    timeout_s = float(target.backup.get("timeout_seconds", 3600))
    deadline = time.monotonic() + timeout_s
    facts = {}
    with milvus_client(endpoint, min(timeout_s, 300)) as client:
        for name in sorted(client.list_collections()):
            folder = workdir / name
            folder.mkdir()
            write_json(folder / SCHEMA, schema_of(client, name))
            write_json(folder / INDEXES, indexes_of(client, name))
            facts[name] = export_rows(client, name, folder / DATA, deadline)
            log.info("milvus %s: %d rows", name, facts[name])
    return DumpResult(tool_versions={"pymilvus": pymilvus.__version__}, facts=facts)


def write_json(path: Path, data: Any) -> None:
    """Pretty, sorted JSON."""
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def schema_of(client, collection: str) -> dict[str, Any]:
    """``describe_collection`` as JSON: collection flags and fields with type names and params."""
    info = client.describe_collection(collection)
    if info.get("functions"):
        raise BackupToolError(f"collection {collection} has schema functions, which this backup does not cover")
    return json_safe(
        {
            key: info.get(key)
            for key in (
                "collection_name",
                "auto_id",
                "description",
                "enable_dynamic_field",
                "fields",
                "num_shards",
                "consistency_level_name",
                "properties",
            )
        }
    )


def indexes_of(client, collection: str) -> list[dict[str, Any]]:
    """Every index: name, field, type, metric and build parameters (:func:`include.checks.milvus.index_definition`)."""
    return [
        json_safe(index_definition(index_name, client.describe_index(collection, index_name) or {}))
        for index_name in client.list_indexes(collection)
    ]


def export_rows(client, collection: str, path: Path, deadline: float) -> int:
    """Stream all rows (all fields, dynamic ones too) into JSON lines with ``query_iterator``; return the count."""
    # Milvus cannot query an unloaded collection
    if load_state_name(client.get_load_state(collection)) != "Loaded":
        client.load_collection(collection)
    iterator = client.query_iterator(collection, batch_size=BATCH, output_fields=["*"])
    rows = 0
    try:
        with path.open("w") as fh:
            while batch := iterator.next():
                for row in batch:
                    fh.write(json.dumps(json_safe(dict(row)), separators=(",", ":")) + "\n")
                rows += len(batch)
                if time.monotonic() > deadline:
                    raise BackupToolError(f"milvus export of {collection} did not finish within its timeout")
    finally:
        iterator.close()
    return rows


# ---------------------------------------------------------------------- restore
def restore(endpoint: Endpoint, workdir: Path, manifest_facts: dict, *, timeout_s: float, **kw) -> dict:
    """Recreate every collection of the backup in ``endpoint`` (dropping one of the same name), insert its rows
    in batches, build its indexes, load it; return ``{collection: rows}`` counted afterwards."""
    deadline = time.monotonic() + timeout_s
    observed = {}
    with milvus_client(endpoint, min(timeout_s, 300)) as client:
        for folder in sorted(p.parent for p in workdir.glob(f"*/{SCHEMA}")):
            name = folder.name
            schema = json.loads((folder / SCHEMA).read_text())
            create_collection(client, name, schema)
            insert_rows(client, name, folder / DATA, deadline)
            create_indexes(client, name, json.loads((folder / INDEXES).read_text()))
            client.load_collection(name)
            observed[name] = count_rows(client, name)
    return observed


def create_collection(client, name: str, schema_json: dict) -> None:
    """Drop ``name`` if it exists, then create it with the backed-up fields, primary key, auto_id and dims."""
    from pymilvus import DataType, MilvusClient

    if client.has_collection(name):
        log.warning("dropping existing collection %s to restore it", name)
        client.drop_collection(name)
    schema = MilvusClient.create_schema(
        auto_id=bool(schema_json.get("auto_id")),
        enable_dynamic_field=bool(schema_json.get("enable_dynamic_field")),
        description=schema_json.get("description") or "",
    )
    for field in schema_json["fields"]:
        kwargs = dict(field.get("params") or {})
        kwargs.update({flag: True for flag in FIELD_FLAGS if field.get(flag)})
        if field.get("element_type"):
            kwargs["element_type"] = DataType[field["element_type"]]
        if field.get("default_value") is not None:
            kwargs["default_value"] = field["default_value"]
        schema.add_field(field["name"], DataType[field["type"]], description=field.get("description") or "", **kwargs)
    client.create_collection(
        name, schema=schema, consistency_level=schema_json.get("consistency_level_name") or "Strong"
    )
    if schema_json.get("auto_id"):  # keep the backed-up primary keys (Milvus ≥ 2.5; Milvus Lite accepts them anyway)
        try:
            client.alter_collection_properties(name, {"allow_insert_auto_id": "true"})
        except Exception as exc:  # noqa: BLE001 - older servers: the insert below will say so
            log.info("could not allow explicit ids in %s: %s", name, exc)


def insert_rows(client, name: str, path: Path, deadline: float) -> int:
    """Insert the JSON lines of ``path`` in batches of :data:`BATCH`."""
    batch, total = [], 0
    with path.open() as fh:
        for line in fh:
            batch.append(from_json(json.loads(line)))
            if len(batch) >= BATCH:
                total += insert_batch(client, name, batch, deadline)
                batch = []
    if batch:
        total += insert_batch(client, name, batch, deadline)
    return total


def insert_batch(client, name: str, rows: list[dict], deadline: float) -> int:
    """One insert; raise once past the restore's time budget."""
    if time.monotonic() > deadline:
        raise BackupToolError(f"milvus restore of {name} did not finish within its timeout")
    client.insert(name, rows)
    return len(rows)


def create_indexes(client, name: str, indexes: list[dict]) -> None:
    """Build the backed-up indexes (same field, type, metric, params and name)."""
    if indexes:
        client.create_index(name, index_params(client, indexes))


def count_rows(client, name: str) -> int:
    """Exact row count with ``count(*)`` (strong consistency)."""
    result = client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
    return int(result[0]["count(*)"])


# ---------------------------------------------------------------------- scratch
@contextmanager
def scratch(endpoint: Endpoint, set_id: str, workdir: Path) -> Iterator[Endpoint]:
    """A fresh Milvus Lite database in a temporary folder (``Endpoint(host=<tmp>/scratch.db)``).

    Its Lite server is released and the folder removed at exit. ``endpoint`` is not used:
    the restored copy never touches the live target.
    """
    folder = Path(tempfile.mkdtemp(prefix="aegis-milvus-scratch-"))
    path = str(folder / "scratch.db")
    try:
        yield Endpoint(host=path, conn_type="milvus")
    finally:
        release_lite_server(path)
        shutil.rmtree(folder, ignore_errors=True)
