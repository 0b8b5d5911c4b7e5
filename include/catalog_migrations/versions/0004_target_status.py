"""Each run's status per target (``aegis_target_status``): what the console's overview shows for a target
(its latest health, backup, weekly maintenance) without reading every report.

Revision ID: 0004_target_status
Revises: 0003_incidents
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_target_status"
down_revision = "0003_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aegis_target_status",
        sa.Column("routine", sa.String(100), primary_key=True),
        sa.Column("interval_end", sa.String(40), primary_key=True),
        sa.Column("target", sa.String(100), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("findings", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_aegis_target_status_target", "aegis_target_status", ["target", "routine", "interval_end"])


def downgrade() -> None:
    op.drop_index("ix_aegis_target_status_target", "aegis_target_status")
    op.drop_table("aegis_target_status")
