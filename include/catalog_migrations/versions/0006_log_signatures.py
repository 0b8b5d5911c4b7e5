"""Log error signatures: the text of each signature whose daily count the log check records as the metric
``logs.signature.<id>`` (the id is a short hash of the text), for the monthly performance section.

Revision ID: 0006_log_signatures
Revises: 0005_runs_keyed_by_run_id
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_log_signatures"
down_revision = "0005_runs_keyed_by_run_id"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aegis_log_signatures",
        sa.Column("signature", sa.String(40), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("aegis_log_signatures")
