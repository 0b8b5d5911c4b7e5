"""``k8s_image``: a deployment's container image set through :mod:`include.clients.kubernetes`, then its rollout
followed; undone by setting the previous image back and following that rollout."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from include.update.strategies.base import PlanError, UpdateStrategy, number

if TYPE_CHECKING:
    from include.clients.kubernetes import KubeClient
    from include.inventory import Inventory, Target
    from include.update.plan import UpdatePlan


@dataclass(frozen=True)
class K8sPart:
    """Which container of which deployment gets which image, and how long its rollout may take."""

    deployment: str
    container: str
    image: str
    namespace: str
    rollout_timeout_s: float = 300.0


def kube_for(target: Target) -> KubeClient:
    """The Kubernetes seam for ``target`` (tests hand a client built on the labelled fakes instead)."""
    from include.clients.kubernetes import connect
    from include.targets import endpoint_for

    return connect(endpoint_for(target), target.timeout_seconds)


class K8sImage(UpdateStrategy):
    name = "k8s_image"
    part_key = "k8s"
    target_capability = "image_updates"

    def plan_part(self, target: Target | None, params: Mapping[str, Any], allowed: Mapping[str, Any]) -> K8sPart:
        assert target is not None
        values = {}
        for name in ("deployment", "container", "image"):
            values[name] = str(params.get(name) or "")
            if not values[name]:
                raise PlanError(name, "required for a k8s_image update")
        return K8sPart(
            values["deployment"],
            values["container"],
            values["image"],
            target.options["namespace"],
            number(params.get("rollout_timeout_seconds", 300), "rollout_timeout_seconds"),
        )

    def part_from_dict(self, raw: Mapping[str, Any]) -> K8sPart:
        return K8sPart(
            raw["deployment"], raw["container"], raw["image"], raw["namespace"], float(raw["rollout_timeout_s"])
        )

    def describe(self, plan: UpdatePlan) -> str:
        k = _part(plan)
        return f"set image of {k.namespace}/{k.deployment} container {k.container} to {k.image} on {plan.update_target}"

    def wanted(self, plan: UpdatePlan) -> str:
        return _part(plan).image

    def current_version(self, inventory: Inventory, plan: UpdatePlan) -> str | None:
        from include.clients.kubernetes import container_image

        k = _part(plan)
        return container_image(_client(inventory, plan), k.namespace, k.deployment, k.container)

    def apply(self, inventory: Inventory, plan: UpdatePlan, run_id: str, timeout_s: float) -> dict[str, Any]:
        from include.clients.kubernetes import container_image, set_container_image, wait_for_rollout

        k = _part(plan)
        client = _client(inventory, plan)
        previous = container_image(client, k.namespace, k.deployment, k.container)
        set_container_image(client, k.namespace, k.deployment, k.container, k.image)
        rollout = wait_for_rollout(client, k.namespace, k.deployment, k.rollout_timeout_s)
        return {"to": k.image, "previous_image": previous, "rollout": rollout}

    def undo(
        self, inventory: Inventory, plan: UpdatePlan, update: Mapping[str, Any], backups: list[dict[str, Any]]
    ) -> dict[str, Any]:
        from include.clients.kubernetes import set_container_image, wait_for_rollout

        k = _part(plan)
        previous = update.get("from")
        if not previous:
            raise RuntimeError("the update recorded no previous image: cannot tell what to roll back to")
        client = _client(inventory, plan)
        set_container_image(client, k.namespace, k.deployment, k.container, previous)
        rollout = wait_for_rollout(client, k.namespace, k.deployment, k.rollout_timeout_s)
        return {"how": f"set {k.namespace}/{k.deployment} {k.container} back to {previous} ({rollout})"}


def _part(plan: UpdatePlan) -> K8sPart:
    assert plan.k8s is not None, "not a k8s_image plan"
    return plan.k8s


def _client(inventory: Inventory, plan: UpdatePlan) -> KubeClient:
    """The update target's client: the one place this kind reaches a connection."""
    return kube_for(inventory.target(plan.update_target or ""))
