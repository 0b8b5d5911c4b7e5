"""File backups on real folders, and ConfigMap/Secret backups through the REAL KubeClient over the labelled
``FakeCoreV1Api`` (FAKE: no Kubernetes cluster on this machine)."""

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
from include.inventory import parse_inventory
from include.clients.kubernetes import KubeClient
from tests.fakes import FakeCoreV1Api


# -------------------------------------------------------------------------- files
def files_target(paths):
    return parse_inventory({"targets": [{"name": "f1", "kind": "files", "paths": [str(p) for p in paths],
                                         "backup": {"timeout_seconds": 120}}]}).targets[0]


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
    assert result.facts["bytes"] == sum(p.stat().st_size for p in [src / "app.conf", src / "sub" / "data.bin",
                                                                  src / "sub" / "deeper" / "notes.txt", single])
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


@pytest.mark.parametrize("bad, message", [
    (member("/etc/evil"), "absolute path"),
    (member("ok/../../evil"), "path traversal"),
    (member("ok/link", kind=tarfile.SYMTYPE, linkname="../../../etc"), "leads outside"),
    (member("ok/hard", kind=tarfile.LNKTYPE, linkname="../../etc/passwd"), "leads outside"),
])
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
NS = "apps"
SECRET_VALUES = ["hunter2-db-password", "sk_live_0123456789abcdef", "-----BEGIN KEY-----\nabc\n"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def k8s_target():
    return parse_inventory({"targets": [{"name": "k1", "kind": "kubernetes", "conn_id": "kube", "namespace": NS,
                                         "backup": {"timeout_seconds": 60}}]}).targets[0]


@pytest.fixture
def fake_api():
    """FAKE CoreV1Api with REAL V1ConfigMap / V1Secret objects in two namespaces (enough for several pages)."""
    meta = lambda name, ns=NS, **labels: k8s.V1ObjectMeta(name=name, namespace=ns, labels=labels or None)  # noqa: E731
    cms = [k8s.V1ConfigMap(metadata=meta(f"cm-{i:04d}", app="web"), data={"key": f"value {i}"}) for i in range(1200)]
    cms += [k8s.V1ConfigMap(metadata=meta("binary"), binary_data={"blob": b64("\x00\x01")}),
            k8s.V1ConfigMap(metadata=meta("kube-root-ca.crt"), data={"ca.crt": "CERT"}),
            k8s.V1ConfigMap(metadata=meta("elsewhere", ns="other"), data={"k": "v"})]
    secrets = [k8s.V1Secret(metadata=meta("db", app="db"), type="Opaque",
                            data={"password": b64(SECRET_VALUES[0]), "user": b64("app")}),
               k8s.V1Secret(metadata=meta("api"), type="Opaque", data={"token": b64(SECRET_VALUES[1])}),
               k8s.V1Secret(metadata=meta("tls"), type="kubernetes.io/tls",
                            data={"tls.key": b64(SECRET_VALUES[2]), "tls.crt": b64("crt")}),
               k8s.V1Secret(metadata=meta("default-token-x"), type="kubernetes.io/service-account-token",
                            data={"token": b64("sa")})]
    return FakeCoreV1Api([], config_maps=cms, secrets=secrets)


def test_kubernetes_round_trip_with_encrypted_secrets(fake_api, tmp_path):
    key = Fernet.generate_key()
    client = KubeClient(fake_api, timeout_s=7)
    before_cms, before_secrets = client.list_config_maps(NS), client.list_secrets(NS)
    fake_api.calls.clear()
    t0 = time.monotonic()
    result = kubernetes_backup.dump(k8s_target(), None, tmp_path, client=client, key=key)
    t1 = time.monotonic()

    assert result.facts == {"configmaps": 1201, "secrets": 3}
    assert result.encrypted == ["secrets.json.enc"]
    listing = [c for c in fake_api.calls if c.get("call") == "list_namespaced_config_map"]
    assert len(listing) == 3 and all(c["_request_timeout"] == 7 for c in listing)  # paged, bounded
    sealed = (tmp_path / "secrets.json.enc").read_bytes()
    clear = (tmp_path / "configmaps.json").read_text()
    for value in SECRET_VALUES:
        for form in (value.encode(), b64(value).encode(), base64.b64encode(b64(value).encode())):
            assert form not in sealed
            assert form.decode() not in clear
    assert b"password" not in sealed  # key names are sealed too

    # change the namespace after the backup, then restore over it
    fake_api.replace_namespaced_secret("db", NS, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="db"),
                                                                data={"password": b64("changed")}))
    del fake_api.objects[("V1ConfigMap", NS, "cm-0007")]
    del fake_api.objects[("V1Secret", NS, "api")]
    t2 = time.monotonic()
    observed = kubernetes_backup.restore(client, tmp_path, result.facts, timeout_s=30, key=key)
    t3 = time.monotonic()
    print(f"kubernetes 1201 ConfigMaps + 3 Secrets: dump {t1 - t0:.2f}s, restore {t3 - t2:.2f}s")

    assert observed == result.facts
    assert client.list_config_maps(NS) == before_cms
    assert client.list_secrets(NS) == before_secrets


def test_kubernetes_verification_in_scratch(fake_api, tmp_path):
    key = Fernet.generate_key()
    result = kubernetes_backup.dump(k8s_target(), None, tmp_path, client=KubeClient(fake_api, 5), key=key)
    with kubernetes_backup.scratch(None, "set-1", tmp_path) as scratch_client:
        observed = kubernetes_backup.restore(scratch_client, tmp_path, result.facts, timeout_s=30, key=key)
        assert {s["name"] for s in scratch_client.list_secrets(NS)} == {"api", "db", "tls"}
    assert observed == result.facts


def test_kubernetes_wrong_or_bad_key_fails_clearly(fake_api, tmp_path):
    result = kubernetes_backup.dump(k8s_target(), None, tmp_path, client=KubeClient(fake_api, 5),
                                    key=Fernet.generate_key())
    writes_before = len(fake_api.calls)
    with pytest.raises(BackupKeyError, match="cannot be decrypted: wrong backup key"):
        kubernetes_backup.restore(KubeClient(fake_api, 5), tmp_path, result.facts, timeout_s=30,
                                  key=Fernet.generate_key())
    assert len(fake_api.calls) == writes_before  # nothing applied
    with pytest.raises(BackupKeyError, match="not a valid Fernet key"):
        kubernetes_backup.dump(k8s_target(), None, tmp_path, client=KubeClient(fake_api, 5), key=b"too-short")


def test_backup_key_comes_from_the_airflow_connection(monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("AIRFLOW_CONN_AEGIS_BACKUP_KEY", json.dumps({"conn_type": "generic", "password": key}))
    assert kubernetes_backup.backup_key() == key.encode()
    monkeypatch.delenv("AIRFLOW_CONN_AEGIS_BACKUP_KEY")
    with pytest.raises(BackupKeyError, match="aegis_backup_key"):
        kubernetes_backup.backup_key()
