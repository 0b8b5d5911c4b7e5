"""P1–P4 (the seed's table) and how an alert's labels are classified into one."""

from __future__ import annotations

from dataclasses import dataclass

from include.incidents.settings import IncidentSettings


@dataclass(frozen=True)
class Level:
    name: str
    title: str
    meaning: str
    response: str  # how soon someone must answer
    escalates_to: str  # who hears about it at once, besides the on-call
    war_room: bool


LEVELS = {
    "P1": Level("P1", "Critical", "the whole service is down", "at once", "head", True),
    "P2": Level("P2", "High", "a major function is failing", "15 minutes", "team_lead", True),
    "P3": Level("P3", "Medium", "part of a function is degraded", "1 hour", "primary", False),
    "P4": Level("P4", "Low", "a minor issue", "within business hours", "primary", False),
}


class UnknownSeverity(ValueError):
    """The alert's severity label names no level (and no rule matched)."""


def classify(labels: dict[str, str], settings: IncidentSettings) -> Level:
    """The first inventory rule whose labels all match, else the ``priority`` label (P1–P4), else the
    ``severity`` label through ``incidents.severities``; an alert none of these place is refused."""
    for rule in settings.rules:
        if all(labels.get(k) == v for k, v in rule.match.items()):
            return LEVELS[rule.level]
    if labels.get("priority", "").upper() in LEVELS:
        return LEVELS[labels["priority"].upper()]
    severity = labels.get("severity", "").lower()
    if severity in settings.severities:
        return LEVELS[settings.severities[severity]]
    raise UnknownSeverity(
        f"severity {labels.get('severity')!r} is not one of {sorted(settings.severities)} "
        f"and no incidents.rules entry matches alert {labels.get('alertname')!r}"
    )
