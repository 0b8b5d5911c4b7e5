"""The planned update routine (seeds: ``UpdateManager``, ``planned-maintenance.sh``) as plain functions.

What belongs here, one module per concern: :mod:`form` (the Params), :mod:`plan` (the form validated
into the typed :class:`~include.update.plan.UpdatePlan`), :mod:`strategies` (one module per update
kind: plan part, describe, current version, apply, undo), :mod:`steps` (one function per task of the
DAG), :mod:`apply` (the update whatever its kind), :mod:`silence` (Alertmanager), :mod:`window`
(announcement, silences, maintenance mode), :mod:`drain` and :mod:`triggers` (waiting for sessions to
end without a worker slot), :mod:`backups` (pre-update backup), :mod:`migrations` and :mod:`release`
(the SQL and release-folder mechanics), :mod:`post_tests`, :mod:`rollback` (the pure decision and the
rollback) and :mod:`report`.
"""
