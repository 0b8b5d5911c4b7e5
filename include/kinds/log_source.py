"""Log files on this machine: errors counted daily, old files archived weekly. No connection."""

from __future__ import annotations

import re
from typing import Any

from include.kinds.base import FieldErrors, KindSpec


def validate(options: dict[str, Any], errors: FieldErrors) -> None:
    """``paths``: a non-empty list, resolved against the inventory's folder; the regexes must compile; the
    signature counts (``top_signatures`` shown in the report, ``signature_metrics`` recorded one by one per run,
    the rest summed into ``logs.signature.other``) at least 1."""
    if not options["paths"] or not all(isinstance(p, str) for p in options["paths"]):
        errors.fail("paths", "must be a non-empty list of file paths or globs")
    options["paths"] = [errors.resolve(p) for p in options["paths"]]
    for key in ("top_signatures", "signature_metrics"):
        if isinstance(options[key], bool) or options[key] < 1:
            errors.fail(key, f"must be a whole number >= 1, got {options[key]!r}")
    for key in ("pattern", "timestamp_regex"):
        try:
            re.compile(options[key])
        except re.error as exc:
            errors.fail(key, f"not a valid regular expression: {exc}")


SPEC = KindSpec(
    name="log_source",
    worker_local=True,
    fields={
        "paths": (list, None),
        "pattern": (str, r"\bERROR\b"),
        "timestamp_regex": (str, r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})"),
        "top_signatures": (int, 5),
        "signature_metrics": (int, 50),
    },
    thresholds={"errors_warning": 1, "errors_critical": 100},
    needs_connection=False,
    check="include.checks.logs",
    weekly="include.weekly.logs",
    weekly_name="logs",
    validate=validate,
)
