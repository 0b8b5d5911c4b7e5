"""The log scan: window and continuation-line rules, and the fast path (lines without the error word
skipped) giving exactly what a plain line-by-line reading gives, across chunk boundaries, CRLF and
old-Mac line ends, bad UTF-8, invalid timestamps and patterns that are not a plain word."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import UTC, datetime

import pytest

from include.checks import logs
from include.checks.logs import parse_timestamp, plain_word, scan_file, signature

TS = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})")
START, END = datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)


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
                sigs[signature(line[found.end() :].strip(" :-\t\r\n"))] += 1
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
        "  ERROR continuation after the window\n"
    )
    count, sigs = scan(path)
    assert count == 3
    assert sigs == Counter(
        {
            "continuation inside the window <n>": 1,
            "ish? yes it is: ERROR here": 1,
            "invalid stamp: inherits <n>:<n> and counts": 1,
        }
    )


@pytest.mark.parametrize("chunk", [7, 64, 4096])
@pytest.mark.parametrize("pattern", [r"\bERROR\b", r"ERROR|FATAL", r"^\S+ ERROR\b"])
def test_same_as_line_by_line_on_awkward_files(tmp_path, monkeypatch, chunk, pattern):
    monkeypatch.setattr(logs, "CHUNK_BYTES", chunk)
    rnd = random.Random(f"{chunk}{pattern}")
    pieces = [
        "2026-03-08T23:00:00 ERROR before {n}",
        "2026-03-09T0{d}:00:00 ERROR inside {n}",
        "2026-03-09T0{d}:30:00 INFO fine",
        "2026-03-10T01:00:00 ERROR after {n}",
        "  at frame {n} ERROR in trace",
        "2026-02-30T00:00:00 ERROR bad date {n}",
        "",
        "2026-03-09T05:00:00 FATAL disk {n}",
        "2026-03-09 06:00:00 ERRORS plural {n}",
        "ERROR without stamp {n}",
        "2026-03-09T07:00:00 Fehler \udcff ERROR bad utf8 {n}",
    ]
    ends = ["\n", "\n", "\n", "\r\n", "\r"]
    text = "".join(
        rnd.choice(pieces).format(n=rnd.randint(0, 999), d=rnd.randint(0, 9)) + rnd.choice(ends) for _ in range(400)
    )
    path = tmp_path / "app.log"
    path.write_bytes(text.encode("utf-8", "surrogateescape") + b"2026-03-09T08:00:00 ERROR no newline at end")
    expected = line_by_line(path, re.compile(pattern), TS, START, END)
    assert expected[0] > 10  # the file does exercise the counting
    assert scan(path, pattern) == expected


def sorted_log(rnd: random.Random, lines: int = 3000) -> str:
    """A log in time order over three days (the window is the middle one), with the awkward lines mixed in."""
    pieces = [
        "{ts} ERROR inside {n} from 10.0.{n}.1 key='k{n}'",
        "{ts} INFO fine {n}",
        "  at frame {n} ERROR in trace",
        "{ts} ERRORS plural {n}",
        "{ts} xERROR glued {n}",
        "{ts} ERRORx glued {n}",
        "{ts} éERROR after a letter",
        "{ts} ERRORS first, then ERROR {n} later",
        "{ts} ERROR twice ERROR {n}",
        "{ts} Fehler \udcff ERROR utf8 {n}",
        "2026-02-30T00:00:00 ERROR bad date inherits {n}",
        "ERROR without stamp {n}",
        "{ts} FATAL disk {n}",
        "",
    ]
    ends = ["\n"] * 6 + ["\r\n", "\r"]
    second, out = 0, []
    for _ in range(lines):
        second += rnd.choice([0, 0, 1, 2, 3])  # 1.2 on average: the lines span about three days
        ts = datetime(2026, 3, 8, tzinfo=UTC).timestamp() + second * 3 * 86_400 / (1.2 * lines)
        stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        out.append(rnd.choice(pieces).format(ts=stamp, n=rnd.randint(0, 999)) + rnd.choice(ends))
    return "".join(out)


@pytest.mark.parametrize("use_grep", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bulk_scan_between_the_edges_same_as_line_by_line(tmp_path, monkeypatch, use_grep, seed):
    monkeypatch.setattr(logs, "EDGE_BYTES", 512)  # small edges: most of the file goes through the bulk count
    monkeypatch.setattr(logs, "PROBE_BYTES", 64)  # probes that end inside lines
    monkeypatch.setattr(logs, "MAP_BYTES", 8192)  # several mapped views, lines across their ends
    monkeypatch.setattr(logs, "USE_GREP", use_grep)
    path = tmp_path / "app.log"
    path.write_bytes(sorted_log(random.Random(seed)).encode("utf-8", "surrogateescape"))
    for pattern in (r"\bERROR\b", "ERROR", r"ERROR\b"):
        expected = line_by_line(path, re.compile(pattern), TS, START, END)
        assert 100 < expected[0] < 3000  # errors inside and outside the window
        got = scan(path, pattern)
        assert got == expected
        assert list(got[1].most_common()) == list(expected[1].most_common())  # same order of ties too


def test_error_lines_exactly_at_the_window_edges(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "EDGE_BYTES", 256)
    filler = "".join(f"2026-03-08T{h:02d}:00:00 INFO before {i}\n" for h in range(24) for i in range(10))
    inside = "".join(f"2026-03-09T{h:02d}:00:00 INFO inside {i}\n" for h in range(1, 24) for i in range(10))
    after = "".join(f"2026-03-10T{h:02d}:00:00 INFO after {i}\n" for h in range(1, 24) for i in range(10))
    path = tmp_path / "app.log"
    path.write_text(
        filler + "2026-03-08T23:59:59 ERROR last second before\n"
        "2026-03-09T00:00:00 ERROR first second inside\n  ERROR its continuation\n"
        + inside
        + "2026-03-09T23:59:59 ERROR last second inside\n"
        "2026-03-10T00:00:00 ERROR the end is outside\n  ERROR its continuation too\n" + after
    )
    count, sigs = scan(path)
    assert count == 3
    assert sigs == Counter({"first second inside": 1, "its continuation": 1, "last second inside": 1})


def test_lines_out_of_order_near_an_edge_count_by_their_own_timestamps(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "EDGE_BYTES", 2048)
    before = "".join(f"2026-03-08T23:{m:02d}:00 INFO before {m}\n" for m in range(60))
    inside = "".join(f"2026-03-09T00:{m:02d}:00 INFO inside {m}\n" for m in range(60)) * 4
    path = tmp_path / "app.log"
    path.write_text(
        before * 3
        + "2026-03-09T00:00:01 ERROR written early by a fast thread\n"  # inside, among earlier lines
        + "".join(before.splitlines(keepends=True)[-10:])
        + "2026-03-09T00:00:00 INFO the window starts\n"
        "2026-03-08T23:59:59 ERROR written late by a slow thread\n"  # before, among later lines
        + inside
        + "2026-03-09T12:00:00 ERROR plainly inside\n"
        + inside * 3
        + "2026-03-10T00:00:00 INFO the window ends\n"
        "2026-03-09T23:59:59 ERROR late line of the day before\n"  # inside, after the end
         + before.replace("03-08", "03-10") * 3
    )
    expected = line_by_line(path, re.compile(r"\bERROR\b"), TS, START, END)
    assert expected[0] == 3
    assert scan(path) == expected


def test_signatures_in_bulk_same_with_re2_and_with_re(monkeypatch):
    rnd = random.Random(5)
    messages = [
        f" [api] payment {rnd.getrandbits(32):08x}-1b2c-4d5e-8F90-{rnd.getrandbits(48):012x} declined: "
        f"code {rnd.randint(0, 99)} at 0x{rnd.getrandbits(20):X} 10.1.{rnd.randint(0, 9)}.7:80 "
        f"'quoted {rnd.randint(0, 9)}' \"dq\" v{rnd.random():.3f}".encode()
        for _ in range(300)
    ]
    messages += [b"plain message", b"  -- stripped: ", b"'unclosed 12"]
    with_re, with_re2 = Counter(), Counter()
    monkeypatch.setattr(logs, "NATIVE_SIGNATURES_FROM", 10**9)
    logs._add_signatures(messages, with_re)
    monkeypatch.setattr(logs, "NATIVE_SIGNATURES_FROM", 1)
    logs._add_signatures(messages, with_re2)
    one_by_one = Counter(signature(m.decode().strip(" :-\t\r\n")) for m in messages)
    assert with_re == one_by_one
    assert with_re2 == one_by_one
    assert list(with_re2.most_common()) == list(one_by_one.most_common())
