"""Fan-out: the daily health check over 1 target and over 50 targets, through a real scheduler and executor.

``dag.test()`` runs mapped tasks one after another, so this starts ``airflow standalone`` in a private
AIRFLOW_HOME (``tests/airflow_server.py``: LocalExecutor, ``core.parallelism`` 8 by default, SQLite
metadata DB), triggers ``daily_health_check`` over the REST API with a ``targets`` form value and
takes the run's wall time (``end_date - queued_at`` from the API: scheduling, every task, the report).

Targets: 40 PostgreSQL databases on the local server and 10 private redis-servers on spare loopback
ports (each its own Airflow connection, given as ``AIRFLOW_CONN_*`` variables). The 1-target run checks
the first PostgreSQL database. Runs alternate 1 / 50 targets. Target: 50 within 3x of 1.

    .venv/bin/python -m bench.fanout [--repeats 3] [--postgres 40] [--redis 10] [--parallelism 8]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from bench.common import Case, alternate, machine, pg_databases, redis_servers, report, scratch_folder, within

DAG_ID = "daily_health_check"


def inventory(tmp: Path, pg: list[str], redis_ports: list[int]) -> tuple[Path, dict[str, str], list[str]]:
    """The inventory file, the connections (env) and the target names, PostgreSQL first."""
    lines = [
        "version: 1",
        "catalog: {path: catalog.db}",
        "artifacts: {base: artifacts}",
        "defaults: {timeout_seconds: 10}",
        "targets:",
    ]
    env, names = {}, []
    generous = (
        "{connections_warning_pct: 99, connections_critical_pct: 100, long_transaction_warning_s: 86400,"
        " long_transaction_critical_s: 172800, cache_hit_warning_min_pct: 0, cache_hit_critical_min_pct: 0}"
    )
    for i, db in enumerate(pg):
        name = f"bench-pg-{i:02d}"
        lines.append(
            f"  - {{name: {name}, kind: postgres, conn_id: bench_pg_{i:02d}, tags: [db], thresholds: {generous}}}"
        )
        env[f"AIRFLOW_CONN_BENCH_PG_{i:02d}"] = f"postgresql://postgres@127.0.0.1:5432/{db}"
        names.append(name)
    for i, port in enumerate(redis_ports):
        name = f"bench-redis-{i:02d}"
        lines.append(f"  - {{name: {name}, kind: redis, conn_id: bench_redis_{i:02d}, tags: [cache]}}")
        env[f"AIRFLOW_CONN_BENCH_REDIS_{i:02d}"] = f"redis://127.0.0.1:{port}/0"
        names.append(name)
    path = tmp / "inventory.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, {**env, "AEGIS_INVENTORY": str(path)}, names


def run_once(server, targets: list[str], timeout: float = 900) -> tuple[float, dict]:
    """Trigger one run over ``targets``; its wall time (queued → end) and the task states."""
    run = server.trigger(DAG_ID, {"targets": targets, "alert": False})
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run['dag_run_id'], safe='')}"
    done = server.wait_until(
        f"run over {len(targets)} target(s)",
        lambda: (r := server.get(path))["state"] in {"success", "failed"} and r,
        timeout,
        1,
    )
    tis = server.get(f"{path}/taskInstances", params={"limit": 200})["task_instances"]
    checks = [ti for ti in tis if ti["task_id"] == "check_targets"]
    checked = sorted(n for ti in checks for n in (ti["rendered_map_index"] or "").split(", "))
    if done["state"] != "success" or checked != sorted(targets):
        raise SystemExit(
            f"run {run['dag_run_id']} {done['state']}, {len(checks)} check(s): "
            f"{[(ti['task_id'], ti['map_index'], ti['state']) for ti in tis]}"
        )
    wall = (datetime.fromisoformat(done["end_date"]) - datetime.fromisoformat(done["queued_at"])).total_seconds()
    starts = [datetime.fromisoformat(ti["start_date"]) for ti in checks]
    ends = [datetime.fromisoformat(ti["end_date"]) for ti in checks]
    return wall, {
        "check_span_s": (max(ends) - min(starts)).total_seconds(),
        "check_task_mean_s": sum((e - s).total_seconds() for s, e in zip(starts, ends)) / len(checks),
    }


def threads_in_one_process(path: Path, env: dict[str, str], names: list[str], repeats: int, workers: int):
    """What batching would give: ``check_one`` over the targets on ``workers`` threads of one process."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import timedelta

    os.environ.update(env)
    from include.daily_health import check_one
    from include.inventory import load_inventory

    inv = load_inventory(path)
    end = datetime.now(UTC)

    def check(targets):
        def go():
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(lambda n: check_one(inv, n, {}, end - timedelta(days=1), end), targets))
            bad = [r for r in results if r["status"] == "unreachable"]
            if bad:
                raise SystemExit(f"unreachable: {bad[:2]}")

        return go

    check(names[:1])()  # warm-up: driver imports
    return alternate({"1": check(names[:1]), "all": check(names)}, repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--postgres", type=int, default=40)
    ap.add_argument("--redis", type=int, default=10)
    ap.add_argument("--parallelism", type=int, default=8, help="core.parallelism (LocalExecutor workers)")
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="N",
        help="no Airflow: check the targets on N threads of this process (what batching targets "
        "into one task would give); results in fanout_threads.json",
    )
    args = ap.parse_args()
    started = machine()
    dbs = [f"aegis_bench_fan_{os.getpid()}_{i:02d}" for i in range(args.postgres)]
    samples: dict[str, list[float]] = {"1": [], "all": []}
    spans: list[dict] = []
    with pg_databases(dbs), redis_servers(args.redis) as ports, scratch_folder("fanout") as tmp:
        path, env, names = inventory(tmp, dbs, ports)
        if args.threads:
            got = threads_in_one_process(path, env, names, args.repeats, args.threads)
            case = Case(
                f"fan-out without Airflow: {len(names)} targets vs 1 ({args.threads} threads)",
                got["all"],
                got["1"],
                float("inf"),
                "(information)",
                note="the checking work itself, without task processes",
            )
            report(
                "fanout_threads",
                [case],
                {"postgres": args.postgres, "redis": args.redis, "threads": args.threads, "repeats": args.repeats},
                started,
            )
            return
        os.environ["AEGIS_TEST_AIRFLOW_HOME"] = str(tmp / "unused-test-home")  # tests.conftest's, if imported
        from tests.airflow_server import AirflowServer

        env["AIRFLOW__CORE__PARALLELISM"] = str(args.parallelism)
        # Only daily_health_check runs: the other DAGs stay paused (their schedules would back up 50 targets).
        env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
        server = AirflowServer(tmp / "airflow-home", extra_env=env)
        server.start()
        try:
            t0 = time.monotonic()
            server.wait_healthy(timeout=300)
            server.login()
            server.wait_until(
                "the DAG to be parsed",
                lambda: server.request("GET", f"/api/v2/dags/{DAG_ID}", expect=(200, 404)).status_code == 200,
                300,
                2,
            )
            server.patch(f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
            # unpausing creates the latest scheduled run (over every target): let it finish first
            time.sleep(10)
            server.wait_until(
                "the scheduled run to finish",
                lambda: (
                    server.get(f"/api/v2/dags/{DAG_ID}/dagRuns", params={"state": ["queued", "running"]})[
                        "total_entries"
                    ]
                    == 0
                ),
                900,
                5,
            )
            print(
                f"Airflow up in {time.monotonic() - t0:.0f} s; executor LocalExecutor, parallelism {args.parallelism}",
                flush=True,
            )
            run_once(server, names[:1])  # warm-up (first task processes, catalog file, report folder): untimed
            for i in range(args.repeats):
                order = [("1", names[:1]), ("all", names)]
                for key, targets in order if i % 2 == 0 else order[::-1]:
                    wall, extra = run_once(server, targets)
                    samples[key].append(wall)
                    spans.append({"targets": len(targets), "wall_s": wall, **extra})
                    print(
                        f"  round {i + 1}/{args.repeats}  {len(targets):>2} target(s) {wall:8.2f} s  "
                        f"(check tasks: span {extra['check_span_s']:.1f} s, mean {extra['check_task_mean_s']:.1f} s)",
                        flush=True,
                    )
        except BaseException:
            print(server.log_tails(40))
            raise
        finally:
            server.stop()
    n = len(names)
    case = Case(
        f"fan-out: daily check, {n} targets vs 1 (LocalExecutor x{args.parallelism})",
        samples["all"],
        samples["1"],
        *within(3),
    )
    report(
        "fanout",
        [case],
        {
            "postgres": args.postgres,
            "redis": args.redis,
            "repeats": args.repeats,
            "executor": "LocalExecutor",
            "parallelism": args.parallelism,
            "runs": spans,
        },
        started,
    )


if __name__ == "__main__":
    main()
