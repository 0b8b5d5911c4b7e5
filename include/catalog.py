"""Aegis's own history: check runs and the metrics every check records.

This is not Airflow's metadata database. It is SQLite by default (a file next
to the artifacts) and PostgreSQL in production (``catalog.conn_id`` in the
inventory naming an Airflow connection). Later routines read it back: trends
week over week, counters whose growth matters (the previous run's values).

Runs are keyed by (routine, interval, run id): recording the same run again (a retry, a backfill of
it) replaces what was there; another run of the same interval (two manual triggers in one second)
is a record of its own, with metrics of its own.

The schema is versioned by Alembic (``include/catalog_migrations/``): opening a catalog brings it to
the newest revision first (:func:`upgrade`), a catalog made before the migrations included. The
tables below are the newest revision's, for the queries; a change to them is a new migration.
One engine per process and database URL (:func:`engine_for`), not one per task or request.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "catalog_migrations"
#: The catalog's own Alembic version table: not ``alembic_version``, so a catalog sharing a database
#: with another Alembic-versioned schema (Airflow's metadata) never reads that one's revision.
VERSION_TABLE = "aegis_alembic_version"
#: PostgreSQL advisory lock key held while migrating (any constant; "aegis" in ASCII).
MIGRATION_LOCK = 0x6165676973

metadata = sa.MetaData()

check_runs = sa.Table(
    "aegis_check_runs",
    metadata,
    sa.Column("routine", sa.String(100), primary_key=True),
    sa.Column("interval_end", sa.String(40), primary_key=True),  # ISO-8601 UTC, sorts as time
    sa.Column("run_id", sa.String(250), primary_key=True),  # Airflow's run id (0005_runs_keyed_by_run_id)
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("report_uri", sa.Text),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

metrics = sa.Table(
    "aegis_metrics",
    metadata,
    sa.Column("routine", sa.String(100), primary_key=True),
    sa.Column("interval_end", sa.String(40), primary_key=True),
    sa.Column("run_id", sa.String(250), primary_key=True),  # '' for metrics recorded before run ids were kept
    sa.Column("target", sa.String(100), primary_key=True),
    sa.Column("metric", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Index("ix_aegis_metrics_target_metric", "target", "metric", "interval_end"),
)

backup_sets = sa.Table(
    "aegis_backup_sets",
    metadata,
    sa.Column("set_id", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(100), nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # running, complete, verified, failed, deleted
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("detail", sa.Text),
    sa.Column("verified_at", sa.DateTime(timezone=True)),
    sa.Column("verified_by_run_id", sa.String(250)),  # the verify_backups run (0007_verified_by_run)
)
#: One row per (run, target): the target's status in that run and how many findings above ok it had.
target_status = sa.Table(
    "aegis_target_status",
    metadata,
    sa.Column("routine", sa.String(100), primary_key=True),
    sa.Column("interval_end", sa.String(40), primary_key=True),
    sa.Column("target", sa.String(100), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("findings", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_aegis_target_status_target", "target", "routine", "interval_end"),
)
#: One row per target some step is changing right now (revision 0008): who holds it and until when; see
#: :mod:`include.locks`. Times are UTC without a zone (the same on SQLite and PostgreSQL).
target_leases = sa.Table(
    "aegis_target_leases",
    metadata,
    sa.Column("target", sa.String(100), primary_key=True),
    sa.Column("routine", sa.String(100), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("step", sa.String(250), nullable=False),
    sa.Column("acquired_at", sa.DateTime(), nullable=False),
    sa.Column("expires_at", sa.DateTime(), nullable=False),
)
BACKUP_STATES = ("running", "complete", "verified", "failed", "deleted")

#: The text of each log error signature the log check records a count of (revision 0006): its metric is
#: ``logs.signature.<signature>`` (``include/checks/logs.py``), the monthly performance section shows the text.
log_signatures = sa.Table(
    "aegis_log_signatures",
    metadata,
    sa.Column("signature", sa.String(40), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
)

#: The monthly audit's security findings, one row per audit interval, target and rule (revision 0002):
#: next month's audit reads them to tell new, resolved and still-open findings (``include/monthly/findings.py``).
audit_findings = sa.Table(
    "aegis_audit_findings",
    metadata,
    sa.Column("interval_end", sa.String(40), primary_key=True),
    sa.Column("target", sa.String(100), primary_key=True),
    sa.Column("rule", sa.String(100), primary_key=True),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("first_seen", sa.String(40), nullable=False),  # interval end of the audit that first found it
)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: Row statuses from best to worst: a target with several rows in a run (one per weekly concern) shows its worst.
STATUS_ORDER = (
    "ok",
    "healthy",
    "complete",
    "verified",
    "restored",
    "dry-run",
    "skipped",
    "warning",
    "critical",
    "unreachable",
    "failed",
)


def _worst_per_target(rows: Iterable[dict]) -> dict[str, dict[str, Any]]:
    """target -> its worst row status and the number of its findings above ok, over ``rows``."""

    def rank(status: str) -> int:
        return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)

    worst: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not row.get("target"):
            continue
        findings = sum(1 for f in row.get("findings") or [] if f.get("level") not in (None, "ok"))
        seen = worst.setdefault(row["target"], {"status": str(row["status"]), "findings": 0})
        if rank(str(row["status"])) > rank(seen["status"]):
            seen["status"] = str(row["status"])
        seen["findings"] += findings
    return worst


def alembic_config(connection: sa.Connection | None = None):
    """The Alembic configuration of the catalog's migrations (no ``alembic.ini``), bound to ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration's revision id."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, f"no migration in {MIGRATIONS}"
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the catalog is at (None: not versioned yet: new, or made before the migrations)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade(engine: sa.Engine, attempts: int = 3) -> None:
    """Bring the catalog to the newest revision, holding a lock so two processes opening it at once
    migrate it once: PostgreSQL an advisory transaction lock, SQLite its write lock (``BEGIN IMMEDIATE``).
    Each migration runs inside that one transaction. A lock that cannot be had is retried."""
    from alembic import command

    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as conn:
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                elif conn.dialect.name == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
                command.upgrade(alembic_config(conn), "head")
                conn.commit()
            return
        except sa.exc.OperationalError:
            if attempt == attempts:
                raise
            log.warning("catalog migration: database busy, retrying (%d/%d)", attempt, attempts)
            time.sleep(attempt)


_ENGINES: dict[tuple[int, str], sa.Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(url: str | sa.engine.URL) -> sa.Engine:
    """The process's engine for ``url``, its catalog migrated on first use (a forked child makes its own)."""
    url = sa.engine.make_url(url)
    key = (os.getpid(), url.render_as_string(hide_password=False))
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            from include.clients import catalog as catalog_db

            engine = catalog_db.engine(url)
            if url.get_backend_name() == "sqlite":
                sa.event.listen(engine, "handle_error", _name_the_file)
            try:
                refuse_newer(engine, url)
                upgrade(engine)
            except CatalogUnavailable:
                engine.dispose()
                raise
            except Exception as exc:
                engine.dispose()
                raise CatalogUnavailable(describe_failure(url, exc)) from exc
            _ENGINES[key] = engine
    return engine


class CatalogUnavailable(RuntimeError):
    """The catalog cannot be opened (not a database, damaged, read-only, locked, down, or at a revision this
    code does not know); the message names it and what to do."""


def catalog_name(url: sa.engine.URL) -> str:
    """The catalog as an operator knows it: the SQLite file, else the URL without its password."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    return url.render_as_string(hide_password=True)


#: what SQLite says → what an operator does about it
_SQLITE_ADVICE = (
    ("file is not a database", "it is not an SQLite database: restore it from a copy, or move it aside"),
    ("malformed", "it is damaged (truncated?): restore it from a copy, or move it aside"),
    ("readonly", "it cannot be written: give the user Airflow runs as write access to it and to its folder"),
    ("unable to open", "it cannot be opened: check that its folder exists and can be written"),
    ("locked", "another process holds its write lock past the busy timeout: find it (fuser / lsof on the file)"),
    ("disk i/o error", "the disk failed a read or write: check the file system"),
)


def describe_failure(url: sa.engine.URL, exc: BaseException) -> str:
    """``catalog <which> cannot be used: <why>; <what to do>`` for an error met while opening it."""
    why = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    advice = "check that the catalog's server answers and the login may create tables in it"
    if url.get_backend_name() == "sqlite":
        advice = next((hint for words, hint in _SQLITE_ADVICE if words in why.lower()), advice)
        if "move it aside" in advice:
            advice += " (a new, empty catalog is made in its place: the history in it is lost to the reports)"
    return f"catalog {catalog_name(url)} cannot be used: {why}; {advice}"


def _name_the_file(context) -> None:
    """SQLAlchemy's ``handle_error`` hook on a SQLite catalog: an error that is the file's (damaged, read-only,
    unreadable) becomes :class:`CatalogUnavailable` naming the file and what to do. A busy lock is left as it is
    (opening the catalog retries it, then names the file)."""
    why = str(context.original_exception).lower()
    if "locked" in why or not any(words in why for words, _ in _SQLITE_ADVICE):
        return
    url = context.engine.url if context.engine is not None else None
    if url is not None:
        raise CatalogUnavailable(describe_failure(url, context.original_exception)) from context.original_exception


def refuse_newer(engine: sa.Engine, url: sa.engine.URL) -> None:
    """:class:`CatalogUnavailable` when the catalog is at a revision this code's migrations do not know: a newer
    Aegis migrated it, and this one would misread it (and cannot downgrade it)."""
    from alembic.script import ScriptDirectory

    current = current_revision(engine)
    if current is None:
        return
    known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current not in known:
        raise CatalogUnavailable(
            f"catalog {catalog_name(url)} is at revision {current!r}, which this Aegis does not know (its newest is"
            f" {head_revision()!r}): a newer Aegis migrated it. Run that version's code, or restore the catalog"
            " from a copy made before the upgrade"
        )


class Catalog:
    """A handle on the catalog database (migrated to the newest schema when first opened in a process)."""

    def __init__(self, url: str | sa.engine.URL):
        self.engine = engine_for(url)

    @classmethod
    def for_inventory(cls, inventory) -> Catalog:
        """The catalog the inventory names: a PostgreSQL connection, else the SQLite file."""
        if inventory.catalog_conn_id:
            from include.targets import endpoint_for_conn

            c = endpoint_for_conn(inventory.catalog_conn_id)
            return cls(
                sa.engine.URL.create(
                    "postgresql+psycopg",
                    username=c.login,
                    password=c.password,
                    host=c.host,
                    port=c.port,
                    database=c.schema,
                )
            )
        Path(inventory.catalog_path).parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{inventory.catalog_path}")

    @classmethod
    def for_inventory_if_usable(cls, inventory, why: str) -> Catalog | None:
        """:meth:`for_inventory`, or None (logged with ``why`` the caller goes on without it) when the catalog cannot
        be used: a step that only reads from it (previous values, a report's rows) still does its work, and the
        report's publishing, which records in the catalog, names the problem, alerts and ends the run failed."""
        try:
            return cls.for_inventory(inventory)
        except Exception as exc:  # noqa: BLE001 - the caller's work goes on; publishing fails the run after
            log.error("%s: %s", why, exc)
            return None

    def record_check_run(
        self,
        routine: str,
        interval_end: datetime,
        run_id: str,
        status: str,
        report_uri: str | None,
        summary: dict[str, Any],
        results: Iterable[dict],
        statuses: Iterable[dict] = (),
    ) -> int:
        """Store a run, its metrics and each target's status in it, replacing an earlier record of the same
        run (same run id) only. ``statuses``: report rows (``target``, ``status``, ``findings``) of every target.

        Returns the number of metric rows written.
        """
        key = iso(interval_end)
        results = list(results)
        rows = [
            {
                "routine": routine,
                "interval_end": key,
                "run_id": run_id,
                "target": r["target"],
                "metric": name,
                "kind": r["kind"],
                "value": float(value),
            }
            for r in results
            for name, value in r.get("metrics", {}).items()
        ]
        with self.engine.begin() as conn:
            conn.execute(
                metrics.delete().where(
                    metrics.c.routine == routine, metrics.c.interval_end == key, metrics.c.run_id == run_id
                )
            )
            conn.execute(
                check_runs.delete().where(
                    check_runs.c.routine == routine, check_runs.c.interval_end == key, check_runs.c.run_id == run_id
                )
            )
            conn.execute(
                target_status.delete().where(target_status.c.routine == routine, target_status.c.interval_end == key)
            )
            conn.execute(
                check_runs.insert().values(
                    routine=routine,
                    interval_end=key,
                    run_id=run_id,
                    status=status,
                    report_uri=report_uri,
                    summary=json.dumps(summary, default=str),
                    recorded_at=datetime.now(UTC),
                )
            )
            if rows:
                conn.execute(metrics.insert(), rows)
            per_target = _worst_per_target(statuses)
            if per_target:
                conn.execute(
                    target_status.insert(),
                    [{"routine": routine, "interval_end": key, "target": t, **row} for t, row in per_target.items()],
                )
        self._record_signature_texts(results)
        return len(rows)

    def _record_signature_texts(self, results: list[dict], attempts: int = 3) -> None:
        """Keep the text of every signature id the results name (``details["signature_texts"]``) not yet kept.

        Its own transaction: a run recording the same new signature at the same moment makes the insert
        fail once, and the next attempt finds it kept.
        """
        texts = {k: v for r in results for k, v in (r.get("details") or {}).get("signature_texts", {}).items()}
        for attempt in range(attempts):
            known = self.signature_texts(texts)
            new = [{"signature": k, "text": v} for k, v in texts.items() if k not in known]
            if not new:
                return
            try:
                with self.engine.begin() as conn:
                    conn.execute(log_signatures.insert(), new)
                return
            except sa.exc.IntegrityError:
                if attempt == attempts - 1:
                    raise

    def signature_texts(self, ids: Iterable[str]) -> dict[str, str]:
        """The text of each log error signature id the log check recorded (unknown ids are left out)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        with self.engine.connect() as conn:
            query = sa.select(log_signatures.c.signature, log_signatures.c.text)
            return dict(conn.execute(query.where(log_signatures.c.signature.in_(wanted))).all())

    def previous_metrics(self, target: str, before: datetime) -> dict[str, float]:
        """The target's metrics from its latest recorded run strictly before ``before`` (of several runs
        of that interval, the one with the greatest run id)."""
        with self.engine.connect() as conn:
            last = conn.execute(
                sa.select(metrics.c.interval_end, metrics.c.run_id)
                .where(metrics.c.target == target, metrics.c.interval_end < iso(before))
                .order_by(metrics.c.interval_end.desc(), metrics.c.run_id.desc())
                .limit(1)
            ).first()
            if last is None:
                return {}
            rows = conn.execute(
                sa.select(metrics.c.metric, metrics.c.value).where(
                    metrics.c.target == target,
                    metrics.c.interval_end == last.interval_end,
                    metrics.c.run_id == last.run_id,
                )
            ).all()
        return dict(rows)

    def series(self, target: str, metric: str, since: datetime | None = None) -> list[tuple[str, float]]:
        """(interval_end, value) pairs of one metric of one target, oldest first."""
        query = sa.select(metrics.c.interval_end, metrics.c.value).where(
            metrics.c.target == target, metrics.c.metric == metric
        )
        if since is not None:
            query = query.where(metrics.c.interval_end >= iso(since))
        with self.engine.connect() as conn:
            return [(k, v) for k, v in conn.execute(query.order_by(metrics.c.interval_end)).all()]

    def metric_names(self, target: str, since: datetime | None = None) -> list[str]:
        """The names of every metric recorded for ``target`` (since ``since``), sorted."""
        query = sa.select(metrics.c.metric).distinct().where(metrics.c.target == target)
        if since is not None:
            query = query.where(metrics.c.interval_end >= iso(since))
        with self.engine.connect() as conn:
            return sorted(conn.execute(query).scalars())

    # -- backup catalog -------------------------------------------------------------------------

    def backup_started(self, set_id: str, target: str, kind: str, uri: str) -> None:
        """Record (or re-record, on a retry) a set as running."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(backup_sets.delete().where(backup_sets.c.set_id == set_id))
            conn.execute(
                backup_sets.insert().values(
                    set_id=set_id, target=target, kind=kind, state="running", uri=uri, started_at=now
                )
            )

    def backup_state(
        self,
        set_id: str,
        state: str,
        detail: str | None = None,
        size_bytes: int | None = None,
        run_id: str | None = None,
    ) -> None:
        """Set a set's state (and its detail, size). ``verified`` also records when and by which run: ``run_id``
        is the verify_backups run that restore-tested it (None: verified outside a DAG run)."""
        assert state in BACKUP_STATES, state
        now = datetime.now(UTC)
        values: dict[str, Any] = {"state": state}
        if detail is not None:
            values["detail"] = detail[:4000]
        if size_bytes is not None:
            values["size_bytes"] = size_bytes
        if state == "complete":
            values["finished_at"] = now
        if state == "verified":
            values["verified_at"] = now
            values["verified_by_run_id"] = run_id
        with self.engine.begin() as conn:
            updated = conn.execute(backup_sets.update().where(backup_sets.c.set_id == set_id).values(**values))
        if updated.rowcount != 1:
            raise KeyError(f"no backup set {set_id!r} in the catalog")

    def backup_set(self, set_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(backup_sets).where(backup_sets.c.set_id == set_id)).mappings().first()
        return dict(row) if row else None

    def backup_sets_of(self, target: str | None = None, states: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Sets, newest first, optionally of one target and in some states."""
        query = sa.select(backup_sets).order_by(backup_sets.c.started_at.desc(), backup_sets.c.set_id.desc())
        if target:
            query = query.where(backup_sets.c.target == target)
        if states:
            query = query.where(backup_sets.c.state.in_(states))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    def runs(self, routine: str, limit: int = 30) -> list[dict[str, Any]]:
        """The latest recorded runs of a routine, newest first."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(check_runs)
                    .where(check_runs.c.routine == routine)
                    .order_by(check_runs.c.interval_end.desc(), check_runs.c.recorded_at.desc())
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    def routines_of_runs(self, run_ids: Iterable[str]) -> dict[str, str]:
        """run id -> the routine that recorded a run with that id (run ids absent from the catalog left out)."""
        wanted = sorted(set(run_ids))
        if not wanted:
            return {}
        query = sa.select(check_runs.c.run_id, check_runs.c.routine).where(check_runs.c.run_id.in_(wanted))
        with self.engine.connect() as conn:
            return {str(r.run_id): str(r.routine) for r in conn.execute(query).all()}

    def routines(self) -> list[str]:
        """Every routine with at least one recorded run, sorted."""
        with self.engine.connect() as conn:
            return sorted(conn.execute(sa.select(check_runs.c.routine).distinct()).scalars())

    def latest_target_status(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(target, routine) -> that target's newest status row in that routine (``interval_end``, ``status``,
        ``findings``, the run's ``run_id`` and ``report_uri``)."""
        newest = (
            sa.select(
                target_status.c.target,
                target_status.c.routine,
                sa.func.max(target_status.c.interval_end).label("interval_end"),
            )
            .group_by(target_status.c.target, target_status.c.routine)
            .subquery()
        )
        query = (
            sa.select(target_status, check_runs.c.run_id, check_runs.c.report_uri)
            .join(
                newest,
                sa.and_(
                    target_status.c.target == newest.c.target,
                    target_status.c.routine == newest.c.routine,
                    target_status.c.interval_end == newest.c.interval_end,
                ),
            )
            .join(
                check_runs,
                sa.and_(
                    check_runs.c.routine == target_status.c.routine,
                    check_runs.c.interval_end == target_status.c.interval_end,
                ),
            )
        )
        with self.engine.connect() as conn:
            return {(r["target"], r["routine"]): dict(r) for r in conn.execute(query).mappings().all()}

    def run(self, routine: str, interval_end: str, run_id: str | None = None) -> dict[str, Any] | None:
        """One recorded run, by routine and interval end (ISO string as stored) and, when given, run id
        (two runs of one interval are two records); without a run id the latest recorded of the interval."""
        query = sa.select(check_runs).where(check_runs.c.routine == routine, check_runs.c.interval_end == interval_end)
        if run_id is not None:
            query = query.where(check_runs.c.run_id == run_id)
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(check_runs.c.recorded_at.desc())).mappings().first()
        return dict(row) if row else None

    def metrics_since(self, since: datetime, target: str | None = None) -> list[dict[str, Any]]:
        """Every metric row (``target``, ``metric``, ``interval_end``, ``value``, ``routine``) since ``since``,
        oldest first; of one target when given."""
        query = sa.select(metrics).where(metrics.c.interval_end >= iso(since))
        if target:
            query = query.where(metrics.c.target == target)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query.order_by(metrics.c.interval_end)).mappings().all()]


# Tables of later migrations that live beside the code using them; imported here so ``metadata`` (the
# migrations' target, the schema tests) always holds the newest revision's every table.
from include.incidents import store as _incident_tables  # noqa: E402,F401  (0003_incidents)
