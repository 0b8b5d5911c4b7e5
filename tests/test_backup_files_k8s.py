"""File backups on real folders, and ConfigMap/Secret backups against a REAL API server (tests/servers/kube.py)
through the KubernetesHook with the token of the role in deploy/aegis-rbac.yaml."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import time

import pytest
from cryptography.fernet import Fernet
from kubernetes import client as k8s

from include.backup import files
from include.backup import kubernetes as kubernetes_backup
from include.backup.kubernetes import BackupKeyError
from include.clients import kubernetes as kube_client
from include.inventory import parse_inventory
from include.targets import endpoint_for_conn


def dump_target(target, workdir, **kw):
    """The backup of ``target`` through its connection, as the backup routine calls it."""
    from include.targets import endpoint_for

    return kubernetes_backup.dump(target, endpoint_for(target), workdir, **kw)


# -------------------------------------------------------------------------- files
def files_target(paths):
    return parse_inventory(
        {
            "targets": [
                {"name": "f1", "kind": "files", "paths": [str(p) for p in paths], "backup": {"timeout_seconds": 120}}
            ]
        }
    ).targets[0]


@pytest.fixture
def tree(tmp_path):
    """/…/src/conf (nested files, an empty folder, a relative link) and a single file elsewhere."""
    src = tmp_path / "src" / "conf"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "app.conf").write_text("port = 8080\n")
    (src / "sub" / "data.bin").write_bytes(os.urandom(200_000))
    (src / "sub" / "deeper" / "notes.txt").write_text("ünïcode\n")
    (src / "link.conf").symlink_to("app.conf")
    single = tmp_path / "single.ini"
    single.write_text("[x]\ny=1\n")
    os.chmod(single, 0o640)
    return src, single


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_files_round_trip_into_scratch_root(tree, tmp_path):
    src, single = tree
    work = tmp_path / "work"
    work.mkdir()
    result = files.dump(files_target([src, single]), None, work)

    rel = str(src).lstrip("/")
    assert result.facts["files"] == 4
    assert result.facts["bytes"] == sum(
        p.stat().st_size
        for p in [src / "app.conf", src / "sub" / "data.bin", src / "sub" / "deeper" / "notes.txt", single]
    )
    assert result.facts["sha256"][f"{rel}/sub/data.bin"] == digest(src / "sub" / "data.bin")
    with tarfile.open(work / "files.tar.gz") as tar:
        names = tar.getnames()
    assert all(not n.startswith("/") for n in names) and f"{rel}/empty" in names

    with files.scratch(None, "set-1", work) as root:
        observed = files.restore(root, work, result.facts, timeout_s=60, root=root)
        restored = root / rel
        assert (restored / "sub" / "data.bin").read_bytes() == (src / "sub" / "data.bin").read_bytes()
        assert os.readlink(restored / "link.conf") == "app.conf"
        assert (restored / "empty").is_dir()
        assert (root / str(single).lstrip("/")).stat().st_mode & 0o777 == 0o640
    assert observed == result.facts
    assert not root.exists()


def test_files_digests_are_left_out_beyond_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "MAX_DIGESTS", 3)
    src = tmp_path / "many"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}").write_text(str(i))
    work = tmp_path / "work"
    work.mkdir()
    result = files.dump(files_target([src]), None, work)
    assert result.facts == {"files": 5, "bytes": 5}
    with files.scratch(None, "s", work) as root:
        assert files.restore(root, work, result.facts, timeout_s=60, root=root) == result.facts


def test_files_missing_path_is_an_error(tmp_path):
    with pytest.raises(files.BackupToolError, match="does not exist"):
        files.dump(files_target([tmp_path / "nope"]), None, tmp_path)


def evil_archive(work, *members):
    """A files.tar.gz holding the given (TarInfo, bytes|None) members."""
    with tarfile.open(work / "files.tar.gz", "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def member(name, data=b"x", kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, (data if kind == tarfile.REGTYPE else None)


@pytest.mark.parametrize(
    "bad, message",
    [
        (member("/etc/evil"), "absolute path"),
        (member("ok/../../evil"), "path traversal"),
        (member("ok/link", kind=tarfile.SYMTYPE, linkname="../../../etc"), "leads outside"),
        (member("ok/hard", kind=tarfile.LNKTYPE, linkname="../../etc/passwd"), "leads outside"),
    ],
)
def test_files_restore_refuses_unsafe_members_and_writes_nothing(tmp_path, bad, message):
    work, root = tmp_path / "work", tmp_path / "root"
    work.mkdir(), root.mkdir()
    evil_archive(work, member("ok/first.txt"), bad)
    with pytest.raises(files.UnsafeArchive, match=message):
        files.restore(root, work, {}, timeout_s=10, root=root)
    assert list(root.iterdir()) == []


def test_files_restore_refuses_writing_through_an_archived_link(tmp_path):
    work, root, outside = tmp_path / "work", tmp_path / "root", tmp_path / "outside"
    work.mkdir(), root.mkdir(), outside.mkdir()
    evil_archive(work, member("a/x", kind=tarfile.SYMTYPE, linkname="/etc"), member("a/x/shadow"))
    with pytest.raises(files.UnsafeArchive, match="below the link"):
        files.restore(root, work, {}, timeout_s=10, root=root)


# --------------------------------------------------------------------- kubernetes
SECRET_VALUES = ["hunter2-db-password", "sk_live_0123456789abcdef", "-----BEGIN KEY-----\nabc\n"]
CONFIG_MAPS = 120


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def k8s_target(namespace: str):
    return parse_inventory(
        {
            "targets": [
                {
                    "name": "k1",
                    "kind": "kubernetes",
                    "conn_id": "kube",
                    "namespace": namespace,
                    "backup": {"timeout_seconds": 60},
                }
            ]
        }
    ).targets[0]


@pytest.fixture
def apps(kube_cluster, kube_namespace, monkeypatch):
    """A namespace with ConfigMaps (enough for several pages of 50) and Secrets, created by the admin; the
    connection ``kube`` (Aegis's token) and the admin's CoreV1Api."""
    monkeypatch.setattr(kube_client, "LIST_PAGE", 50)
    monkeypatch.setenv("AIRFLOW_CONN_KUBE", kube_cluster.connection())
    core = k8s.CoreV1Api(kube_cluster.api())
    ns = kube_namespace

    def meta(name, **labels):
        return k8s.V1ObjectMeta(name=name, labels=labels or None)

    for i in range(CONFIG_MAPS):
        core.create_namespaced_config_map(
            ns, k8s.V1ConfigMap(metadata=meta(f"cm-{i:04d}", app="web"), data={"key": f"value {i}"})
        )
    core.create_namespaced_config_map(
        ns, k8s.V1ConfigMap(metadata=meta("binary"), binary_data={"blob": b64("\x00\x01")})
    )
    for secret in [
        k8s.V1Secret(
            metadata=meta("db", app="db"), type="Opaque", data={"password": b64(SECRET_VALUES[0]), "user": b64("app")}
        ),
        k8s.V1Secret(metadata=meta("api"), type="Opaque", data={"token": b64(SECRET_VALUES[1])}),
        k8s.V1Secret(
            metadata=meta("tls"),
            type="kubernetes.io/tls",
            data={"tls.key": b64(SECRET_VALUES[2]), "tls.crt": b64("crt")},
        ),
    ]:
        core.create_namespaced_secret(ns, secret)
    # the cluster's own objects, which a backup leaves out: kube-root-ca.crt and the default ServiceAccount's
    # token Secret (both made by the controller-manager)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        kinds = {s.type for s in core.list_namespaced_secret(ns).items}
        names = {c.metadata.name for c in core.list_namespaced_config_map(ns).items}
        if "kubernetes.io/service-account-token" in kinds and "kube-root-ca.crt" in names:
            break
        time.sleep(0.3)
    return {"ns": ns, "core": core, "client": kube_client.connect(endpoint_for_conn("kube"), 7)}


def test_kubernetes_round_trip_with_encrypted_secrets(apps, tmp_path):
    key, client, core, ns = Fernet.generate_key(), apps["client"], apps["core"], apps["ns"]
    before_cms, before_secrets = client.list_config_maps(ns), client.list_secrets(ns)
    assert len(before_cms) == CONFIG_MAPS + 2  # read in 3 pages of 50 from the real server
    t0 = time.monotonic()
    result = dump_target(k8s_target(ns), tmp_path, key=key)
    t1 = time.monotonic()

    assert result.facts == {"configmaps": CONFIG_MAPS + 1, "secrets": 3}  # kube-root-ca.crt, SA token left out
    assert result.encrypted == ["secrets.json.enc"]
    sealed = (tmp_path / "secrets.json.enc").read_bytes()
    clear = (tmp_path / "configmaps.json").read_text()
    for value in SECRET_VALUES:
        for form in (value.encode(), b64(value).encode(), base64.b64encode(b64(value).encode())):
            assert form not in sealed
            assert form.decode() not in clear
    assert b"password" not in sealed  # key names are sealed too

    # change the namespace after the backup (as the admin), then restore over it with Aegis's role
    core.replace_namespaced_secret(
        "db", ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="db"), data={"password": b64("changed")})
    )
    core.delete_namespaced_config_map("cm-0007", ns)
    core.delete_namespaced_secret("api", ns)
    core.patch_namespaced_config_map("binary", ns, {"binaryData": {"blob": b64("other")}})
    assert client.list_config_maps(ns) != before_cms
    t2 = time.monotonic()
    observed = kubernetes_backup.restore(client, tmp_path, result.facts, timeout_s=30, key=key)
    t3 = time.monotonic()
    print(
        f"kubernetes {CONFIG_MAPS + 1} ConfigMaps + 3 Secrets on a real API server: dump {t1 - t0:.2f}s, "
        f"restore {t3 - t2:.2f}s"
    )

    assert observed == result.facts
    assert client.list_config_maps(ns) == before_cms
    assert client.list_secrets(ns) == before_secrets


def test_kubernetes_restore_through_the_target_endpoint(apps, kube_cluster, tmp_path):
    """restore() given the target's Endpoint (the connection's extras), as the restore DAG calls it."""
    from include.targets import endpoint_for

    key, ns = Fernet.generate_key(), apps["ns"]
    target = k8s_target(ns)
    result = dump_target(target, tmp_path, key=key)
    apps["core"].delete_namespaced_secret("tls", ns)
    observed = kubernetes_backup.restore(endpoint_for(target), tmp_path, result.facts, timeout_s=30, key=key)
    assert observed == result.facts
    assert "tls" in {s["name"] for s in apps["client"].list_secrets(ns)}


def test_kubernetes_verification_in_scratch(apps, tmp_path):
    key = Fernet.generate_key()
    result = dump_target(k8s_target(apps["ns"]), tmp_path, key=key)
    with kubernetes_backup.scratch(None, "set-1", tmp_path) as scratch_client:
        observed = kubernetes_backup.restore(scratch_client, tmp_path, result.facts, timeout_s=30, key=key)
        assert {s["name"] for s in scratch_client.list_secrets(apps["ns"])} == {"api", "db", "tls"}
    assert observed == result.facts


def test_kubernetes_wrong_or_bad_key_fails_clearly_and_applies_nothing(apps, tmp_path):
    ns, core = apps["ns"], apps["core"]
    result = dump_target(k8s_target(ns), tmp_path, key=Fernet.generate_key())
    core.delete_namespaced_config_map("cm-0001", ns)
    before = apps["client"].list_config_maps(ns)
    with pytest.raises(BackupKeyError, match="cannot be decrypted: wrong backup key"):
        kubernetes_backup.restore(apps["client"], tmp_path, result.facts, timeout_s=30, key=Fernet.generate_key())
    assert apps["client"].list_config_maps(ns) == before  # nothing applied
    with pytest.raises(BackupKeyError, match="not a valid Fernet key"):
        dump_target(k8s_target(ns), tmp_path, key=b"too-short")


def test_backup_key_comes_from_the_airflow_connection(monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("AIRFLOW_CONN_AEGIS_BACKUP_KEY", json.dumps({"conn_type": "generic", "password": key}))
    assert kubernetes_backup.backup_key() == key.encode()
    monkeypatch.delenv("AIRFLOW_CONN_AEGIS_BACKUP_KEY")
    with pytest.raises(BackupKeyError, match="aegis_backup_key"):
        kubernetes_backup.backup_key()
