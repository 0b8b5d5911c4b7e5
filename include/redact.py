"""What leaves the worker carries no literal and no secret: the one place statement text and URLs are cleaned.

Statement text read from a server (``pg_stat_activity``, ``pg_stat_statements``, the MySQL
processlist, the drain's session list) goes into reports, XCom, the catalog and notifications.
:func:`statement` normalises it the way ``pg_stat_statements`` does: every string and number
literal becomes a placeholder (``$1``, ``$2`` … for PostgreSQL, ``?`` for MySQL), comments are
dropped, identifiers and keywords stay. A literal cut off by the server's truncation is still
replaced (to the end). :func:`url` drops a URL's ``user:password@`` and the values of query
parameters that look like secrets.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SQL_TOKENS = re.compile(
    r"""
      (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<dollar>\$(?P<tag>[A-Za-z_]\w*|)\$.*?(?:\$(?P=tag)\$|\Z))
    | (?P<string>(?:[EeBbXxNnUu]&?)?'(?:[^'\\]|\\.|'')*(?:'|\Z))
    | (?P<quoted>"(?:[^"\\]|\\.|"")*(?:"|\Z))
    | (?P<backquoted>`[^`]*(?:`|\Z))
    | (?P<identifier>[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*)
    | (?P<param>\$\d+)
    | (?P<number>0[xX][0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
""",
    re.VERBOSE | re.DOTALL,
)

#: query parameter names whose values are secrets (matched as a part of the name, case-insensitive)
SECRET_PARAMS = re.compile(r"pass|secret|token|key|sig|auth|credential|session|code", re.IGNORECASE)


def statement(text: str | None, dialect: str = "postgres") -> str | None:
    """``text`` with every literal replaced by a placeholder and comments dropped (None stays None).

    ``dialect``: ``postgres`` (``$n`` placeholders; ``"…"`` is an identifier) or ``mysql``
    (``?``; ``"…"`` is a string unless ANSI_QUOTES, so it is replaced too).
    """
    if text is None:
        return None
    counter = iter(range(1, 1_000_000))

    def placeholder() -> str:
        return "?" if dialect == "mysql" else f"${next(counter)}"

    def replace(match: re.Match[str]) -> str:
        kind = match.lastgroup
        if kind == "tag":  # the dollar group's inner name: the whole dollar-quoted string matched
            kind = "dollar"
        if kind == "comment":
            return " "
        if kind in ("dollar", "string", "number") or (kind == "quoted" and dialect == "mysql"):
            return placeholder()
        return match.group(0)

    return re.sub(r"[ \t]{2,}", " ", _SQL_TOKENS.sub(replace, text)).strip()


def statements_in(rows: list[dict], key: str = "query", dialect: str = "postgres") -> list[dict]:
    """Each row with its ``key`` statement normalised (:func:`statement`)."""
    return [{**row, key: statement(row.get(key), dialect)} for row in rows]


_RECORD_FIELD = re.compile(r"(\b\d+: len \d+; )hex [0-9a-fA-F]+; asc .*?;;")


def innodb_deadlock(text: str) -> str:
    """A LATEST DETECTED DEADLOCK section without row data: each transaction's statement (the lines after its
    ``thread id`` line, up to the next ``***``) normalised, the locked records' field dumps blanked."""
    out, in_statement = [], False
    for line in text.splitlines():
        if line.startswith("***"):
            in_statement = False
        elif in_statement:
            line = statement(line, "mysql") or ""
        elif " thread id " in line:
            in_statement = True
        out.append(_RECORD_FIELD.sub(r"\1hex ?; asc ?;;", line))
    return "\n".join(out)


def url(text: str) -> str:
    """``text`` without userinfo, and with the values of secret-looking query parameters replaced."""
    parts = urlsplit(text)
    netloc = parts.netloc.rpartition("@")[2]
    query = urlencode(
        [
            (name, "REDACTED" if SECRET_PARAMS.search(name) else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
