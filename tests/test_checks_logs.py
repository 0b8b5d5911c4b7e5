"""The log scan: window and continuation-line rules, and the fast path (lines without the error word
skipped) giving exactly what a plain line-by-line reading gives, across chunk boundaries, CRLF and
old-Mac line ends, bad UTF-8, invalid timestamps and patterns that are not a plain word."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import datetime, timezone

import pytest

from include.checks import logs
from include.checks.logs import parse_timestamp, plain_word, scan_file, signature

TS = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})")
START, END = datetime(2026, 3, 9, tzinfo=timezone.utc), datetime(2026, 3, 10, tzinfo=timezone.utc)


def line_by_line(path, pattern, ts_regex, start, end) -> tuple[int, Counter]:
    """The straightforward reading (text mode, every line), as the scan did before the fast path."""
    count, sigs, current = 0, Counter(), None
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
                sigs[signature(line[found.end():].strip(" :-\t\r\n"))] += 1
    return count, sigs


def scan(path, pattern=r"\bERROR\b"):
    sigs = Counter()
    return scan_file(str(path), re.compile(pattern), TS, START, END, sigs), sigs


def test_plain_word_only_for_a_word_with_optional_boundaries():
    assert plain_word(re.compile(r"\bERROR\b")) == b"ERROR"
    assert plain_word(re.compile("FATAL")) == b"FATAL"
    assert plain_word(re.compile(r"ERROR\b")) == b"ERROR"
    for not_plain in (r"ERROR|FATAL", r"(?i)error", r"\bERR\w+", r"ERROR\\b", r"ÉRREUR", r"ERR OR"):
        assert plain_word(re.compile(not_plain)) is None, not_plain
    assert plain_word(re.compile("ERROR", re.IGNORECASE)) is None


def test_window_and_continuation_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "CHUNK_BYTES", 16)  # every line crosses a chunk boundary
    path = tmp_path / "app.log"
    path.write_text(
        "2026-03-08T23:59:59 ERROR too early (job 1)\n"
        "  ERROR continuation of a line before the window\n"
        "2026-03-09T00:00:00 INFO start\n"
        "  ERROR continuation inside the window 42\n"
        "2026-03-09T12:00:00 ERRORS is not the word ERROR-ish? yes it is: ERROR here\n"
        "2026-03-09T13:00:00 ERRORS only\n"
        "2026-13-45T00:00:00 ERROR invalid stamp: inherits 12:00 and counts\n"
        "2026-03-10T00:00:00 ERROR at the end: outside\n"
        "  ERROR continuation after the window\n")
    count, sigs = scan(path)
    assert count == 3
    assert sigs == Counter({"continuation inside the window <n>": 1, "ish? yes it is: ERROR here": 1,
                            "invalid stamp: inherits <n>:<n> and counts": 1})


@pytest.mark.parametrize("chunk", [7, 64, 4096])
@pytest.mark.parametrize("pattern", [r"\bERROR\b", r"ERROR|FATAL", r"^\S+ ERROR\b"])
def test_same_as_line_by_line_on_awkward_files(tmp_path, monkeypatch, chunk, pattern):
    monkeypatch.setattr(logs, "CHUNK_BYTES", chunk)
    rnd = random.Random(f"{chunk}{pattern}")
    pieces = ["2026-03-08T23:00:00 ERROR before {n}", "2026-03-09T0{d}:00:00 ERROR inside {n}",
              "2026-03-09T0{d}:30:00 INFO fine", "2026-03-10T01:00:00 ERROR after {n}",
              "  at frame {n} ERROR in trace", "2026-02-30T00:00:00 ERROR bad date {n}", "",
              "2026-03-09T05:00:00 FATAL disk {n}", "2026-03-09 06:00:00 ERRORS plural {n}",
              "ERROR without stamp {n}", "2026-03-09T07:00:00 Fehler \udcff ERROR bad utf8 {n}"]
    ends = ["\n", "\n", "\n", "\r\n", "\r"]
    text = "".join(rnd.choice(pieces).format(n=rnd.randint(0, 999), d=rnd.randint(0, 9)) + rnd.choice(ends)
                   for _ in range(400))
    path = tmp_path / "app.log"
    path.write_bytes(text.encode("utf-8", "surrogateescape") + b"2026-03-09T08:00:00 ERROR no newline at end")
    expected = line_by_line(path, re.compile(pattern), TS, START, END)
    assert expected[0] > 10  # the file does exercise the counting
    assert scan(path, pattern) == expected
