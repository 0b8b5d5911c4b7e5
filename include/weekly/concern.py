"""The weekly concern contract, written once: merge the defaults, validate, start the budget, run.

A concern module declares its ``DEFAULTS``, an optional ``check_settings`` and its work::

    @concern(DEFAULTS, check_settings)
    def maintain(target, endpoint, settings, budget, *, dry_run) -> CheckResult: ...

Callers keep calling ``maintain(target, endpoint, settings, dry_run=..., **extra)``: the decorator
merges ``settings`` over ``DEFAULTS``, validates them (``ValueError("<key>: <reason>")``) and hands
the concern its :class:`~include.weekly.budget.Budget` for ``max_seconds``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from include.checks.base import CheckResult
from include.weekly.budget import Budget

#: A concern's work: ``(target, endpoint, settings, budget, *, dry_run, **its own extras) -> CheckResult``,
#: the settings merged and validated, the budget running.
ConcernWork = Callable[..., CheckResult]


class Maintain(Protocol):
    """What callers see: ``maintain(target, endpoint, settings, *, dry_run=True, **extra)``."""

    def __call__(
        self, target: Any, endpoint: Any, settings: Mapping[str, Any], *, dry_run: bool = True, **extra: Any
    ) -> CheckResult: ...


def merged_settings(
    defaults: Mapping[str, Any], settings: Mapping[str, Any], check: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """``settings`` over ``defaults``, validated by ``check`` (which raises ``ValueError`` naming the key)."""
    merged = {**defaults, **settings}
    if check is not None:
        check(merged)
    return merged


def concern(
    defaults: Mapping[str, Any], check: Callable[[dict[str, Any]], None] | None = None
) -> Callable[[ConcernWork], Maintain]:
    """Turn a concern's work into its ``maintain``: merged settings, validated, and a budget of ``max_seconds``."""

    def wrap(work: ConcernWork) -> Maintain:
        @functools.wraps(work)
        def maintain(
            target: Any, endpoint: Any, settings: Mapping[str, Any], *, dry_run: bool = True, **extra: Any
        ) -> CheckResult:
            merged = merged_settings(defaults, settings, check)
            return work(target, endpoint, merged, Budget(float(merged["max_seconds"])), dry_run=dry_run, **extra)

        return maintain

    return wrap
