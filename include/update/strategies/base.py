"""What every update kind provides (:class:`UpdateStrategy`), and the form checks the kinds share.

A strategy is one kind of update, whole: how its part of the form is validated into the plan, how
it is described, which version runs now, how it is applied and how it is undone. The planned
update's tasks never ask which kind they run: they ask the strategy (:func:`include.update.strategies.strategy_for`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from include.inventory import Inventory, Target
    from include.update.plan import UpdatePlan


class PlanError(ValueError):
    """The update request is wrong; the message names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(f"planned update: field {field!r}: {reason}")


def number(value: Any, field: str, minimum: float = 1) -> float:
    """``value`` as a float, or a :class:`PlanError` naming ``field`` unless it is a number >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise PlanError(field, f"must be a number >= {minimum:g}, got {value!r}")
    return float(value)


class UpdateStrategy(ABC):
    """One kind of update: plan, describe, current version, apply, undo."""

    #: the ``update_kind`` of the form
    name: ClassVar[str]
    #: the plan's JSON key holding this kind's part (``sql``, ``release``, ``k8s``, ``packages``)
    part_key: ClassVar[str]
    #: the kind-registry capability an update target must have (``sql_updates``, ``image_updates``,
    #: ``package_updates``);
    #: None: the kind has no update target
    target_capability: ClassVar[str | None] = None

    @property
    def target_kinds(self) -> tuple[str, ...]:
        """The inventory kinds the update target may have (from the kind registry); empty: none."""
        from include.kinds import kinds_with

        return tuple(kinds_with(self.target_capability)) if self.target_capability else ()

    #: True when the undo restores the update target's pre-update backup (so it must have backups)
    needs_backup: ClassVar[bool] = False

    @abstractmethod
    def plan_part(self, target: Target | None, params: Mapping[str, Any], allowed: Mapping[str, Any]) -> Any:
        """This kind's part of the plan, validated from the form (:class:`PlanError` naming the field) and
        confined to the allow-lists: the target's (``target.update``) and the inventory's ``allowed``
        (:attr:`include.inventory.Inventory.update`)."""

    @abstractmethod
    def part_from_dict(self, raw: Mapping[str, Any]) -> Any:
        """The part back from the plan's JSON."""

    @abstractmethod
    def describe(self, plan: UpdatePlan) -> str:
        """One line saying what the update changes."""

    @abstractmethod
    def wanted(self, plan: UpdatePlan) -> str:
        """The version the update installs."""

    @abstractmethod
    def current_version(self, inventory: Inventory, plan: UpdatePlan) -> str | None:
        """What runs now: the last migration file, the ``current`` release, the container image."""

    def simulate(self, inventory: Inventory, plan: UpdatePlan) -> dict[str, Any]:
        """The dry run's look ahead, reading only (e.g. apt's simulation): facts merged into the dry run's
        outcome; raises when the update could not be applied as planned. Default: nothing to simulate."""
        return {}

    @abstractmethod
    def apply(self, inventory: Inventory, plan: UpdatePlan, run_id: str, timeout_s: float) -> dict[str, Any]:
        """Apply the update; ``{to, …what it changed}``; raises when it fails."""

    @abstractmethod
    def undo(
        self, inventory: Inventory, plan: UpdatePlan, update: Mapping[str, Any], backups: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Undo it; ``{how, state?, reason?}`` (``state`` defaults to rolled-back); raises when it cannot."""
