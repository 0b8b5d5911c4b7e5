"""A real, private Prometheus (Debian ``prometheus``) and a tiny exporter whose metrics a test sets.

Prometheus gets its own TSDB folder, a free port, the repo's rule files (or a test's), a scrape of the
given targets every ``scrape_interval`` and, when given, an Alertmanager to send alerts to.
"""

from __future__ import annotations

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.servers.process import ServerProcess, free_port

BINARY = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


class Prometheus:
    """``prometheus`` in ``folder``; ``query(expr)`` and ``alerts()`` read its HTTP API."""

    def __init__(
        self,
        folder: Path,
        scrape_targets: list[str],
        rule_files: list[Path],
        alertmanager_url: str | None = None,
        interval: str = "1s",
        job: str = "exporter",
    ):
        if BINARY is None:
            raise RuntimeError("prometheus is not installed (apt-get install prometheus)")
        self.folder = Path(folder)
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": scrape_targets}]}],
        }
        if alertmanager_url:
            host = alertmanager_url.split("://", 1)[1]
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
        (self.folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process = ServerProcess(
            [
                BINARY,
                f"--config.file={self.folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            self.folder / "prometheus.log",
            f"{self.url}/-/ready",
        )

    def start(self) -> Prometheus:
        self.process.start()
        return self

    def stop(self) -> None:
        self.process.stop()

    def alerts(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/alerts", timeout=10)
        response.raise_for_status()
        return response.json()["data"]["alerts"]


class Exporter:
    """A small real HTTP server serving ``/metrics`` in the Prometheus text format; ``set`` changes a value."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.healthy = True  # False: /metrics answers 503, so Prometheus records up == 0 for the scrape
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body = "".join(f"{name} {value}\n" for name, value in sorted(exporter.values.items())).encode()
                ok = self.path == "/metrics" and exporter.healthy
                self.send_response(200 if ok else 503 if self.path == "/metrics" else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, series: str, value: float) -> None:
        """Serve ``series`` (e.g. ``up_override{job="x"}``) with ``value`` from the next scrape on."""
        self.values[series] = value

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
