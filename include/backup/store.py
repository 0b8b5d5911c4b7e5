"""Backup sets in the artifact store (``ObjectStoragePath``: a local folder or S3).

Layout: ``<artifacts>/backups/<target>/<set id>/<files…>`` and ``manifest.json``.
Files are uploaded first, the manifest last: an interrupted upload leaves a
folder without a manifest, which nothing treats as a backup.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path, PureWindowsPath

from include.backup.manifest import (
    CHUNK,
    MANIFEST,
    CorruptBackup,
    FileEntry,
    Manifest,
    check_files,
    extra_files,
    sha256_of,
)

log = logging.getLogger(__name__)


def set_id_for(target: str, ts: datetime) -> str:
    """The set id of one target's backup for one interval: a retry reuses it, never makes a second set."""
    return f"{target}-{ts.astimezone(UTC):%Y%m%dT%H%M%SZ}"


#: What :func:`set_id_for` makes (a target name, see ``include.inventory.NAME_RE``, and a UTC time), as a JSON-schema
#: pattern for the forms: a path, a NUL or a megabyte of text is refused when the run is triggered.
SET_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}-[0-9]{8}T[0-9]{6}Z$"


def local_files(workdir: Path) -> list[Path]:
    return sorted(p for p in workdir.rglob("*") if p.is_file())


def publish(workdir: Path, folder, manifest: Manifest, write_options: dict | None = None) -> Manifest:
    """Copy every file of ``workdir`` under ``folder`` with its checksum, then write the manifest.

    ``write_options`` go to the storage's ``open`` (for S3, e.g. the storage class).
    """
    if folder.exists():  # a re-run of an interval rewrites the set: what an earlier try left goes first
        log.info("removing what an earlier try left in %s", folder)
        delete_set(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=PUBLISH_THREADS, thread_name_prefix="publish") as pool:
        entries = list(
            pool.map(lambda path: _publish_file(workdir, path, folder, write_options or {}), local_files(workdir))
        )
    manifest.files = entries
    (folder / MANIFEST).write_text(manifest.to_json())
    log.info(
        "backup set %s: %d file(s), %d bytes, manifest written to %s",
        manifest.set_id,
        len(entries),
        manifest.size_bytes,
        folder / MANIFEST,
    )
    return manifest


#: files published side by side (hashlib and file copies release the GIL)
PUBLISH_THREADS = 2


def _publish_file(workdir: Path, path: Path, folder, write_options: dict) -> FileEntry:
    """One file into the set: read once, hashed as it is copied; on the same local file system, moved
    (a rename: the work folder is discarded anyway) after one hashing read."""
    rel = path.relative_to(workdir).as_posix()
    dest = folder / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    if getattr(dest, "protocol", "file") in ("file", "local", "") and not write_options:
        size, digest = sha256_of(path)
        try:
            os.replace(path, dest.path if hasattr(dest, "path") else dest)
            return FileEntry(rel, size, digest)
        except OSError:  # another file system: copy below
            pass
    hasher, size = hashlib.sha256(), 0
    with path.open("rb") as src, dest.open("wb", **write_options) as out:
        while chunk := src.read(CHUNK):
            hasher.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return FileEntry(rel, size, hasher.hexdigest())


def read_manifest(folder) -> Manifest:
    """The set's manifest, checked: :class:`CorruptBackup` when the set's folder (or its target's) or the manifest
    is a link (a set must not lead out of the store), the manifest is missing, unreadable or names an unsafe path."""
    path = folder / MANIFEST
    for link in (folder.parent, folder, path):
        if _is_link(link):
            raise CorruptBackup(f"backup set {folder.name}: {link} is a link: refusing to follow it out of the store")
    if not path.exists():
        raise CorruptBackup(f"{folder}: no {MANIFEST}: the set never completed")
    try:
        manifest = Manifest.from_json(path.read_text())
    except (ValueError, TypeError, KeyError) as exc:  # UnicodeDecodeError and JSON errors are ValueErrors
        raise CorruptBackup(f"backup set {folder.name}: unreadable manifest {path}: {exc}") from None
    for entry in manifest.files:
        problem = unsafe_member(entry.path)
        if problem:
            raise CorruptBackup(f"{path}: file {entry.path!r} {problem}: refusing the set")
    return manifest


def unsafe_member(name: str) -> str | None:
    """Why a manifest's file name could lead out of the set (absolute, ``..``, empty parts), or None."""
    if not isinstance(name, str) or not name:
        return "is empty"
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive or "\\" in name or "\0" in name:
        return "is absolute or not a plain relative path"
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "has a '..', '.' or empty part"
    return None


def _is_link(path) -> bool:
    """Whether ``path`` (a local path or an ObjectStoragePath) is a symbolic link; object stores have none."""
    try:
        return bool(path.is_symlink())
    except (NotImplementedError, AttributeError, OSError):
        return False


def verify_files(folder) -> Manifest:
    """The set's manifest, once every file is present with the recorded size and checksum."""
    manifest = read_manifest(folder)
    problems = check_files(folder, manifest)
    if problems:
        raise CorruptBackup(f"backup set {manifest.set_id} is corrupt: " + "; ".join(problems))
    return manifest


def fetch(folder, workdir: Path) -> Manifest:
    """Download a set into ``workdir``, checking every file against the manifest on the way.

    The files stay inside the set and the workdir: a manifest naming an absolute path or ``..`` is refused
    (:func:`read_manifest`), and so is a file that is a link or would be written through one."""
    manifest = read_manifest(folder)
    extra = extra_files(folder, manifest)
    if extra:
        raise CorruptBackup(f"backup set {manifest.set_id} is corrupt: " + "; ".join(extra))
    workdir.mkdir(parents=True, exist_ok=True)
    inside = workdir.resolve()
    for entry in manifest.files:  # read_manifest refused absolute names and '..'
        src, dest = folder / entry.path, workdir / entry.path
        if _is_link(src):
            raise CorruptBackup(f"backup set {manifest.set_id}: {entry.path} is a link: refusing to follow it")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() or not dest.parent.resolve().is_relative_to(inside):
            raise CorruptBackup(
                f"backup set {manifest.set_id}: {entry.path} would be written through a link out of {workdir}: refusing"
            )
        if not src.exists():
            raise CorruptBackup(f"backup set {manifest.set_id} is corrupt: {entry.path}: missing")
        if not src.is_file():
            raise CorruptBackup(f"backup set {manifest.set_id} is corrupt: {entry.path}: a folder, not a file")
        with src.open("rb") as fh, dest.open("wb") as out:
            shutil.copyfileobj(fh, out, CHUNK)
    problems = check_files(workdir, manifest)
    if problems:
        raise CorruptBackup(f"backup set {manifest.set_id} is corrupt: " + "; ".join(problems))
    return manifest


def delete_set(folder) -> None:
    """Remove a set (an ObjectStoragePath): manifest first, so a half-deleted set never looks complete."""
    manifest = folder / MANIFEST
    if manifest.exists():
        manifest.unlink()
    if folder.exists():
        folder.rmdir(recursive=True)
