"""The combined table of every benchmark's last results (``bench/results/*.json``), as Markdown.

.venv/bin/python -m bench.summary
"""

from __future__ import annotations

import json

from bench.common import RESULTS, Case, table

ORDER = [
    "pg_backup",
    "mysql_backup",
    "logs",
    "dag_parse",
    "dag_parse_5000",
    "fanout",
    "fanout_threads",
    "scale",
    "pg_maintenance",
    "redis_cleanup",
]


def main() -> None:
    found = {p.stem: json.loads(p.read_text()) for p in RESULTS.glob("*.json")}
    cases, lines = [], []
    for name in sorted(found, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER)):
        result = found[name]
        m = result["machine"]
        lines.append(
            f"- `{name}`: {m['date']}, {m['nproc']} cores, {m['memory_gib']} GiB, load at start "
            f"{m['uptime'].split('load average:')[-1].strip()}"
        )
        for c in result["cases"]:
            case = Case(c["name"], c["aegis"], c["reference"], c["limit"], c["target"], c.get("note", ""))
            cases.append(case)
    print(table(cases))
    print()
    print("\n".join(lines))
    for c in cases:
        if c.note:
            print(f"- {c.name}: {c.note}")


if __name__ == "__main__":
    main()
