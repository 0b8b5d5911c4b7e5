"""Backups: one module per kind (named by the kind's spec in :mod:`include.kinds`), a manifest that makes
a set complete, storage through ObjectStoragePath, retention, verification and restore.

What belongs here: making, storing, verifying and restoring backup sets. Servers are reached through
:mod:`include.clients` (never a driver opened here); the scratch-database lifecycle of the SQL kinds
is :mod:`include.backup.scratch`. Every kind module exposes:

- ``dump(target, endpoint, workdir: Path) -> DumpResult``: write the backup files into ``workdir`` and
  return what the manifest records (tool versions, sanity facts such as row or key counts);
- ``restore(endpoint, workdir: Path, manifest_facts: dict, *, timeout_s, ...) -> dict``: load the files
  in ``workdir`` into the endpoint and return the facts observed after the load (same shape);
- ``scratch(endpoint, set_id, ...)``: a context manager giving a throwaway place to restore into for
  verification, removed at exit.
"""
