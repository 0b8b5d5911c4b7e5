"""Milvus vector databases (a server or a Milvus Lite file): checked daily, backed up, maintained weekly."""

from include.kinds.base import KindSpec

SPEC = KindSpec(
    name="milvus",
    worker_local=True,
    check="include.checks.milvus",
    backup="include.backup.milvus",
    weekly="include.weekly.milvus",
    update_health=True,
    restore_health=True,
)
