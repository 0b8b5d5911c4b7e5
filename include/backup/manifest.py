"""The manifest: what a backup set holds and how to prove it is intact.

It lists every file with its size and SHA-256, the target, the kind, the tool
versions, start and end time and the sanity facts recorded at backup time
(row counts per table, key counts, collection rows). It is written *last*: a
set without a manifest is never complete, whatever else is in its folder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

MANIFEST = "manifest.json"
CHUNK = 4 * 2**20


@dataclass
class FileEntry:
    path: str  # relative to the set folder, '/'-separated
    size: int
    sha256: str


@dataclass
class Manifest:
    set_id: str
    target: str
    kind: str
    started_at: str
    finished_at: str
    tool_versions: dict[str, str]
    files: list[FileEntry]
    facts: dict[str, Any] = field(default_factory=dict)
    encrypted: list[str] = field(default_factory=list)
    format_version: int = 1

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        data["files"] = [FileEntry(**f) for f in data["files"]]
        return cls(**data)


def sha256_of(path) -> tuple[int, str]:
    """(size, hex SHA-256) of a local or ObjectStoragePath file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class CorruptBackup(Exception):
    """A set failed verification; the message names every problem found."""


def check_files(folder, manifest: Manifest) -> list[str]:
    """Problems with the set's files against its manifest (missing, size or checksum mismatch, extra)."""
    problems = []
    for entry in manifest.files:
        path = folder / entry.path
        if not path.exists():
            problems.append(f"{entry.path}: missing")
            continue
        size, digest = sha256_of(path)
        if size != entry.size:
            problems.append(f"{entry.path}: size {size} bytes, manifest says {entry.size} (truncated or grown)")
        elif digest != entry.sha256:
            problems.append(f"{entry.path}: SHA-256 {digest[:12]}… does not match the manifest's {entry.sha256[:12]}…")
    return problems
