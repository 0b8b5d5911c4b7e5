"""Runs keyed by run id: two runs of one interval (two manual triggers in the same second) keep two
``aegis_check_runs`` rows and two sets of ``aegis_metrics``; a retry or a backfill of a run (same run id)
still replaces its own.

``aegis_check_runs``: primary key (routine, interval_end) → (routine, interval_end, run_id).
``aegis_metrics``: gains ``run_id`` (old rows take their run's id from ``aegis_check_runs``, else ``''``);
primary key (routine, interval_end, target, metric) → (routine, interval_end, run_id, target, metric).
Each table is copied into its new shape and renamed (works on SQLite and PostgreSQL alike); every row stays.

Revision ID: 0005_runs_keyed_by_run_id
Revises: 0004_target_status
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_runs_keyed_by_run_id"
down_revision = "0004_target_status"
branch_labels = None
depends_on = None


def _check_runs(name: str, run_id_in_key: bool) -> None:
    op.create_table(
        name,
        sa.Column("routine", sa.String(100), primary_key=True),
        sa.Column("interval_end", sa.String(40), primary_key=True),
        sa.Column("run_id", sa.String(250), primary_key=run_id_in_key, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("report_uri", sa.Text),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def _metrics(name: str, with_run_id: bool) -> None:
    op.create_table(
        name,
        sa.Column("routine", sa.String(100), primary_key=True),
        sa.Column("interval_end", sa.String(40), primary_key=True),
        *([sa.Column("run_id", sa.String(250), primary_key=True)] if with_run_id else []),
        sa.Column("target", sa.String(100), primary_key=True),
        sa.Column("metric", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
    )


RUN_COLUMNS = "routine, interval_end, run_id, status, report_uri, summary, recorded_at"


def upgrade() -> None:
    _check_runs("aegis_check_runs_v2", run_id_in_key=True)
    op.execute(f"INSERT INTO aegis_check_runs_v2 ({RUN_COLUMNS}) SELECT {RUN_COLUMNS} FROM aegis_check_runs")
    _metrics("aegis_metrics_v2", with_run_id=True)
    op.execute(
        "INSERT INTO aegis_metrics_v2 (routine, interval_end, run_id, target, metric, kind, value) "
        "SELECT m.routine, m.interval_end, COALESCE(r.run_id, ''), m.target, m.metric, m.kind, m.value "
        "FROM aegis_metrics m LEFT JOIN aegis_check_runs r "
        "ON r.routine = m.routine AND r.interval_end = m.interval_end"
    )
    op.drop_index("ix_aegis_metrics_target_metric", table_name="aegis_metrics")
    op.drop_table("aegis_metrics")
    op.drop_table("aegis_check_runs")
    op.rename_table("aegis_check_runs_v2", "aegis_check_runs")
    op.rename_table("aegis_metrics_v2", "aegis_metrics")
    op.create_index("ix_aegis_metrics_target_metric", "aegis_metrics", ["target", "metric", "interval_end"])


def downgrade() -> None:
    """Back to one run per interval: of several runs of one interval, the last recorded stays."""
    _check_runs("aegis_check_runs_v1", run_id_in_key=False)
    op.execute(
        f"INSERT INTO aegis_check_runs_v1 ({RUN_COLUMNS}) SELECT {RUN_COLUMNS} FROM aegis_check_runs r "
        "WHERE r.recorded_at = (SELECT MAX(o.recorded_at) FROM aegis_check_runs o "
        "WHERE o.routine = r.routine AND o.interval_end = r.interval_end)"
    )
    _metrics("aegis_metrics_v1", with_run_id=False)
    op.execute(
        "INSERT INTO aegis_metrics_v1 (routine, interval_end, target, metric, kind, value) "
        "SELECT m.routine, m.interval_end, m.target, m.metric, m.kind, m.value FROM aegis_metrics m "
        "JOIN aegis_check_runs_v1 r ON r.routine = m.routine AND r.interval_end = m.interval_end "
        "AND r.run_id = m.run_id"
    )
    op.drop_index("ix_aegis_metrics_target_metric", table_name="aegis_metrics")
    op.drop_table("aegis_metrics")
    op.drop_table("aegis_check_runs")
    op.rename_table("aegis_check_runs_v1", "aegis_check_runs")
    op.rename_table("aegis_metrics_v1", "aegis_metrics")
    op.create_index("ix_aegis_metrics_target_metric", "aegis_metrics", ["target", "metric", "interval_end"])
