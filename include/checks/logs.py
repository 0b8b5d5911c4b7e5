"""Logs: ERROR lines inside the run's data interval per source, and the most frequent error signatures.

A line counts when it matches the source's pattern and its timestamp (or, for
a continuation line such as a stack trace, the timestamp of the line before it)
falls inside ``[window.start, window.end)``. A backfilled run therefore counts
the errors of its own day, not today's. Naive timestamps are read as UTC.

The files read are those the globs match and their rotated, gzip-compressed siblings
``<log>.*.gz`` (the weekly copy-truncate rotation's; :func:`window_files`), read through gzip.

Metrics: ``logs.errors`` (graded), ``logs.bytes`` (the log volume: bytes on disk of every file listed,
compressed siblings as stored) and ``logs.signature.<id>`` per signature (its error lines; the id is
:func:`signature_id` of the text, kept in ``details["signature_texts"]`` and by the catalog): every signature
of the run up to the source's ``signature_metrics`` largest, the error lines of any further ones summed into
``logs.signature.other`` (:data:`OTHER_SIGNATURES`), so the per-signature metrics of a run add up to its
signature-bearing error lines and the monthly report can say when a count is not exact.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import mmap
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

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


#: per-signature metric names: this prefix and :func:`signature_id` (the text itself is kept in the
#: catalog's ``aegis_log_signatures``, from the result's ``details["signature_texts"]``)
SIGNATURE_METRIC = "logs.signature."
#: the id under :data:`SIGNATURE_METRIC` of the bucket summing the signatures beyond ``signature_metrics`` in a run
OTHER_SIGNATURES = "other"


def signature_id(text: str) -> str:
    """A short id of a signature that stays the same from run to run (metric names are bounded)."""
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]


def parse_timestamp(text: str) -> datetime:
    ts = datetime.fromisoformat(text.replace(" ", "T", 1))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


#: bytes read per system call; the unfinished last line is carried into the next chunk
CHUNK_BYTES = 2**20
#: around each edge of the window this many bytes are read line by line, so lines a little out of time
#: order there (several writer threads) still count by their own timestamps; in between, the file is taken
#: to be in time order (as log files are written) and only its error lines are looked at, in bulk
EDGE_BYTES = 2**18
#: bytes read per probe of the binary search for the window's edges
PROBE_BYTES = 2**12
#: bytes of the file mapped at once by the bulk count (bounds the memory a scan maps)
MAP_BYTES = 2**26
#: let GNU grep find the error lines between the window's edges (the regex pass over mapped bytes without it)
USE_GREP = True
#: seconds grep may take over one file
GREP_TIMEOUT = 600
_ASCII_NON_WORD = frozenset(b for b in range(128) if not (chr(b).isalnum() or b == ord("_")))
#: the volatile parts for one pass over many messages joined by newlines (a quoted value ends at its line)
_VOLATILE_JOINED = [
    (re.compile(p.pattern.replace(r"[^']", r"[^'\n]").replace(r"[^\"]", r"[^\"\n]"), p.flags), sub)
    for p, sub, _ in _VOLATILE
]


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


def _whole_lines(fh, limit: int = -1) -> Iterator[bytes]:
    """The file's bytes (``limit`` of them when >= 0) in chunks that end at a line end (the last one may not)."""
    tail = b""
    while limit and (block := fh.read(CHUNK_BYTES if limit < 0 else min(CHUNK_BYTES, limit))):
        limit -= len(block) if limit > 0 else 0
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

    def __init__(self, pattern: re.Pattern, ts_regex: re.Pattern, start: datetime, end: datetime, signatures: Counter):
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
            self.signatures[signature(line[found.end() :].strip(" :-\t\r\n"))] += 1

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


def _stamp_of(raw: bytes, ts_regex: re.Pattern) -> datetime | None:
    """The valid timestamp a line starts with, else None (the line continues the one before it)."""
    found = ts_regex.match(_text(raw))
    if not found:
        return None
    try:
        return parse_timestamp(found.group(1))
    except ValueError:
        return None


def _next_stamp(fh, offset: int, size: int, ts_regex: re.Pattern) -> tuple[int, datetime | None]:
    """The first line starting at or after ``offset`` with a valid timestamp: (its offset, the timestamp).

    ``(size, None)`` when no line after ``offset`` has one.
    """
    if offset >= size:
        return size, None
    pos = max(offset - 1, 0)  # the byte before ``offset`` tells whether a line starts there
    fh.seek(pos)
    buf, in_line = b"", offset > 0
    while True:
        block = fh.read(PROBE_BYTES)
        buf += block
        if in_line:
            cut = buf.find(b"\n")
            if cut < 0:
                pos, buf = pos + len(buf), b""
                if not block:
                    return size, None
                continue
            pos, buf, in_line = pos + cut + 1, buf[cut + 1 :], False
        while (cut := buf.find(b"\n")) >= 0 or (not block and buf):
            line = buf[: cut + 1] if cut >= 0 else buf
            stamp = _stamp_of(line, ts_regex)
            if stamp is not None:
                return pos, stamp
            pos, buf = pos + len(line), buf[len(line) :]
        if not block:
            return size, None


def window_offset(fh, size: int, ts_regex: re.Pattern, moment: datetime) -> int:
    """Where the first line stamped at or after ``moment`` starts, by binary search (the file in time order)."""
    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        offset, stamp = _next_stamp(fh, mid, size, ts_regex)
        if stamp is None or stamp >= moment:
            hi = mid
        else:
            lo = offset + 1  # every probe in [mid, offset] finds this same early line
    return _next_stamp(fh, lo, size, ts_regex)[0]


def _scan_lines(fh, begin: int, stop: int, scan: _FileScan, word: bytes | None) -> None:
    """Line by line, ``[begin, stop)`` of the file (``begin`` at a line start)."""
    fh.seek(begin)
    for chunk in _whole_lines(fh, stop - begin):
        if word is None or (b"\r" in chunk and chunk.count(b"\r") != chunk.count(b"\r\n")):
            scan.every_line(chunk)
        else:
            scan.lines_with(chunk, word)


def _errors_in(
    view,
    first: int,
    last: int,
    word: bytes,
    pattern: re.Pattern,
    messages: list[bytes],
    prefix: re.Pattern | None = None,
) -> int:
    """Count the lines of ``view[first:last]`` (whole lines, all inside the window) that match the pattern.

    One regex pass finds each line's first ``word`` up to the line end (``\\r`` or ``\\n``, as the
    text-mode reader splits lines); the rest of the line is its message, added to ``messages``. Only when
    the bytes around the word are not plainly outside a word (a letter, a digit, non-ASCII) is the line
    decoded and searched with the pattern itself. ``prefix`` matches what precedes each line's text in
    ``view`` (grep's ``offset:``).
    """
    finder = re.compile(re.escape(word) + rb"[^\r\n]*")
    width, count = len(word), 0
    for found in finder.finditer(view, first, last):
        at, end = found.span()
        before = view[at - 1] if at > first else 10
        after = view[at + width] if at + width < end else 10
        if before in _ASCII_NON_WORD and after in _ASCII_NON_WORD:
            messages.append(view[at + width : end])
            count += 1
            continue
        newline, cr = view.rfind(b"\n", first, at), view.rfind(b"\r", first, at)
        line_start = max(newline, cr) + 1 or first
        if prefix is not None and cr < newline + 1:  # the line's own start: step over grep's "offset:"
            line_start = prefix.match(view, line_start).end()  # type: ignore[union-attr]  # grep wrote it
        line = _text(view[line_start:end]) + "\n"
        match = pattern.search(line)
        if match:
            messages.append(line[match.end() :].strip(" :-\t\r\n").encode())
            count += 1
    return count


_GREP_PREFIX = re.compile(rb"\d+:")


def _error_messages_grep(
    fh, begin: int, stop: int, word: bytes, pattern: re.Pattern, messages: list[bytes]
) -> int | None:
    """As ``_error_messages``, with GNU grep finding the lines that hold the word; None when grep is missing."""
    grep = shutil.which("grep")
    if grep is None:
        return None
    fh.seek(begin)  # grep reads the file from here on its standard input
    proc = subprocess.run(
        [grep, "-a", "-b", "-F", "--", word],
        stdin=fh,
        capture_output=True,
        timeout=GREP_TIMEOUT,
        env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "")},
    )
    if proc.returncode not in (0, 1):
        return None
    out, last = proc.stdout, len(proc.stdout)
    while last:  # drop the lines at or after ``stop`` (grep read to the end of the file)
        line_start = out.rfind(b"\n", 0, last - 1) + 1
        if int(_GREP_PREFIX.match(out, line_start).group()[:-1]) < stop - begin:  # type: ignore[union-attr]
            break
        last = line_start
    return _errors_in(out, 0, last, word, pattern, messages, prefix=_GREP_PREFIX)


def _error_messages(fh, begin: int, stop: int, word: bytes, pattern: re.Pattern, messages: list[bytes]) -> int:
    """Count the lines of ``[begin, stop)`` (all inside the window) that match; their messages go to ``messages``.

    GNU grep (C speed, ``USE_GREP``) finds the lines holding the word; without it, one regex pass over
    the file mapped ``MAP_BYTES`` at a time.
    """
    if USE_GREP:
        count = _error_messages_grep(fh, begin, stop, word, pattern, messages)
        if count is not None:
            return count
    count = 0
    while begin < stop:
        base = begin - begin % mmap.ALLOCATIONGRANULARITY
        length = min(stop, base + MAP_BYTES) - base
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        with mmap.mmap(fh.fileno(), length, flags=flags, prot=mmap.PROT_READ, offset=base) as view:
            first, last = begin - base, length
            if base + length < stop:  # end this view at its last line end, the rest goes to the next one
                last = max(view.rfind(b"\n", first), view.rfind(b"\r", first)) + 1
                if last <= first:  # one line longer than a view: take it whole
                    last = length
            count += _errors_in(view, first, last, word, pattern, messages)
            begin = base + last
    return count


#: from this many error lines on, the signatures are masked by RE2 through pyarrow (when installed and the
#: messages are ASCII, where RE2's ``\\b``/``\\d``/case rules are Python's); below it, Python's ``re``
NATIVE_SIGNATURES_FROM = 20_000


def _masked_with_arrow(messages: list[bytes], joined: bytes) -> Counter | None:
    """The messages (``joined``: all of them, one after the other) with their volatile parts masked, counted,
    by pyarrow's RE2 kernels; None without pyarrow."""
    try:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        return None
    ends = np.zeros(len(messages) + 1, dtype=np.int32)
    np.cumsum(np.fromiter(map(len, messages), dtype=np.int32, count=len(messages)), out=ends[1:])
    texts = pa.StringArray.from_buffers(len(messages), pa.py_buffer(ends), pa.py_buffer(joined))
    for pattern, placeholder, _ in _VOLATILE:
        texts = pc.replace_substring_regex(
            texts, pattern=("(?i)" if pattern.flags & re.I else "") + pattern.pattern, replacement=placeholder
        )
    counted = pc.value_counts(texts)  # in order of first appearance, as Counter keeps them
    return Counter(dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True)))


def _masked_with_re(messages: list[bytes]) -> Counter:
    """The messages with their volatile parts masked, counted: one pass of each pattern over all of them."""
    text = b"\n".join(messages).decode("utf-8", "replace")
    for pattern, placeholder in _VOLATILE_JOINED:
        text = pattern.sub(placeholder, text)
    return Counter(text.split("\n"))


def _add_signatures(messages: list[bytes], signatures: Counter) -> None:
    """Add the signatures of many messages: volatile parts masked in bulk, then ``signature`` once per distinct text."""
    if not messages:
        return
    masked = None
    if len(messages) >= NATIVE_SIGNATURES_FROM and (joined := b"".join(messages)).isascii():
        masked = _masked_with_arrow(messages, joined)
    for text, count in (masked if masked is not None else _masked_with_re(messages)).items():
        signatures[signature(text.strip(" :-\t\r\n"))] += count


def scan_file(
    path: str, pattern: re.Pattern, ts_regex: re.Pattern, start: datetime, end: datetime, signatures: Counter
) -> int:
    """Count matching lines of one file within the window, adding their signatures.

    When the pattern is a plain word (the default ``\\bERROR\\b``) and the file is large, the window's
    byte range is found by binary search on the timestamps (log files are written in time order), the
    ``EDGE_BYTES`` around each of its edges are read line by line, and in between only the lines holding
    the word are looked at, found by one regex pass over the mapped bytes. Otherwise every chunk is read:
    lines without the word are looked at only for the timestamp continuation lines inherit; chunks with
    old-Mac ``\\r`` line ends (or a pattern that is not a plain word) line by line.
    """
    word = plain_word(pattern)
    if path.endswith(".gz"):  # a rotated, compressed file: no seeking by timestamp, every chunk through gzip
        scan = _FileScan(pattern, ts_regex, start, end, signatures)
        with open_log(path) as fh:
            _scan_lines(fh, 0, -1, scan, word)  # -1: to the end (the size of a gzip stream is not known)
        return scan.count
    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        if word is None or size <= 4 * EDGE_BYTES:
            scan = _FileScan(pattern, ts_regex, start, end, signatures)
            _scan_lines(fh, 0, size, scan, word)
            return scan.count
        first, after = window_offset(fh, size, ts_regex, start), window_offset(fh, size, ts_regex, end)
        begin = _next_stamp(fh, first - EDGE_BYTES, size, ts_regex)[0] if first > EDGE_BYTES else 0
        finish = _next_stamp(fh, after + EDGE_BYTES, size, ts_regex)[0]
        bulk_begin = _next_stamp(fh, first + EDGE_BYTES, size, ts_regex)[0]
        bulk_end = _next_stamp(fh, after - EDGE_BYTES, size, ts_regex)[0] if after > EDGE_BYTES else 0
        if bulk_begin >= bulk_end:  # a small window: all of it line by line
            scan = _FileScan(pattern, ts_regex, start, end, signatures)
            _scan_lines(fh, begin, finish, scan, word)
            return scan.count
        head = _FileScan(pattern, ts_regex, start, end, signatures)
        _scan_lines(fh, begin, bulk_begin, head, word)
        messages: list[bytes] = []
        count = _error_messages(fh, bulk_begin, bulk_end, word, pattern, messages)
        _add_signatures(messages, signatures)
        tail = _FileScan(pattern, ts_regex, start, end, signatures)
        _scan_lines(fh, bulk_end, finish, tail, word)
        return head.count + count + tail.count


def window_files(patterns: list[str]) -> list[str]:
    """The files the globs match and the rotated ``<match>.*.gz`` siblings of each (errors of the window may
    have been rotated into one), sorted. Files last written before the window are skipped by the caller."""
    files = {f for g in patterns for f in glob.glob(g) if os.path.isfile(f)}
    files |= {f for g in patterns for f in glob.glob(g + ".*.gz") if os.path.isfile(f)}
    return sorted(files)


def log_bytes(files: list[str]) -> int:
    """Bytes on disk of the log files and their rotated siblings (compressed ones as stored): the log volume."""
    total = 0
    for path in files:
        try:
            total += os.path.getsize(path)
        except OSError:  # rotated away since it was listed
            continue
    return total


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
    ranked = signatures.most_common()
    top_signatures = ranked[: opts["top_signatures"]]
    recorded, beyond = ranked[: opts["signature_metrics"]], ranked[opts["signature_metrics"] :]
    result.details.update(
        {
            "window": [window.start.isoformat(), window.end.isoformat()],
            "files": per_file,
            "top_signatures": [{"signature": s, "count": c, "id": signature_id(s)} for s, c in top_signatures],
            "signature_texts": {signature_id(s): s for s, _ in recorded},
            "signatures": {
                "distinct": len(ranked),
                "recorded": len(recorded),
                "other_lines": sum(c for _, c in beyond),
            },
        }
    )
    top = signatures.most_common(1)
    result.grade(
        "logs.errors",
        total,
        t["errors_warning"],
        t["errors_critical"],
        f"{{value}} error line(s) in {len(files)} file(s) between {window.start:%Y-%m-%d %H:%M} and"
        f" {window.end:%Y-%m-%d %H:%M} (warning {{warning:g}}, critical {{critical:g}})"
        + (f"; most frequent ({top[0][1]}x): {top[0][0]!r}" if top else ""),
    )
    result.metrics["logs.bytes"] = float(log_bytes(files))
    for text, count in recorded:  # the month-over-month comparison by signature reads these
        result.metrics[SIGNATURE_METRIC + signature_id(text)] = float(count)
    if beyond:  # bounded metric names: the rest counted together, so the month says its counts are not exact
        result.metrics[SIGNATURE_METRIC + OTHER_SIGNATURES] = float(sum(c for _, c in beyond))
    return result
