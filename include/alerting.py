"""Alerting through Airflow notifiers: Slack webhook, SMTP and a generic HTTP webhook.

Channels come from the inventory's ``alerting`` section, each naming an Airflow
connection. With none configured, the alert is only logged. One channel
failing does not stop the others; if every configured channel fails the
caller gets an exception, so the task is red and retried.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def build_notifiers(alerting: dict[str, Any], subject: str, text: str, html_body: str) -> dict[str, Any]:
    """The configured notifiers, by channel name, ready to ``notify(context)``."""
    notifiers: dict[str, Any] = {}
    if alerting.get("slack_webhook_conn_id"):
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        notifiers["slack"] = SlackWebhookNotifier(
            slack_webhook_conn_id=alerting["slack_webhook_conn_id"], text=f"*{subject}*\n{text}"
        )
    if alerting.get("smtp_conn_id"):
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        notifiers["email"] = SmtpNotifier(
            smtp_conn_id=alerting["smtp_conn_id"], to=alerting["email_to"], subject=subject, html_content=html_body
        )
    if alerting.get("webhook_conn_id"):
        from airflow.providers.http.notifications.http import HttpNotifier

        notifiers["webhook"] = HttpNotifier(
            http_conn_id=alerting["webhook_conn_id"], method="POST", json={"subject": subject, "text": text}
        )
    return notifiers


def send_alert(
    alerting: dict[str, Any], subject: str, text: str, html_body: str, context: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Send through every configured channel; return each channel's outcome."""
    notifiers = build_notifiers(alerting, subject, text, html_body)
    if not notifiers:
        log.warning("no alert channel configured; alert logged only:\n%s\n%s", subject, text)
        return {"log": "logged"}
    outcome = {}
    for name, notifier in notifiers.items():
        try:
            notifier.notify(context or {})
            outcome[name] = "sent"
            log.info("alert sent via %s", name)
        except Exception as exc:  # noqa: BLE001 - try every channel, report each
            outcome[name] = f"failed: {type(exc).__name__}: {exc}"
            log.error("alert via %s failed: %s", name, exc)
    if all(v.startswith("failed") for v in outcome.values()):
        raise RuntimeError(f"every alert channel failed: {outcome}")
    return outcome
