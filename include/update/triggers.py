"""The drain wait without a worker slot: :class:`DrainTrigger` (runs in the triggerer) and
:class:`DrainSessionsOperator` (checks once, then defers to the trigger).

The trigger polls the active sessions of every drain target (:func:`include.update.drain.count_all`,
blocking drivers run in a thread so the triggerer's event loop never waits on them) until all are
at zero or the drain timeout passes. Its arguments are target names, kinds and connection ids:
no host, login or password is stored with the trigger.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

#: each poll's own bound per target (connect + query)
QUERY_TIMEOUT_S = 10.0


class DrainTrigger(BaseTrigger):
    """Fires once: ``{drained, counts, waited_s}`` when every target is idle or the deadline passes."""

    def __init__(self, targets: list[dict[str, Any]], deadline: float, started: float, poll_s: float = 5.0):
        super().__init__()
        self.targets, self.deadline, self.started, self.poll_s = targets, float(deadline), float(started), float(poll_s)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "include.update.triggers.DrainTrigger",
            {"targets": self.targets, "deadline": self.deadline, "started": self.started, "poll_s": self.poll_s},
        )

    async def run(self):
        from include.update.drain import count_all, drained

        while True:
            counts = await asyncio.to_thread(count_all, self.targets, QUERY_TIMEOUT_S)
            now = time.time()
            if drained(counts) or now >= self.deadline:
                yield TriggerEvent(
                    {"drained": drained(counts), "counts": counts, "waited_s": round(now - self.started, 1)}
                )
                return
            self.log.info("still active: %s (%.0fs left)", counts, self.deadline - now)
            await asyncio.sleep(min(self.poll_s, max(0.1, self.deadline - now)))


class DrainSessionsOperator(BaseOperator):
    """Wait until the targets' active sessions fall to zero, or the drain timeout passes, deferred.

    Counts once on the worker; if anything is still active it defers to :class:`DrainTrigger`
    and frees the worker slot. A timeout is not a failure: the run goes on (the seeds' runbook
    waits a fixed time and proceeds) and the report shows what was still active. A dry run
    only counts.
    """

    template_fields = ("plan",)

    def __init__(self, *, plan: Any, poll_s: float = 5.0, **kwargs):
        super().__init__(**kwargs)
        self.plan, self.poll_s = plan, poll_s

    def execute(self, context) -> dict[str, Any]:
        from include.update.drain import count_all, drained

        targets = self.plan["drain"]
        started = time.time()
        counts = count_all(targets, QUERY_TIMEOUT_S)
        if self.plan["dry_run"] or drained(counts) or not self.plan["drain_timeout_s"]:
            verb = "DRY RUN: would wait for" if self.plan["dry_run"] else "active sessions now"
            self.log.info("%s %s", verb, counts or "no target to drain")
            return {"drained": drained(counts), "counts": counts, "waited_s": 0.0, "dry_run": self.plan["dry_run"]}
        self.log.info(
            "active sessions %s: deferring (up to %gs) without holding a worker slot",
            counts,
            self.plan["drain_timeout_s"],
        )
        self.defer(
            trigger=DrainTrigger(targets, started + self.plan["drain_timeout_s"], started, self.poll_s),
            method_name="execute_complete",
        )

    def execute_complete(self, context, event: dict[str, Any]) -> dict[str, Any]:
        """Back from the trigger: log the outcome and hand it on."""
        if event["drained"]:
            self.log.info("drained after %ss: %s", event["waited_s"], event["counts"])
        else:
            self.log.warning(
                "drain timeout after %ss; still active: %s (going on, as the runbook does)",
                event["waited_s"],
                event["counts"],
            )
        return event
