"""A real, private Alertmanager (Debian ``prometheus-alertmanager``) for the tests.

Clustering is off (``--cluster.listen-address=``), so instances never find each other; each has
its own storage folder. Helpers speak its v2 API: post alerts as Prometheus does, list alerts and
silences. The routing is a test's own (``route``/``receivers``), default: one receiver, nothing sent.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.servers.process import ServerProcess, free_port

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
#: An alert named ``InhibitingAlert`` firing inhibits any alert named ``Inhibited`` (for the check tests).
INHIBIT_RULES = [{"source_matchers": ['alertname="InhibitingAlert"'], "target_matchers": ['alertname="Inhibited"']}]


class Alertmanager:
    """``prometheus-alertmanager`` in ``folder`` on a free port; ``url`` is its base address."""

    def __init__(self, folder: Path, config: dict[str, Any] | None = None):
        if BINARY is None:
            raise RuntimeError("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
        self.folder = Path(folder)
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = config or {"route": {"receiver": "nobody"}, "receivers": [{"name": "nobody"}]}
        config.setdefault("inhibit_rules", INHIBIT_RULES)
        (self.folder / "alertmanager.yml").write_text(yaml.safe_dump(config))
        self.process = ServerProcess(
            [
                BINARY,
                f"--config.file={self.folder / 'alertmanager.yml'}",
                f"--storage.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            self.folder / "alertmanager.log",
            f"{self.url}/-/ready",
        )

    def start(self) -> Alertmanager:
        self.process.start()
        return self

    def stop(self) -> None:
        self.process.stop()

    def post_alerts(self, *alerts: dict[str, Any]) -> None:
        """Push alerts as Prometheus does (``POST /api/v2/alerts``)."""
        httpx.post(f"{self.url}/api/v2/alerts", json=list(alerts), timeout=10).raise_for_status()

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v2/alerts", params=filters, timeout=10)
        response.raise_for_status()
        return response.json()

    def silence(self, matchers: list[dict[str, Any]], minutes: float = 60, comment: str = "test") -> str:
        now = datetime.now(UTC)
        ends = now + timedelta(minutes=minutes)
        body = {
            "matchers": matchers,
            "startsAt": now.isoformat(),
            "endsAt": ends.isoformat(),
            "createdBy": "tests",
            "comment": comment,
        }
        response = httpx.post(f"{self.url}/api/v2/silences", json=body, timeout=10)
        response.raise_for_status()
        return response.json()["silenceID"]

    def silences(self, comment_contains: str = "") -> list[dict[str, Any]]:
        """Every silence (expired ones too, as Alertmanager keeps them) whose comment contains the text."""
        response = httpx.get(f"{self.url}/api/v2/silences", timeout=10)
        response.raise_for_status()
        return [s for s in response.json() if comment_contains in s.get("comment", "")]

    def active_silences(self, comment_contains: str = "") -> list[dict[str, Any]]:
        return [s for s in self.silences(comment_contains) if s["status"]["state"] in ("active", "pending")]


def alert(name: str, severity: str | None = None, minutes: float = 30, **labels: str) -> dict[str, Any]:
    """An alert as Prometheus posts it, firing for ``minutes`` from now."""
    now = datetime.now(UTC)
    all_labels = {"alertname": name, **labels}
    if severity is not None:
        all_labels["severity"] = severity
    return {
        "labels": all_labels,
        "annotations": {"summary": f"{name} summary"},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "endsAt": (now + timedelta(minutes=minutes)).isoformat(),
        "generatorURL": "http://prometheus.test/graph",
    }
