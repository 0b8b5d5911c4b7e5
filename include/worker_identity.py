"""The hostname Airflow records for this process (``[core] hostname_callable``).

Several Celery workers on one machine share its host name; each is started with ``AEGIS_WORKER_NAME``
(``aegis-worker-1`` …) so a task instance's ``hostname`` says which worker ran it. Without the variable it
is the machine's name, as Airflow's default.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """``$AEGIS_WORKER_NAME`` when set, else the fully qualified host name."""
    return os.environ.get("AEGIS_WORKER_NAME") or socket.getfqdn()
