"""The planned update's form confined to the inventory's allow-lists.

Whoever may trigger the planned update must not make a worker (which holds every connection) run
what they like. Each check here raises :class:`PlanError` naming the form field, before anything is
touched: a folder must resolve (symlinks followed) inside an allowed root, a command must start with
an allowed argv prefix, an HTTP check may only call an allowed host, and an SQL assertion must be one
read-only query (parsed with ``sqlparse``, not pattern-matched; it also runs in a read-only session
with a statement timeout, :mod:`include.update.post_tests`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from include.update.strategies.base import PlanError

if TYPE_CHECKING:
    from include.inventory import Inventory

#: keyword tokens that make a statement write or change the schema, wherever they appear (a data-modifying
#: CTE, ``SELECT … INTO``, ``FOR UPDATE``)
WRITING_KEYWORDS = {"INTO"}


def folder_inside(value: str, roots: list[str], field: str, setting: str) -> Path:
    """``value`` resolved (symlinks followed), refused unless it is absolute and inside one of ``roots``."""
    if not value or not Path(value).is_absolute():
        raise PlanError(field, f"must be an absolute folder path, got {value!r}")
    resolved = Path(os.path.realpath(value))
    if not any(resolved.is_relative_to(root) for root in roots):
        raise PlanError(
            field, f"{value!r} resolves to {str(resolved)!r}, outside the allowed roots {roots} (inventory: {setting})"
        )
    return resolved


def file_inside(path: Path, roots: list[str], field: str) -> None:
    """A file or folder under an allowed root that is a link leading out of the roots is refused."""
    resolved = Path(os.path.realpath(path))
    if not any(resolved.is_relative_to(root) for root in roots):
        raise PlanError(field, f"{path.name!r} resolves to {str(resolved)!r}, outside the allowed roots {roots}")


def command_allowed(argv: list[str], prefixes: list[list[str]], field: str) -> None:
    """``argv`` must start with one of the allowed argv ``prefixes`` (inventory ``update.release_commands``)."""
    if not any(argv[: len(prefix)] == prefix for prefix in prefixes):
        raise PlanError(
            field, f"{argv!r} starts with none of the allowed commands {prefixes} (inventory: update.release_commands)"
        )


def http_hosts(inventory: Inventory) -> list[str]:
    """Hosts HTTP checks may call: the inventory's ``update.http_hosts``, else its ``http_service`` targets'."""
    if inventory.update.get("http_hosts") is not None:
        return list(inventory.update["http_hosts"])
    from include.targets import endpoint_for

    hosts = []
    for target in inventory.targets:
        if target.kind == "http_service":
            endpoint = endpoint_for(target)
            host = endpoint.host or ""
            parts = urlsplit(host if "://" in host else f"//{host}")
            port = endpoint.port or parts.port
            if parts.hostname:
                hosts.append(f"{parts.hostname.lower()}:{port}" if port else parts.hostname.lower())
    return hosts


def url_allowed(url: str, hosts: list[str], field: str) -> None:
    """An http(s) URL without userinfo whose host (any port) or ``host:port`` is allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PlanError(field, f"must be an http:// or https:// URL, got {url!r}")
    if parts.username or parts.password:
        raise PlanError(field, "must not carry credentials (user:password@)")
    host = parts.hostname.lower()
    try:
        port = parts.port
    except ValueError:
        raise PlanError(field, "has an invalid port") from None
    if host not in hosts and f"{host}:{port or (443 if parts.scheme == 'https' else 80)}" not in hosts:
        raise PlanError(
            field,
            f"host {parts.netloc.rpartition('@')[2]!r} is not allowed; allowed: {hosts}"
            " (inventory: update.http_hosts, default: the http_service targets)",
        )


def read_only_query(sql: str, field: str) -> None:
    """One ``SELECT`` (or ``WITH … SELECT``) statement that writes nothing, parsed by ``sqlparse``."""
    import sqlparse
    from sqlparse import tokens

    statements = [s for s in sqlparse.parse(sql) if s.token_first(skip_cm=True, skip_ws=True) is not None]
    if len(statements) != 1:
        raise PlanError(field, f"must be exactly one statement, got {len(statements)}")
    statement = statements[0]
    if statement.get_type() != "SELECT":
        raise PlanError(field, f"must be a SELECT or WITH … SELECT query, got {statement.get_type()}")
    for token in statement.flatten():
        word = token.value.upper()
        if (
            (token.ttype in tokens.Keyword.DML and word != "SELECT")
            or token.ttype in tokens.Keyword.DDL
            or (token.ttype in tokens.Keyword and word in WRITING_KEYWORDS)
        ):
            raise PlanError(field, f"must only read: {word} is not allowed in an assertion")
