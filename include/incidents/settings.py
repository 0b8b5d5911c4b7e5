"""The inventory's ``oncall:`` and ``incidents:`` sections, validated, with the seed's defaults.

```yaml
oncall:
  rotation:                       # weekly from ISO week 1 of 2026 (first entry), next every Monday 00:00 UTC, round and round
    - {primary: alice, secondary: bob}
    - {primary: bob, secondary: charlie}
  overrides:                      # a swap for a while (ISO times with offset)
    - {start: "2026-12-24T00:00:00+00:00", end: "2026-12-27T00:00:00+00:00", primary: charlie}
  team_lead: dora
  head: erin                      # head of engineering
  people: {alice: {email: alice@example.com}}   # optional: an e-mail per person (the name is the Airflow user)
incidents:
  escalation: [{after_minutes: 0, contact: primary}, {after_minutes: 15, contact: secondary},
               {after_minutes: 30, contact: team_lead}, {after_minutes: 60, contact: head}]
  rules: [{match: {alertname: ServerDown, env: prod}, level: P1}]   # first match wins, then the severity
  severities: {page: P1, critical: P2, warning: P3, info: P4}
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CONTACTS = ("primary", "secondary", "team_lead", "head")
LEVELS = ("P1", "P2", "P3", "P4")
DEFAULT_ESCALATION = (
    {"after_minutes": 0, "contact": "primary"},
    {"after_minutes": 15, "contact": "secondary"},
    {"after_minutes": 30, "contact": "team_lead"},
    {"after_minutes": 60, "contact": "head"},
)
DEFAULT_SEVERITIES = {"page": "P1", "critical": "P2", "warning": "P3", "info": "P4"}


class SettingsError(ValueError):
    """A mistake in ``oncall:`` / ``incidents:``, naming the field."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.where = where


@dataclass(frozen=True)
class Override:
    start: datetime
    end: datetime
    primary: str | None = None
    secondary: str | None = None


@dataclass(frozen=True)
class Step:
    """One escalation step: ``contact`` (a role) is paged ``after_minutes`` after the incident opened."""

    after_minutes: float
    contact: str


@dataclass(frozen=True)
class ClassRule:
    match: dict[str, str]
    level: str


@dataclass(frozen=True)
class IncidentSettings:
    rotation: tuple[tuple[str, str], ...] = ()
    overrides: tuple[Override, ...] = ()
    team_lead: str | None = None
    head: str | None = None
    emails: dict[str, str] = field(default_factory=dict)
    escalation: tuple[Step, ...] = tuple(Step(**s) for s in DEFAULT_ESCALATION)  # type: ignore[arg-type]
    rules: tuple[ClassRule, ...] = ()
    severities: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITIES))
    #: how often ``wait_for_resolution`` looks whether the alert resolved
    resolution_poll_seconds: float = 30


def parse(oncall: Any, incidents: Any) -> IncidentSettings:
    """Both sections checked; raise :class:`SettingsError` naming the first wrong field."""
    oncall = _mapping(oncall or {}, "oncall")
    incidents = _mapping(incidents or {}, "incidents")
    _known(oncall, "oncall", {"rotation", "overrides", "team_lead", "head", "people"})
    _known(incidents, "incidents", {"escalation", "rules", "severities", "resolution_poll_seconds"})
    rotation = []
    for i, week in enumerate(oncall.get("rotation") or []):
        week = _mapping(week, f"oncall.rotation[{i}]")
        _known(week, f"oncall.rotation[{i}]", {"primary", "secondary", "week"})
        if not week.get("primary") or not week.get("secondary"):
            raise SettingsError(f"oncall.rotation[{i}]", "needs both primary and secondary")
        rotation.append((str(week["primary"]), str(week["secondary"])))
    overrides = tuple(_override(o, f"oncall.overrides[{i}]") for i, o in enumerate(oncall.get("overrides") or []))
    people = _mapping(oncall.get("people") or {}, "oncall.people")
    emails = {name: str(p["email"]) for name, p in people.items() if isinstance(p, dict) and p.get("email")}
    escalation = tuple(
        _step(s, f"incidents.escalation[{i}]") for i, s in enumerate(incidents.get("escalation") or DEFAULT_ESCALATION)
    )
    if [s.after_minutes for s in escalation] != sorted(s.after_minutes for s in escalation):
        raise SettingsError("incidents.escalation", "steps must be in order of after_minutes")
    rules = tuple(_rule(r, f"incidents.rules[{i}]") for i, r in enumerate(incidents.get("rules") or []))
    severities = {**DEFAULT_SEVERITIES, **_mapping(incidents.get("severities") or {}, "incidents.severities")}
    for name, level in severities.items():
        if level not in LEVELS:
            raise SettingsError(f"incidents.severities.{name}", f"level {level!r} is not one of {list(LEVELS)}")
    poll = incidents.get("resolution_poll_seconds", 30)
    if not isinstance(poll, (int, float)) or poll <= 0:
        raise SettingsError("incidents.resolution_poll_seconds", "must be a positive number of seconds")
    return IncidentSettings(
        tuple(rotation),
        overrides,
        oncall.get("team_lead"),
        oncall.get("head"),
        emails,
        escalation,
        rules,
        {k.lower(): v for k, v in severities.items()},
        float(poll),
    )


def _override(raw: Any, where: str) -> Override:
    raw = _mapping(raw, where)
    _known(raw, where, {"start", "end", "primary", "secondary"})
    try:
        start, end = (datetime.fromisoformat(str(raw[k])) for k in ("start", "end"))
    except (KeyError, ValueError) as exc:
        raise SettingsError(where, f"start and end must be ISO times with an offset ({exc})") from None
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise SettingsError(where, "start and end need an offset, and end must be after start")
    return Override(start, end, raw.get("primary"), raw.get("secondary"))


def _step(raw: Any, where: str) -> Step:
    raw = _mapping(raw, where)
    if raw.get("contact") not in CONTACTS:
        raise SettingsError(f"{where}.contact", f"{raw.get('contact')!r} is not one of {list(CONTACTS)}")
    try:
        minutes = float(raw.get("after_minutes"))
    except (TypeError, ValueError):
        raise SettingsError(f"{where}.after_minutes", "must be a number of minutes") from None
    if minutes < 0:
        raise SettingsError(f"{where}.after_minutes", "must not be negative")
    return Step(minutes, raw["contact"])


def _rule(raw: Any, where: str) -> ClassRule:
    raw = _mapping(raw, where)
    if raw.get("level") not in LEVELS:
        raise SettingsError(f"{where}.level", f"{raw.get('level')!r} is not one of {list(LEVELS)}")
    match = _mapping(raw.get("match"), f"{where}.match")
    if not match:
        raise SettingsError(f"{where}.match", "needs at least one label")
    return ClassRule({str(k): str(v) for k, v in match.items()}, raw["level"])


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise SettingsError(where, f"must be a mapping, got {type(value).__name__}")
    return value


def _known(raw: dict, where: str, keys: set[str]) -> None:
    unknown = sorted(set(raw) - keys)
    if unknown:
        raise SettingsError(f"{where}.{unknown[0]}", f"unknown key; expected one of {sorted(keys)}")
