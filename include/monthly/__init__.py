"""The monthly audit (``dags/monthly_audit.py``): one module per report section, each a plain function
that reads (the catalog, the targets' settings views, local files) and returns JSON-safe facts plus
graded :class:`~include.checks.base.CheckResult` rows.

- :mod:`.forecast` linear trend with a prediction interval and threshold crossing dates (pure maths);
- :mod:`.capacity` the capacity section (catalog metric history per target and resource) and
  :mod:`.charts` its matplotlib charts as inline SVG;
- :mod:`.performance` this month against last month, and Aegis's own routines (:mod:`.airflow_runs`: their
  durations from Airflow's REST API);
- :mod:`.security_audit` rules with id, severity, evidence and fix; :mod:`.findings` last month's comparison;
- :mod:`.backups` backup validation (restore test through the verify code, RPO/RTO);
- :mod:`.updates` the update plan, each item a ready ``planned_update`` conf;
- :mod:`.runlog` the maintenance log (every Aegis run of the month);
- :mod:`.audit` the month's window, the sections chosen, and the report put together.
"""

#: The report's sections, in the order they are shown; the form picks among them.
SECTIONS = ("capacity", "performance", "security", "backups", "updates", "maintenance_log")
