"""Who is on call now, and who is paged at each escalation step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from include.incidents.settings import IncidentSettings


@dataclass(frozen=True)
class Page:
    """One escalation step resolved to a person: page ``person`` (as ``contact``) ``after_minutes`` in."""

    level: int
    after_minutes: float
    contact: str
    person: str
    email: str | None


def on_call(settings: IncidentSettings, now: datetime) -> dict[str, str]:
    """Primary and secondary at ``now``: the rotation entry of the ISO week (week 1 → the first entry,
    round and round), then any override covering ``now`` (the last one listed wins)."""
    if not settings.rotation:
        raise ValueError("oncall.rotation is empty: nobody to page")
    week = now.isocalendar().week
    primary, secondary = settings.rotation[(week - 1) % len(settings.rotation)]
    for o in settings.overrides:
        if o.start <= now < o.end:
            primary, secondary = o.primary or primary, o.secondary or secondary
    return {"primary": primary, "secondary": secondary}


def escalation_path(settings: IncidentSettings, opened_at: datetime) -> list[Page]:
    """The escalation steps with the people on call when the incident opened; steps whose role has
    nobody (no team lead configured, say) are left out."""
    people = {**on_call(settings, opened_at), "team_lead": settings.team_lead, "head": settings.head}
    pages: list[Page] = []
    for step in settings.escalation:
        person = people.get(step.contact)
        if person:
            pages.append(Page(len(pages) + 1, step.after_minutes, step.contact, person, settings.emails.get(person)))
    return pages


def windows(path: list[Page]) -> list[float | None]:
    """Minutes each page waits for an acknowledgement before the next (the last waits without end)."""
    return [nxt.after_minutes - cur.after_minutes for cur, nxt in zip(path, path[1:], strict=False)] + [None]
