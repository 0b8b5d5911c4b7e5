"""Incident response: what the ``incident`` and ``troubleshoot_*`` DAGs and the alert webhook use.

- :mod:`.settings` — the inventory's ``oncall:`` and ``incidents:`` sections, validated;
- :mod:`.levels` — P1–P4 and how an alert's labels are classified;
- :mod:`.oncall` — who is on call (weekly rotation, overrides) and the escalation path;
- :mod:`.store` — incidents, their timeline and the knowledge base in the catalog;
- :mod:`.webhook` — Alertmanager ``webhook_config`` payloads (version 4) checked and turned into incidents;
- :mod:`.postmortem` — the seed's post-mortem template filled from the timeline;
- :mod:`.metrics` — the routine metrics Aegis exports for its own alert rules;
- :mod:`.slow_queries` — find, and after approval cancel, slow PostgreSQL / MySQL statements.
- :mod:`.troubleshooting` — the ``troubleshoot_*`` DAGs' shared glue: header, approval and its answer,
  the Kubernetes target, the action on the incident's timeline.
"""
