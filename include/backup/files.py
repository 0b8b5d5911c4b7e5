"""File backups: the target's ``options.paths`` (folders and files) in one ``files.tar.gz``.

Members are stored under their absolute path minus the leading ``/``
(``/etc/app/app.conf`` → ``etc/app/app.conf``). Folders are walked without
following symbolic links (links are stored as links); sockets, FIFOs and device
files are skipped.

Facts: ``{"files": n, "bytes": total, "sha256": {member: digest}}`` over the
regular files; the ``sha256`` map is left out beyond :data:`MAX_DIGESTS` files.

``restore`` extracts under a root folder (``root=``, default ``/``) and refuses
the whole archive, before writing anything, if a member has an absolute name, a
``..`` component, or is a link leading outside the root (absolute link targets
are read relative to the root, as they would be under a ``chroot``). ``scratch``
yields a temporary root folder (a :class:`~pathlib.Path`, not an Endpoint).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from include.backup.base import BackupToolError, DumpResult

if TYPE_CHECKING:
    from include.inventory import Target
    from include.targets import Endpoint


log = logging.getLogger(__name__)

ARCHIVE = "files.tar.gz"
MAX_DIGESTS = 10_000
CHUNK = 1 << 20


class UnsafeArchive(BackupToolError):
    """The archive holds a member that would land outside the restore root."""


# ------------------------------------------------------------------------- dump
class HashingReader:
    """A file object that hashes and counts what is read through it."""

    def __init__(self, fh):
        self.fh, self.digest, self.size = fh, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data


class Facts:
    """Accumulates file count, bytes and per-file digests (dropped past :data:`MAX_DIGESTS`)."""

    def __init__(self):
        self.files, self.bytes, self.digests = 0, 0, {}

    def add(self, name: str, size: int, digest: str) -> None:
        self.files += 1
        self.bytes += size
        if self.digests is not None:
            self.digests[name] = digest
            if len(self.digests) > MAX_DIGESTS:
                self.digests = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"files": self.files, "bytes": self.bytes}
        if self.digests is not None:
            out["sha256"] = dict(sorted(self.digests.items()))
        return out


def dump(target: Target, endpoint: Endpoint, workdir: Path) -> DumpResult:
    """Archive every configured path into ``workdir/files.tar.gz``; ``endpoint`` is unused (no connection)."""
    paths = [Path(p) for p in target.options.get("paths") or []]
    if not paths:
        raise BackupToolError(f"target {target.name}: options.paths is empty: nothing to back up")
    deadline = time.monotonic() + float(target.backup.get("timeout_seconds", 3600))
    facts = Facts()
    with tarfile.open(workdir / ARCHIVE, "w:gz") as tar:
        for path in paths:
            if not path.is_absolute():
                raise BackupToolError(f"target {target.name}: path {path} is not absolute")
            if not os.path.lexists(path):
                raise BackupToolError(f"target {target.name}: configured path {path} does not exist")
            for entry in walk(path):
                add_entry(tar, entry, facts)
                if time.monotonic() > deadline:
                    raise BackupToolError(f"archiving {path} did not finish within the backup timeout")
    result = facts.as_dict()
    log.info("archived %d files, %d bytes from %s", result["files"], result["bytes"], [str(p) for p in paths])
    return DumpResult(tool_versions={"python-tarfile": str(getattr(tarfile, "version", "stdlib"))}, facts=result)


def walk(path: Path) -> Iterator[Path]:
    """``path`` and, for a real folder, everything below it (sorted, links not followed)."""
    yield path
    if path.is_symlink() or not path.is_dir():
        return
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        for name in dirs + sorted(files):
            yield Path(folder) / name


def add_entry(tar: tarfile.TarFile, path: Path, facts: Facts) -> None:
    """Add one file, folder or link under its absolute path minus ``/``; hash regular files while reading."""
    name = str(path).lstrip("/")
    info = tar.gettarinfo(str(path), arcname=name)
    if info is None or not (info.isreg() or info.isdir() or info.issym() or info.islnk()):
        log.info("skipping %s: not a regular file, folder or link", path)
        return
    if not info.isreg():
        tar.addfile(info)
        return
    with path.open("rb") as fh:
        reader = HashingReader(fh)
        tar.addfile(info, reader)
    facts.add(name, reader.size, reader.digest.hexdigest())


# ---------------------------------------------------------------------- restore
def restore(
    endpoint: Endpoint, workdir: Path, manifest_facts: dict, *, timeout_s: float, root: Path | str = "/", **kw
) -> dict:
    """Extract ``workdir/files.tar.gz`` under ``root``; return the facts of the restored files on disk.

    Every member is checked first; one unsafe member refuses the whole archive
    (:class:`UnsafeArchive`) and nothing is written.
    """
    root = Path(root)
    deadline = time.monotonic() + timeout_s
    with tarfile.open(workdir / ARCHIVE, "r:gz") as tar:
        members = tar.getmembers()
        for member in members:
            check_member(member, root)
        check_not_through_links(members)
        for member in members:
            check_on_disk(member, root)
            tar.extract(member, root, filter="tar")
            if time.monotonic() > deadline:
                raise BackupToolError(f"extracting {ARCHIVE} did not finish within {timeout_s:g}s")
    return observed_facts(root, [m.name for m in members if m.isreg()])


def check_member(member: tarfile.TarInfo, root: Path) -> None:
    """Refuse absolute names, ``..`` components, special files and links that leave ``root``."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or member.name.startswith("/"):
        raise UnsafeArchive(f"refusing {ARCHIVE}: member {member.name!r} has an absolute path")
    if ".." in name.parts:
        raise UnsafeArchive(f"refusing {ARCHIVE}: member {member.name!r} contains '..' (path traversal)")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeArchive(f"refusing {ARCHIVE}: member {member.name!r} is a device, FIFO or other special file")
    if member.issym():
        link = PurePosixPath(member.linkname)
        target = link if link.is_absolute() else PurePosixPath("/") / name.parent / link
        if escapes(str(target)):
            raise UnsafeArchive(
                f"refusing {ARCHIVE}: link {member.name!r} -> {member.linkname!r} leads outside the root"
            )
    if member.islnk():
        target = PurePosixPath(member.linkname)
        if target.is_absolute() or ".." in target.parts:
            raise UnsafeArchive(
                f"refusing {ARCHIVE}: hard link {member.name!r} -> {member.linkname!r} leads outside the root"
            )


def check_not_through_links(members: list[tarfile.TarInfo]) -> None:
    """Refuse a member stored *below* a symbolic link of the same archive (``x -> /etc`` then ``x/shadow``)."""
    links = {m.name.rstrip("/") for m in members if m.issym()}
    for member in members:
        parts = PurePosixPath(member.name).parts
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in links:
                raise UnsafeArchive(f"refusing {ARCHIVE}: member {member.name!r} is below the link {prefix!r}")


def escapes(posix_path: str) -> bool:
    """Whether an absolute, root-relative path climbs above ``/`` with ``..`` (``/a/../../b`` does)."""
    depth = 0
    for part in PurePosixPath(posix_path).parts[1:]:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def check_on_disk(member: tarfile.TarInfo, root: Path) -> None:
    """Refuse writing through a link already on disk that leads outside ``root``."""
    real_root = os.path.realpath(root)
    if real_root == "/":
        return
    parent = os.path.realpath(root / PurePosixPath(member.name).parent)
    if os.path.commonpath([real_root, parent]) != real_root:
        raise UnsafeArchive(f"refusing to extract {member.name!r}: {parent} is outside {real_root}")


def observed_facts(root: Path, names: list[str]) -> dict[str, Any]:
    """Facts (count, bytes, digests) of the restored regular files ``names`` under ``root``."""
    facts = Facts()
    for name in names:
        digest, size = hashlib.sha256(), 0
        with (root / name).open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        facts.add(name, size, digest.hexdigest())
    return facts.as_dict()


# ---------------------------------------------------------------------- scratch
@contextmanager
def scratch(endpoint: Endpoint, set_id: str, workdir: Path) -> Iterator[Path]:
    """A temporary, empty root folder to extract into (a Path: pass it as ``root=``); removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="aegis-files-scratch-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
