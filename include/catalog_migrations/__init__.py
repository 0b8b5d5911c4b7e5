"""The catalog's schema as Alembic migrations (as Airflow versions its own metadata database).

``env.py`` runs them on the connection :func:`include.catalog.upgrade` hands over (no ``alembic.ini``);
``versions/`` holds one file per schema change, oldest first. A change to the catalog's tables is a new
revision here plus the matching table definition in :mod:`include.catalog`; never edit a released one.

New revision (its ``down_revision`` is the current head)::

    .venv/bin/python -m include.catalog_migrations revision "add aegis_incidents"
"""
