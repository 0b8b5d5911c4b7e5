"""Who is on call now, and who is paged at each escalation step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from include.incidents.settings import IncidentSettings


@dataclass(frozen=True)
class Page:
    """One escalation step resolved to a person: page ``person`` (as ``contact``) ``after_minutes`` in."""

    level: int
    after_minutes: float
    contact: str
    person: str
    email: str | None


#: The Monday of ISO week 1 of 2026: the week the rotation's first entry is on call; it moves on every Monday.
ROTATION_EPOCH = date(2025, 12, 29)


def rotation_week(now: datetime) -> int:
    """Weeks (Monday 00:00 UTC to Monday) from :data:`ROTATION_EPOCH` to ``now``: a count that goes on
    across year ends. The ISO week number restarts at 1 after week 52 or 53, so "entry of (week - 1)"
    put one person on call two weeks running (or skipped one) at every year end."""
    return (now.astimezone(UTC).date() - ROTATION_EPOCH).days // 7


def on_call(settings: IncidentSettings, now: datetime) -> dict[str, str]:
    """Primary and secondary at ``now``: the rotation entry of the week (:func:`rotation_week`: the ISO
    week 1 of 2026 → the first entry, then the next every Monday 00:00 UTC, round and round, across year
    ends too), then any override covering ``now`` (the last one listed wins)."""
    if not settings.rotation:
        raise ValueError("oncall.rotation is empty: nobody to page")
    primary, secondary = settings.rotation[rotation_week(now) % len(settings.rotation)]
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
