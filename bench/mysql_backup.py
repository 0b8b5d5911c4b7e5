"""MySQL/MariaDB backup and restore: Aegis against single-threaded ``mysqldump | gzip`` and the single-stream replay.

Data: a database of ``--tables`` tables (default 4) of ``--rows`` rows each (default 400,000: about 60 MB each),
InnoDB, a primary key and a secondary index. Aegis's backup is the backup DAG's step (``backup_target``:
``backup.jobs`` 2, ``compress`` 1: the tables dumped by two mysqldump processes in one snapshot, row counts
from that snapshot, the set published with checksums and the manifest, the catalog rows); the reference is
one ``mysqldump --single-transaction … | gzip`` (the seed's script). Aegis's restore is
``include.backup.mysql.restore`` of that set into an empty database (the table groups loaded side by side);
the reference replays the single stream: ``gunzip < one.sql.gz | mariadb`` into an empty database.

    .venv/bin/python -m bench.mysql_backup [--tables 4] [--rows 400000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta

from bench.common import Case, alternate, faster, machine, report, scratch_folder

MY = ["--host=127.0.0.1", "--port=3306", "--user=root"]


def sql(statement: str, db: str | None = None) -> str:
    out = subprocess.run(
        ["mariadb", *MY, "--batch", "--skip-column-names", *([db] if db else []), "-e", statement],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tables", type=int, default=4)
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    started = machine()
    tag = f"{os.getpid()}_{int(time.time()) % 100000}"
    db, restored = f"aegis_bench_my_{tag}", f"aegis_bench_myr_{tag}"
    try:
        sql(f"CREATE DATABASE `{db}`")
        print(f"building {db}: {args.tables} tables x {args.rows} rows …", flush=True)
        for i in range(args.tables):
            sql(
                f"CREATE TABLE t{i} (id INT PRIMARY KEY, k INT, note VARCHAR(100), at DATETIME, KEY (k)) ENGINE=InnoDB",
                db,
            )
            sql(
                f"INSERT INTO t{i} SELECT seq, seq * 7 % 100003, CONCAT('note ', MD5(seq), ' ', seq),"
                f" '2026-01-01' + INTERVAL seq SECOND FROM seq_1_to_{args.rows}",
                db,
            )
        size = int(
            sql(
                f"SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema = '{db}'"
            ).strip()
        )
        print(f"database size {size / 2**20:.0f} MiB", flush=True)

        from include.backup import mysql as myb
        from include.backup import store
        from include.backup.runner import backup_target, sets_folder
        from include.catalog import Catalog
        from include.inventory import load_inventory
        from include.targets import Endpoint

        with scratch_folder("mysql-backup") as tmp:
            (tmp / "inventory.yaml").write_text(f"""
version: 1
catalog: {{path: catalog.db}}
artifacts: {{base: artifacts}}
targets:
  - {{name: bench-my, kind: mysql, conn_id: bench_my, databases: [{db}], backup: {{jobs: 2}}}}
""")
            inventory = load_inventory(tmp / "inventory.yaml")
            target = inventory.target("bench-my")
            endpoint = Endpoint(host="127.0.0.1", port=3306, login="root", schema=db, conn_type="mysql")
            catalog = Catalog.for_inventory(inventory)
            from include.artifacts import artifact_folder

            artifact_folder(inventory, "backups")  # import Airflow's ObjectStoragePath once, outside the timing
            ts = [datetime(2026, 1, 1, tzinfo=UTC)]
            single = tmp / "single.sql.gz"
            last = {}

            def aegis_backup():
                ts[0] += timedelta(days=1)
                result = backup_target(inventory, target, endpoint, ts[0], catalog)
                assert result["state"] == "complete", result
                last["set_id"], last["facts"] = result["set_id"], result["facts"]

            def mysqldump_gzip():
                subprocess.run(
                    [
                        "bash",
                        "-o",
                        "pipefail",
                        "-c",
                        'mysqldump "${@:3}" --single-transaction --routines --triggers --events "$1" | gzip > "$2"',
                        "_",
                        db,
                        str(single),
                        *MY,
                    ],
                    check=True,
                )

            backup = alternate({"aegis backup_target": aegis_backup, "mysqldump | gzip": mysqldump_gzip}, args.repeats)
            work = tmp / "restore-work"
            store.fetch(sets_folder(inventory, "bench-my", last["set_id"]), work)

            def fresh():
                sql(f"DROP DATABASE IF EXISTS `{restored}`")
                sql(f"CREATE DATABASE `{restored}`")

            def aegis_restore():
                observed = myb.restore(endpoint, work, last["facts"], database_map={db: restored}, timeout_s=3600)
                assert observed == last["facts"], (observed, last["facts"])

            def replay():
                subprocess.run(
                    [
                        "bash",
                        "-o",
                        "pipefail",
                        "-c",
                        'gunzip < "$1" | mariadb "${@:3}" "$2"',
                        "_",
                        str(single),
                        restored,
                        *MY,
                    ],
                    check=True,
                )

            fresh()
            restore = alternate(
                {"aegis restore (parallel)": aegis_restore, "single-stream replay": replay}, args.repeats, between=fresh
            )
            shutil.rmtree(work, ignore_errors=True)
    finally:
        sql(f"DROP DATABASE IF EXISTS `{db}`")
        sql(f"DROP DATABASE IF EXISTS `{restored}`")
        print("dropped the databases", flush=True)
    cases = [
        Case(
            f"MySQL backup {size / 2**20:.0f} MiB, {args.tables} tables: Aegis vs mysqldump | gzip",
            backup["aegis backup_target"],
            backup["mysqldump | gzip"],
            *faster(1.5),
        ),
        Case(
            "MySQL restore, same: Aegis (table groups in parallel) vs single-stream replay",
            restore["aegis restore (parallel)"],
            restore["single-stream replay"],
            *faster(2),
        ),
    ]
    report(
        "mysql_backup",
        cases,
        {"tables": args.tables, "rows": args.rows, "database_bytes": size, "repeats": args.repeats},
        started,
    )


if __name__ == "__main__":
    main()
