"""Backups: one module per kind (postgres, mysql, redis, milvus, files, kubernetes), a manifest that
makes a set complete, storage through ObjectStoragePath, retention and verification.

Every kind module exposes:

- ``dump(target, endpoint, workdir: Path, options) -> DumpResult``: write the backup files into
  ``workdir`` and return what the manifest records (tool versions, sanity facts such as row or key counts);
- ``restore(target_or_scratch, endpoint, workdir: Path, manifest) -> dict``: load the files in ``workdir``
  into the given endpoint and return the facts observed after the load (same shape as the sanity facts).
"""
