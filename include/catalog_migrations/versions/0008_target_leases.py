"""Per-target leases: ``aegis_target_leases`` holds one row per target a step is changing (backup, restore,
planned update, weekly maintenance, verify's scratch restore), who holds it and until when
(:mod:`include.locks`).

Revision ID: 0008_target_leases
Revises: 0007_verified_by_run
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_target_leases"
down_revision = "0007_verified_by_run"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aegis_target_leases",
        sa.Column("target", sa.String(100), primary_key=True),
        sa.Column("routine", sa.String(100), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("step", sa.String(250), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("aegis_target_leases")
