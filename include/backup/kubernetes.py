"""Kubernetes backups: the ConfigMaps and Secrets of the target's namespace (``options.namespace``).

Files in the work folder:

- ``configmaps.json`` — in clear: ``{"namespace": ns, "config_maps": [{name, data, binary_data, labels}]}``;
- ``secrets.json.enc`` — ``{"namespace": ns, "secrets": [{name, type, data, labels}]}`` encrypted with
  Fernet (AES-128-CBC + HMAC-SHA256). The key is the password of the Airflow connection
  ``aegis_backup_key`` (a Fernet key, ``Fernet.generate_key()``), read only when needed; tests pass ``key=``.

Facts: ``{"configmaps": n, "secrets": n}``. After a restore they count the backed-up objects the
target shows with exactly the backed-up content (objects added since are neither counted nor removed).

Cluster-managed objects are left out: the ``kube-root-ca.crt`` ConfigMap and service-account token
Secrets (the cluster recreates them; restored copies would be stale).

Everything goes through :class:`include.clients.kubernetes.KubeClient`. ``scratch`` yields a KubeClient
over :class:`MemoryCoreV1`, an in-memory API (no cluster needed) that proves the set decrypts,
parses and applies.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.backup.base import BackupToolError, DumpResult
from include.clients.kubernetes import KubeClient

if TYPE_CHECKING:
    from include.inventory import Target


log = logging.getLogger(__name__)

CONFIG_MAPS, SECRETS = "configmaps.json", "secrets.json.enc"
KEY_CONN_ID = "aegis_backup_key"
SKIP_CONFIG_MAPS = {"kube-root-ca.crt"}
SKIP_SECRET_TYPES = {"kubernetes.io/service-account-token"}


class BackupKeyError(BackupToolError):
    """The backup key is missing, malformed, or not the key the set was encrypted with."""


# ------------------------------------------------------------------------ keys
def backup_key() -> bytes:
    """The Fernet key: the password of Airflow connection ``aegis_backup_key`` (looked up at call time)."""
    from include.targets import endpoint_for_conn

    try:
        password = endpoint_for_conn(KEY_CONN_ID).password
    except Exception as exc:  # noqa: BLE001 - AirflowNotFoundException and friends: say what is missing
        raise BackupKeyError(f"no Airflow connection {KEY_CONN_ID!r} holding the backup key: {exc}") from None
    if not password:
        raise BackupKeyError(f"Airflow connection {KEY_CONN_ID!r} has no password (the Fernet key)")
    return password.encode()


def fernet(key: bytes | str | None):
    """A ``Fernet`` for ``key`` (default :func:`backup_key`); a clear error for a malformed key."""
    from cryptography.fernet import Fernet

    key = backup_key() if key is None else key
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        raise BackupKeyError(
            "the backup key is not a valid Fernet key (32 url-safe base64-encoded bytes); "
            "create one with Fernet.generate_key()"
        ) from None


def encrypt(data: Any, key: bytes | str | None) -> bytes:
    """JSON-encode and encrypt ``data``."""
    return fernet(key).encrypt(json.dumps(data, sort_keys=True).encode())


def decrypt(token: bytes, key: bytes | str | None) -> Any:
    """Decrypt and JSON-decode; a wrong key or a tampered file raises :class:`BackupKeyError`."""
    from cryptography.fernet import InvalidToken

    try:
        return json.loads(fernet(key).decrypt(token))
    except InvalidToken:
        raise BackupKeyError(
            f"{SECRETS} cannot be decrypted: wrong backup key (connection {KEY_CONN_ID!r}) or the file was altered"
        ) from None


# ------------------------------------------------------------------------- dump
def dump(
    target: Target, endpoint, workdir: Path, *, client: KubeClient | None = None, key: bytes | str | None = None
) -> DumpResult:
    """Write the namespace's ConfigMaps (clear) and Secrets (encrypted) into ``workdir``."""
    import kubernetes

    namespace = target.options.get("namespace", "default")
    cipher_key = backup_key() if key is None else key  # fail before reading any secret
    fernet(cipher_key)
    client = client or KubeClient.from_endpoint(endpoint, target.timeout_seconds)
    config_maps = [cm for cm in client.list_config_maps(namespace) if cm["name"] not in SKIP_CONFIG_MAPS]
    secrets = [s for s in client.list_secrets(namespace) if s["type"] not in SKIP_SECRET_TYPES]
    (workdir / CONFIG_MAPS).write_text(
        json.dumps({"namespace": namespace, "config_maps": config_maps}, indent=2, sort_keys=True)
    )
    (workdir / SECRETS).write_bytes(encrypt({"namespace": namespace, "secrets": secrets}, cipher_key))
    log.info("namespace %s: %d ConfigMaps, %d Secrets (encrypted)", namespace, len(config_maps), len(secrets))
    return DumpResult(
        tool_versions={"kubernetes-client": kubernetes.__version__},
        facts={"configmaps": len(config_maps), "secrets": len(secrets)},
        encrypted=[SECRETS],
    )


# ---------------------------------------------------------------------- restore
def restore(
    endpoint,
    workdir: Path,
    manifest_facts: dict,
    *,
    timeout_s: float,
    key: bytes | str | None = None,
    namespace: str | None = None,
    client: KubeClient | None = None,
    **kw,
) -> dict:
    """Decrypt and apply (replace or create) every backed-up object; return the facts seen afterwards.

    ``endpoint`` is a :class:`KubeClient` (as :func:`scratch` yields) or the target's Endpoint;
    ``namespace`` defaults to the one backed up.
    """
    if client is None:
        client = endpoint if isinstance(endpoint, KubeClient) else KubeClient.from_endpoint(endpoint, timeout_s)
    clear = json.loads((workdir / CONFIG_MAPS).read_text())
    sealed = decrypt((workdir / SECRETS).read_bytes(), key)
    namespace = namespace or clear["namespace"]
    for cm in clear["config_maps"]:
        log.info("ConfigMap %s/%s %s", namespace, cm["name"], client.apply_config_map(namespace, cm))
    for secret in sealed["secrets"]:
        log.info("Secret %s/%s %s", namespace, secret["name"], client.apply_secret(namespace, secret))
    return observed_facts(client, namespace, clear["config_maps"], sealed["secrets"])


def observed_facts(client: KubeClient, namespace: str, config_maps: list[dict], secrets: list[dict]) -> dict:
    """How many of the backed-up objects the namespace now shows with exactly the backed-up content."""
    live_cms = {cm["name"]: cm for cm in client.list_config_maps(namespace)}
    live_secrets = {s["name"]: s for s in client.list_secrets(namespace)}
    return {
        "configmaps": sum(live_cms.get(cm["name"]) == cm for cm in config_maps),
        "secrets": sum(live_secrets.get(s["name"]) == s for s in secrets),
    }


# ---------------------------------------------------------------------- scratch
class MemoryCoreV1:
    """An in-memory stand-in for the ConfigMap/Secret calls of ``CoreV1Api`` (real ``kubernetes.client``
    objects in and out), used as the scratch target of a verification: no cluster is touched."""

    def __init__(self):
        self.objects: dict[tuple[str, str, str], Any] = {}

    def list_namespaced_config_map(self, namespace: str, **kwargs: Any):
        from kubernetes import client as k8s

        return k8s.V1ConfigMapList(items=self._items("V1ConfigMap", namespace), metadata=k8s.V1ListMeta())

    def list_namespaced_secret(self, namespace: str, **kwargs: Any):
        from kubernetes import client as k8s

        return k8s.V1SecretList(items=self._items("V1Secret", namespace), metadata=k8s.V1ListMeta())

    def replace_namespaced_config_map(self, name: str, namespace: str, body: Any, **kwargs: Any):
        return self._put(namespace, body, must_exist=True)

    def create_namespaced_config_map(self, namespace: str, body: Any, **kwargs: Any):
        return self._put(namespace, body, must_exist=False)

    def replace_namespaced_secret(self, name: str, namespace: str, body: Any, **kwargs: Any):
        return self._put(namespace, body, must_exist=True)

    def create_namespaced_secret(self, namespace: str, body: Any, **kwargs: Any):
        return self._put(namespace, body, must_exist=False)

    def _items(self, kind: str, namespace: str) -> list[Any]:
        return [copy.deepcopy(o) for (k, ns, _), o in sorted(self.objects.items()) if k == kind and ns == namespace]

    def _put(self, namespace: str, body: Any, must_exist: bool):
        from kubernetes.client.exceptions import ApiException

        key = (type(body).__name__, namespace, body.metadata.name)
        if must_exist and key not in self.objects:
            raise ApiException(status=404, reason="NotFound")
        if not must_exist and key in self.objects:
            raise ApiException(status=409, reason="AlreadyExists")
        self.objects[key] = copy.deepcopy(body)
        return copy.deepcopy(body)


@contextmanager
def scratch(endpoint, set_id: str, workdir: Path, *, timeout_s: float = 30) -> Iterator[KubeClient]:
    """A :class:`KubeClient` over an empty :class:`MemoryCoreV1` (pass it as ``restore``'s endpoint); dropped at exit."""
    yield KubeClient(MemoryCoreV1(), timeout_s)
