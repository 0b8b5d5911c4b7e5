"""Baseline: the catalog as the code before migrations created it (``metadata.create_all`` at decf943):
``aegis_check_runs``, ``aegis_metrics``, ``aegis_backup_sets``.

A catalog made by that code has these tables and no version table: each table and index is created
only when missing, so such a catalog keeps every row and is simply marked as being at this revision.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = sa.inspect(op.get_bind())
    if not existing.has_table("aegis_check_runs"):
        op.create_table(
            "aegis_check_runs",
            sa.Column("routine", sa.String(100), primary_key=True),
            sa.Column("interval_end", sa.String(40), primary_key=True),
            sa.Column("run_id", sa.String(250), nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("report_uri", sa.Text),
            sa.Column("summary", sa.Text, nullable=False),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        )
    if not existing.has_table("aegis_metrics"):
        op.create_table(
            "aegis_metrics",
            sa.Column("routine", sa.String(100), primary_key=True),
            sa.Column("interval_end", sa.String(40), primary_key=True),
            sa.Column("target", sa.String(100), primary_key=True),
            sa.Column("metric", sa.String(200), primary_key=True),
            sa.Column("kind", sa.String(40), nullable=False),
            sa.Column("value", sa.Float, nullable=False),
        )
    if not existing.has_table("aegis_backup_sets"):
        op.create_table(
            "aegis_backup_sets",
            sa.Column("set_id", sa.String(200), primary_key=True),
            sa.Column("target", sa.String(100), nullable=False),
            sa.Column("kind", sa.String(40), nullable=False),
            sa.Column("state", sa.String(20), nullable=False),
            sa.Column("uri", sa.Text, nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("finished_at", sa.DateTime(timezone=True)),
            sa.Column("size_bytes", sa.BigInteger),
            sa.Column("detail", sa.Text),
            sa.Column("verified_at", sa.DateTime(timezone=True)),
        )
    _index("ix_aegis_metrics_target_metric", "aegis_metrics", ["target", "metric", "interval_end"])
    _index("ix_aegis_backup_sets_target", "aegis_backup_sets", ["target"])


def _index(name: str, table: str, columns: list[str]) -> None:
    if name not in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(table)}:
        op.create_index(name, table, columns)


def downgrade() -> None:
    op.drop_table("aegis_backup_sets")
    op.drop_table("aegis_metrics")
    op.drop_table("aegis_check_runs")
