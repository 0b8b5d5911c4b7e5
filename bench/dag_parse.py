"""DAG parsing: how long Airflow takes to parse each of Aegis's DAG files, against a trivial DAG file.

The DAG processor keeps Airflow imported and parses each file in a fresh child process (so the
modules a DAG file imports, ``include.*`` and their dependencies, are imported on every parse).
This script does the same: for every repetition and every DAG file, a fresh Python process imports
Airflow, parses a throwaway trivial DAG once (warm-up, untimed), calls ``gc.freeze()`` (the processor
does so before forking its children: without it, a full garbage collection of Airflow's objects lands
inside whichever parse allocates enough), then times ``DagBag`` on the trivial file and on the Aegis
file, in alternating order. The inventory is the demo one (``config/inventory.yaml``, or
``$AEGIS_INVENTORY``), or with ``--targets N`` a generated one of N targets (five kinds, 40 team tags):
then each round first times the first parse of a file after the inventory changed (no cached inventory:
a cold start), then one ``DagBag`` of the whole ``dags/`` folder (all files, one process) and each file
alone, as the DAG processor finds them: the validated inventory cached on disk by the cold parse.

    .venv/bin/python -m bench.dag_parse [--repeats 5] [--targets 5000] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

from bench.common import REPO, Case, machine, report, scratch_folder, within

TRIVIAL = '''
import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False, tags=["trivial"])
def trivial_{n}():
    @task
    def hello():
        """Say hello."""
        print("hello")

    hello()


trivial_{n}()
'''

CHILD = r"""
import gc, json, sys, time
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk  # noqa: F401  (the processor has these loaded already)

def parse(path):
    t0 = time.perf_counter()
    bag = DagBag(dag_folder=path, safe_mode=False)
    seconds = time.perf_counter() - t0
    if bag.import_errors or not bag.dags:
        raise SystemExit(f"{path}: no DAG or import errors: {bag.import_errors}")
    return seconds

warm, trivial, aegis, aegis_first = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
profile = len(sys.argv) > 5 and sys.argv[5] == "profile"
parse(warm)
gc.freeze()  # as the DAG processor does before it forks its parsing children (no full collection of Airflow's objects)
out = {}
for name, path in ([("aegis", aegis), ("trivial", trivial)] if aegis_first else
                   [("trivial", trivial), ("aegis", aegis)]):
    if profile and name == "aegis":
        import cProfile, io, pstats
        prof = cProfile.Profile()
        prof.runcall(parse, path)
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumtime").print_stats(25)
        print(buf.getvalue(), file=sys.stderr)
    out[name] = parse(path)
print(json.dumps(out))
"""


def large_inventory(count: int) -> str:
    """An inventory of ``count`` targets: five kinds in turn, each with a team tag (of 40), its kind and a region."""
    kinds = [
        ("postgres", "conn_id: pg_{i}"),
        ("mysql", "conn_id: my_{i}"),
        ("redis", "conn_id: rd_{i}"),
        ("host", "mounts: ['/']"),
        ("http_service", "conn_id: web_{i}"),
    ]
    lines = ["version: 1", "defaults: {timeout_seconds: 10}", "targets:"]
    for i in range(count):
        kind, extra = kinds[i % len(kinds)]
        lines.append(
            f"  - {{name: t{i:05d}-{kind.replace('_', '-')}, kind: {kind}, "
            f"tags: [team{i % 40}, {kind.replace('_', '-')}, region{i % 7}], {extra.format(i=i)}}}"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--targets", type=int, default=0, help="generate an inventory of this many targets")
    ap.add_argument("--profile", action="store_true", help="print the cProfile of each file's parse (stderr)")
    args = ap.parse_args()
    started = machine()
    files = sorted((REPO / "dags").glob("*.py"))
    samples = {f.name: {"aegis": [], "trivial": []} for f in files}
    env = {**os.environ, "PYTHONPATH": str(REPO), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    with scratch_folder("dag-parse") as tmp:
        env["AIRFLOW_HOME"] = str(tmp / "airflow-home")
        env["AEGIS_CACHE_DIR"] = str(tmp / "cache")
        for n in ("warm", "timed"):
            (tmp / f"trivial_{n}.py").write_text(TRIVIAL.replace("{n}", n))
        if args.targets:
            (tmp / "inventory.yaml").write_text(large_inventory(args.targets))
            env["AEGIS_INVENTORY"] = str(tmp / "inventory.yaml")
            samples["cold"] = {"aegis": [], "trivial": []}
            samples["all"] = {"aegis": [], "trivial": []}
        for i in range(args.repeats):
            # cold: the first parse after the inventory changed (nothing cached yet); then the rest, as the DAG
            # processor finds them: the validated inventory cached on disk by that first parse
            runs = [("cold", files[0], True), ("all", REPO / "dags", False)] if args.targets else []
            for label, path, cold in runs + [(f.name, f, False) for f in files]:
                if cold:  # a cold start: no inventory cached on disk yet
                    shutil.rmtree(tmp / "cache", ignore_errors=True)
                proc = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        CHILD,
                        str(tmp / "trivial_warm.py"),
                        str(tmp / "trivial_timed.py"),
                        str(path),
                        str(i % 2),
                    ]
                    + (["profile"] if args.profile else []),
                    env=env,
                    capture_output=True,
                    text=True,
                    cwd=REPO,
                    timeout=600,
                )
                if args.profile:
                    print(f"--- {label}\n{proc.stderr[-6000:]}")
                if proc.returncode != 0:
                    raise SystemExit(f"parsing {path} failed:\n{proc.stderr[-3000:]}")
                got = json.loads(proc.stdout.strip().splitlines()[-1])
                for k in ("aegis", "trivial"):
                    samples[label][k].append(got[k])
                print(
                    f"  round {i + 1}/{args.repeats}  {label:<24} {got['aegis'] * 1000:7.1f} ms"
                    f"   trivial {got['trivial'] * 1000:7.1f} ms",
                    flush=True,
                )
    cases = [
        Case(
            f"DAG parse{f', {args.targets} targets' if args.targets else ''}: dags/{name} vs a trivial DAG file"
            if name not in ("cold", "all")
            else (
                f"DAG parse, {args.targets} targets: dags/{files[0].name}, first parse (no cache) vs trivial"
                if name == "cold"
                else f"DAG parse, {args.targets} targets: all of dags/ in one DagBag (cached) vs trivial"
            ),
            s["aegis"],
            s["trivial"],
            *within(3),
        )
        for name, s in samples.items()
        if s["aegis"]
    ]
    if args.targets:  # the absolute limits at this size
        for c in cases:
            limit = 2.0 if "all of dags/" in c.name else 0.5
            c.note = f"{c.aegis_s:.3f} s absolute; limit {limit} s: {'met' if c.aegis_s <= limit else 'NOT met'}"
    report(
        "dag_parse" + (f"_{args.targets}" if args.targets else ""),
        cases,
        {
            "repeats": args.repeats,
            "files": [f.name for f in files],
            "targets": args.targets,
            "inventory": os.environ.get("AEGIS_INVENTORY", "config/inventory.yaml"),
        },
        started,
    )


if __name__ == "__main__":
    main()
