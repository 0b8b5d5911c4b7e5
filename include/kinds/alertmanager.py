"""Alertmanager: what is firing is checked daily; planned updates silence their targets through it."""

from include.kinds.base import KindSpec

SPEC = KindSpec(
    name="alertmanager",
    check="include.checks.alertmanager",
)
