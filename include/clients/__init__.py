"""The connection layer: the only place a driver is opened.

One module per kind of server (``postgres``, ``mysql``, ``redis``, ``milvus``, ``http``,
``neo4j``, ``kubernetes``, ``alertmanager``, ``prometheus``). Each turns a resolved
:class:`include.targets.Endpoint` into a connected client in ONE typed way: connect and
statement/socket timeouts always set, read-only sessions where the driver allows, TLS
from the connection's extras, the password a keyword argument (never in a DSN, a log
line or a process argument list). Identifier quoting lives here too.

What belongs here: opening, configuring and closing clients, and small helpers that
only make sense next to a driver (quoting, scratch databases, a private redis-server).
What does not: grading, backups, maintenance; those are the routines in
``include/checks``, ``include/backup``, ``include/weekly``, ``include/update``.
Connection ids become Endpoints in :mod:`include.targets` (the only module that asks
Airflow for a connection), never here.
"""
