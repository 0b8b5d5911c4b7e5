"""The maintenance window around the update: announcement, silences and maintenance mode.

Everything here is safe to repeat (a retry does the same thing once) and the "off" half
never raises for one target while others remain: it does every target and then reports.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

from include.inventory import Inventory
from include.update.plan import UpdatePlan, describe

log = logging.getLogger(__name__)

CONFIGMAP_KEY = "maintenance_mode"


def flag_names(plan: UpdatePlan) -> list[str]:
    """Who gets the maintenance flag: the affected targets, or ``release:<root>`` for a bare release switch."""
    return plan.targets or ([f"release:{plan.release.root}"] if plan.release else [])


def announcement(plan: UpdatePlan) -> tuple[str, str, str]:
    """Subject, text and HTML of the window's announcement."""
    from html import escape

    w = plan.window
    subject = f"[Aegis] planned maintenance {w.start[:16]}Z → {w.end[:16]}Z: {plan.kind}"
    text = (
        f"Planned maintenance from {w.start} to {w.end} (UTC).\n"
        f"Change: {describe(plan)}.\n"
        f"Affected: {', '.join(flag_names(plan))}.\n"
        "Maintenance mode will be on; sessions are drained first. A failed update is rolled back automatically."
    )
    return subject, text, f"<pre>{escape(text)}</pre>"


def create_silences(inventory: Inventory, plan: UpdatePlan, run_id: str) -> dict[str, str]:
    """A silence on every Alertmanager of the inventory for the window: ``{alertmanager: silence id}``."""
    from include.targets import endpoint_for
    from include.update import silence

    names = plan.targets or ([plan.update_target] if plan.update_target else [])
    if not plan.alertmanagers or not names:
        log.info("no Alertmanager in the inventory (or no target to scope a silence to): no silence")
        return {}
    out = {}
    for am in plan.alertmanagers:
        if plan.dry_run:
            log.info(
                "DRY RUN: would silence %s=~%s on %s until %s", plan.silence_label, "|".join(names), am, plan.window.end
            )
            continue
        out[am] = silence.create(
            endpoint_for(inventory.target(am)), run_id, plan.silence_label, names, plan.window.start, plan.window.end
        )
    return out


def expire_silences(inventory: Inventory, plan: UpdatePlan, run_id: str) -> dict[str, list[str]]:
    """Expire every silence of this run on every Alertmanager; raises (after trying all) if one could not be."""
    from include.targets import endpoint_for
    from include.update import silence

    out, errors = {}, []
    for am in plan.alertmanagers:
        try:
            out[am] = silence.expire(endpoint_for(inventory.target(am)), run_id)
        except Exception as exc:  # noqa: BLE001 - try every Alertmanager, then fail loudly
            errors.append(f"{am}: {type(exc).__name__}: {exc}")
    if errors:
        raise RuntimeError("could not expire the run's silence(s): " + "; ".join(errors))
    return out


def flag_ttl_s(plan: UpdatePlan, now: datetime | None = None) -> int:
    """The Redis flag's TTL: until the window closes, plus the drain and the update timeouts (an update may
    run past its window's end), and never shorter than the default."""
    from include import maintenance as flag

    now = now or datetime.now(UTC)
    end = datetime.fromisoformat(plan.window.end)
    left = ((end if end.tzinfo else end.replace(tzinfo=UTC)) - now).total_seconds()
    return int(max(flag.DEFAULT_TTL_S, left + plan.drain_timeout_s + plan.update_timeout_s))


def maintenance(inventory: Inventory, plan: UpdatePlan, on: bool, reason: str) -> dict[str, str]:
    """Maintenance mode on (or off) for every affected target: Airflow Variable, Redis key and, for
    Kubernetes targets with ``maintenance_configmap`` set, ``data.maintenance_mode`` of that ConfigMap.

    Turning off tries every target and raises afterwards if one could not be turned off.
    """
    from include import maintenance as flag

    done, errors = {}, []
    for name in flag_names(plan):
        if plan.dry_run:
            log.info("DRY RUN: would turn maintenance mode %s for %s", "on" if on else "off", name)
            continue
        try:
            if on:
                flag.maintenance_on(name, reason, inventory.maintenance_redis_conn_id, flag_ttl_s(plan))
            else:
                flag.maintenance_off(name, inventory.maintenance_redis_conn_id)
            done[name] = "on" if on else "off"
        except Exception as exc:  # noqa: BLE001 - every target gets its turn
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    if plan.maintenance_configmap:
        for k in plan.kubernetes:
            where = f"{k.namespace}/{plan.maintenance_configmap}"
            if plan.dry_run:
                log.info("DRY RUN: would set %s %s=%s", where, CONFIGMAP_KEY, str(on).lower())
                continue
            try:
                from include.clients.kubernetes import patch_config_map_data
                from include.update.strategies.k8s_image import kube_for

                patch_config_map_data(
                    kube_for(inventory.target(k.name)),
                    k.namespace,
                    plan.maintenance_configmap,
                    {CONFIGMAP_KEY: str(on).lower()},
                )
                done[f"{k.name}:{where}"] = "on" if on else "off"
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{k.name} ConfigMap {where}: {type(exc).__name__}: {exc}")
    if errors and on:  # all or nothing: a half-raised flag would outlive this run's teardown
        log.error("maintenance mode on failed (%s): turning it off again where it was turned on", errors)
        maintenance(inventory, replace(plan, targets=[n for n in done if n in plan.targets]), False, "")
    if errors:
        raise RuntimeError(f"maintenance mode {'on' if on else 'off'} failed for: " + "; ".join(errors))
    return done
