"""Host resources: CPU, memory, swap, load and disk per mount point (psutil)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import os

import psutil

from include.checks.base import CheckResult

if TYPE_CHECKING:
    from include.checks import Window
    from include.inventory import Target
    from include.targets import Endpoint



def check(target: Target, endpoint: Endpoint, window: Window) -> CheckResult:
    """Grade this host's resources against the target's thresholds."""
    t = target.thresholds
    result = CheckResult(target.name, target.kind)
    result.grade("host.cpu_pct", psutil.cpu_percent(interval=0.5), t["cpu_warning_pct"], t["cpu_critical_pct"],
                 "CPU at {value:.0f}% (warning {warning:g}%, critical {critical:g}%)")
    mem = psutil.virtual_memory()
    result.grade("host.memory_pct", mem.percent, t["memory_warning_pct"], t["memory_critical_pct"],
                 "memory at {value:.0f}% (warning {warning:g}%, critical {critical:g}%)")
    swap = psutil.swap_memory()
    if swap.total:
        result.grade("host.swap_pct", swap.percent, t["swap_warning_pct"], t["swap_critical_pct"],
                     "swap at {value:.0f}% (warning {warning:g}%, critical {critical:g}%)")
    load1, _, _ = os.getloadavg()
    result.grade("host.load_per_cpu", round(load1 / (psutil.cpu_count() or 1), 2),
                 t["load_per_cpu_warning"], t["load_per_cpu_critical"],
                 "1-minute load {value:g} per CPU (warning {warning:g}, critical {critical:g})")
    result.details["disks"] = [_grade_mount(result, mount, t) for mount in target.options["mounts"]]
    return result


def _grade_mount(result: CheckResult, mount: str, t: dict) -> dict:
    try:
        usage = psutil.disk_usage(mount)
    except (FileNotFoundError, PermissionError) as exc:
        result.add("warning", f"mount {mount}: cannot read usage ({exc.strerror or exc})")
        return {"mount": mount, "error": str(exc)}
    free_gb = round(usage.free / 2**30, 1)
    result.grade(f"host.disk_pct[{mount}]", usage.percent, t["disk_warning_pct"], t["disk_critical_pct"],
                 f"disk {mount} at {{value:.0f}}% ({free_gb} GiB free; warning {{warning:g}}%, critical {{critical:g}}%)")
    return {"mount": mount, "used_pct": usage.percent, "free_gb": free_gb}
