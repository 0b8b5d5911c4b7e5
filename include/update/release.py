"""Host release switch: ``<root>/releases/<version>/`` folders and a ``<root>/current`` symlink.

The switch is atomic: a new link is made beside ``current`` and renamed over it, so a
reader sees the old release or the new one, never neither. The link's previous target is
returned so the rollback can switch back. An optional command (argv, no shell) runs after
each switch (a service restart, say) with a timeout; it gets no secret in its arguments:
anything it needs comes from its own environment or files.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def current_release(root: str) -> str | None:
    """The version ``current`` points to (the folder name under ``releases/``), None when there is no link."""
    link = Path(root) / "current"
    if not link.is_symlink():
        return None
    return Path(os.readlink(link)).name


def switch(root: str, version: str) -> dict[str, Any]:
    """Point ``current`` at ``releases/<version>`` atomically; return ``{from, to}``."""
    base = Path(root)
    if not (base / "releases" / version).is_dir():
        raise FileNotFoundError(f"{base}/releases/{version} is not a folder")
    previous = current_release(root)
    if (base / "current").exists() and not (base / "current").is_symlink():
        raise RuntimeError(f"{base}/current exists and is not a symlink: refusing to replace it")
    tmp = base / f".current.{os.getpid()}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(Path("releases") / version)
    os.replace(tmp, base / "current")
    log.info("%s/current: %s -> %s", base, previous, version)
    return {"from": previous, "to": version}


def run_command(argv: list[str], cwd: str, timeout_s: float) -> dict[str, Any]:
    """Run ``argv`` (no shell) in ``cwd``; a non-zero exit or the timeout raises with the output's tail."""
    log.info("running %s in %s (timeout %gs)", argv[0], cwd, timeout_s)
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"command {argv[0]} did not finish within {timeout_s:g}s") from None
    tail = (done.stdout + done.stderr).strip()[-2000:]
    if done.returncode != 0:
        raise RuntimeError(f"command {argv[0]} exited with {done.returncode}: {tail}")
    return {"command": argv[0], "exit": 0, "output": tail}
