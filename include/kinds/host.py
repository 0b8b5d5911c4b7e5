"""The machine Aegis runs on (or reaches over its own mounts): disk, CPU, memory, swap, load."""

from include.kinds.base import KindSpec

SPEC = KindSpec(
    name="host",
    fields={"mounts": (list, ["/"])},
    thresholds={
        "disk_warning_pct": 75, "disk_critical_pct": 85,
        "cpu_warning_pct": 85, "cpu_critical_pct": 95,
        "memory_warning_pct": 85, "memory_critical_pct": 95,
        "swap_warning_pct": 50, "swap_critical_pct": 80,
        "load_per_cpu_warning": 1.5, "load_per_cpu_critical": 3.0,
    },
    needs_connection=False,
    check="include.checks.host",
    security="include.security:check_host",
)
