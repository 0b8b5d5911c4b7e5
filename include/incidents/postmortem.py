"""The seed's post-mortem template (section 8.1), filled from the incident's catalog record and timeline.

What Aegis cannot know (the root cause, lessons learned) is left as headed blanks for the people in
the review; the timeline, duration, impact statement, responders and the runbook output are filled in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def duration_text(start: datetime, end: datetime | None) -> str:
    if end is None:
        return "still open"
    minutes = int((end - start).total_seconds() // 60)
    return f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def render(
    incident: dict[str, Any], timeline: list[dict[str, Any]], known: list[dict[str, Any]], troubleshooting: str = ""
) -> str:
    """Markdown of the post-mortem of ``incident`` (a :meth:`IncidentStore.get` row)."""
    opened, resolved = incident["opened_at"], incident["resolved_at"]
    labels = incident["labels"]
    lines = [
        f"# Incident Post-Mortem: INC-{incident['id']}",
        "",
        "## Summary",
        f"- **Date**: {opened:%Y-%m-%d}",
        f"- **Level**: {incident['level']}",
        f"- **Duration**: {duration_text(opened, resolved)}",
        f"- **Impact**: {incident['title']} ({', '.join(f'{k}={v}' for k, v in sorted(labels.items()))})",
        f"- **Alerts received**: {incident['alerts']}",
        f"- **Acknowledged by**: {incident['acknowledged_by'] or 'nobody'}"
        + (f" after {duration_text(opened, incident['acknowledged_at'])}" if incident["acknowledged_at"] else ""),
        f"- **Resolved by**: {incident['resolved_by'] or '—'}",
        "- **Root Cause**: _to be written in the review_",
        "",
        "## Timeline (UTC)",
    ]
    lines += [
        f"- {e['at']:%H:%M:%S} - {e['kind']}: {e['detail']}" + (f" ({e['actor']})" if e["actor"] else "")
        for e in timeline
    ]
    lines += [
        "",
        "## Root Cause Analysis",
        "_to be written in the review_",
        "",
        "## Lessons Learned",
        "1. _to be written in the review_",
        "",
        "## Action Items",
        "- [ ] _owner and action from the review_",
        "",
    ]
    if known:
        lines += ["## Earlier incidents with the same signature"]
        lines += [f"- INC-{k['incident_id']}: {k['summary']} — fix: {k['fix']}" for k in known]
        lines.append("")
    lines += ["## Supporting Data", f"- Airflow run: `{incident['dag_run_id'] or 'n/a'}`"]
    if troubleshooting:
        lines += ["", "### Troubleshooting output", "```", troubleshooting.strip(), "```"]
    return "\n".join(lines) + "\n"
