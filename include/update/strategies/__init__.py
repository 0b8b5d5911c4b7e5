"""Update kinds as strategy objects, one module each, and their registry.

What belongs here: one module per ``update_kind`` (:mod:`.sql_migration`, :mod:`.release_switch`,
:mod:`.k8s_image`, :mod:`.host_packages`), each an :class:`~.base.UpdateStrategy` holding the whole kind: its part of the
plan, describe, current version, apply and undo. Adding a kind is one module and one line below.
"""

from __future__ import annotations

from include.update.strategies.base import PlanError, UpdateStrategy
from include.update.strategies.host_packages import HostPackages
from include.update.strategies.k8s_image import K8sImage
from include.update.strategies.release_switch import ReleaseSwitch
from include.update.strategies.sql_migration import SqlMigration

#: every update kind by its ``update_kind`` name, in the form's order
STRATEGIES: dict[str, UpdateStrategy] = {
    s.name: s for s in (SqlMigration(), ReleaseSwitch(), K8sImage(), HostPackages())
}
KINDS: tuple[str, ...] = tuple(STRATEGIES)
#: inventory kinds that can be an update target (the form's pick list)
UPDATE_TARGET_KINDS: tuple[str, ...] = tuple(sorted({k for s in STRATEGIES.values() for k in s.target_kinds}))


def strategy_for(kind: str) -> UpdateStrategy:
    """The strategy of ``kind`` (:class:`PlanError` naming the kinds there are)."""
    if kind not in STRATEGIES:
        raise PlanError("update_kind", f"must be one of {list(KINDS)}, got {kind!r}")
    return STRATEGIES[kind]


__all__ = ["KINDS", "STRATEGIES", "UPDATE_TARGET_KINDS", "PlanError", "UpdateStrategy", "strategy_for"]
