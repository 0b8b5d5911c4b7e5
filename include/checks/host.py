"""Host resources: CPU, memory, swap, 1/5/15-minute load, disk and inodes per mount point, open files
against the kernel limit, out-of-memory kills since the previous run, and the clock's offset from an
NTP source when one answers (psutil, /proc, one SNTP query per configured server)."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from include.checks.base import CheckResult, literal

#: Where the kernel's counters are read.
PROC = Path("/proc")

if TYPE_CHECKING:
    from include.checks import Window
    from include.inventory import Target
    from include.targets import Endpoint


def check(target: Target, endpoint: Endpoint, window: Window) -> CheckResult:
    """Grade this host's resources against the target's thresholds."""
    t = target.thresholds
    result = CheckResult(target.name, target.kind)
    _cpu(result, t, target.timeout_seconds)
    mem = psutil.virtual_memory()
    result.grade(
        "host.memory_pct",
        mem.percent,
        t["memory_warning_pct"],
        t["memory_critical_pct"],
        "memory at {value:.0f}% (warning {warning:g}%, critical {critical:g}%)",
    )
    swap = psutil.swap_memory()
    if swap.total:
        result.grade(
            "host.swap_pct",
            swap.percent,
            t["swap_warning_pct"],
            t["swap_critical_pct"],
            "swap at {value:.0f}% (warning {warning:g}%, critical {critical:g}%): the host is short of"
            " memory and pages out; find the processes that grew (ps aux --sort=-rss)",
        )
    else:
        result.details["swap"] = "no swap configured: not graded"
    _load(result, t)
    result.details["disks"] = [_grade_mount(result, mount, t) for mount in target.options["mounts"]]
    _open_files(result, t)
    _oom_kills(result, window.previous, t)
    _clock_offset(result, target.options.get("ntp_servers") or [], t)
    return result


#: CPU is judged over a window of samples, as an alert rule's ``for:`` judges a condition that lasts: the
#: median of CPU_SAMPLES readings, each over at most CPU_SAMPLE_S seconds (less with a short timeout).
#: A second of burst on an otherwise idle host is not a verdict; a host busy for the whole window is.
CPU_SAMPLES = 6
CPU_SAMPLE_S = 0.5


def cpu_samples(count: int, interval_s: float) -> list[float]:
    """``count`` consecutive readings of the CPU busy percentage, each over ``interval_s`` seconds."""
    return [psutil.cpu_percent(interval=interval_s) for _ in range(count)]


def _cpu(result: CheckResult, t: dict, timeout_s: float) -> None:
    """Grade the median CPU of a window of samples that takes at most a third of the check's timeout."""
    interval = min(CPU_SAMPLE_S, timeout_s / 3 / CPU_SAMPLES)
    samples = cpu_samples(CPU_SAMPLES, interval)
    ordered = sorted(samples)
    median = (ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2
    result.details["cpu"] = {
        "samples_pct": samples,
        "sample_s": round(interval, 3),
        "peak_pct": max(samples),
        "judged": f"median of {len(samples)} samples over {interval * len(samples):.1f}s",
    }
    result.grade(
        "host.cpu_pct",
        median,
        t["cpu_warning_pct"],
        t["cpu_critical_pct"],
        f"CPU at {{value:.0f}}% (median of {len(samples)} samples over {interval * len(samples):.1f}s;"
        " warning {warning:g}%, critical {critical:g}%)",
    )


def _load(result: CheckResult, t: dict) -> None:
    """1-, 5- and 15-minute load per CPU: a spike, a busy quarter hour and a sustained overload."""
    cpus = psutil.cpu_count() or 1
    for minutes, load, key in zip((1, 5, 15), os.getloadavg(), ("load_per_cpu", "load5_per_cpu", "load15_per_cpu")):
        result.grade(
            f"host.{key}",
            round(load / cpus, 2),
            t[f"{key}_warning"],
            t[f"{key}_critical"],
            f"{minutes}-minute load {{value:g}} per CPU (warning {{warning:g}}, critical {{critical:g}}):"
            " work queues for the CPU; find the busiest processes (top) before adding capacity",
        )


def _grade_mount(result: CheckResult, mount: str, t: dict) -> dict:
    try:
        usage = psutil.disk_usage(mount)
    except (FileNotFoundError, PermissionError) as exc:
        result.add("warning", f"mount {mount}: cannot read usage ({exc.strerror or exc})")
        return {"mount": mount, "error": str(exc)}
    free_gb = round(usage.free / 2**30, 1)
    result.grade(
        f"host.disk_pct[{mount}]",
        usage.percent,
        t["disk_warning_pct"],
        t["disk_critical_pct"],
        literal(f"disk {mount}") + f" at {{value:.0f}}% ({free_gb} GiB free;"
        " warning {warning:g}%, critical {critical:g}%)",
    )
    return {"mount": mount, "used_pct": usage.percent, "free_gb": free_gb, **_grade_inodes(result, mount, t)}


def inode_usage_pct(mount: str) -> float | None:
    """Inodes in use on ``mount`` in %, as ``df -i`` counts them (None: the file system has no fixed count)."""
    st = os.statvfs(mount)
    if not st.f_files:
        return None
    return round(100.0 * (st.f_files - st.f_ffree) / st.f_files, 2)


def _grade_inodes(result: CheckResult, mount: str, t: dict) -> dict:
    used = inode_usage_pct(mount)
    if used is None:
        return {"inodes": "no fixed inode count on this file system: not graded"}
    result.grade(
        f"host.inode_pct[{mount}]",
        used,
        t["inode_warning_pct"],
        t["inode_critical_pct"],
        literal(f"inodes on {mount}") + " {value:.0f}% used (warning {warning:g}%, critical {critical:g}%):"
        " no new file can be created once they run out, whatever the free space; find the folders"
        " with millions of small files (sessions, caches, mail queues)",
    )
    return {"inodes_used_pct": used}


def _open_files(result: CheckResult, t: dict) -> None:
    """File handles allocated system-wide against ``fs.file-max`` (/proc/sys/fs/file-nr)."""
    try:
        allocated, _, limit = (int(x) for x in (PROC / "sys/fs/file-nr").read_text().split())
    except (OSError, ValueError):
        result.details["open_files"] = "/proc/sys/fs/file-nr unreadable: not checked"
        return
    result.metrics["host.open_files"] = allocated
    result.details["open_files"] = {"allocated": allocated, "limit": limit}
    result.grade(
        "host.open_files_pct",
        round(100.0 * allocated / limit, 2),
        t["open_files_warning_pct"],
        t["open_files_critical_pct"],
        f"{allocated:,} file handles open of fs.file-max {limit:,} ({{value}}%; warning {{warning:g}}%,"
        " critical {critical:g}%): at the limit every process fails to open files or sockets;"
        " find the process that leaks them (ls /proc/*/fd | wc -l) or raise fs.file-max",
    )


def _oom_kills(result: CheckResult, previous: dict, t: dict) -> None:
    """Processes the kernel killed for want of memory since the previous run (/proc/vmstat oom_kill)."""
    try:
        counters = dict(line.split() for line in (PROC / "vmstat").read_text().splitlines() if line.count(" ") == 1)
    except OSError:
        counters = {}
    if "oom_kill" not in counters:
        result.details["oom_kills"] = "no oom_kill counter in /proc/vmstat (kernel before 4.13?): not checked"
        return
    total = int(counters["oom_kill"])
    result.metrics["host.oom_kill_total"] = total
    before = previous.get("host.oom_kill_total")
    if before is None:  # the first run is the baseline: kills since boot are history, not news
        result.details["oom_kills"] = f"no previous run recorded: {total} since boot, graded from the next run on"
        return
    if total < before:
        result.details["oom_kills"] = "rebooted since the previous run: counted since boot"
        before = 0
    growth = total - before
    result.grade(
        "host.oom_kills",
        growth,
        t["oom_kills_warning"],
        t["oom_kills_critical"],
        "{value:.0f} process(es) killed by the kernel for want of memory since the previous check"
        " (warning {warning:g}, critical {critical:g}): something ran out of memory and died;"
        " the kernel log (dmesg | grep -i 'killed process') names it",
    )


NTP_EPOCH = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
NTP_TIMEOUT_S = 1.0
NTP_MAX_SERVERS = 3


def sntp_offset(host: str, port: int = 123, timeout_s: float = NTP_TIMEOUT_S) -> float | None:
    """This clock's offset from an NTP server in seconds (positive: we are behind), one SNTP query;
    None when it does not answer in time or is not synchronised itself."""
    request = b"\x23" + 47 * b"\0"  # LI 0, version 4, mode 3 (client)
    address = _resolve(host, port, timeout_s)
    if address is None:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sent = time.time()
            sock.sendto(request, address)
            data, _ = sock.recvfrom(512)
            received = time.time()
        except OSError:
            return None
    if len(data) < 48 or data[0] >> 6 == 3 or not 0 < data[1] < 16:  # unsynchronised or kiss-o'-death
        return None
    server_received, server_sent = (_ntp_time(data[i : i + 8]) for i in (32, 40))
    return ((server_received - sent) + (server_sent - received)) / 2


def _resolve(host: str, port: int, timeout_s: float) -> tuple[str, int] | None:
    """``host``'s first IPv4 address, or None when the name does not resolve within ``timeout_s``
    (getaddrinfo has no timeout of its own, so it runs on a thread we stop waiting for)."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ntp-resolve")
    try:
        infos = pool.submit(socket.getaddrinfo, host, port, socket.AF_INET, socket.SOCK_DGRAM).result(timeout_s)
    except (OSError, concurrent.futures.TimeoutError):
        return None
    finally:
        pool.shutdown(wait=False)
    return (str(infos[0][4][0]), int(infos[0][4][1])) if infos else None


def _ntp_time(raw: bytes) -> float:
    seconds, fraction = struct.unpack("!II", raw)
    return seconds - NTP_EPOCH + fraction / 2**32


def _clock_offset(result: CheckResult, servers: list[str], t: dict) -> None:
    """The offset from the first configured NTP server that answers (at most three asked, 1 s each)."""
    if not servers:
        result.details["clock"] = "no ntp_servers configured: clock offset not checked"
        return
    for server in servers[:NTP_MAX_SERVERS]:
        host, _, port = str(server).partition(":")
        offset = sntp_offset(host, int(port or 123))
        if offset is not None:
            result.details["clock"] = {"server": server, "offset_s": round(offset, 4)}
            result.metrics["host.clock_offset_s"] = round(offset, 4)
            result.grade(
                "host.clock_offset_abs_s",
                round(abs(offset), 4),
                t["clock_offset_warning_s"],
                t["clock_offset_critical_s"],
                literal(f"clock is {offset:+.3f}s off NTP server {server}") + " (warning {warning:g}s,"
                " critical {critical:g}s): logs, TLS and replication disagree about time;"
                " check the time daemon (chronyc tracking / timedatectl)",
            )
            return
    result.details["clock"] = f"no NTP server of {servers[:NTP_MAX_SERVERS]} answered: clock offset not checked"
