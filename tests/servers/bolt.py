"""A real Bolt (Neo4j protocol) server for the tests: ArcadeDB with its Bolt plugin, from PyPI.

``arcadedb-embedded`` (a test-only dependency, pinned in requirements.txt) bundles a Java runtime and
ArcadeDB's jars, Bolt plugin included; this module runs ``com.arcadedb.server.ArcadeDBServer`` with them on
free loopback ports and a private data folder, with one database (:data:`DATABASE`). The ``neo4j`` driver
sees it as "Neo4j/5.26.0 compatible". What it cannot do (``db.checkpoint()``, APOC, ``db.info``) it answers
with ``Neo.DatabaseError.General.UnknownError`` (GQL status 50N42).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.kube import free_port, spawn, stop_process

DATABASE = "graph"
USER = "root"
START_TIMEOUT_S = 60


@dataclass
class BoltServer:
    """A running ArcadeDB Bolt server: ``uri``, credentials, the ``agent`` the server announced."""

    folder: Path
    port: int
    password: str
    process: subprocess.Popen | None = None
    agent: str = ""
    version: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    def driver(self):
        """A ``neo4j`` driver logged in as the server's root user (the tests' admin)."""
        from neo4j import GraphDatabase

        return GraphDatabase.driver(self.uri, auth=(USER, self.password), connection_timeout=5)

    def connection(self) -> str:
        """An Airflow connection (JSON, for ``AIRFLOW_CONN_…``) of type neo4j, as Aegis would be given;
        the schema names the database, as Aegis's checks read it."""
        return json.dumps(
            {
                "conn_type": "neo4j",
                "host": "127.0.0.1",
                "port": self.port,
                "login": USER,
                "password": self.password,
                "schema": DATABASE,
            }
        )

    def stop(self) -> None:
        """Stop the JVM and remove the data folder."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)


def java_command(package: Path, folder: Path, bolt_port: int, http_port: int, password: str) -> list[str]:
    """The bundled JRE running ArcadeDB's server with the Bolt plugin, bound to loopback only."""
    return [
        str(package / "jre" / "bin" / "java"),
        "-Xmx512m",
        f"-Darcadedb.server.rootPath={folder}",
        f"-Darcadedb.server.databaseDirectory={folder / 'databases'}",
        f"-Darcadedb.server.rootPassword={password}",
        "-Darcadedb.server.mode=development",
        "-Darcadedb.server.httpIncomingHost=127.0.0.1",
        f"-Darcadedb.server.httpIncomingPort={http_port}",
        "-Darcadedb.bolt.host=127.0.0.1",
        f"-Darcadedb.bolt.port={bolt_port}",
        f"-Darcadedb.server.defaultDatabases={DATABASE}[{USER}]",
        "-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
        "-cp",
        f"{package / 'jars'}/*",
        "com.arcadedb.server.ArcadeDBServer",
    ]


def start_server() -> BoltServer:
    """Start the server and wait until a driver session answers ``RETURN 1``."""
    import arcadedb_embedded

    package = Path(arcadedb_embedded.__file__).parent
    folder = Path(tempfile.mkdtemp(prefix="aegis-bolt-"))
    server = BoltServer(folder, free_port(), secrets.token_hex(12))
    server.process = spawn(
        java_command(package, folder, server.port, free_port(), server.password), folder / "server.log", cwd=folder
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if server.process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join((folder / "server.log").read_text(errors="replace").splitlines()[-20:])
                raise RuntimeError(f"test Bolt server did not come up within {START_TIMEOUT_S}s:\n{tail}")
            try:
                with server.driver() as driver:
                    info = driver.get_server_info()
                    server.agent = info.agent
                    with driver.session(database=DATABASE) as session:
                        session.run("RETURN 1").consume()
                        components = session.run("CALL dbms.components() YIELD name, versions").data()
                server.version = "; ".join(f"{c['name']} {', '.join(c['versions'])}" for c in components)
                return server
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.3)
    except BaseException:
        server.stop()
        raise


def running_server() -> Iterator[BoltServer]:
    """Start, yield, stop: the body of the session fixture."""
    from tests.servers import ANSWERED

    started = time.monotonic()
    server = start_server()
    ANSWERED.append(
        f"Neo4j protocol: ArcadeDB Bolt server ({server.version}; announces {server.agent}) "
        f"at {server.uri}, up in {time.monotonic() - started:.1f}s"
    )
    try:
        yield server
    finally:
        server.stop()
