"""Checks shared by the concern modules' ``check_settings``: one wording for one mistake."""

from __future__ import annotations

from collections.abc import Iterable


def require_numbers(settings: dict, positive: Iterable[str] = (), non_negative: Iterable[str] = ()) -> None:
    """Raise ``ValueError("<key>: <reason>")`` unless every named setting is a number in its range."""
    for key, floor_ok in [(k, False) for k in positive] + [(k, True) for k in non_negative]:
        value = settings.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key}: must be a number, got {value!r}")
        if value < 0 or (value == 0 and not floor_ok):
            raise ValueError(f"{key}: must be {'>= 0' if floor_ok else 'greater than 0'}, got {value!r}")
