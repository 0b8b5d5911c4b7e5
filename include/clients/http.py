"""HTTP client: the one place that turns an Endpoint into requests to ``scheme://host[:port]/path``.

Every request has a timeout, basic credentials when the connection has login and password
(never in the URL), and TLS verification from the extras: ``verify`` (false, or a CA bundle path).
A redirect is not followed unless the caller asks: a request of URL X answers for X (the 3xx and its
``Location``, :func:`redirect_location`), never silently for another URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from include.targets import Endpoint

HTTP_SCHEMES = ("http", "https")


def base_url(endpoint: Endpoint) -> str:
    """``scheme://host[:port]`` for ``endpoint``, without a trailing slash.

    A host that already carries a scheme (``https://svc.example``) is used as
    is, with ``endpoint.port`` added only when the host names no port. Otherwise
    the scheme is ``endpoint.schema`` when that is ``http``/``https`` (Airflow's
    HTTP connection keeps it there), else ``http``.
    """
    if not endpoint.host:
        raise ValueError("the connection has no host")
    host = endpoint.host.strip().rstrip("/")
    if "://" in host:
        parts = urlsplit(host)
        if endpoint.port and parts.port is None:
            host = parts._replace(netloc=f"{parts.netloc}:{endpoint.port}").geturl()
        return host
    scheme = (endpoint.schema or "").lower()
    scheme = scheme if scheme in HTTP_SCHEMES else "http"
    return f"{scheme}://{host}{f':{endpoint.port}' if endpoint.port else ''}"


def basic_auth(endpoint: Endpoint) -> tuple[str, str] | None:
    """HTTP basic credentials when the connection has both login and password."""
    if endpoint.login and endpoint.password:
        return endpoint.login, endpoint.password
    return None


def join_url(base: str, path: str) -> str:
    """``base`` + ``path`` with exactly one slash between them."""
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


def tls_verify(endpoint: Endpoint) -> bool | str:
    """``requests``' ``verify``: the extra ``verify`` (false or a CA bundle path), else true."""
    verify = (endpoint.extra or {}).get("verify", True)
    if isinstance(verify, str) and verify.lower() in ("false", "0", "no"):
        return False
    return verify


def request(
    endpoint: Endpoint, method: str, path: str, *, timeout_s: float, follow_redirects: bool = False, **kwargs: Any
) -> requests.Response:
    """``method`` on ``path`` of the endpoint, bounded by ``timeout_s``; ``kwargs`` go to ``requests``
    (``params``, ``json``). The response is returned whatever its status; a redirect is that response
    (3xx, see :func:`redirect_location`) unless ``follow_redirects``."""
    return requests.request(
        method,
        join_url(base_url(endpoint), path),
        timeout=timeout_s,
        auth=basic_auth(endpoint),
        verify=tls_verify(endpoint),
        allow_redirects=follow_redirects,
        **kwargs,
    )


def redirect_location(response: requests.Response) -> str | None:
    """The absolute URL a redirect response points to (its ``Location`` resolved against the request's URL),
    ``None`` when the response is not a redirect."""
    if not response.is_redirect:
        return None
    return urljoin(response.url, response.headers["Location"])


def raise_for_status(response: requests.Response) -> None:
    """``requests.HTTPError`` for an error status, and for a redirect (not followed: the API did not answer
    here), naming the status and where it pointed."""
    location = redirect_location(response)
    if location is not None:
        from include import redact

        raise requests.HTTPError(
            f"{response.status_code} redirect from {redact.url(response.url)} to {redact.url(location)}"
            " (redirects are not followed)",
            response=response,
        )
    response.raise_for_status()
