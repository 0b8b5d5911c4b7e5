"""What a target holds, as comparable checksums: "identical to before" in the backup and update tests.

- :func:`pg_checksums`: every table of a PostgreSQL database (user schemas): row count and an md5 of
  its rows, plus each table's column list (so an added column shows even when the data is unchanged);
- :func:`my_checksums`: ``CHECKSUM TABLE`` of every table of a MySQL/MariaDB database, plus its columns;
- :func:`redis_state`: every key of a Redis server with its type and ``DUMP``.
"""

from __future__ import annotations

import MySQLdb
import psycopg
import redis
from psycopg import sql


def pg_checksums(db: str) -> dict[str, str]:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=db) as c:
        tables = c.execute(
            "select schemaname, tablename from pg_tables where schemaname not in ('pg_catalog', 'information_schema')"
        ).fetchall()
        out = {}
        for schema, table in tables:
            ident = sql.Identifier(schema, table)
            rows = c.execute(
                sql.SQL(
                    "select count(*) || ':' || coalesce(md5(string_agg(x::text, ',' order by x::text)), '') from {} x"
                ).format(ident)
            ).fetchone()[0]
            columns = c.execute(
                "select string_agg(column_name || ' ' || data_type, ',' order by ordinal_position)"
                " from information_schema.columns where table_schema = %s and table_name = %s",
                (schema, table),
            ).fetchone()[0]
            out[f"{schema}.{table}"] = f"{rows} [{columns}]"
        return out


def my_checksums(db: str) -> dict[str, str]:
    c = MySQLdb.connect(host="127.0.0.1", user="root", database=db)
    try:
        cur = c.cursor()
        cur.execute("SHOW TABLES")
        out = {}
        for (table,) in cur.fetchall():
            quoted = "`" + table.replace("`", "``") + "`"
            cur.execute(f"CHECKSUM TABLE {quoted}")
            checksum = cur.fetchone()[1]
            cur.execute(
                "SELECT GROUP_CONCAT(CONCAT(column_name, ' ', column_type) ORDER BY ordinal_position)"
                " FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                (db, table),
            )
            out[table] = f"{checksum} [{cur.fetchone()[0]}]"
        return out
    finally:
        c.close()


def redis_state(port: int) -> dict:
    r = redis.Redis(port=port)
    try:
        return {k: (r.type(k), r.dump(k)) for k in r.scan_iter(count=1000)}
    finally:
        r.close()
