"""What every backup kind shares: the result of a dump, and running native tools safely.

Native tools (pg_dump, mysqldump, redis-cli…) get credentials through files
or environment variables readable only by this process (PGPASSFILE, a MySQL
``--defaults-extra-file``, REDISCLI_AUTH), never on their command line, so no
password shows in a process listing or a log.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class DumpResult:
    tool_versions: dict[str, str] = field(default_factory=dict)
    #: sanity facts at backup time, compared after a restore (row counts per table, key counts…)
    facts: dict[str, Any] = field(default_factory=dict)
    #: files (relative to the work folder) that are encrypted at rest
    encrypted: list[str] = field(default_factory=list)


class BackupToolError(RuntimeError):
    """A native tool failed; the message carries its exit code and the tail of its stderr."""


def secret_file(folder: Path, name: str, content: str) -> Path:
    """A file only this user can read, for a tool's credentials."""
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    return path


def run_tool(
    argv: list[str], *, env: dict[str, str] | None = None, timeout_s: float, stdout=None, cwd: Path | None = None
) -> str:
    """Run a native tool with a timeout; return its stdout (unless redirected).

    ``argv`` must never hold a secret: the caller passes credentials via ``env`` or a secret file.
    """
    log.info("running: %s", " ".join(argv))
    try:
        proc = subprocess.run(
            argv,
            env={**os.environ, **(env or {})},
            stdout=stdout or subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout_s,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BackupToolError(f"{argv[0]} did not finish within {timeout_s:g}s") from None
    err = proc.stderr.decode(errors="replace").strip()
    if proc.returncode != 0:
        raise BackupToolError(f"{argv[0]} exited {proc.returncode}: {err[-1500:]}")
    if err:
        log.info("%s: %s", argv[0], err[-1500:])
    return proc.stdout.decode(errors="replace") if stdout is None else ""


def tool_version(argv: list[str]) -> str:
    """The first line ``argv`` (e.g. ``pg_dump --version``) prints; asked once per process and executable
    (an upgraded executable, with a new mtime, is asked again): each run costs a process start per backup."""
    found = shutil.which(argv[0])
    key = (tuple(argv), found, os.stat(found).st_mtime_ns if found else None)
    if key not in _TOOL_VERSIONS:
        _TOOL_VERSIONS[key] = run_tool(argv, timeout_s=30).strip().splitlines()[0]
    return _TOOL_VERSIONS[key]


_TOOL_VERSIONS: dict[tuple, str] = {}
