"""The operator's console: what the Aegis pages inside Airflow's UI show, as plain Python.

- :mod:`.overview`: every inventory target with its latest health, backup, weekly maintenance and findings,
  and whether each is older than its schedule allows (stale).
- :mod:`.charts`: server-rendered SVG line charts of the catalog's metrics (no JavaScript, no CDN).
- :mod:`.links`: links into Airflow's UI (a run, the restore form pre-filled).

The web app that serves them is :mod:`include.reports_view`; the plugin is ``plugins/aegis_reports.py``.
"""
