"""The validated inventory is cached by the file's path, mtime, size and content (every DAG file reads it
at every parse): a hit is the same object, any change is read again, a bad file still fails by its field."""

from __future__ import annotations

import os

import pytest

from include import inventory
from include.inventory import InventoryError, load_inventory

GOOD = "version: 1\ntargets:\n  - {name: web-1, kind: host, tags: [a]}\n"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """A cache folder of this test's own, and an empty in-memory cache."""
    monkeypatch.setenv("AEGIS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(inventory, "_INVENTORIES", {})


def test_a_hit_is_the_same_validated_object(tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_text(GOOD)
    first = load_inventory(path)
    assert load_inventory(path) is first
    assert [t.name for t in first.targets] == ["web-1"]


@pytest.mark.parametrize("change", ["content and size", "content, same size", "content, same size and mtime"])
def test_a_changed_file_is_read_again(tmp_path, change):
    path = tmp_path / "inventory.yaml"
    path.write_text(GOOD)
    before = os.stat(path)
    first = load_inventory(path)
    new = {
        "content and size": GOOD.replace("web-1", "web-10"),
        "content, same size": GOOD.replace("web-1", "web-2"),
        "content, same size and mtime": GOOD.replace("web-1", "web-3"),
    }[change]
    path.write_text(new)
    if change == "content, same size and mtime":
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert os.stat(path).st_mtime_ns == before.st_mtime_ns and os.stat(path).st_size == before.st_size
    again = load_inventory(path)
    assert again is not first
    assert [t.name for t in again.targets] == [new.split("name: ")[1].split(",")[0]]


def test_a_bad_file_still_names_the_field_every_time(tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_text(GOOD)
    load_inventory(path)
    path.write_text(GOOD.replace("kind: host", "kind: toaster"))
    for _ in range(2):  # an invalid inventory is never cached
        with pytest.raises(InventoryError) as err:
            load_inventory(path)
        assert err.value.field == "targets[0].kind"


def test_a_new_process_takes_it_from_the_private_disk_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(inventory, "DISK_CACHE_FROM_BYTES", 0)
    path = tmp_path / "inventory.yaml"
    path.write_text(GOOD)
    first = load_inventory(path)
    monkeypatch.setattr(inventory, "_INVENTORIES", {})  # as in a freshly forked parsing process

    def not_validated_again(*args, **kwargs):
        raise AssertionError("validated again instead of read from the cache")

    monkeypatch.setattr(inventory, "parse_inventory", not_validated_again)
    again = load_inventory(path)
    assert again == first and again is not first


def test_a_cache_folder_others_can_write_to_is_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setattr(inventory, "DISK_CACHE_FROM_BYTES", 0)
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o777)
    path = tmp_path / "inventory.yaml"
    path.write_text(GOOD)
    load_inventory(path)
    assert list(folder.iterdir()) == []  # nothing stored, so nothing anyone put there would be loaded
