"""PostgreSQL backup: Aegis's ``backup_target`` against raw ``pg_dump -Fd -j2`` and the seed's ``pg_dump | gzip``.

Data: a pgbench database (``pgbench -i -s 70``: about 1 GB). Aegis's run is the whole backup step
of the backup DAG: a snapshot-exporting transaction, exact row counts of every table in that
snapshot, ``pg_dump --format=directory --jobs=2 --snapshot``, then the copy into the artifact
store (a local folder here) with a SHA-256 per file and the manifest, and the catalog rows.

    .venv/bin/python -m bench.pg_backup [--scale 70] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

from bench.common import (
    Case,
    alternate,
    faster,
    machine,
    pg_admin,
    pg_databases,
    report,
    run,
    scratch_folder,
    timed,
    unique,
    within,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=int, default=70, help="pgbench scale (70 = about 1 GB)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    started = machine()
    db = unique("aegis_bench_pgbench")
    with pg_databases([db]), scratch_folder("pg-backup") as tmp:
        print(f"building {db}: pgbench -i -s {args.scale} …", flush=True)
        run(["pgbench", "-i", "-q", "-s", str(args.scale), db])
        with pg_admin(db) as c:
            size = c.execute("select pg_database_size(current_database())").fetchone()[0]
            c.execute("checkpoint")
        print(f"database size {size / 2**30:.2f} GiB", flush=True)

        from include.backup.runner import backup_target
        from include.catalog import Catalog
        from include.inventory import load_inventory
        from include.targets import Endpoint

        (tmp / "inventory.yaml").write_text(f"""
version: 1
catalog: {{path: catalog.db}}
artifacts: {{base: artifacts}}
targets:
  - {{name: bench-pg, kind: postgres, conn_id: bench_pg, databases: [{db}], backup: {{jobs: 2}}}}
""")
        inventory = load_inventory(tmp / "inventory.yaml")
        target = inventory.target("bench-pg")
        endpoint = Endpoint(host="127.0.0.1", port=5432, login="postgres", schema=db, conn_type="postgres")
        catalog = Catalog.for_inventory(inventory)
        from include.artifacts import artifact_folder

        artifact_folder(inventory, "backups")  # import Airflow's ObjectStoragePath once, outside the timing
        ts = [datetime(2026, 1, 1, tzinfo=UTC)]
        out = tmp / "out"

        def aegis():
            ts[0] += timedelta(days=1)  # a new interval each time: otherwise the set is already complete
            result = backup_target(inventory, target, endpoint, ts[0], catalog)
            assert result["state"] == "complete", result
            aegis.bytes = result["bytes"]

        def pg_dump_fd():
            run(["pg_dump", "--format=directory", "--jobs=2", f"--file={out}", db])

        def seed_gzip():
            # the seed: pg_dump "$DB" | gzip > backup.sql.gz  (pipefail, so a failing pg_dump fails the run)
            run(["bash", "-o", "pipefail", "-c", 'pg_dump "$1" | gzip > "$2"', "_", db, str(out) + ".sql.gz"])

        def clean():
            shutil.rmtree(out, ignore_errors=True)
            (tmp / "out.sql.gz").unlink(missing_ok=True)
            shutil.rmtree(tmp / "artifacts" / "backups", ignore_errors=True)
            subprocess.run(["sync"])

        from include.backup.postgres import facts

        count_s = timed(lambda: facts(endpoint, [db], 600))  # Aegis's own extra work: exact row counts
        print(f"row counts alone (one snapshot): {count_s:.2f} s", flush=True)
        samples = alternate(
            {"aegis backup_target": aegis, "pg_dump -Fd -j2": pg_dump_fd, "seed pg_dump piped to gzip": seed_gzip},
            args.repeats,
            between=clean,
        )
    cases = [
        Case(
            f"PG backup {size / 2**30:.2f} GiB: Aegis vs pg_dump -Fd -j2",
            samples["aegis backup_target"],
            samples["pg_dump -Fd -j2"],
            *within(1.05),
        ),
        Case(
            f"PG backup {size / 2**30:.2f} GiB: Aegis vs seed pg_dump piped to gzip",
            samples["aegis backup_target"],
            samples["seed pg_dump piped to gzip"],
            *faster(1.5),
        ),
    ]
    report(
        "pg_backup",
        cases,
        {
            "scale": args.scale,
            "database_bytes": size,
            "repeats": args.repeats,
            "aegis_set_bytes": getattr(aegis, "bytes", None),
            "aegis_row_count_seconds": round(count_s, 2),
        },
        started,
    )


if __name__ == "__main__":
    main()
