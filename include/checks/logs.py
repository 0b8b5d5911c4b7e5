"""Logs: ERROR lines inside the run's data interval per source, and the most frequent error signatures.

A line counts when it matches the source's pattern and its timestamp (or, for
a continuation line such as a stack trace, the timestamp of the line before it)
falls inside ``[window.start, window.end)``. A backfilled run therefore counts
the errors of its own day, not today's. Naive timestamps are read as UTC.
"""

from __future__ import annotations

import glob
import os
import re
from collections import Counter
from datetime import datetime, timezone

from include.checks.base import CheckResult

_VOLATILE = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I), "<uuid>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
]


def signature(message: str) -> str:
    """The message with its volatile parts (ids, numbers, addresses, quoted values) replaced."""
    for pattern, placeholder in _VOLATILE:
        message = pattern.sub(placeholder, message)
    return " ".join(message.split())[:160]


def parse_timestamp(text: str) -> datetime:
    ts = datetime.fromisoformat(text.replace(" ", "T", 1))
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def scan_file(path: str, pattern: re.Pattern, ts_regex: re.Pattern, start: datetime, end: datetime,
              signatures: Counter) -> int:
    """Count matching lines of one file within the window, adding their signatures."""
    count = 0
    current: datetime | None = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            stamp = ts_regex.match(line)
            if stamp:
                try:
                    current = parse_timestamp(stamp.group(1))
                except ValueError:
                    pass
            if current is None or not (start <= current < end):
                continue
            found = pattern.search(line)
            if found:
                count += 1
                signatures[signature(line[found.end():].strip(" :-\t\r\n"))] += 1
    return count


def check(target, endpoint, window) -> CheckResult:
    """Count errors of every file the source's globs match, inside the run's window."""
    opts, t = target.options, target.thresholds
    result = CheckResult(target.name, target.kind)
    pattern, ts_regex = re.compile(opts["pattern"]), re.compile(opts["timestamp_regex"])
    files = sorted({f for g in opts["paths"] for f in glob.glob(g) if os.path.isfile(f)})
    if not files:
        result.add("warning", f"no log file matches {opts['paths']}")
        return result
    signatures: Counter = Counter()
    per_file = {}
    window_start = window.start.timestamp()
    for path in files:
        if os.path.getmtime(path) < window_start:  # last written before the window opened
            per_file[path] = 0
            continue
        per_file[path] = scan_file(path, pattern, ts_regex, window.start, window.end, signatures)
    total = sum(per_file.values())
    result.details.update({
        "window": [window.start.isoformat(), window.end.isoformat()],
        "files": per_file,
        "top_signatures": [{"signature": s, "count": c} for s, c in signatures.most_common(opts["top_signatures"])],
    })
    top = signatures.most_common(1)
    result.grade("logs.errors", total, t["errors_warning"], t["errors_critical"],
                 f"{{value}} error line(s) in {len(files)} file(s) between {window.start:%Y-%m-%d %H:%M} and"
                 f" {window.end:%Y-%m-%d %H:%M} (warning {{warning:g}}, critical {{critical:g}})"
                 + (f"; most frequent ({top[0][1]}x): {top[0][0]!r}" if top else ""))
    return result
