"""The one way every routine ends: :func:`publish` a :class:`~include.report.Report`.

1. **write** ``report.html`` / ``.json`` / ``.md`` under ``<artifacts>/reports/<routine>/<interval end>/``
   through ``ObjectStoragePath`` (a folder or S3; a retry of the interval overwrites, never adds);
2. **record** the run in the catalog (``aegis_check_runs``; the rows' metrics too when asked), replacing
   an earlier record of the same interval;
3. **notify** through the inventory's notifiers (:mod:`include.alerting`) as :class:`AlertWhen` says;
4. decide whether the run **ends failed** (:func:`run_failure`, the only place that decides it).

A step that fails does not stop the next (a catalog that is down does not swallow the alert); the
task fails afterwards, naming every failed step.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from include.report import Outcome, Report, Verdict

log = logging.getLogger(__name__)


class AlertWhen(StrEnum):
    """When the publish tail sends the report through the notifiers."""

    NEVER = "never"
    UNHEALTHY = "unhealthy"  # the verdict is warning or critical
    ALWAYS = "always"  # e.g. the planned update: its outcome is news either way


#: Outcomes after which the run ends failed (its report and alert are out first). A verdict alone never
#: fails a run: a health check that finds a critical target did its job.
FAILING_OUTCOMES = frozenset({Outcome.FAILED, Outcome.NOT_RUN, Outcome.NOT_APPLIED, Outcome.ROLLED_BACK,
                              Outcome.ROLLBACK_FAILED})
#: Outcomes whose failure is retried once (a restore that failed; as before this contract). The planned
#: update's are final: running the tail again cannot change what happened to the target.
RETRIED_OUTCOMES = frozenset({Outcome.FAILED})
#: Report ``extra`` facts the catalog keeps beside the summary (the planned update's one-line change).
CATALOG_FACTS = ("change",)


def publish(report: Report, inventory, *, context: dict[str, Any] | None = None,
            alert: AlertWhen = AlertWhen.UNHEALTHY, record_metrics: bool = False) -> dict[str, str]:
    """Write, record and notify; then fail the task when the run must end failed. Returns where the
    report was written (``{"json": uri, "md": uri, "html": uri}``)."""
    written = write(report, inventory)
    failed_steps = []
    for step, run in (("record in the catalog", lambda: record(report, inventory, written, metrics=record_metrics)),
                      ("notify", lambda: notify(report, inventory, written, alert, context))):
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every step is tried; the task fails below, naming each
            log.exception("publishing %s: %s failed", report.routine, step)
            failed_steps.append(f"{step}: {type(exc).__name__}: {exc}")
    if failed_steps:
        raise RuntimeError(f"report written, but {'; '.join(failed_steps)}")
    failure = run_failure(report)
    if failure is not None:
        raise failure
    return written


def write(report: Report, inventory) -> dict[str, str]:
    """Write the three renderings under ``<artifacts>/reports/<routine>/<interval end>/`` and log where."""
    from include.artifacts import artifact_folder, interval_key
    from include.rendering import RENDERERS

    folder = artifact_folder(inventory, "reports", report.routine, interval_key(report.interval_end))
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for ext, render in RENDERERS.items():
        path = folder / f"report.{ext}"
        path.write_text(render(report))
        written[ext] = str(path)
    log.info("report (%s) written:\n  %s", report.verdict, "\n  ".join(written.values()))
    return written


def record(report: Report, inventory, written: dict[str, str], *, metrics: bool) -> int:
    """Record the run (its outcome, else its verdict) and, when ``metrics``, every row's metrics.

    Returns the number of metric rows written. Only routines whose rows are measurements of the
    targets (checks, maintenance) record metrics: the catalog's previous values and trends read them.
    """
    from include.catalog import Catalog

    summary = {**report.summary.to_dict(), **{k: report.extra[k] for k in CATALOG_FACTS if k in report.extra}}
    rows = Catalog.for_inventory(inventory).record_check_run(
        report.routine, report.interval_end, report.run_id, str(report.outcome or report.verdict),
        written.get("html"), summary, [r.to_dict() for r in report.rows] if metrics else [])
    log.info("recorded %s in the catalog with %d metric(s)", report.routine, rows)
    return rows


def notify(report: Report, inventory, written: dict[str, str], when: AlertWhen,
           context: dict[str, Any] | None) -> dict[str, str]:
    """Send the report through the configured notifiers when ``when`` says so; each channel's outcome."""
    from include.alerting import send_alert

    if when is AlertWhen.NEVER or (when is AlertWhen.UNHEALTHY and report.verdict is Verdict.HEALTHY):
        log.info("no alert: verdict %s, alert %s", report.verdict, when)
        return {}
    return send_alert(inventory.alerting, *alert_text(report, written), context=context)


def alert_text(report: Report, written: dict[str, str]) -> tuple[str, str, str]:
    """Subject, Markdown text and HTML body of the notification."""
    from include.rendering import render_html, render_markdown

    subject = report.alert_subject or (f"[Aegis] {report.routine}: {report.verdict.upper()} "
                                       f"({len(report.summary.reasons)} reason(s))")
    text = render_markdown(report) + f"\nFull report: {written.get('html', '(not written)')}\n"
    return subject, text, render_html(report)


def run_failure(report: Report) -> Exception | None:
    """Whether the run ends failed once its report is out, as the exception that fails it (None: it
    succeeds). The one place this is decided: only a failing outcome fails a run (:data:`FAILING_OUTCOMES`)."""
    if report.outcome not in FAILING_OUTCOMES:
        return None
    why = "; ".join(f"{r.target}: {r.message}" for r in report.summary.reasons) or "see the report"
    message = f"{report.routine} {report.outcome}: {why}"
    if report.outcome in RETRIED_OUTCOMES:
        return RuntimeError(message)
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)
