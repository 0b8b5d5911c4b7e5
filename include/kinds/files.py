"""Folders and files on this machine: backed up (no daily check). No connection."""

from __future__ import annotations

from typing import Any

from include.kinds.base import FieldErrors, KindSpec


def validate(options: dict[str, Any], errors: FieldErrors) -> None:
    """``paths``: a non-empty list, resolved against the inventory's folder."""
    if not options["paths"] or not all(isinstance(p, str) for p in options["paths"]):
        errors.fail("paths", "must be a non-empty list of folders or files")
    options["paths"] = [errors.resolve(p) for p in options["paths"]]


SPEC = KindSpec(
    name="files",
    worker_local=True,
    fields={"paths": (list, None)},
    needs_connection=False,
    backup="include.backup.files",
    validate=validate,
)
