"""The machine Aegis runs on (or reaches over its own mounts): disk, CPU, memory, swap, load."""

from include.kinds.base import KindSpec

SPEC = KindSpec(
    name="host",
    worker_local=True,
    fields={"mounts": (list, ["/"]), "ntp_servers": (list, [])},
    thresholds={
        "disk_warning_pct": 75,
        "disk_critical_pct": 85,
        "cpu_warning_pct": 85,
        "cpu_critical_pct": 95,
        "memory_warning_pct": 85,
        "memory_critical_pct": 95,
        "swap_warning_pct": 50,
        "swap_critical_pct": 80,
        "load_per_cpu_warning": 1.5,
        "load_per_cpu_critical": 3.0,
        # deeper checks (issue 20)
        "inode_warning_pct": 75,
        "inode_critical_pct": 85,
        "load5_per_cpu_warning": 1.2,
        "load5_per_cpu_critical": 2.5,
        "load15_per_cpu_warning": 1.0,
        "load15_per_cpu_critical": 2.0,
        "open_files_warning_pct": 75,
        "open_files_critical_pct": 90,
        "oom_kills_warning": 1,
        "oom_kills_critical": 5,
        "clock_offset_warning_s": 0.5,
        "clock_offset_critical_s": 2.0,
    },
    needs_connection=False,
    # planned updates: its packages are upgraded (host_packages, only those its update.packages allows), and its
    # daily check is the implied post-update test of any update that lists it
    package_updates=True,
    update_health=True,
    update_settings={"packages": []},
    check="include.checks.host",
    security="include.security:check_host",
)
