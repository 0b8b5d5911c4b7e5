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
        """The manifest ``text`` holds; :class:`ValueError` naming the first field that is missing or of the
        wrong type (a hand-edited or damaged manifest is refused whole, never half-read). Fields this code does
        not know (a newer Aegis's) are left out."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"not a JSON object but {type(data).__name__}")
        _check_fields(data, _MANIFEST_FIELDS, "")
        if not isinstance(data["files"], list):
            raise ValueError(f"field 'files' is {type(data['files']).__name__}, not a list")
        for i, entry in enumerate(data["files"]):
            if not isinstance(entry, dict):
                raise ValueError(f"files[{i}] is {type(entry).__name__}, not an object")
            _check_fields(entry, _FILE_FIELDS, f"files[{i}].")
        data["files"] = [FileEntry(**{k: f[k] for k in _FILE_FIELDS}) for f in data["files"]]
        return cls(**{k: v for k, v in data.items() if k in _MANIFEST_FIELDS})


#: each manifest field and the JSON types it may hold (``bool`` is refused where a number is wanted)
_MANIFEST_FIELDS: dict[str, tuple[type, ...]] = {
    "set_id": (str,),
    "target": (str,),
    "kind": (str,),
    "started_at": (str,),
    "finished_at": (str,),
    "tool_versions": (dict,),
    "files": (list,),
    "facts": (dict,),
    "encrypted": (list,),
    "format_version": (int,),
}
_OPTIONAL = {"facts", "encrypted", "format_version"}
_FILE_FIELDS: dict[str, tuple[type, ...]] = {"path": (str,), "size": (int,), "sha256": (str,)}


def _check_fields(data: dict, fields: dict[str, tuple[type, ...]], where: str) -> None:
    for name, types in fields.items():
        if name not in data:
            if name in _OPTIONAL and not where:
                continue
            raise ValueError(f"field {where}{name} is missing")
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, types):
            wanted = " or ".join(t.__name__ for t in types)
            raise ValueError(f"field {where}{name} is {type(value).__name__} {value!r:.40}, not {wanted}")


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
    """Problems with the set's files against its manifest (missing, not a file, size or checksum mismatch, extra)."""
    problems = []
    for entry in manifest.files:
        path = folder / entry.path
        if not path.exists():
            problems.append(f"{entry.path}: missing")
            continue
        if not path.is_file():
            problems.append(f"{entry.path}: a folder or special file, not the file the manifest names")
            continue
        size, digest = sha256_of(path)
        if size != entry.size:
            problems.append(f"{entry.path}: size {size} bytes, manifest says {entry.size} (truncated or grown)")
        elif digest != entry.sha256:
            problems.append(f"{entry.path}: SHA-256 {digest[:12]}… does not match the manifest's {entry.sha256[:12]}…")
    return problems + extra_files(folder, manifest)


def extra_files(folder, manifest: Manifest) -> list[str]:
    """The problem of files in the set's folder that its manifest does not name (none: ``[]``)."""
    named = {entry.path for entry in manifest.files} | {MANIFEST}
    extra = sorted(rel for rel in _files_under(folder) if rel not in named)
    if not extra:
        return []
    shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
    return [f"file(s) the manifest does not name: {shown} (the set is not what the backup wrote)"]


def _files_under(folder) -> list[str]:
    """Every file below ``folder`` (a local path or an ObjectStoragePath), '/'-separated and relative to it."""
    root = str(folder).rstrip("/")
    return [str(p)[len(root) + 1 :] for p in folder.rglob("*") if p.is_file()]
