"""Incidents: ``aegis_incidents`` (one row per incident), ``aegis_incident_events`` (its timeline: alerts,
pages, escalations, acknowledgements, war-room steps, resolution) and ``aegis_knowledge`` (alert names and
error signatures → past incidents and their fixes).

Revision ID: 0003_incidents
Revises: 0002_audit_findings
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_incidents"
down_revision = "0002_audit_findings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aegis_incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("signature", sa.String(300), nullable=False),
        sa.Column("alertname", sa.String(200), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("level", sa.String(4), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),  # open, acknowledged, resolved
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_by", sa.String(200)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_by", sa.String(200)),
        sa.Column("alerts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("dag_run_id", sa.String(250)),
        sa.Column("postmortem_uri", sa.Text),
    )
    op.create_index("ix_aegis_incidents_signature_state", "aegis_incidents", ["signature", "state"])
    op.create_table(
        "aegis_incident_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("aegis_incidents.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_aegis_incident_events_incident", "aegis_incident_events", ["incident_id", "at"])
    op.create_table(
        "aegis_knowledge",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("signature", sa.String(300), nullable=False, index=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("aegis_incidents.id"), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("fix", sa.Text, nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("aegis_knowledge")
    op.drop_table("aegis_incident_events")
    op.drop_table("aegis_incidents")
