"""Logs: ERROR lines inside the run's data interval per source, and the most frequent error signatures.

A line counts when it matches the source's pattern and its timestamp (or, for
a continuation line such as a stack trace, the timestamp of the line before it)
falls inside ``[window.start, window.end)``. A backfilled run therefore counts
the errors of its own day, not today's. Naive timestamps are read as UTC.

The files read are those the globs match and their rotated, gzip-compressed siblings
``<log>.*.gz`` (the weekly copy-truncate rotation's; :func:`window_files`), read through gzip.
"""

from __future__ import annotations

import glob
import gzip
import os
import re
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterator

from include.checks.base import CheckResult

if TYPE_CHECKING:
    from include.checks import Window
    from include.inventory import Target
    from include.targets import Endpoint


_VOLATILE = [  # (pattern, placeholder, characters one of which any match contains: a cheap test first)
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I), "<uuid>", "-"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>", "."),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<hex>", ""),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>", "'\""),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>", ""),
]


def signature(message: str) -> str:
    """The message with its volatile parts (ids, numbers, addresses, quoted values) replaced."""
    for pattern, placeholder, needs in _VOLATILE:
        if not needs or any(c in message for c in needs):
            message = pattern.sub(placeholder, message)
    return " ".join(message.split())[:160]


def parse_timestamp(text: str) -> datetime:
    ts = datetime.fromisoformat(text.replace(" ", "T", 1))
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


#: bytes read per system call; the unfinished last line is carried into the next chunk
CHUNK_BYTES = 2**20


def plain_word(pattern: re.Pattern) -> bytes | None:
    """The ASCII word every match of a pattern such as ``\\bERROR\\b`` or ``FATAL`` consists of, else None.

    Lines without that word cannot match, so they are skipped without being decoded or searched.
    """
    core = pattern.pattern
    if pattern.flags & (re.IGNORECASE | re.VERBOSE) or not isinstance(core, str):
        return None
    core = core[2:] if core.startswith(r"\b") else core
    core = core[:-2] if core.endswith(r"\b") else core
    return core.encode() if core and core.isascii() and re.escape(core) == core else None


def _whole_lines(fh) -> Iterator[bytes]:
    """The file's bytes in chunks that end at a line end (the last one may not)."""
    tail = b""
    while block := fh.read(CHUNK_BYTES):
        data = tail + block
        cut = data.rfind(b"\n") + 1
        if cut:
            yield data[:cut]
        tail = data[cut:]
    if tail:
        yield tail


def _text(raw: bytes) -> str:
    """One line as the text-mode reader returns it (UTF-8, bad bytes replaced, ``\\r\\n`` read as ``\\n``)."""
    line = raw.decode("utf-8", "replace")
    return line[:-2] + "\n" if line.endswith("\r\n") else line


class _FileScan:
    """One file's scan: the current timestamp (continuation lines inherit it), the count, the signatures."""

    def __init__(self, pattern: re.Pattern, ts_regex: re.Pattern, start: datetime, end: datetime,
                 signatures: Counter):
        self.pattern, self.ts_regex, self.start, self.end = pattern, ts_regex, start, end
        self.signatures = signatures
        self.count = 0
        self.current: datetime | None = None
        self._stamp: str | None = None  # the last parsed text: lines share timestamps, parse each once

    def stamp(self, line: str) -> bool:
        """Take the line's timestamp as the current one; False when it has none (or an invalid one)."""
        found = self.ts_regex.match(line)
        if not found:
            return False
        text = found.group(1)
        if text != self._stamp:
            try:
                self.current = parse_timestamp(text)
            except ValueError:
                return False
            self._stamp = text
        return True

    def line(self, line: str) -> None:
        self.stamp(line)
        self.count_if_error(line)

    def count_if_error(self, line: str) -> None:
        if self.current is None or not (self.start <= self.current < self.end):
            return
        found = self.pattern.search(line)
        if found:
            self.count += 1
            self.signatures[signature(line[found.end():].strip(" :-\t\r\n"))] += 1

    def every_line(self, chunk: bytes) -> None:
        """Every line of the chunk, read as the text-mode reader would (``\\r\\n`` and ``\\r`` are line ends)."""
        *lines, last = chunk.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for line in lines:
            self.line(line + "\n")
        if last:
            self.line(last)

    def last_stamp(self, chunk: bytes, lo: int, hi: int) -> None:
        """Make the current timestamp that of the last stamped line in ``chunk[lo:hi]`` (if any)."""
        while hi > lo:
            cut = chunk.rfind(b"\n", lo, hi - 1)
            begin = cut + 1 if cut >= 0 else lo
            if self.stamp(_text(chunk[begin:hi])):
                return
            hi = begin

    def lines_with(self, chunk: bytes, word: bytes) -> None:
        """Only the lines holding ``word``; the timestamps of the lines skipped in between still count."""
        done = 0
        at = chunk.find(word)
        while at >= 0:
            begin = chunk.rfind(b"\n", done, at) + 1 or done
            stop = chunk.find(b"\n", at) + 1 or len(chunk)
            line = _text(chunk[begin:stop])
            if not self.stamp(line):  # a continuation line: the stamp of the last stamped line before it
                self.last_stamp(chunk, done, begin)
            self.count_if_error(line)
            done = stop
            at = chunk.find(word, done)
        self.last_stamp(chunk, done, len(chunk))


def scan_file(path: str, pattern: re.Pattern, ts_regex: re.Pattern, start: datetime, end: datetime,
              signatures: Counter) -> int:
    """Count matching lines of one file within the window, adding their signatures.

    When the pattern is a plain word (the default ``\\bERROR\\b``), only lines holding that word
    are decoded and searched; the others are looked at only for the timestamp continuation
    lines inherit, and only back from a matching line. Chunks with old-Mac ``\\r`` line ends
    are read line by line.
    """
    scan = _FileScan(pattern, ts_regex, start, end, signatures)
    word = plain_word(pattern)
    with open_log(path) as fh:
        for chunk in _whole_lines(fh):
            if word is None or (b"\r" in chunk and chunk.count(b"\r") != chunk.count(b"\r\n")):
                scan.every_line(chunk)
            else:
                scan.lines_with(chunk, word)
    return scan.count


def window_files(patterns: list[str]) -> list[str]:
    """The files the globs match and the rotated ``<match>.*.gz`` siblings of each (errors of the window may
    have been rotated into one), sorted. Files last written before the window are skipped by the caller."""
    files = {f for g in patterns for f in glob.glob(g) if os.path.isfile(f)}
    files |= {f for g in patterns for f in glob.glob(g + ".*.gz") if os.path.isfile(f)}
    return sorted(files)


def open_log(path: str):
    """A binary reader of the log: through gzip for a ``.gz`` file, unbuffered otherwise."""
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb", buffering=0)


def check(target: Target, endpoint: Endpoint, window: Window) -> CheckResult:
    """Count errors of every file the source's globs match, inside the run's window."""
    opts, t = target.options, target.thresholds
    result = CheckResult(target.name, target.kind)
    pattern, ts_regex = re.compile(opts["pattern"]), re.compile(opts["timestamp_regex"])
    files = window_files(opts["paths"])
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
