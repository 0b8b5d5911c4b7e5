"""Which run verified a backup set: ``aegis_backup_sets.verified_by_run_id`` holds the Airflow run id of the
``verify_backups`` run that last restore-tested the set (the console's Backups page links to it).

Revision ID: 0007_verified_by_run
Revises: 0006_log_signatures
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_verified_by_run"
down_revision = "0006_log_signatures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("aegis_backup_sets") as batch:
        batch.add_column(sa.Column("verified_by_run_id", sa.String(250)))


def downgrade() -> None:
    with op.batch_alter_table("aegis_backup_sets") as batch:
        batch.drop_column("verified_by_run_id")
