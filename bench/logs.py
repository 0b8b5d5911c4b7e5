"""Log analysis: the daily check's ``log_source`` (error count in the window + error signatures) against ``grep -c ERROR``.

Data: generated application logs (default 1 GiB, one file), every line timestamped inside the run's
window; about 1 % ERROR lines (a tenth of them followed by a 3-line stack trace, whose continuation
lines have no timestamp), 3 % WARN, the rest INFO/DEBUG, messages carrying ids, numbers, addresses
and quoted values. Aegis's run is ``include.checks.logs.check`` on a ``log_source`` target (the
same call the ``check_targets`` task makes); the reference is ``grep -c ERROR`` on the same file.
Both counts must agree (the script fails otherwise). The file is read once before timing, so both
read it from the page cache.

    .venv/bin/python -m bench.logs [--size-mib 1024] [--repeats 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import Case, alternate, machine, report, scratch_folder, within

DAY = datetime(2026, 3, 9, tzinfo=UTC)
MESSAGES = {
    "DEBUG": ["cache lookup key=user:{n} hit={b}", "pool stats active={n} idle={n} waiting={n}"],
    "INFO": [
        "request {uuid} GET /api/v1/items/{n} 200 in {n} ms from {ip}",
        "user {n} logged in from {ip}",
        "job 'nightly-{n}' finished: {n} rows in {n}.{n} s",
        "settlement batch {n} committed ({n} entries)",
    ],
    "WARN": [
        "slow query took {n} ms: select * from orders where id = {n}",
        "retrying connection to {ip} (attempt {n})",
    ],
    "ERROR": [
        "settlement batch failed after {n} retries (batch {n})",
        "payment {uuid} declined by gateway: code {n}",
        "could not connect to {ip}: connection refused",
        "timeout after {n} ms waiting for lock on 'orders_{n}'",
        "unhandled exception in worker {n}: KeyError: 'item_{n}'",
    ],
}
TRACE = ["Traceback (most recent call last):", '  File "/app/worker.py", line {n}, in run', "KeyError: 'item_{n}'"]


def fill(template: str, rnd: random.Random) -> str:
    out = template
    while "{n}" in out:
        out = out.replace("{n}", str(rnd.randint(1, 99999)), 1)
    return (
        out.replace("{b}", rnd.choice(["true", "false"]))
        .replace("{ip}", f"10.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}")
        .replace("{uuid}", f"{rnd.getrandbits(128):032x}"[:8] + "-1b2c-4d5e-8f90-" + f"{rnd.getrandbits(48):012x}")
    )


def generate(path: Path, size: int, seed: int = 6) -> None:
    """Write ``size`` bytes of log lines spread over DAY (naive UTC timestamps, one per line)."""
    rnd = random.Random(seed)
    levels = ["ERROR"] * 1 + ["WARN"] * 3 + ["INFO"] * 76 + ["DEBUG"] * 20
    bodies = []  # a pool of varied lines without timestamp (continuation lines carried with their ERROR)
    for _ in range(50_000):
        level = rnd.choice(levels)
        body = (
            f" {level} [{rnd.choice(['api', 'worker', 'billing', 'auth'])}] {fill(rnd.choice(MESSAGES[level]), rnd)}\n"
        )
        if level == "ERROR" and rnd.random() < 0.1:
            body += "".join(fill(t, rnd) + "\n" for t in TRACE)
        bodies.append(body)
    avg = sum(len(b) + 19 for b in bodies) / len(bodies)
    lines = int(size / avg) + 1
    step = 86_400 / lines
    written, i = 0, 0
    with path.open("w", buffering=16 * 2**20) as fh:
        while written < size:
            block = []
            for _ in range(10_000):
                ts = DAY + timedelta(seconds=min(int(i * step), 86_399))
                block.append(f"{ts:%Y-%m-%dT%H:%M:%S}{bodies[rnd.randrange(len(bodies))]}")
                i += 1
            text = "".join(block)
            fh.write(text)
            written += len(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="also run Aegis once under cProfile and print the top")
    args = ap.parse_args()
    started = machine()

    from include.checks import Window
    from include.checks.logs import check
    from include.inventory import load_inventory

    with scratch_folder("logs") as tmp:
        log = tmp / "logs" / "app.log"
        log.parent.mkdir()
        print(f"generating {args.size_mib} MiB of logs …", flush=True)
        generate(log, args.size_mib * 2**20)
        size = log.stat().st_size
        (tmp / "inventory.yaml").write_text(
            "version: 1\ntargets:\n  - {name: bench-logs, kind: log_source, paths: ['logs/*.log'], top_signatures: 5}\n"
        )
        target = load_inventory(tmp / "inventory.yaml").target("bench-logs")
        window = Window(DAY, DAY + timedelta(days=1), {})
        subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # into the page cache
        counts = {}

        def aegis():
            result = check(target, None, window)
            counts["aegis"] = int(result.metrics["logs.errors"])
            counts["top"] = result.details["top_signatures"][:3]

        def grep():
            out = subprocess.run(["grep", "-c", "ERROR", str(log)], capture_output=True, text=True, check=True)
            counts["grep"] = int(out.stdout)

        samples = alternate({"aegis logs.check": aegis, "grep -c ERROR": grep}, args.repeats)
        if counts["aegis"] != counts["grep"]:
            raise SystemExit(f"counts differ: Aegis {counts['aegis']}, grep {counts['grep']}")
        print(f"{counts['grep']} ERROR lines; top signatures: {counts['top']}")
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(check, target, None, window)
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(12)
            print(buf.getvalue())
    case = Case(
        f"log analysis {size / 2**30:.2f} GiB: Aegis vs grep -c ERROR",
        samples["aegis logs.check"],
        samples["grep -c ERROR"],
        *within(2),
    )
    report("logs", [case], {"bytes": size, "error_lines": counts["grep"], "repeats": args.repeats}, started)


if __name__ == "__main__":
    main()
