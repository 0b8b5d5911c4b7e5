"""Free disk space of a database server's data folder, measurable only when the server runs on this host."""

from __future__ import annotations

import shutil
from pathlib import Path

from include.targets import Endpoint

LOCAL_HOSTS = ("", "127.0.0.1", "localhost", "::1")


def free_bytes_at(endpoint: Endpoint, data_folder: str | None) -> int | None:
    """Free bytes of the filesystem holding ``data_folder`` when ``endpoint`` is on this host and the folder is
    visible (``shutil.disk_usage``); None when it cannot be measured from here."""
    if (endpoint.host or "") not in LOCAL_HOSTS or not data_folder:
        return None
    try:
        return shutil.disk_usage(Path(data_folder)).free
    except OSError:  # not visible to this process (another container, no permission)
        return None
