"""DAG parsing: how long Airflow takes to parse each of Aegis's DAG files, against a trivial DAG file.

The DAG processor keeps Airflow imported and parses each file in a fresh child process (so the
modules a DAG file imports, ``include.*`` and their dependencies, are imported on every parse).
This script does the same: for every repetition and every DAG file, a fresh Python process imports
Airflow, parses a throwaway trivial DAG once (warm-up, untimed), calls ``gc.freeze()`` (the processor
does so before forking its children: without it, a full garbage collection of Airflow's objects lands
inside whichever parse allocates enough), then times ``DagBag`` on the trivial file and on the Aegis
file, in alternating order. The inventory is the demo one
(``config/inventory.yaml``, or ``$AEGIS_INVENTORY``).

    .venv/bin/python -m bench.dag_parse [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
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

CHILD = r'''
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
parse(warm)
gc.freeze()  # as the DAG processor does before it forks its parsing children (no full collection of Airflow's objects)
out = {}
for name, path in ([("aegis", aegis), ("trivial", trivial)] if aegis_first else
                   [("trivial", trivial), ("aegis", aegis)]):
    out[name] = parse(path)
print(json.dumps(out))
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    started = machine()
    files = sorted((REPO / "dags").glob("*.py"))
    samples = {f.name: {"aegis": [], "trivial": []} for f in files}
    env = {**os.environ, "PYTHONPATH": str(REPO), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    with scratch_folder("dag-parse") as tmp:
        env["AIRFLOW_HOME"] = str(tmp / "airflow-home")
        for n in ("warm", "timed"):
            (tmp / f"trivial_{n}.py").write_text(TRIVIAL.replace("{n}", n))
        for i in range(args.repeats):
            for f in files:
                proc = subprocess.run(
                    [sys.executable, "-c", CHILD, str(tmp / "trivial_warm.py"), str(tmp / "trivial_timed.py"),
                     str(f), str(i % 2)], env=env, capture_output=True, text=True, cwd=REPO, timeout=300)
                if proc.returncode != 0:
                    raise SystemExit(f"parsing {f.name} failed:\n{proc.stderr[-3000:]}")
                got = json.loads(proc.stdout.strip().splitlines()[-1])
                for k in ("aegis", "trivial"):
                    samples[f.name][k].append(got[k])
                print(f"  round {i + 1}/{args.repeats}  {f.name:<24} {got['aegis'] * 1000:7.1f} ms"
                      f"   trivial {got['trivial'] * 1000:7.1f} ms", flush=True)
    cases = [Case(f"DAG parse: dags/{name} vs a trivial DAG file", s["aegis"], s["trivial"], *within(1.5))
             for name, s in samples.items()]
    report("dag_parse", cases, {"repeats": args.repeats, "files": [f.name for f in files],
                                "inventory": os.environ.get("AEGIS_INVENTORY", "config/inventory.yaml")}, started)


if __name__ == "__main__":
    main()
