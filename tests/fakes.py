"""Fakes of the two client libraries Aegis cannot test for real on this machine.

FAKE: there is no Neo4j server on this machine — :class:`FakeNeo4jDriver` fakes
the small part of the neo4j ``Driver``/``Session``/``Result``/``Record`` API that
``include.clients.neo4j.Neo4jClient`` uses, so tests build the REAL client around it.

FAKE: there is no Kubernetes cluster on this machine — :class:`FakeCoreV1Api`
fakes ``kubernetes.client.CoreV1Api.list_namespaced_pod`` (and the ConfigMap / Secret
list, create and replace calls) but returns REAL ``kubernetes.client`` objects
(``V1PodList``/``V1Pod``, ``V1ConfigMap``, ``V1Secret``), so tests exercise the REAL
``include.clients.kubernetes`` conversion code.
"""

from __future__ import annotations

import copy
from typing import Any

from kubernetes import client as k8s
from neo4j import Query


# --------------------------------------------------------------------------- neo4j
class FakeRecord:
    """FAKE neo4j ``Record``: ``.data()``, ``record[key]``, ``.keys()``, ``.get()``."""

    def __init__(self, row: dict[str, Any]):
        self._row = dict(row)

    def data(self, *keys: str) -> dict[str, Any]:
        return {k: self._row[k] for k in keys} if keys else dict(self._row)

    def __getitem__(self, key: str) -> Any:
        return self._row[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._row.get(key, default)

    def keys(self) -> list[str]:
        return list(self._row)


class FakeResult:
    """FAKE neo4j ``Result``: iterable of records, plus ``.data()``."""

    def __init__(self, rows: list[dict[str, Any]]):
        self._records = [FakeRecord(r) for r in rows]

    def __iter__(self):
        return iter(self._records)

    def data(self) -> list[dict[str, Any]]:
        return [r.data() for r in self._records]


class FakeSession:
    """FAKE neo4j ``Session``: a context manager whose ``run`` answers from the driver's canned rows."""

    def __init__(self, driver: "FakeNeo4jDriver", database: str | None):
        self.driver, self.database, self.closed = driver, database, False

    def __enter__(self) -> "FakeSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True

    def run(self, query: str | Query, parameters: dict[str, Any] | None = None, **kwargs: Any) -> FakeResult:
        if self.closed:
            raise RuntimeError("FAKE: session already closed")
        text = query.text if isinstance(query, Query) else query
        timeout = query.timeout if isinstance(query, Query) else None
        self.driver.runs.append({"database": self.database, "cypher": text, "timeout": timeout})
        if self.driver.error is not None:
            raise self.driver.error
        key = (self.database, text)
        if key in self.driver.errors:
            raise self.driver.errors[key]
        if key not in self.driver.answers:
            raise LookupError(f"FAKE: no canned answer for {key!r}")
        return FakeResult(self.driver.answers[key])


class FakeNeo4jDriver:
    """FAKE: there is no Neo4j server on this machine.

    ``answers`` maps ``(database, cypher)`` to the rows the server would return;
    ``error`` (e.g. ``neo4j.exceptions.ServiceUnavailable``) is raised by every ``run``;
    ``errors`` maps one ``(database, cypher)`` to the error only that statement raises
    (e.g. :func:`server_error` for a procedure the server does not have).
    ``sessions`` and ``runs`` record what was asked, for assertions.
    """

    SESSION_CONFIG = {"database", "connection_acquisition_timeout", "fetch_size", "default_access_mode",
                      "bookmarks", "impersonated_user"}

    def __init__(self, answers: dict[tuple[str | None, str], list[dict[str, Any]]], error: Exception | None = None,
                 errors: dict[tuple[str | None, str], Exception] | None = None):
        self.answers, self.error = answers, error
        self.errors = errors or {}  # (database, cypher) -> the error the server answers to that statement only
        self.sessions: list[dict[str, Any]] = []
        self.runs: list[dict[str, Any]] = []
        self.closed = False

    def session(self, **config: Any) -> FakeSession:
        unknown = set(config) - self.SESSION_CONFIG
        if unknown:  # the real driver raises ConfigurationError for unknown keys too
            raise ValueError(f"FAKE: unexpected session config keys {sorted(unknown)}")
        if self.closed:
            raise RuntimeError("FAKE: driver already closed")
        self.sessions.append(config)
        return FakeSession(self, config.get("database"))

    def close(self) -> None:
        self.closed = True


def server_error(code: str, message: str) -> Exception:
    """The REAL exception the neo4j driver raises for a server FAILURE with ``code`` (built by the driver's
    own hydration, so its class, e.g. ``ClientError``, and ``.code`` are what a server would give)."""
    from neo4j.exceptions import Neo4jError

    return Neo4jError._hydrate_neo4j(code=code, message=message)


# ---------------------------------------------------------------------- kubernetes
def make_pod(name: str, phase: str = "Running", *, namespace: str = "default",
             labels: dict[str, str] | None = None, node: str | None = "node-1",
             containers: list[dict[str, Any]] | None = None) -> k8s.V1Pod:
    """A REAL ``V1Pod``. ``containers`` items: {name, ready, restarts, state: running|waiting|terminated, reason}."""
    statuses = None
    if containers is not None:
        statuses = [_container_status(**c) for c in containers]
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, namespace=namespace, labels=labels or {}),
        spec=k8s.V1PodSpec(node_name=node, containers=[k8s.V1Container(name=c["name"]) for c in containers or []]),
        status=k8s.V1PodStatus(phase=phase, container_statuses=statuses),
    )


def _container_status(name: str, ready: bool = True, restarts: int = 0, state: str = "running",
                      reason: str | None = None) -> k8s.V1ContainerStatus:
    states = {
        "running": lambda: k8s.V1ContainerState(running=k8s.V1ContainerStateRunning()),
        "waiting": lambda: k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason=reason)),
        "terminated": lambda: k8s.V1ContainerState(
            terminated=k8s.V1ContainerStateTerminated(exit_code=1, reason=reason)),
    }
    return k8s.V1ContainerStatus(name=name, ready=ready, restart_count=restarts, state=states[state](),
                                 image="example/app:1", image_id="", container_id=None)


class FakeCoreV1Api:
    """FAKE: there is no Kubernetes cluster on this machine.

    Fakes ``CoreV1Api.list_namespaced_pod``: filters its REAL ``V1Pod`` objects by
    namespace and by an equality label selector (``app=web,tier=front``) and
    returns a REAL ``V1PodList``. ``calls`` records each request's arguments.
    """

    def __init__(self, pods: list[k8s.V1Pod], error: Exception | None = None, *,
                 config_maps: list[k8s.V1ConfigMap] | None = None, secrets: list[k8s.V1Secret] | None = None):
        self.pods, self.error = pods, error
        self.calls: list[dict[str, Any]] = []
        #: FAKE ConfigMap / Secret store: (kind, namespace, name) -> REAL V1ConfigMap / V1Secret
        self.objects: dict[tuple[str, str, str], Any] = {}
        for obj in (config_maps or []) + (secrets or []):
            self.objects[(type(obj).__name__, obj.metadata.namespace or "default", obj.metadata.name)] = obj

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> k8s.V1PodList:
        self.calls.append({"namespace": namespace, **kwargs})
        if self.error is not None:
            raise self.error
        wanted = _parse_selector(kwargs.get("label_selector") or "")
        items = [p for p in self.pods
                 if p.metadata.namespace == namespace
                 and all((p.metadata.labels or {}).get(k) == v for k, v in wanted.items())]
        return k8s.V1PodList(items=items, metadata=k8s.V1ListMeta())

    # FAKE ConfigMaps and Secrets: list (paged with ``limit`` / ``_continue``), create (409 if it exists),
    # replace (404 if missing); objects are copied in and out like a real API server would.
    def list_namespaced_config_map(self, namespace: str, **kwargs: Any) -> k8s.V1ConfigMapList:
        items, meta = self._list("V1ConfigMap", namespace, "list_namespaced_config_map", kwargs)
        return k8s.V1ConfigMapList(items=items, metadata=meta)

    def list_namespaced_secret(self, namespace: str, **kwargs: Any) -> k8s.V1SecretList:
        items, meta = self._list("V1Secret", namespace, "list_namespaced_secret", kwargs)
        return k8s.V1SecretList(items=items, metadata=meta)

    def create_namespaced_config_map(self, namespace: str, body: k8s.V1ConfigMap, **kwargs: Any) -> k8s.V1ConfigMap:
        return self._write("create", namespace, body, kwargs)

    def replace_namespaced_config_map(self, name: str, namespace: str, body: k8s.V1ConfigMap,
                                      **kwargs: Any) -> k8s.V1ConfigMap:
        return self._write("replace", namespace, body, kwargs, name)

    def create_namespaced_secret(self, namespace: str, body: k8s.V1Secret, **kwargs: Any) -> k8s.V1Secret:
        return self._write("create", namespace, body, kwargs)

    def replace_namespaced_secret(self, name: str, namespace: str, body: k8s.V1Secret, **kwargs: Any) -> k8s.V1Secret:
        return self._write("replace", namespace, body, kwargs, name)

    def _list(self, kind: str, namespace: str, call: str, kwargs: dict[str, Any]):
        self.calls.append({"call": call, "namespace": namespace, **kwargs})
        if self.error is not None:
            raise self.error
        items = [copy.deepcopy(o) for (k, ns, _), o in sorted(self.objects.items()) if k == kind and ns == namespace]
        start = int(kwargs.get("_continue") or 0)
        limit = int(kwargs.get("limit") or 0) or len(items)
        page = items[start:start + limit]
        more = start + limit < len(items)
        return page, k8s.V1ListMeta(_continue=str(start + limit) if more else None)

    def _write(self, verb: str, namespace: str, body: Any, kwargs: dict[str, Any], name: str | None = None):
        from kubernetes.client.exceptions import ApiException

        kind = type(body).__name__
        self.calls.append({"call": f"{verb}_{kind}", "namespace": namespace, "name": body.metadata.name, **kwargs})
        if self.error is not None:
            raise self.error
        key = (kind, namespace, name or body.metadata.name)
        if verb == "create" and key in self.objects:
            raise ApiException(status=409, reason="AlreadyExists")
        if verb == "replace" and key not in self.objects:
            raise ApiException(status=404, reason="NotFound")
        stored = copy.deepcopy(body)
        stored.metadata.namespace = namespace
        self.objects[key] = stored
        return copy.deepcopy(stored)


def _parse_selector(selector: str) -> dict[str, str]:
    """Equality-based label selector only (``a=b,c=d``): all this fake supports."""
    pairs = [part.split("=", 1) for part in selector.split(",") if part.strip()]
    return {k.strip(): v.strip() for k, v in pairs}
