"""The one way every routine ends: :func:`publish` a :class:`~include.report.Report`.

1. **write** ``report.html`` / ``.json`` / ``.md`` under ``<artifacts>/reports/<routine>/<interval end>/<run id>/``
   through ``ObjectStoragePath`` (a folder or S3; a retry of the run overwrites its own, another run of the
   same interval writes beside it);
2. **record** the run in the catalog (``aegis_check_runs``; the rows' metrics too when asked), replacing
   an earlier record of the same run (run id) only;
3. **notify** through the inventory's notifiers (:mod:`include.alerting`) as :class:`AlertWhen` says;
4. **export** the outcome as StatsD metrics (:func:`export_metrics`) when Airflow's StatsD is on;
5. decide whether the run **ends failed** (:func:`run_failure`, the only place that decides it): a failing
   outcome, or a verdict at or past the report's ``fail_run_on``.

A step that fails does not stop the next (a catalog that is down does not swallow the alert); the
task fails afterwards, naming every failed step.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from include.inventory import AEGIS_TARGET
from include.report import Outcome, Report, Verdict

log = logging.getLogger(__name__)


class AlertWhen(StrEnum):
    """When the publish tail sends the report through the notifiers."""

    NEVER = "never"
    UNHEALTHY = "unhealthy"  # the verdict is warning or critical
    ALWAYS = "always"  # e.g. the planned update: its outcome is news either way


#: Outcomes after which the run ends failed (its report and alert are out first). A verdict alone never
#: fails a run: a health check that finds a critical target did its job.
FAILING_OUTCOMES = frozenset(
    {
        Outcome.FAILED,
        Outcome.NOT_RUN,
        Outcome.NOT_APPLIED,
        Outcome.ROLLED_BACK,
        Outcome.ROLLBACK_FAILED,
        Outcome.REFUSED,
    }
)
#: Outcomes whose failure is retried once (a restore that failed; as before this contract). The planned
#: update's are final: running the tail again cannot change what happened to the target.
RETRIED_OUTCOMES = frozenset({Outcome.FAILED})
#: Report ``extra`` facts the catalog keeps beside the summary (the planned update's one-line change).
CATALOG_FACTS = ("change",)


def publish(
    report: Report,
    inventory,
    *,
    context: Mapping[str, Any] | None = None,
    alert: AlertWhen = AlertWhen.UNHEALTHY,
    record_metrics: bool = False,
) -> dict[str, str]:
    """Write, record and notify; then fail the task when the run must end failed. Returns where the
    report was written (``{"json": uri, "md": uri, "html": uri}``)."""
    if not report.settings:
        report.settings = run_settings(report, inventory, (context or {}).get("params"))
    failed_steps = []
    try:
        written = write(report, inventory)
    except Exception as exc:  # noqa: BLE001 - an unwritable report folder still records, notifies, fails the run
        log.exception("publishing %s: writing the report failed", report.routine)
        written, failed_steps = {}, [f"write the report: {type(exc).__name__}: {exc}"]
    duration_s = run_duration_s(context)
    for step, run in (
        (
            "record in the catalog",
            lambda: record(report, inventory, written, metrics=record_metrics, duration_s=duration_s),
        ),
        # a step that failed is news whatever the verdict: the alert goes out and says which
        ("notify", lambda: notify(report, inventory, written, alert, context, problems=failed_steps)),
        ("export metrics", lambda: export_metrics(report, context, duration_s)),
    ):
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every step is tried; the task fails below, naming each
            log.exception("publishing %s: %s failed", report.routine, step)
            failed_steps.append(f"{step}: {type(exc).__name__}: {exc}")
    if failed_steps:
        raise RuntimeError(f"{'report written, but ' if written else 'publishing failed: '}{'; '.join(failed_steps)}")
    failure = run_failure(report)
    if failure is not None:
        raise failure
    return written


def publish_refused(
    routine: str, title: str, target: str, kind: str, reason: str, inventory, context: Mapping[str, Any]
) -> dict[str, str]:
    """Publish the report of a request refused before anything was done (a wrong form: an unconfirmed restore,
    an unknown set or target): one critical row naming ``reason``, outcome ``refused``; written, recorded and
    notified like any report, then the run ends failed (no retry: the same form is refused again)."""
    from include.dag_defaults import run_window

    _, end = run_window(context["dag_run"], context.get("data_interval_start"), context.get("data_interval_end"))
    log.error("%s of %s REFUSED, nothing was done: %s", routine, target, reason)
    row = {
        "target": target,
        "kind": kind,
        "status": "critical",
        "findings": [{"level": "critical", "message": f"request refused, nothing was done: {reason}"}],
        "details": {"state": Outcome.REFUSED.value, "reason": reason},
    }
    report = Report.build(routine, title, context["run_id"], end, end, [row], outcome=Outcome.REFUSED)
    return publish(report, inventory, context=context)


def run_settings(report: Report, inventory, params: dict[str, Any] | None) -> dict[str, Any]:
    """What the run ran with, for its report: ``form``, the trigger form's values (e.g. ``thresholds:
    {"disk_warning_pct": 70}``); ``inventory``, the run-wide ``fail_run_on``, ``lock_wait_s`` and
    ``timeout_seconds`` and, per target of the report, every threshold, backup and weekly setting that differs
    from its kind's default (e.g. ``weekly.apply``, ``backup.apply_retention``), and a timeout of its own."""
    form = json.loads(json.dumps(dict(params or {}), default=str))
    known = {t.name for t in inventory.targets}
    targets = {
        name: overrides
        for name in sorted({r.target for r in report.rows} & known)
        if (overrides := target_overrides(inventory.target(name), inventory))
    }
    return {
        "form": form,
        "inventory": {
            "fail_run_on": inventory.fail_run_on,
            "lock_wait_s": inventory.lock_wait_s,
            "timeout_seconds": inventory.timeout_seconds,
            "targets": targets,
        },
    }


def target_overrides(target, inventory) -> dict[str, Any]:
    """The target's settings that differ from its kind's defaults (thresholds, timeout, backup, weekly)."""
    from include.inventory import BACKUP_DEFAULTS, WEEKLY_COMMON
    from include.kinds import spec
    from include.weekly import defaults_for

    kind = spec(target.kind)
    defaults = {
        "thresholds": dict(kind.thresholds),
        "backup": BACKUP_DEFAULTS if target.backup else {},
        "weekly": {**WEEKLY_COMMON, **defaults_for(target.kind)} if target.weekly else {},
    }
    out: dict[str, Any] = {}
    for group, default in defaults.items():
        changed = {k: v for k, v in getattr(target, group).items() if default.get(k) != v}
        if changed:
            out[group] = changed
    if target.timeout_seconds != inventory.timeout_seconds:
        out["timeout_seconds"] = target.timeout_seconds
    return json.loads(json.dumps(out, default=str))


def write(report: Report, inventory) -> dict[str, str]:
    """Write the three renderings under ``<artifacts>/reports/<routine>/<interval end>/<run id>/``; log where."""
    from include.artifacts import artifact_folder, interval_key, run_key
    from include.rendering import RENDERERS

    folder = artifact_folder(
        inventory, "reports", report.routine, interval_key(report.interval_end), run_key(report.run_id)
    )
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for ext, render in RENDERERS.items():
        path = folder / f"report.{ext}"
        path.write_text(render(report))
        written[ext] = str(path)
    log.info("report (%s) written:\n  %s", report.verdict, "\n  ".join(written.values()))
    return written


def run_duration_s(context: Mapping[str, Any] | None) -> float | None:
    """Seconds from the dag run's start to now (publishing), or None when the run's start is unknown."""
    started = getattr((context or {}).get("dag_run"), "start_date", None)
    return (datetime.now(UTC) - started).total_seconds() if started else None


def record(
    report: Report, inventory, written: dict[str, str], *, metrics: bool, duration_s: float | None = None
) -> int:
    """Record the run (its outcome, else its verdict) and, when ``metrics``, every row's metrics; and, when
    known, the run's duration as metric ``aegis.<routine>.duration_s`` of the pseudo-target ``aegis``.

    Returns the number of metric rows written. Only routines whose rows are measurements of the
    targets (checks, maintenance) record the targets' metrics: the catalog's previous values and trends read them.
    """
    from include.catalog import Catalog

    results = [r.to_dict() for r in report.rows] if metrics else []
    if duration_s is not None:
        results.append(
            {
                "target": AEGIS_TARGET,
                "kind": AEGIS_TARGET,
                "metrics": {f"aegis.{report.routine}.duration_s": duration_s},
            }
        )
    summary = {**report.summary.to_dict(), **{k: report.extra[k] for k in CATALOG_FACTS if k in report.extra}}
    rows = Catalog.for_inventory(inventory).record_check_run(
        report.routine,
        report.interval_end,
        report.run_id,
        str(report.outcome or report.verdict),
        written.get("html"),
        summary,
        results,
        statuses=[r.to_dict() for r in report.rows],
    )
    log.info("recorded %s in the catalog with %d metric(s)", report.routine, rows)
    return rows


def notify(
    report: Report,
    inventory,
    written: dict[str, str],
    when: AlertWhen,
    context: Mapping[str, Any] | None,
    problems: list[str] | None = None,
) -> dict[str, str]:
    """Send the report through the configured notifiers when ``when`` says so, or whenever an earlier publishing
    step failed (``problems``: the report not written, the catalog not recorded); each channel's outcome."""
    from include.alerting import send_alert

    quiet = when is AlertWhen.NEVER or (when is AlertWhen.UNHEALTHY and report.verdict is Verdict.HEALTHY)
    if quiet and not problems:
        log.info("no alert: verdict %s, alert %s", report.verdict, when)
        return {}
    return send_alert(inventory.alerting, *alert_text(report, written, problems), context=context)


def alert_text(report: Report, written: dict[str, str], problems: list[str] | None = None) -> tuple[str, str, str]:
    """Subject, Markdown text and HTML body of the notification; ``problems`` (publishing steps that failed) are
    named in the subject and first in the text."""
    from html import escape

    from include.rendering import render_html, render_markdown

    subject = report.alert_subject or (
        f"[Aegis] {report.routine}: {report.verdict.upper()} ({len(report.summary.reasons)} reason(s))"
    )
    text = render_markdown(report) + f"\nFull report: {written.get('html', '(not written)')}\n"
    body = render_html(report)
    if problems:
        subject = f"{subject} — publishing failed"
        lines = [f"- {p}" for p in problems]
        text = "**Publishing failed:**\n" + "\n".join(lines) + "\n\n" + text
        block = "<p><b>Publishing failed:</b></p><ul>" + "".join(f"<li>{escape(p)}</li>" for p in problems) + "</ul>"
        body = body.replace("<body>", "<body>" + block, 1) if "<body>" in body else block + body
    return subject, text, body


#: Verdicts as the numbers the ``aegis.<routine>.verdict`` gauge carries.
VERDICT_LEVELS = {Verdict.HEALTHY: 0, Verdict.WARNING: 1, Verdict.CRITICAL: 2}


def routine_metrics(report: Report, duration_s: float | None) -> dict[str, tuple[str, float]]:
    """The outcome of a routine as metrics: name → (StatsD type ``g`` gauge / ``ms`` timing, value).

    ``aegis.<routine>.verdict`` (0 healthy, 1 warning, 2 critical), ``aegis.<routine>.targets_failed`` (targets
    with a critical reason), ``aegis.<routine>.failed`` (1 when the run ends failed) and, when the run's start
    is known, ``aegis.<routine>.duration`` (ms)."""
    failed = {r.target for r in report.summary.reasons if r.level == Verdict.CRITICAL}
    out: dict[str, tuple[str, float]] = {
        f"aegis.{report.routine}.verdict": ("g", VERDICT_LEVELS[report.verdict]),
        f"aegis.{report.routine}.targets_failed": ("g", len(failed)),
        f"aegis.{report.routine}.failed": ("g", int(report.outcome in FAILING_OUTCOMES)),
    }
    if duration_s is not None:
        out[f"aegis.{report.routine}.duration"] = ("ms", duration_s * 1000)
    return out


def export_metrics(
    report: Report, context: Mapping[str, Any] | None, duration_s: float | None = None
) -> dict[str, tuple[str, float]]:
    """Send :func:`routine_metrics` to the StatsD server Airflow's own metrics go to (``[metrics] statsd_on``,
    ``statsd_host``, ``statsd_port``); nothing when StatsD is off. UDP: a listener that is down loses them."""
    from airflow.configuration import conf

    if not conf.getboolean("metrics", "statsd_on", fallback=False):
        return {}
    import statsd

    values = routine_metrics(report, duration_s if duration_s is not None else run_duration_s(context))
    client = statsd.StatsClient(conf.get("metrics", "statsd_host"), conf.getint("metrics", "statsd_port"))
    with client.pipeline() as pipe:
        for name, (kind, value) in values.items():
            if kind == "ms":
                pipe.timing(name, value)
            else:
                pipe.gauge(name, value)
    log.info("exported %d metric(s) to StatsD: %s", len(values), ", ".join(f"{k}={v[1]:g}" for k, v in values.items()))
    return values


def run_failure(report: Report) -> Exception | None:
    """Whether the run ends failed once its report is out, as the exception that fails it (None: it
    succeeds). The one place this is decided:

    - a failing outcome (:data:`FAILING_OUTCOMES`: a failed restore, an update not promoted);
    - a verdict at or past the report's ``fail_run_on`` (the daily and weekly checks: the inventory's
      ``defaults.fail_run_on``, ``critical`` unless set; backup and verify: ``critical``, i.e. any
      target whose backup or verification failed). Its message and the task log name each such target and why.
    """
    if report.outcome in FAILING_OUTCOMES:
        why = "; ".join(f"{r.target}: {r.message}" for r in report.summary.reasons) or "see the report"
        message = f"{report.routine} {report.outcome}: {why}"
        if report.outcome in RETRIED_OUTCOMES:
            return RuntimeError(message)
        from airflow.sdk.exceptions import AirflowFailException

        return AirflowFailException(message)
    if report.fail_run_on is None or not report.fail_run_on.fails(report.verdict):
        return None
    failing = [r for r in report.summary.reasons if report.fail_run_on.fails(Verdict(_verdict_of(r.level)))]
    for reason in failing:
        log.error(
            "run fails (fail_run_on: %s): %s [%s]: %s", report.fail_run_on, reason.target, reason.level, reason.message
        )
    why = "; ".join(f"{r.target}: {r.message}" for r in failing) or "see the report"
    from airflow.sdk.exceptions import AirflowFailException

    # not retried: publishing the same report again cannot change its verdict
    return AirflowFailException(f"{report.routine} is {report.verdict} (fail_run_on: {report.fail_run_on}): {why}")


def _verdict_of(level: str) -> str:
    """A reason's level as a verdict word (``unreachable`` counts as critical)."""
    from include.health import OVERALL

    return OVERALL.get(level, Verdict.HEALTHY.value)
