"""Real servers the tests start for themselves (private data folders, free loopback ports, stopped afterwards).

- :mod:`tests.servers.kube`: etcd + kube-apiserver + kube-controller-manager v1.20 (built once per machine by
  ``tests/servers/build_kube.sh``), with RBAC and Aegis's role from ``deploy/aegis-rbac.yaml``;
- :mod:`tests.servers.bolt`: ArcadeDB's Bolt (Neo4j protocol) server from PyPI ``arcadedb-embedded``;
- :mod:`tests.servers.prometheus` and friends (fixtures in :mod:`tests.servers.fixtures`): private Prometheus and
  Alertmanager instances from Debian's packages, and a tiny exporter.

:data:`ANSWERED` collects one line per server started in the session ("which server and version answered"),
printed in pytest's terminal summary by ``tests/conftest.py``.
"""

from __future__ import annotations

ANSWERED: list[str] = []
