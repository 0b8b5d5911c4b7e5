"""What every benchmark shares: alternating timed runs, the result table, JSON results, machine facts,
and throwaway PostgreSQL databases / redis-servers that are removed even when a run fails.

A benchmark builds its own data, runs Aegis's code and the reference tool in the same process run,
alternating their order on each repetition, and reports the median of each. ``ratio`` is always
Aegis seconds / reference seconds; a target is "ratio <= limit".
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: where results go: ``bench/results`` (``$AEGIS_BENCH_RESULTS``: elsewhere, e.g. the quick run's own folder)
RESULTS = Path(os.environ.get("AEGIS_BENCH_RESULTS") or REPO / "bench" / "results")
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


# SIGTERM (and SIGINT, even when a background shell ignores it) unwinds the stack, so every
# ``finally`` below runs: databases dropped, servers stopped, temporary files removed.
signal.signal(signal.SIGTERM, _interrupted)
signal.signal(signal.SIGINT, _interrupted)

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
PG_ENV = {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "postgres"}


@dataclass
class Case:
    """One row of the table: Aegis against one reference, with the limit on Aegis/reference."""

    name: str
    aegis: list[float]
    reference: list[float]
    limit: float  # met when median(aegis) / median(reference) <= limit
    target: str  # the limit as the issue states it, e.g. "within 1.15x", ">= 1.5x faster"
    note: str = ""
    aegis_s: float = field(init=False)
    reference_s: float = field(init=False)
    ratio: float = field(init=False)
    met: bool = field(init=False)

    def __post_init__(self):
        self.aegis_s = statistics.median(self.aegis)
        self.reference_s = statistics.median(self.reference)
        self.ratio = self.aegis_s / self.reference_s if self.reference_s else float("inf")
        self.met = self.ratio <= self.limit


def within(x: float) -> tuple[float, str]:
    """Target: Aegis takes at most ``x`` times the reference."""
    return x, f"within {x:g}x"


def faster(x: float) -> tuple[float, str]:
    """Target: Aegis at least ``x`` times faster than the reference."""
    return 1 / x, f">= {x:g}x faster"


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def alternate(
    runners: dict[str, Callable[[], object]], repeats: int = 3, between: Callable[[], object] | None = None
) -> dict[str, list[float]]:
    """Run every runner ``repeats`` times, rotating the order each round; seconds per runner.

    ``between`` (untimed) runs after each timed call, e.g. to delete what the call wrote.
    """
    names = list(runners)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for i in range(repeats):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            seconds = timed(runners[name])
            samples[name].append(seconds)
            print(f"  round {i + 1}/{repeats}  {name:<28} {seconds:8.2f} s", flush=True)
            if between:
                between()
    return samples


def machine() -> dict:
    """Date, cores, memory and load: other engineers share this machine while we measure."""
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }


def table(cases: list[Case]) -> str:
    head = f"| {'case':<64} | {'Aegis s':>8} | {'ref s':>8} | {'ratio':>6} | {'target':<16} | met? |"
    rule = "|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|"
    rows = [head, rule]
    for c in cases:
        rows.append(
            f"| {c.name:<64} | {c.aegis_s:8.3f} | {c.reference_s:8.3f} | {c.ratio:6.2f} | "
            f"{c.target:<16} | {('yes' if c.met else 'NO') if c.limit != float('inf') else '-':<4} |"
        )
    return "\n".join(rows)


def report(bench: str, cases: list[Case], params: dict, started: dict) -> Path:
    """Print the table and write ``bench/results/<bench>.json``."""
    print(
        f"\n{bench}  ({started['date']}, {started['nproc']} cores, {started['memory_gib']} GiB;"
        f" load at start: {started['uptime'].split('load average:')[-1].strip()})"
    )
    print(table(cases))
    for c in cases:
        if c.note:
            print(f"  {c.name}: {c.note}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{bench}.json"
    path.write_text(
        json.dumps(
            {
                "bench": bench,
                "machine": started,
                "finished": machine(),
                "params": params,
                "cases": [asdict(c) for c in cases],
            },
            indent=2,
        )
    )
    print(f"results: {path}")
    return path


# -- PostgreSQL -------------------------------------------------------------------------------------


def pg_admin(dbname: str = "postgres"):
    import psycopg

    return psycopg.connect(**PG, dbname=dbname, autocommit=True)


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{int(time.time()) % 100000}"


@contextmanager
def pg_databases(names: list[str]) -> Iterator[list[str]]:
    """Fresh empty databases, dropped (``WITH (FORCE)``) at exit, even on error or Ctrl-C."""
    from psycopg import sql

    created = []
    try:
        with pg_admin() as c:
            for name in names:
                c.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
                c.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
                created.append(name)
        yield names
    finally:
        with pg_admin() as c:
            for name in created:
                c.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        print(f"dropped {len(created)} database(s)", flush=True)


def run(argv: list[str] | str, **kw) -> subprocess.CompletedProcess:
    """A native tool, failing loudly (stderr shown) when it fails."""
    kw.setdefault("env", {**os.environ, **PG_ENV})
    proc = subprocess.run(argv, capture_output=True, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv!r} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-2000:]}")
    return proc


# -- Redis ------------------------------------------------------------------------------------------


@contextmanager
def redis_servers(count: int, host: str = "127.0.0.1") -> Iterator[list[int]]:
    """``count`` private redis-servers (no persistence) on spare ports, stopped at exit
    (:func:`include.clients.redis.private_server`, the one helper for tests, bench and the Redis restore)."""
    from contextlib import ExitStack

    from include.clients.redis import private_server

    with ExitStack() as stack:
        ports = [stack.enter_context(private_server(options=("--bind", host))) for _ in range(count)]
        yield ports
    print(f"stopped {count} redis-server(s)", flush=True)
