"""Backup sets in the artifact store: manifest last, corruption caught, S3 with a storage class."""

from datetime import UTC, datetime

import pytest
from airflow.sdk import ObjectStoragePath

from include.backup import store
from include.backup.manifest import CorruptBackup, Manifest
from include.backup.retention import plan


def make_set(tmp_path, folder, write_options=None):
    work = tmp_path / "work"
    (work / "db").mkdir(parents=True)
    (work / "db" / "toc.dat").write_bytes(b"table of contents" * 100)
    (work / "data.gz").write_bytes(bytes(range(256)) * 400)
    m = Manifest("t-20260101T000000Z", "t", "postgres", "s", "e", {"pg_dump": "15"}, [], {"rows": 3})
    return store.publish(work, folder, m, write_options)


def test_round_trip_and_each_corruption_is_caught(tmp_path):
    folder = ObjectStoragePath(f"file://{tmp_path}/store/t/t-20260101T000000Z")
    manifest = make_set(tmp_path, folder)
    assert {f.path for f in manifest.files} == {"db/toc.dat", "data.gz"}
    assert store.verify_files(folder).facts == {"rows": 3}

    fetched = store.fetch(folder, tmp_path / "fetched")
    assert (tmp_path / "fetched" / "data.gz").read_bytes() == bytes(range(256)) * 400
    assert fetched.set_id == "t-20260101T000000Z"

    data = folder / "data.gz"
    original = data.read_bytes()
    flipped = bytearray(original)
    flipped[1000] ^= 0x01
    data.write_bytes(bytes(flipped))
    with pytest.raises(CorruptBackup, match="data.gz: SHA-256"):
        store.verify_files(folder)
    with pytest.raises(CorruptBackup, match="data.gz: SHA-256"):
        store.fetch(folder, tmp_path / "again")
    data.write_bytes(original[:500])
    with pytest.raises(CorruptBackup, match="data.gz: size 500 bytes"):
        store.verify_files(folder)
    data.unlink()
    with pytest.raises(CorruptBackup, match="data.gz: missing"):
        store.verify_files(folder)
    (folder / "manifest.json").unlink()
    with pytest.raises(CorruptBackup, match="never completed"):
        store.verify_files(folder)


@pytest.mark.parametrize(
    "name, words",
    [
        ("../../etc/passwd", "'..'"),
        ("/etc/passwd", "absolute"),
        ("db/../../../etc/passwd", "'..'"),
        ("..\\..\\etc\\passwd", "absolute or not a plain"),
        ("", "empty"),
    ],
)
def test_a_manifest_naming_a_file_outside_the_set_is_refused_on_fetch(tmp_path, name, words):
    folder = ObjectStoragePath(f"file://{tmp_path}/store/t/t-20260101T000000Z")
    make_set(tmp_path, folder)
    manifest = Manifest.from_json((folder / "manifest.json").read_text())
    manifest.files[0].path = name
    (folder / "manifest.json").write_text(manifest.to_json())
    with pytest.raises(CorruptBackup, match="refusing the set") as err:
        store.fetch(folder, tmp_path / "deep" / "down" / "fetched")
    assert words in str(err.value)
    assert not (tmp_path / "deep").exists()  # refused before anything was written
    with pytest.raises(CorruptBackup, match="refusing the set"):
        store.verify_files(folder)


def test_a_link_in_the_set_or_the_workdir_is_refused_on_fetch(tmp_path):
    folder = ObjectStoragePath(f"file://{tmp_path}/store/t/t-20260101T000000Z")
    make_set(tmp_path, folder)
    secret = tmp_path / "secret"
    secret.write_bytes(bytes(range(256)) * 400)  # same bytes: only the link check can refuse it
    local = tmp_path / "store" / "t" / "t-20260101T000000Z"
    (local / "data.gz").unlink()
    (local / "data.gz").symlink_to(secret)
    with pytest.raises(CorruptBackup, match="data.gz is a link"):
        store.fetch(folder, tmp_path / "fetched")

    (local / "data.gz").unlink()
    (local / "data.gz").write_bytes(secret.read_bytes())
    outside = tmp_path / "outside"
    outside.mkdir()
    work = tmp_path / "work2"
    work.mkdir()
    (work / "db").symlink_to(outside)  # a link planted in the workdir: db/toc.dat would land outside it
    with pytest.raises(CorruptBackup, match="through a link"):
        store.fetch(folder, work)
    assert list(outside.iterdir()) == []


def test_publish_to_s3_with_storage_class(tmp_path, s3_bucket):
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    folder = ObjectStoragePath(f"s3://{s3_bucket}/backups/t/t-20260101T000000Z", conn_id="aegis_s3_test")
    make_set(tmp_path, folder, {"StorageClass": "STANDARD_IA"})
    hook = S3Hook(aws_conn_id="aegis_s3_test")
    keys = sorted(hook.list_keys(s3_bucket, prefix="backups/t/"))
    assert keys == [
        "backups/t/t-20260101T000000Z/data.gz",
        "backups/t/t-20260101T000000Z/db/toc.dat",
        "backups/t/t-20260101T000000Z/manifest.json",
    ]
    head = hook.get_conn().head_object(Bucket=s3_bucket, Key="backups/t/t-20260101T000000Z/data.gz")
    assert head.get("StorageClass") == "STANDARD_IA"
    assert store.verify_files(folder).set_id == "t-20260101T000000Z"
    store.delete_set(folder)
    assert hook.list_keys(s3_bucket, prefix="backups/t/") == []


def row(set_id, state, day, target="t"):
    return {"set_id": set_id, "target": target, "state": state, "started_at": datetime(2026, 1, day, tzinfo=UTC)}


def test_retention_by_age_and_count_never_removes_the_newest_verified():
    now = datetime(2026, 3, 1, tzinfo=UTC)
    sets = [
        row("v-old", "verified", 1),
        row("c2", "complete", 2),
        row("f3", "failed", 3),
        row("c20", "complete", 20),
        row("r21", "running", 21),
    ]
    gone = {d.set_id for d in plan(sets, now, retention_days=30, keep_last=1)}
    # v-old is the only verified set: kept whatever its age; c20 is the newest (keep_last=1); running untouched
    assert gone == {"c2", "f3"}
    gone = {d.set_id for d in plan(sets + [row("v25", "verified", 25)], now, retention_days=30, keep_last=0)}
    assert "v-old" in gone and "v25" not in gone
    assert plan(sets, now, retention_days=365, keep_last=0) == []
