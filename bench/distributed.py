"""The daily check over 50 targets on the distributed shape: one Celery worker vs two.

Starts ``./aegis up --distributed``'s stack (:mod:`deploy.distributed`: CeleryExecutor, PostgreSQL metadata DB
and catalog, Redis broker, moto S3 artifacts) in a private folder on free ports, with its own databases and
Redis db number. Targets: 40 PostgreSQL databases and 10 private redis-servers (as ``bench.fanout``). Each
round runs the 50-target check with both workers up, and with worker 2 stopped (restarted after), alternating
the order; the run's wall time is ``end_date - queued_at`` from the API. Worker concurrency 4 each
(``--concurrency``): one worker has 4 task slots, two have 8. Ratio = two workers / one.

    .venv/bin/python -m bench.distributed [--repeats 3] [--postgres 40] [--redis 10] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from datetime import datetime
from urllib.parse import quote

import redis

from bench.common import Case, machine, pg_databases, redis_servers, report, scratch_folder
from bench.fanout import inventory as fanout_inventory
from deploy import distributed
from tests.helpers import free_port

DAG_ID = "daily_health_check"


def free_redis_db() -> int:
    """An empty Redis db number (6..15) on the local server, claimed with a marker key."""
    for db in secrets.SystemRandom().sample(range(6, 16), 10):
        r = redis.Redis(host="127.0.0.1", port=6379, db=db, socket_timeout=5)
        if r.dbsize() == 0 and r.set("aegis:distributed-bench:claim", "1", nx=True) and r.dbsize() == 1:
            return db
    raise SystemExit("no empty Redis db number among 6..15")


def run_once(api, targets: list[str], timeout: float = 900) -> tuple[float, set[str]]:
    """One run over ``targets``: its wall time and the hostnames its tasks ran on."""
    run_id = f"bench__{secrets.token_hex(5)}"
    r = api.client.post(
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        json={"dag_run_id": run_id, "logical_date": None, "conf": {"targets": targets, "alert": False}},
    )
    assert r.status_code == 200, r.text
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"
    done = api.wait(
        f"run over {len(targets)} targets",
        lambda: (x := api.get(path))["state"] in {"success", "failed"} and x,
        timeout,
        1,
    )
    tis = api.get(f"{path}/taskInstances", params={"limit": 200})["task_instances"]
    if done["state"] != "success":
        raise SystemExit(f"run {run_id} {done['state']}: {[(t['task_id'], t['state']) for t in tis]}")
    wall = (datetime.fromisoformat(done["end_date"]) - datetime.fromisoformat(done["queued_at"])).total_seconds()
    return wall, {t["hostname"] for t in tis}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--postgres", type=int, default=40)
    ap.add_argument("--redis", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=4, help="task slots per Celery worker")
    args = ap.parse_args()
    from tests.test_distributed import Api

    started = machine()
    tag = f"{os.getpid()}_{secrets.token_hex(2)}"
    dbs = [f"aegis_bench_dist_{tag}_{i:02d}" for i in range(args.postgres)]
    samples: dict[str, list[float]] = {"one": [], "two": []}
    runs: list[dict] = []
    redis_db = free_redis_db()
    with pg_databases(dbs), redis_servers(args.redis) as ports, scratch_folder("distributed") as tmp:
        path, env, names = fanout_inventory(tmp, dbs, ports)
        text = path.read_text().replace(
            "catalog: {path: catalog.db}", f"catalog: {{conn_id: {distributed.CATALOG_CONN}}}"
        )
        path.write_text(
            text.replace(
                "artifacts: {base: artifacts}",
                f"artifacts: {{base: 's3://{distributed.BUCKET}/aegis', conn_id: {distributed.ARTIFACTS_CONN}}}",
            )
        )
        settings = distributed.Settings(
            state=tmp / "state",
            api_port=free_port(),
            s3_port=free_port(),
            metadata_db=f"aegis_bench_af_{tag}",
            catalog_db=f"aegis_bench_cat_{tag}",
            redis_db=redis_db,
            statsd=f"127.0.0.1:{free_port()}",
            worker_concurrency=args.concurrency,
            inventory=path,
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AEGIS_"))}
        base.update({k: v for k, v in env.items() if k.startswith("AIRFLOW_CONN_")})
        try:
            t0 = time.monotonic()
            distributed.up(settings, base)
            distributed.wait_healthy(settings, timeout=300)
            api = Api(settings)
            api.dag_ready(DAG_ID)
            time.sleep(10)  # unpausing may create the latest scheduled run: let it finish first
            api.wait(
                "the scheduled run to finish",
                lambda: (
                    api.get(f"/api/v2/dags/{DAG_ID}/dagRuns", params={"state": ["queued", "running"]})["total_entries"]
                    == 0
                ),
                900,
                5,
            )
            print(f"distributed stack up in {time.monotonic() - t0:.0f} s", flush=True)
            run_once(api, names[:1])  # warm-up: untimed
            for i in range(args.repeats):
                for key in ("two", "one") if i % 2 == 0 else ("one", "two"):
                    if key == "one":
                        distributed.stop(settings, "airflow-worker-2")
                    wall, hosts = run_once(api, names)
                    if key == "one":
                        distributed.start(settings, "airflow-worker-2", base)
                        time.sleep(15)  # the worker joins the broker
                    samples[key].append(wall)
                    runs.append({"workers": key, "wall_s": wall, "hostnames": sorted(hosts)})
                    print(
                        f"  round {i + 1}/{args.repeats}  {key} worker(s)  {wall:8.2f} s  on {sorted(hosts)}",
                        flush=True,
                    )
        finally:
            distributed.down(settings)
            distributed.drop_databases(settings)
            redis.Redis(host="127.0.0.1", port=6379, db=redis_db, socket_timeout=5).flushdb()
    case = Case(
        f"distributed: daily check over {len(names)} targets, two Celery workers vs one "
        f"(concurrency {args.concurrency} each)",
        samples["two"],
        samples["one"],
        1.0,
        "(information)",
        note="ratio = two workers / one",
    )
    report(
        "distributed",
        [case],
        {
            "postgres": args.postgres,
            "redis": args.redis,
            "repeats": args.repeats,
            "executor": "CeleryExecutor",
            "concurrency": args.concurrency,
            "runs": runs,
        },
        started,
    )


if __name__ == "__main__":
    main()
