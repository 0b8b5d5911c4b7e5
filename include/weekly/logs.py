"""Application logs: rotate and compress, archive old compressed logs, expire old archives.

For a ``log_source`` target, every file its ``paths`` globs match:

1. **Rotate and compress** (not in a dry run: it only says which logs it would rotate). A live log (not ``.gz``)
   that is not empty and at least ``rotate_min_bytes`` big (0: every weekly run)
   is copied into ``<log>.<UTC stamp>.gz`` and then truncated in place
   (copy-truncate). Copy-truncate, not rename: the application keeps its file
   handle and goes on writing without being told to reopen its log (Aegis does
   not know how to signal each application). The cost is the usual
   copy-truncate race: lines written between the last read and the truncate
   (microseconds) are lost; anything appended while the copy ran is caught up
   before truncating. The application must open its log in append mode
   (``O_APPEND``, as every logging library does), or it keeps writing at its
   old offset. The ``.gz`` gets the log's last-write time, which dates it.
2. **Archive** compressed logs (``<log>.*.gz`` and any ``.gz`` the globs match)
   last written more than ``archive_after_days`` ago into the artifact store,
   under ``<archive folder>/<YYYY-MM-DD of last write>/<full local path>``. The
   copy's SHA-256 is read back from the store and compared with the local file;
   only a verified copy lets the local file be deleted. A dry run only reads: it
   lists what it would archive and delete, copying nothing. A file already in the store with the same checksum
   is not copied again; one with a different checksum is never overwritten (reported).
3. **Expire** archives whose date folder is older than ``archive_retention_days``
   (deleted only when not in dry-run). Without an archive folder, compressed
   logs are kept locally and those older than ``archive_retention_days`` are
   deleted (only when not in dry-run).

The archive folder is ``archive_folder`` (an ``ObjectStoragePath`` given by the
DAG, normally ``artifact_folder(inventory, "logs", target.name)``), or the
``archive_folder`` setting (a ``file://`` / ``s3://`` URI with
``archive_conn_id``). Idempotent: a second run finds the live logs empty (or
only new lines), never compresses a ``.gz`` again and never re-uploads a
verified archive. Bounded by ``max_seconds``; what it did not get to is named.
"""

from __future__ import annotations

import glob
import gzip
import logging
import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from include.backup.manifest import CHUNK, sha256_of
from include.checks.base import WARNING, CheckResult
from include.targets import Endpoint
from include.weekly.budget import Budget
from include.weekly.concern import concern
from include.weekly.settings_check import require_numbers

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "rotate_min_bytes": 0,  # 0: rotate every non-empty log at each weekly run
    "archive_after_days": 7,
    "archive_retention_days": 90,
    "archive_folder": None,  # URI; the DAG normally passes an ObjectStoragePath instead
    "archive_conn_id": None,
    "max_seconds": 600,
}
DAY = 86400


def check_settings(settings: dict) -> None:
    """Raise ``ValueError("<key>: <reason>")`` for settings this module cannot use (missing keys: defaults)."""
    settings = {**DEFAULTS, **settings}
    require_numbers(
        settings,
        positive=("max_seconds",),
        non_negative=("rotate_min_bytes", "archive_after_days", "archive_retention_days"),
    )
    if settings["archive_retention_days"] <= settings["archive_after_days"]:
        raise ValueError(
            f"archive_retention_days: must be above archive_after_days "
            f"({settings['archive_after_days']}), got {settings['archive_retention_days']}"
        )
    folder = settings.get("archive_folder")
    if folder is not None and not (isinstance(folder, str) and folder.startswith(("file://", "s3://"))):
        raise ValueError(f"archive_folder: must be a file:// or s3:// URI, got {folder!r}")


#: The destructive step (the name ``weekly.apply`` takes): all three changes above.
STEPS = {"log_rotation": "rotate and compress live logs, archive old ones (local copy deleted), expire archives"}


@concern(DEFAULTS, check_settings, STEPS)
def maintain(
    target: Any,
    endpoint: Endpoint,
    settings: dict[str, Any],
    budget: Budget,
    *,
    dry_run: bool = True,
    archive_folder: Any = None,
) -> CheckResult:
    """Rotate, compress, archive and expire the logs of one ``log_source`` target."""
    result = CheckResult(target.name, target.kind)
    folder = archive_folder if archive_folder is not None else _folder_from(settings)
    now = budget.started_at.timestamp()
    rows: list[dict[str, Any]] = []
    live, compressed = find_logs(target.options["paths"])
    if not live and not compressed:
        result.add(WARNING, f"no log file matches {target.options['paths']}")

    for path in live:
        if _out_of_time(budget, result, rows, path, "rotate"):
            continue
        row = rotate(path, int(settings["rotate_min_bytes"]), budget.started_at, dry_run=dry_run)
        rows.append(row)
        if row.get("compressed"):
            compressed.append(row["compressed"])

    old = [p for p in sorted(set(compressed)) if now - os.path.getmtime(p) > settings["archive_after_days"] * DAY]
    for path in old:
        if _out_of_time(budget, result, rows, path, "archive"):
            continue
        if folder is None:
            rows.append(_expire_local(path, now, settings, dry_run))
        else:
            rows.append(archive(path, folder, dry_run, result))
    if folder is not None and not budget.spent():
        rows.extend(expire_archives(folder, now, int(settings["archive_retention_days"]), dry_run))

    _summarise(result, rows, folder, dry_run, len(live), len(set(compressed)))
    return result


def find_logs(patterns: list[str]) -> tuple[list[str], list[str]]:
    """(live logs, compressed logs) the globs match; ``<log>.*.gz`` next to a match counts as compressed."""
    files = {f for g in patterns for f in glob.glob(g) if os.path.isfile(f)}
    files |= {f for g in patterns for f in glob.glob(g + ".*.gz") if os.path.isfile(f)}
    live = sorted(f for f in files if not f.endswith(".gz"))
    return live, sorted(f for f in files if f.endswith(".gz"))


def rotate(path: str, min_bytes: int, now: datetime, *, dry_run: bool = False) -> dict[str, Any]:
    """Copy ``path`` into ``<path>.<stamp of now, UTC>.gz``, catch up on lines written meanwhile, truncate it
    (a dry run only says it would)."""
    size = os.path.getsize(path)
    row: dict[str, Any] = {"file": path, "step": "rotate", "bytes": size}
    if size == 0 or size < min_bytes:
        row["action"] = "skipped: empty" if size == 0 else f"skipped: below rotate_min_bytes ({min_bytes})"
        return row
    if dry_run:
        row["action"] = "would do"
        log.info("would rotate %s (%d bytes; dry run)", path, size)
        return row
    dest = f"{path}.{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.gz"
    if os.path.exists(dest):
        row["action"] = f"skipped: {os.path.basename(dest)} already exists (rotated this second)"
        return row
    partial = dest + ".part"
    with open(path, "rb") as src:
        with gzip.open(partial, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
        os.replace(partial, dest)  # complete before the log is truncated: a crash duplicates, never loses
        tail = src.read()  # lines appended while the copy ran
        if tail:
            with gzip.open(dest, "ab") as out:  # a second gzip member: gunzip reads both
                out.write(tail)
        last_write = os.fstat(src.fileno()).st_mtime
        os.truncate(path, 0)
    os.utime(dest, (last_write, last_write))
    row.update(action="done", compressed=dest, compressed_bytes=os.path.getsize(dest))
    log.info("rotated %s (%d bytes) into %s (%d bytes)", path, size, dest, row["compressed_bytes"])
    return row


def archive(path: str, folder, dry_run: bool, result: CheckResult) -> dict[str, Any]:
    """Copy one compressed log into ``folder``, verify its checksum there, delete it locally (a dry run only
    says it would; a copy already there with the same checksum is not copied again)."""
    size, digest = sha256_of(Path(path))
    dest = archive_path(folder, path)
    row: dict[str, Any] = {"file": path, "step": "archive", "bytes": size, "archive": str(dest)}
    if dest.exists():
        stored = sha256_of(dest)[1]
        if stored != digest:
            row["action"] = "skipped: a different file of that name is already archived; not overwritten"
            result.add(WARNING, f"{dest} exists with another checksum than {path}: neither was touched")
            return row
        row["uploaded"] = False
    elif dry_run:  # a dry run only reads: nothing is copied
        row.update(uploaded=False, action="would do: archive, verify, delete the local file")
        log.info("would archive %s -> %s and delete the local file (dry run)", path, dest)
        return row
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "rb") as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
        row["uploaded"] = True
        if sha256_of(dest) != (size, digest):
            row["action"] = "skipped: the archived copy does not match the local file; local file kept"
            result.add(WARNING, f"archive of {path} at {dest} failed verification; local file kept")
            return row
    row["verified_sha256"] = digest
    if dry_run:
        row["action"] = "would do: archived and verified; local file would be deleted"
    else:
        os.remove(path)
        row["action"] = "done: archived, verified, local file deleted"
    log.info(
        "%s %s -> %s (sha256 %s)%s",
        "archived" if row["uploaded"] else "already archived",
        path,
        dest,
        digest[:12],
        "; would delete the local file (dry run)" if dry_run else "; local file deleted",
    )
    return row


def archive_path(folder, path: str):
    """``<folder>/<YYYY-MM-DD of last write, UTC>/<full local path>``: unique, and dated for retention."""
    day = datetime.fromtimestamp(os.path.getmtime(path), UTC).date().isoformat()
    return folder / day / os.path.abspath(path).lstrip("/")


def expire_archives(folder, now: float, retention_days: int, dry_run: bool) -> list[dict[str, Any]]:
    """Delete (unless ``dry_run``) the date folders of ``folder`` older than ``retention_days``."""
    if not folder.exists():
        return []
    cutoff = datetime.fromtimestamp(now, UTC).date() - timedelta(days=retention_days)
    rows = []
    for day_folder in sorted(folder.iterdir(), key=lambda p: p.name):
        try:
            day = date.fromisoformat(day_folder.name)
        except ValueError:
            continue  # not ours
        if day >= cutoff or not day_folder.is_dir():
            continue
        files = [f for f in day_folder.rglob("*") if f.is_file()]
        size = sum(_size(f) for f in files)
        rows.append(
            {
                "file": str(day_folder),
                "step": "expire",
                "bytes": size,
                "files": len(files),
                "action": "would do" if dry_run else "done",
            }
        )
        if not dry_run:
            day_folder.rmdir(recursive=True)
        log.info(
            "%s %d archived file(s) of %s (%d bytes): older than %d days",
            "would delete" if dry_run else "deleted",
            len(files),
            day,
            size,
            retention_days,
        )
    return rows


def _expire_local(path: str, now: float, settings: dict, dry_run: bool) -> dict[str, Any]:
    """Without an archive folder: delete a compressed log past retention (unless ``dry_run``), else keep it."""
    row: dict[str, Any] = {"file": path, "step": "expire", "bytes": os.path.getsize(path)}
    if now - os.path.getmtime(path) <= settings["archive_retention_days"] * DAY:
        row["action"] = "skipped: no archive folder; kept locally within archive_retention_days"
        return row
    row["action"] = "would do" if dry_run else "done"
    if not dry_run:
        os.remove(path)
    log.info(
        "%s %s: older than %s days and no archive folder",
        "would delete" if dry_run else "deleted",
        path,
        settings["archive_retention_days"],
    )
    return row


def _size(path) -> int:
    """Size of an ObjectStoragePath file (fsspec answers a dict, pathlib a stat_result)."""
    info = path.stat()
    return int(info["size"] if isinstance(info, dict) else info.st_size)


def _folder_from(settings: dict):
    if not settings.get("archive_folder"):
        return None
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(settings["archive_folder"], conn_id=settings.get("archive_conn_id"))


def _out_of_time(budget: Budget, result: CheckResult, rows: list, path: str, step: str) -> bool:
    if not budget.spent():
        return False
    rows.append({"file": path, "step": step, "action": "skipped: max_seconds reached"})
    if not any(f.message.startswith("stopped at max_seconds") for f in result.findings):
        result.add(WARNING, "stopped at max_seconds before every file was handled; the next run goes on")
    return True


def _summarise(result: CheckResult, rows: list[dict], folder, dry_run: bool, live: int, compressed: int) -> None:
    def count(step, prefix, key=None):
        chosen = [r for r in rows if r["step"] == step and r["action"].startswith(prefix)]
        return float(len(chosen)) if key is None else float(sum(r.get(key, 0) for r in chosen))

    m = result.metrics
    m["logs.rotated_files"] = count("rotate", "done")
    m["logs.rotated_bytes"] = count("rotate", "done", "bytes")
    m["logs.compressed_bytes"] = count("rotate", "done", "compressed_bytes")
    m["logs.archived_files"] = float(sum(1 for r in rows if r["step"] == "archive" and r.get("uploaded")))
    m["logs.local_deleted_files"] = count("archive", "done") + count("expire", "done") * (folder is None)
    m["logs.expired_archives_files"] = count("expire", "done", "files") if folder is not None else 0.0
    m["logs.expired_bytes"] = count("expire", "done", "bytes")
    result.details.update(
        {
            "files": rows,
            "dry_run": dry_run,
            "archive_folder": str(folder) if folder else None,
            "live_logs": live,
            "compressed_logs": compressed,
        }
    )
    if folder is None:
        result.details["note"] = "no archive folder given: compressed logs are kept locally until retention"
