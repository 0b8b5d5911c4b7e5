"""The planned update routine (seeds: ``UpdateManager``, ``planned-maintenance.sh``) as plain functions.

One module per concern: :mod:`plan` (the form, validated), :mod:`silence` (Alertmanager),
:mod:`drain` and :mod:`triggers` (waiting for sessions to end without a worker slot),
:mod:`kinds` (the update itself: SQL migrations, release switch, Kubernetes image),
:mod:`tests` (post-update tests), :mod:`rollback` and :mod:`report`.
"""
