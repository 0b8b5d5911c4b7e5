"""Scale: one daily-check task (``check_many``, the body of ``check_targets``) over 500 targets against 50.

Targets: 80 % PostgreSQL, 20 % Redis, spread over a few real servers (``--databases`` PostgreSQL databases on
the local server, ``--redis`` private redis-servers), each target with a connection of its own (``AIRFLOW_CONN_*``)
as in production. Each run is a fresh Python process (as a task is) that loads the inventory, checks its
targets on threads (at most ``include.daily_health.CHECK_THREADS`` at once) and reports the checking's wall
time and the process's peak RSS. Runs alternate 50 / 500 targets. Target: 500 within 4x of 50.

    .venv/bin/python -m bench.scale [--repeats 3] [--small 50] [--large 500] [--databases 10] [--redis 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import REPO, Case, machine, pg_databases, redis_servers, report, scratch_folder, within

CHILD = r"""
import json, resource, sys, time
from datetime import datetime, timedelta, timezone
from include.daily_health import check_many
from include.inventory import load_inventory

inventory = load_inventory(sys.argv[1])
names = [t.name for t in inventory.targets][:int(sys.argv[2])]
end = datetime.now(timezone.utc)
warm = [next(t.name for t in inventory.targets if t.kind == kind) for kind in ("postgres", "redis")]
check_many(inventory, warm, {}, end - timedelta(days=1), end)  # the drivers' imports, untimed (as in bench.fanout)
t0 = time.perf_counter()
results = check_many(inventory, names, {}, end - timedelta(days=1), end)
seconds = time.perf_counter() - t0
bad = [r for r in results if r["status"] == "unreachable"]
if bad or len(results) != len(names):
    raise SystemExit(f"{len(bad)} unreachable of {len(results)}: {bad[:2]}")
print(json.dumps({"seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def inventory(tmp: Path, count: int, dbs: list[str], ports: list[int]) -> tuple[Path, dict[str, str]]:
    """``count`` targets, four PostgreSQL for each Redis, round-robin over the servers; their connections."""
    generous = (
        "{connections_warning_pct: 99, connections_critical_pct: 100, long_transaction_warning_s: 86400,"
        " long_transaction_critical_s: 172800, cache_hit_warning_min_pct: 0, cache_hit_critical_min_pct: 0}"
    )
    lines = ["version: 1", "defaults: {timeout_seconds: 20}", "targets:"]
    env = {}
    for i in range(count):
        if i % 5 == 4:
            lines.append(f"  - {{name: scale-redis-{i:04d}, kind: redis, conn_id: scale_{i:04d}, tags: [cache]}}")
            env[f"AIRFLOW_CONN_SCALE_{i:04d}"] = f"redis://127.0.0.1:{ports[i % len(ports)]}/0"
        else:
            lines.append(
                f"  - {{name: scale-pg-{i:04d}, kind: postgres, conn_id: scale_{i:04d}, tags: [db],"
                f" thresholds: {generous}}}"
            )
            env[f"AIRFLOW_CONN_SCALE_{i:04d}"] = f"postgresql://postgres@127.0.0.1:5432/{dbs[i % len(dbs)]}"
    path = tmp / "inventory.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--small", type=int, default=50)
    ap.add_argument("--large", type=int, default=500)
    ap.add_argument("--databases", type=int, default=10)
    ap.add_argument("--redis", type=int, default=5)
    args = ap.parse_args()
    started = machine()
    dbs = [f"aegis_bench_scale_{os.getpid()}_{i:02d}" for i in range(args.databases)]
    rss: dict[int, list[float]] = {args.small: [], args.large: []}
    with pg_databases(dbs), redis_servers(args.redis) as ports, scratch_folder("scale") as tmp:
        path, conns = inventory(tmp, args.large, dbs, ports)
        env = {**os.environ, **conns, "PYTHONPATH": str(REPO), "AEGIS_CACHE_DIR": str(tmp / "cache")}

        def run(count: int):
            def go():
                proc = subprocess.run(
                    [sys.executable, "-c", CHILD, str(path), str(count)],
                    env=env,
                    cwd=REPO,
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                if proc.returncode != 0:
                    raise SystemExit(f"{count} targets failed:\n{proc.stderr[-3000:]}")
                got = json.loads(proc.stdout.strip().splitlines()[-1])
                rss[count].append(got["peak_rss_mib"])
                go.seconds = got["seconds"]
                return got["seconds"]

            return go

        runners = {f"{args.small} targets": run(args.small), f"{args.large} targets": run(args.large)}
        samples: dict[str, list[float]] = {name: [] for name in runners}
        for i in range(args.repeats):  # the checking's own time (inside the child), rotating the order
            for name in list(runners) if i % 2 == 0 else list(runners)[::-1]:
                runners[name]()
                samples[name].append(runners[name].seconds)
                print(f"  round {i + 1}/{args.repeats}  {name:<12} {runners[name].seconds:7.2f} s", flush=True)
    case = Case(
        f"scale: one check task, {args.large} targets vs {args.small} (threads)",
        samples[f"{args.large} targets"],
        samples[f"{args.small} targets"],
        *within(4),
        note=f"peak RSS of the task process: {max(rss[args.small]):.0f} MiB with {args.small} targets, "
        f"{max(rss[args.large]):.0f} MiB with {args.large}",
    )
    report(
        "scale",
        [case],
        {
            "small": args.small,
            "large": args.large,
            "databases": args.databases,
            "redis": args.redis,
            "repeats": args.repeats,
            "peak_rss_mib": {str(k): v for k, v in rss.items()},
        },
        started,
    )


if __name__ == "__main__":
    main()
