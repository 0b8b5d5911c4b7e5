"""Kubernetes namespaces: pods checked daily, ConfigMaps and Secrets backed up, images updated."""

from include.kinds.base import KindSpec

SPEC = KindSpec(
    name="kubernetes",
    fields={"namespace": (str, "default"), "label_selector": (str, "")},
    thresholds={"restarts_warning": 3, "restarts_critical": 10},
    check="include.checks.kubernetes",
    backup="include.backup.kubernetes",
    image_updates=True,
    update_health=True,
)
