"""The weekly concern contract, written once: merge the defaults, validate, start the budget, run.

A concern module declares its ``DEFAULTS``, an optional ``check_settings`` and its work::

    @concern(DEFAULTS, check_settings)
    def maintain(target, endpoint, settings, budget, *, dry_run) -> CheckResult: ...

Callers keep calling ``maintain(target, endpoint, settings, dry_run=..., **extra)``: the decorator
merges ``settings`` over ``DEFAULTS``, validates them (``ValueError("<key>: <reason>")``) and hands
the concern its :class:`~include.weekly.budget.Budget` for ``max_seconds``.

**Destructive steps**: a concern that deletes or rewrites names its steps in a module-level ``STEPS``
(``{name: what it does}``, passed as ``@concern(DEFAULTS, check_settings, STEPS)``; the names the
inventory's ``weekly.apply`` takes). Callers may pass ``apply`` (the steps this run carries out,
:func:`include.run_policy.weekly_steps`); without it ``dry_run`` off applies all of them. The work
then gets ``dry_run`` = "none of my steps applies"; a concern with several steps also gets
``applied`` (the frozenset of its applied steps) to decide step by step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

from include.checks.base import CheckResult
from include.weekly.budget import Budget

#: A concern's work: ``(target, endpoint, settings, budget, *, dry_run, **its own extras) -> CheckResult``,
#: the settings merged and validated, the budget running.
ConcernWork = Callable[..., CheckResult]


class Maintain(Protocol):
    """What callers see: ``maintain(target, endpoint, settings, *, dry_run=True, **extra)``."""

    def __call__(
        self,
        target: Any,
        endpoint: Any,
        settings: Mapping[str, Any],
        *,
        dry_run: bool = True,
        apply: Collection[str] | None = None,
        **extra: Any,
    ) -> CheckResult: ...


def merged_settings(
    defaults: Mapping[str, Any], settings: Mapping[str, Any], check: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """``settings`` over ``defaults``, validated by ``check`` (which raises ``ValueError`` naming the key)."""
    merged = {**defaults, **settings}
    if check is not None:
        check(merged)
    return merged


def applied_steps(steps: Collection[str], apply: Collection[str] | None, dry_run: bool) -> frozenset[str]:
    """The concern's steps this call carries out: those in ``apply``, or (without it) all unless ``dry_run``."""
    if apply is None:
        return frozenset() if dry_run else frozenset(steps)
    return frozenset(s for s in steps if s in apply)


def concern(
    defaults: Mapping[str, Any],
    check: Callable[[dict[str, Any]], None] | None = None,
    steps: Mapping[str, str] | None = None,
) -> Callable[[ConcernWork], Maintain]:
    """Turn a concern's work into its ``maintain``: merged settings, validated, a budget of ``max_seconds``,
    and (for a concern with destructive ``steps``) ``dry_run`` / ``applied`` from ``apply``."""
    names = tuple(steps or ())

    def wrap(work: ConcernWork) -> Maintain:
        @functools.wraps(work)
        def maintain(
            target: Any,
            endpoint: Any,
            settings: Mapping[str, Any],
            *,
            dry_run: bool = True,
            apply: Collection[str] | None = None,
            **extra: Any,
        ) -> CheckResult:
            merged = merged_settings(defaults, settings, check)
            if names:  # without steps of its own, a concern sees the run's dry_run (it changes nothing anyway)
                applied = applied_steps(names, apply, dry_run)
                dry_run = not applied
                if len(names) > 1:
                    extra["applied"] = applied
            return work(target, endpoint, merged, Budget(float(merged["max_seconds"])), dry_run=dry_run, **extra)

        return maintain

    return wrap
