"""The monthly audit's findings history: ``aegis_audit_findings`` (one row per audit, target and rule).

Revision ID: 0002_audit_findings
Revises: 0001_baseline
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_audit_findings"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aegis_audit_findings",
        sa.Column("interval_end", sa.String(40), primary_key=True),
        sa.Column("target", sa.String(100), primary_key=True),
        sa.Column("rule", sa.String(100), primary_key=True),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("first_seen", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("aegis_audit_findings")
