"""The deeper host checks (issue 20) on this machine: inodes and disk (agreeing with ``check_disk``),
5/15-minute load (agreeing with ``check_load``), open files, a real out-of-memory kill in a memory
cgroup of the test's own, and the clock offset from an NTP source (a fake SNTP server in the test,
queried by ``check_ntp_time`` too)."""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from include.checks import Window, run_check
from include.checks.host import NTP_EPOCH
from include.inventory import parse_inventory
from include.targets import Endpoint
from tests.helpers import free_port

NOW = datetime.now(UTC)
WINDOW = Window(NOW, NOW)
PLUGINS = Path("/usr/lib/nagios/plugins")
needs_plugins = pytest.mark.skipif(
    not (PLUGINS / "check_disk").exists(),
    reason="monitoring-plugins-basic (check_disk, check_load, check_ntp_time) not installed",
)


def check(window: Window = WINDOW, mounts=("/",), ntp_servers=(), **thresholds):
    target = parse_inventory(
        {
            "targets": [
                {
                    "name": "h",
                    "kind": "host",
                    "mounts": list(mounts),
                    "ntp_servers": list(ntp_servers),
                    "thresholds": thresholds,
                }
            ]
        }
    ).targets[0]
    return run_check(target, Endpoint(), window)


def messages(result) -> str:
    return "\n".join(f"[{f.level}] {f.message}" for f in result.findings)


def plugin(name: str, *args: str) -> str:
    return subprocess.run([str(PLUGINS / name), *args], capture_output=True, text=True, timeout=30, check=False).stdout


@needs_plugins
def test_inodes_and_disk_per_mount_agree_with_check_disk(tmp_path):
    result = check(mounts=["/", str(tmp_path)], inode_warning_pct=0.001, inode_critical_pct=100)
    ours = {d["mount"]: d for d in result.details["disks"]}
    assert ours["/"]["inodes_used_pct"] == result.metrics["host.inode_pct[/]"] > 0
    assert "inodes on / " in messages(result) and "no new file can be created" in messages(result)
    peer = plugin("check_disk", "-w", "1%", "-c", "1%", "-W", "1%", "-K", "1%", "-p", "/")
    free_pct, inode_free_pct = (int(n) for n in re.search(r" / \d+\w+ \((\d+)% inode=(\d+)%\)", peer).groups())
    assert abs((100 - ours["/"]["used_pct"]) - free_pct) <= 1, peer
    assert abs((100 - ours["/"]["inodes_used_pct"]) - inode_free_pct) <= 1, peer


@needs_plugins
def test_5_and_15_minute_load_agree_with_check_load():
    result = check(
        load5_per_cpu_warning=0, load5_per_cpu_critical=1000, load15_per_cpu_warning=0, load15_per_cpu_critical=1000
    )
    peer = plugin("check_load", "-r", "-w", "1000,1000,1000", "-c", "2000,2000,2000")
    _, load5, load15 = (
        float(x) for x in re.search(r"scaled load average: ([\d.]+), ([\d.]+), ([\d.]+)", peer).groups()
    )
    assert abs(result.metrics["host.load5_per_cpu"] - load5) <= 0.2, peer
    assert abs(result.metrics["host.load15_per_cpu"] - load15) <= 0.1, peer
    text = messages(result)
    assert "5-minute load" in text and "15-minute load" in text
    calm = check(
        load5_per_cpu_warning=1000,
        load5_per_cpu_critical=2000,
        load15_per_cpu_warning=1000,
        load15_per_cpu_critical=2000,
    )
    assert "5-minute load" not in messages(calm)


def test_swap_is_graded_only_when_there_is_some():
    result = check(swap_warning_pct=0, swap_critical_pct=100)
    if psutil.swap_memory().total:
        assert "host.swap_pct" in result.metrics and "swap at" in messages(result)
    else:
        assert "host.swap_pct" not in result.metrics and result.details["swap"] == "no swap configured: not graded"


def test_open_files_against_the_kernel_limit():
    _allocated, _, limit = (int(x) for x in Path("/proc/sys/fs/file-nr").read_text().split())
    handles = [open(os.devnull) for _ in range(300)]  # noqa: SIM115 - held open on purpose
    try:
        result = check(open_files_warning_pct=0.000001, open_files_critical_pct=100)
    finally:
        for h in handles:
            h.close()
    assert result.details["open_files"]["limit"] == limit
    assert result.metrics["host.open_files"] >= 300
    assert "file handles open of fs.file-max" in messages(result)
    assert "file handles" not in messages(check(open_files_warning_pct=99, open_files_critical_pct=100))


MEMCG = Path("/sys/fs/cgroup/memory")


def test_an_out_of_memory_kill_since_the_previous_run(tmp_path):
    """A real OOM kill: a child process in a 30 MB memory cgroup of its own allocates 200 MB."""
    group = MEMCG / f"aegis-test-oom-{os.getpid()}"
    try:
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(str(30 << 20))
    except OSError as exc:
        pytest.skip(f"cannot make a memory cgroup here: {exc}")
    try:
        first = check()
        hog = subprocess.run(
            [
                "sh",
                "-c",
                (
                    f"echo $$ > {group}/cgroup.procs; exec python3 -c"
                    " 'x = bytearray(200 << 20); x[::4096] = bytes(len(x[::4096]))'"
                ),
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert hog.returncode == -9 or hog.returncode == 137, hog
        second = check(Window(NOW, NOW, previous=first.metrics))
    finally:
        group.rmdir()
    assert second.metrics["host.oom_kills"] >= 1
    assert second.metrics["host.oom_kills"] == (
        second.metrics["host.oom_kill_total"] - first.metrics["host.oom_kill_total"]
    )
    assert "killed by the kernel for want of memory since the previous check" in messages(second)
    third = check(Window(NOW, NOW, previous=second.metrics))
    assert (
        third.metrics["host.oom_kills"] == third.metrics["host.oom_kill_total"] - second.metrics["host.oom_kill_total"]
    )


class FakeNtpServer:
    """FAKE, for tests only: a real UDP SNTP responder whose clock runs ``offset_s`` ahead of ours
    (no NTP server is reachable from the test machine)."""

    def __init__(self, offset_s: float):
        self.offset_s, self.port = offset_s, free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _stamp(self) -> bytes:
        now = time.time() + self.offset_s + NTP_EPOCH
        return struct.pack("!II", int(now), int((now % 1) * 2**32))

    def _serve(self) -> None:
        while self.running:
            try:
                data, peer = self.sock.recvfrom(512)
            except OSError:
                continue
            received = self._stamp()
            reply = (
                bytes([0x24, 2, data[2] if len(data) > 2 else 6, 0xEC])
                + bytes(8)
                + b"LOCL"
                + received
                + data[40:48]
                + received
                + self._stamp()
            )
            self.sock.sendto(reply, peer)

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


@needs_plugins
def test_clock_offset_from_an_ntp_source_agrees_with_check_ntp_time():
    server = FakeNtpServer(offset_s=5.0)
    try:
        result = check(ntp_servers=[f"127.0.0.1:{server.port}"])
        peer = plugin("check_ntp_time", "-H", "127.0.0.1", "-p", str(server.port), "-w", "1", "-c", "10", "-t", "5")
    finally:
        server.close()
    assert abs(result.metrics["host.clock_offset_s"] - 5.0) < 0.2
    assert result.status in ("critical", "warning") and "clock is +5.0" in messages(result)
    peer_offset = float(re.search(r"[Oo]ffset (-?[\d.]+) secs", peer).group(1))
    assert abs(peer_offset - result.metrics["host.clock_offset_s"]) < 0.2, peer


def test_no_ntp_source_answering_is_skipped_within_its_bound():
    silent = free_port()
    started = time.monotonic()
    result = check(ntp_servers=[f"127.0.0.1:{silent}"])
    assert time.monotonic() - started < 5
    assert "host.clock_offset_s" not in result.metrics
    assert "answered: clock offset not checked" in result.details["clock"]
    assert check().details["clock"] == "no ntp_servers configured: clock offset not checked"
