"""Redis cleanup: Aegis's weekly cleanup against ``redis-cli --scan --pattern`` and the seed's per-key loop.

Data, on a private redis-server: 1,000,000 keys under the seed's three patterns (``aegis:cache:*``,
``aegis:session:*``, ``aegis:temp:*``, a third each), 80-byte string values: 100,000 (10 %) without a
TTL and idle for 10 days (written with ``RESTORE … IDLETIME``), 100,000 without a TTL but just written,
800,000 with a TTL. Every pass must find exactly the 100,000 idle keys.

- **scan**: ``include.weekly.redis_cleanup.maintain`` in dry run (its DEFAULTS: idle over a week,
  batches of 1000) against ``redis-cli --scan --pattern`` for each of the three patterns (which only
  lists the keys, counted; redis-cli 7.0 has no ``--count``: SCAN's default COUNT 10). Target within 1.5x.
- **cleanup**: ``maintain`` with ``dry_run=False`` (it UNLINKs the 100,000) against the seed's loop
  (``scan_iter(match=…)``, then per key ``TTL``, ``OBJECT IDLETIME``, ``MEMORY USAGE``, ``DELETE``, one
  round trip each). The seed loop is timed on a 50,000-key sample with the same mix (database 1 of
  the same server) and extrapolated linearly to 1,000,000 keys (x20). Target at least 20x faster.
  The deleted keys are restored (untimed) after every deleting pass.

    .venv/bin/python -m bench.redis_cleanup [--keys 1000000] [--sample 50000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess

from bench.common import Case, alternate, faster, machine, redis_servers, report, within

PATTERNS = ["aegis:cache:*", "aegis:session:*", "aegis:temp:*"]
IDLE_S = 10 * 24 * 3600
VALUE = b"v" * 80


def key(i: int) -> bytes:
    return f"{PATTERNS[i % 3][:-1]}{i:07d}".encode()


def load(client, keys: int) -> list[bytes]:
    """Write the mix into the client's database; return the idle keys' DUMP payloads' keys."""
    pipe = client.pipeline(transaction=False)
    idle = []
    for i in range(keys):
        k = key(i)
        if i % 10 == 0:
            idle.append(k)
            pipe.set(k, VALUE)
        elif i % 10 == 1:
            pipe.set(k, VALUE)
        else:
            pipe.set(k, VALUE, ex=86_400)
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    return idle


class IdleKeys:
    """The idle keys' serialized values, to (re)write them as 10 days idle with ``RESTORE … IDLETIME``."""

    def __init__(self, client, keys: list[bytes]):
        self.client, self.keys = client, keys
        self.dumps = []
        for start in range(0, len(keys), 10_000):
            pipe = client.pipeline(transaction=False)
            for k in keys[start : start + 10_000]:
                pipe.dump(k)
            self.dumps += pipe.execute()

    def restore(self) -> None:
        for start in range(0, len(self.keys), 10_000):
            pipe = self.client.pipeline(transaction=False)
            for k, payload in zip(self.keys[start : start + 10_000], self.dumps[start : start + 10_000]):
                pipe.execute_command("RESTORE", k, 0, payload, "REPLACE", "IDLETIME", IDLE_S)
            pipe.execute()


def seed_loop(client, idle_s: int) -> dict:
    """The seed's cleanup: SCAN per pattern, then one round trip per check, per key."""
    out = {"scanned": 0, "deleted": 0, "freed": 0}
    for pattern in PATTERNS:
        for k in client.scan_iter(match=pattern):
            out["scanned"] += 1
            if client.ttl(k) == -1 and client.object("idletime", k) >= idle_s:
                out["freed"] += client.memory_usage(k) or 0
                client.delete(k)
                out["deleted"] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    started = machine()
    scale = args.keys / args.sample

    import redis
    import redis.backoff  # noqa: F401  (imported by maintain(): loaded before timing)
    import redis.retry  # noqa: F401

    from include.inventory import Target
    from include.targets import Endpoint
    from include.weekly.redis_cleanup import DEFAULTS, maintain

    with redis_servers(1) as (port,):
        big, sample = redis.Redis(port=port, db=0), redis.Redis(port=port, db=1)
        print(f"loading {args.keys:,} keys (db 0) and a {args.sample:,}-key sample (db 1) …", flush=True)
        idle_big = IdleKeys(big, load(big, args.keys))
        idle_sample = IdleKeys(sample, load(sample, args.sample))
        idle_big.restore()
        idle_sample.restore()
        expected = len(idle_big.keys)
        target = Target("bench-redis", "redis", "bench_redis", (), {}, 10.0, {})
        endpoint = Endpoint(host="127.0.0.1", port=port, schema="0", conn_type="redis")
        dirty = set()

        def aegis(dry_run: bool):
            def go():
                result = maintain(target, endpoint, {}, dry_run=dry_run)
                m = result.metrics
                if m["redis.cleanup.matched_keys"] != expected or m["redis.cleanup.scanned_keys"] != args.keys:
                    raise SystemExit(
                        f"Aegis matched {m['redis.cleanup.matched_keys']:.0f} of "
                        f"{m['redis.cleanup.scanned_keys']:.0f} keys, expected {expected} of {args.keys}"
                    )
                if not dry_run:
                    if big.dbsize() != args.keys - expected:
                        raise SystemExit(f"after the cleanup {big.dbsize()} keys remain")
                    dirty.add("big")

            return go

        def redis_cli_scan():
            listed = 0
            for pattern in PATTERNS:
                out = subprocess.run(
                    ["redis-cli", "-p", str(port), "-n", "0", "--scan", "--pattern", pattern],
                    capture_output=True,
                    check=True,
                )
                listed += out.stdout.count(b"\n")
            if listed != args.keys:
                raise SystemExit(f"redis-cli listed {listed} keys, expected {args.keys}")

        def seed():
            out = seed_loop(sample, DEFAULTS["idle_seconds"])
            if out["deleted"] != len(idle_sample.keys) or out["scanned"] != args.sample:
                raise SystemExit(f"seed loop: {out}, expected {len(idle_sample.keys)} deleted of {args.sample}")
            dirty.add("sample")

        def restore():
            if "big" in dirty:
                idle_big.restore()
            if "sample" in dirty:
                idle_sample.restore()
            dirty.clear()

        samples = alternate(
            {
                "aegis scan (dry run)": aegis(True),
                "redis-cli --scan x3": redis_cli_scan,
                "aegis cleanup (unlink)": aegis(False),
                f"seed loop ({args.sample:,} keys)": seed,
            },
            args.repeats,
            between=restore,
        )
        info = big.info("server")["redis_version"]
        big.close()
        sample.close()
    seed_extrapolated = [s * scale for s in samples[f"seed loop ({args.sample:,} keys)"]]
    cases = [
        Case(
            f"Redis scan {args.keys:,} keys: Aegis dry run vs redis-cli --scan",
            samples["aegis scan (dry run)"],
            samples["redis-cli --scan x3"],
            *within(1.5),
        ),
        Case(
            f"Redis cleanup {args.keys:,} keys: Aegis vs seed per-key loop",
            samples["aegis cleanup (unlink)"],
            seed_extrapolated,
            *faster(20),
            note=f"seed loop timed on {args.sample:,} keys and multiplied by {scale:g}",
        ),
    ]
    report(
        "redis_cleanup",
        cases,
        {
            "keys": args.keys,
            "idle_no_ttl": expected,
            "sample": args.sample,
            "redis_version": info,
            "repeats": args.repeats,
            "seed_sample_seconds": samples[f"seed loop ({args.sample:,} keys)"],
        },
        started,
    )


if __name__ == "__main__":
    main()
