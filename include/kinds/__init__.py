"""The kind registry: everything Aegis knows about a kind of target, one spec module per kind.

Each module of this package (but ``base``) defines ``SPEC``, a :class:`KindSpec`: the kind's
inventory fields and thresholds with their defaults, whether it needs a connection, and which
daily check, backup, weekly concern, security checks and update capabilities it has. The
inventory validator, the DAGs' forms (which targets are offered) and the routines all read this
registry; adding a kind is adding one module here. ``AEGIS_EXTRA_KINDS`` (comma-separated
importable module names, each with a ``SPEC``) adds kinds from outside the package.

What belongs here: spec modules (plain data, plus a small validation hook when a kind needs
one). What does not: drivers and routines; specs name them by dotted path and they are
imported only when used, so reading the registry at DAG parse time costs nothing.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

from include.kinds.base import CAPABILITIES, FieldErrors, KindSpec, load

__all__ = ["CAPABILITIES", "FieldErrors", "KindSpec", "all_kinds", "kinds_with", "load", "spec"]

EXTRA_KINDS_ENV = "AEGIS_EXTRA_KINDS"
_BUILT_IN: dict[str, KindSpec] = {}
_registry: dict[str, KindSpec] = {}
_extra_loaded_for: str | None = None


def _spec_of(module_name: str) -> KindSpec:
    module = importlib.import_module(module_name)
    found = getattr(module, "SPEC", None)
    if not isinstance(found, KindSpec):
        raise TypeError(f"kind module {module_name} defines no SPEC (a KindSpec)")
    return found


def _discover() -> dict[str, KindSpec]:
    """The spec of every module of this package, in name order."""
    specs = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name != "base":
            found = _spec_of(f"{__name__}.{info.name}")
            specs[found.name] = found
    return specs


def all_kinds() -> dict[str, KindSpec]:
    """Every kind: the built-in ones, then those of ``AEGIS_EXTRA_KINDS`` (re-read when it changes)."""
    global _extra_loaded_for
    if not _BUILT_IN:
        _BUILT_IN.update(_discover())
    extra = os.environ.get(EXTRA_KINDS_ENV, "")
    if extra != _extra_loaded_for or not _registry:
        specs = dict(_BUILT_IN)
        for module_name in (m.strip() for m in extra.split(",") if m.strip()):
            try:
                found = _spec_of(module_name)
            except ImportError as exc:
                raise ImportError(f"{EXTRA_KINDS_ENV}: cannot import kind module {module_name!r}: {exc}") from exc
            specs[found.name] = found
        _registry.clear()
        _registry.update(specs)
        _extra_loaded_for = extra
    return _registry


def spec(kind: str) -> KindSpec:
    """The spec of ``kind``; ``KeyError`` naming the known kinds for an unknown one."""
    kinds = all_kinds()
    if kind not in kinds:
        raise KeyError(f"unknown kind {kind!r}; known: {sorted(kinds)}")
    return kinds[kind]


def kinds_with(capability: str) -> tuple[str, ...]:
    """Names of the kinds that have ``capability`` (one of :data:`CAPABILITIES`), in registry order."""
    return tuple(name for name, s in all_kinds().items() if s.has(capability))
