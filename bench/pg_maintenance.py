"""PostgreSQL maintenance: Aegis's weekly PostgreSQL step against ``vacuumdb --analyze --jobs=2``.

Data: one database with 2,000 tables (autovacuum off on each, so nothing cleans them behind the
benchmark's back): 1,800 of 1,000 rows, vacuumed and analyzed once after loading (clean), and 200
of 10,000 rows in which every row is updated before each timed run (bloated: as many dead tuples
as live ones). Aegis's run is ``include.weekly.postgres.maintain`` with its DEFAULTS (parallelism 2:
VACUUM (ANALYZE) of the tables its statistics pick, plus its recommendations); the references are
``vacuumdb --analyze --jobs=2`` over the whole database and over the same 200 tables (``-t`` each).
Before timing, one untimed bloat + Aegis cycle brings the tables to their steady state.

    .venv/bin/python -m bench.pg_maintenance [--tables 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

from bench.common import Case, alternate, machine, pg_admin, pg_databases, report, run, unique, within

CLEAN_ROWS, BLOATED_ROWS = 1_000, 10_000


def build(db: str, tables: int) -> list[str]:
    """Create and load the tables; return the names of the bloated tenth."""
    bloated = [f"t{i:04d}" for i in range(tables) if i % 10 == 0]
    with pg_admin(db) as c:
        for start in range(0, tables, 100):
            with c.transaction():
                for i in range(start, min(start + 100, tables)):
                    rows = BLOATED_ROWS if i % 10 == 0 else CLEAN_ROWS
                    c.execute(
                        f"create table t{i:04d} (id int primary key, v int, pad text) with (autovacuum_enabled = false)"
                    )
                    c.execute(f"insert into t{i:04d} select g, g, repeat('x', 60) from generate_series(1, {rows}) g")
    run(["vacuumdb", "--analyze", "--jobs=2", "--quiet", db])
    return bloated


def bloat(db: str, tables: list[str]) -> None:
    """Update every row of the bloated tables (dead tuples = live ones), then let the statistics settle."""
    with pg_admin(db) as c:
        for t in tables:
            c.execute(f"update {t} set v = v + 1")
    time.sleep(1.5)  # the backend's statistics are flushed at exit; give the collector a moment


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tables", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    started = machine()

    from include.inventory import Target
    from include.targets import Endpoint
    from include.weekly.postgres import maintain

    db = unique("aegis_bench_vacuum")
    with pg_databases([db]):
        print(f"building {db}: {args.tables} tables …", flush=True)
        t0 = time.monotonic()
        bloated = build(db, args.tables)
        print(f"built in {time.monotonic() - t0:.0f} s; {len(bloated)} bloated tables", flush=True)
        target = Target("bench-pg", "postgres", "bench_pg", (), {}, 10.0, {"databases": [db]})
        endpoint = Endpoint(host="127.0.0.1", port=5432, login="postgres", schema=db, conn_type="postgres")
        picked: list[set] = []

        def aegis():
            result = maintain(target, endpoint, {}, dry_run=True)
            done = {r["table"] for r in result.details["tables"] if r["action"] == "done"}
            picked.append(done)
            if done != set(bloated):
                raise SystemExit(
                    f"Aegis maintained {len(done)} table(s), expected the {len(bloated)} bloated ones: "
                    f"{sorted(done ^ set(bloated))[:10]}"
                )

        def vacuumdb_all():
            run(["vacuumdb", "--analyze", "--jobs=2", "--quiet", db])

        def vacuumdb_tables():
            run(["vacuumdb", "--analyze", "--jobs=2", "--quiet", *[f"--table={t}" for t in bloated], db])

        bloat(db, bloated)
        aegis()  # warm-up: steady-state table sizes, imports
        bloat(db, bloated)
        samples = alternate(
            {
                "aegis weekly postgres": aegis,
                "vacuumdb -z -j2 (database)": vacuumdb_all,
                "vacuumdb -z -j2 -t (bloated)": vacuumdb_tables,
            },
            args.repeats,
            between=lambda: bloat(db, bloated),
        )
    cases = [
        Case(
            f"PG maintenance {args.tables} tables: Aegis vs vacuumdb whole database",
            samples["aegis weekly postgres"],
            samples["vacuumdb -z -j2 (database)"],
            1.0,
            "faster",
        ),
        Case(
            f"PG maintenance {args.tables} tables: Aegis vs vacuumdb -t (same {len(bloated)})",
            samples["aegis weekly postgres"],
            samples["vacuumdb -z -j2 -t (bloated)"],
            *within(1.2),
        ),
    ]
    report(
        "pg_maintenance",
        cases,
        {
            "tables": args.tables,
            "bloated": len(bloated),
            "clean_rows": CLEAN_ROWS,
            "bloated_rows": BLOATED_ROWS,
            "repeats": args.repeats,
        },
        started,
    )


if __name__ == "__main__":
    main()
