"""Incidents in the catalog: open or join one, its timeline, acknowledgement, resolution, knowledge base.

Tables (migration ``0003_incidents``): ``aegis_incidents``, ``aegis_incident_events`` (the timeline the
post-mortem is written from: every alert, page, escalation, acknowledgement, step and the resolution)
and ``aegis_knowledge`` (signatures → past incidents and their fixes).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from include.catalog import Catalog, metadata

incidents = sa.Table(
    "aegis_incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("signature", sa.String(300), nullable=False),
    sa.Column("alertname", sa.String(200), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("level", sa.String(4), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("labels", sa.Text, nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
    sa.Column("acknowledged_by", sa.String(200)),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolved_by", sa.String(200)),
    sa.Column("alerts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("dag_run_id", sa.String(250)),
    sa.Column("postmortem_uri", sa.Text),
    sa.Index("ix_aegis_incidents_signature_state", "signature", "state"),
)
events = sa.Table(
    "aegis_incident_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("aegis_incidents.id"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("actor", sa.String(200)),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_aegis_incident_events_incident", "incident_id", "at"),
)
knowledge = sa.Table(
    "aegis_knowledge",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("signature", sa.String(300), nullable=False, index=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("aegis_incidents.id"), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("fix", sa.Text, nullable=False),
    sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
)
OPEN_STATES = ("open", "acknowledged")
#: Labels that name *where* an alert fires: with the alert name they make an incident's signature.
WHERE_LABELS = ("target", "instance", "job", "service")
#: PostgreSQL advisory lock key held while opening or joining an incident ("aegisinc" in ASCII, 63 bits).
INCIDENT_LOCK = 0x61656769_73696E63 & 0x7FFFFFFFFFFFFFFF


def signature(labels: dict[str, str]) -> str:
    """``alertname`` plus where it fires (the first of :data:`WHERE_LABELS` present): repeats and grouped
    copies of one problem share it."""
    where = next((f"{k}={labels[k]}" for k in WHERE_LABELS if labels.get(k)), "")
    return f"{labels.get('alertname', '?')}|{where}"


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they were stored as UTC."""
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


class IncidentStore:
    """Incidents in one catalog (``IncidentStore(Catalog.for_inventory(inventory))``)."""

    def __init__(self, catalog: Catalog):
        self.engine = catalog.engine

    def open_or_join(
        self, labels: dict[str, str], title: str, level: str, at: datetime | None = None, actor: str = "alertmanager"
    ) -> tuple[int, bool]:
        """The open incident with these labels' signature, its alert count raised and the repeat on its
        timeline; else a new incident. Returns ``(id, created)``. One locked transaction, so two deliveries
        at once never open two (SQLite's write lock, a PostgreSQL advisory lock)."""
        at, sig = at or _now(), signature(labels)
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(INCIDENT_LOCK)))
            found = conn.execute(
                sa.select(incidents.c.id)
                .where(incidents.c.signature == sig, incidents.c.state.in_(OPEN_STATES))
                .order_by(incidents.c.id.desc())
            ).scalar()
            if found is not None:
                conn.execute(incidents.update().where(incidents.c.id == found).values(alerts=incidents.c.alerts + 1))
                conn.execute(
                    events.insert().values(
                        incident_id=found, at=at, kind="alert", actor=actor, detail=f"alert again: {title}"
                    )
                )
                conn.commit()
                return int(found), False
            new_id = conn.execute(
                incidents.insert().values(
                    signature=sig,
                    alertname=labels.get("alertname", "?"),
                    title=title,
                    level=level,
                    state="open",
                    labels=json.dumps(labels, sort_keys=True),
                    opened_at=at,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            conn.execute(
                events.insert().values(
                    incident_id=new_id, at=at, kind="opened", actor=actor, detail=f"{level}: {title}"
                )
            )
            conn.commit()
            return int(new_id), True

    def get(self, incident_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).mappings().first()
        if row is None:
            raise KeyError(f"no incident {incident_id} in the catalog")
        out = dict(row)
        out["labels"] = json.loads(out["labels"])
        for key in ("opened_at", "acknowledged_at", "resolved_at"):
            out[key] = _utc(out[key])
        return out

    def open_incident(self, labels: dict[str, str]) -> dict[str, Any] | None:
        """The open incident with these labels' signature, if any."""
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(incidents.c.id).where(
                    incidents.c.signature == signature(labels), incidents.c.state.in_(OPEN_STATES)
                )
            ).scalar()
        return None if found is None else self.get(found)

    def event(
        self, incident_id: int, kind: str, detail: str, actor: str | None = None, at: datetime | None = None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                events.insert().values(incident_id=incident_id, at=at or _now(), kind=kind, actor=actor, detail=detail)
            )

    def attach_run(self, incident_id: int, dag_run_id: str) -> str | None:
        """Make ``dag_run_id`` the run handling the incident unless another run handles it already (one
        statement: two runs at once never both win). Returns the run that handles it."""
        t = incidents.c
        with self.engine.begin() as conn:
            conn.execute(
                incidents.update()
                .where(t.id == incident_id, sa.or_(t.dag_run_id.is_(None), t.dag_run_id == dag_run_id))
                .values(dag_run_id=dag_run_id)
            )
            return conn.execute(sa.select(t.dag_run_id).where(t.id == incident_id)).scalar()

    def acknowledge(self, incident_id: int, by: str, at: datetime | None = None) -> None:
        at = at or _now()
        with self.engine.begin() as conn:
            conn.execute(
                incidents.update()
                .where(incidents.c.id == incident_id, incidents.c.state == "open")
                .values(state="acknowledged", acknowledged_at=at, acknowledged_by=by)
            )
            conn.execute(
                events.insert().values(
                    incident_id=incident_id, at=at, kind="acknowledged", actor=by, detail=f"acknowledged by {by}"
                )
            )

    def resolve(self, incident_id: int, by: str, detail: str, at: datetime | None = None) -> bool:
        """Mark resolved (once: a second resolution changes nothing and returns False)."""
        at = at or _now()
        with self.engine.begin() as conn:
            changed = conn.execute(
                incidents.update()
                .where(incidents.c.id == incident_id, incidents.c.state.in_(OPEN_STATES))
                .values(state="resolved", resolved_at=at, resolved_by=by)
            ).rowcount
            if changed:
                conn.execute(
                    events.insert().values(incident_id=incident_id, at=at, kind="resolved", actor=by, detail=detail)
                )
        return bool(changed)

    def timeline(self, incident_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(events).where(events.c.incident_id == incident_id).order_by(events.c.at, events.c.id)
                )
                .mappings()
                .all()
            )
        return [{**dict(r), "at": _utc(r["at"])} for r in rows]

    def set_postmortem(self, incident_id: int, uri: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(incidents.update().where(incidents.c.id == incident_id).values(postmortem_uri=uri))

    def learn(self, incident_id: int, sig: str, summary: str, fix: str) -> None:
        """Add (or, for the same incident, replace) what this incident taught about ``sig``."""
        with self.engine.begin() as conn:
            conn.execute(knowledge.delete().where(knowledge.c.incident_id == incident_id, knowledge.c.signature == sig))
            conn.execute(
                knowledge.insert().values(
                    signature=sig, incident_id=incident_id, summary=summary, fix=fix, learned_at=_now()
                )
            )

    def known_fixes(self, sigs: list[str], excluding: int | None = None) -> list[dict[str, Any]]:
        """Past incidents with any of these signatures (alert name or error signature), newest first."""
        query = sa.select(knowledge).where(knowledge.c.signature.in_(sigs)).order_by(knowledge.c.learned_at.desc())
        if excluding is not None:
            query = query.where(knowledge.c.incident_id != excluding)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]
