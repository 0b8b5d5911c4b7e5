"""FAKE: there is no Alertmanager on this machine.

:class:`FakeAlertmanager` is a small real HTTP server speaking the part of the Alertmanager v2 API
Aegis uses for silences: ``POST /api/v2/silences`` (returns ``{"silenceID": …}``), ``GET
/api/v2/silences`` (with each silence's ``status.state``: pending, active or expired) and
``DELETE /api/v2/silence/{id}`` (expires it). ``events`` records every create and expire, so a
test can assert a silence existed during the run and is gone after it.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeAlertmanager:
    def __init__(self):
        self.silences: dict[str, dict] = {}
        self.events: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.split("?")[0] == "/api/v2/silences":
                    return self.reply(200, list(fake.silences.values()))
                self.reply(404, {})

            def do_POST(self):
                if self.path != "/api/v2/silences":
                    return self.reply(404, {})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                sid = str(uuid.uuid4())
                starts = datetime.fromisoformat(body["startsAt"].replace("Z", "+00:00"))
                state = "pending" if starts > datetime.now(timezone.utc) else "active"
                fake.silences[sid] = {**body, "id": sid, "status": {"state": state}}
                fake.events.append(("created", sid))
                self.reply(200, {"silenceID": sid})

            def do_DELETE(self):
                sid = self.path.rsplit("/", 1)[-1]
                if not self.path.startswith("/api/v2/silence/") or sid not in fake.silences:
                    return self.reply(404, {})
                fake.silences[sid]["status"] = {"state": "expired"}
                fake.events.append(("expired", sid))
                self.reply(200, {})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def active(self) -> list[dict]:
        return [s for s in self.silences.values() if s["status"]["state"] in ("active", "pending")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
