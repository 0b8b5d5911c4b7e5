"""A straight-line trend with its 95 % prediction interval, and when it crosses a threshold.

Like Prometheus's ``predict_linear`` (least squares over a window), but with the uncertainty shown:
the crossing date comes with the earliest date the band's upper edge reaches the threshold and the
latest its lower edge does. Too little history is refused (:class:`TooShort`), never extrapolated.
Pure functions on (seconds since epoch, value) pairs; numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

DAY_S = 86_400.0
#: Fewer points or a shorter span than this is "too little history to forecast".
MIN_POINTS = 10
MIN_SPAN_DAYS = 14.0
#: Two-sided 95 %: the normal quantile the t quantile is expanded from.
Z_975 = 1.959963984540054


class TooShort(ValueError):
    """The history is too short (points or span) for a forecast worth showing."""


@dataclass(frozen=True)
class Fit:
    """``value = intercept + slope_per_day * days`` (days since ``origin``), with what the band needs."""

    origin: float  # epoch seconds of day 0
    intercept: float
    slope_per_day: float
    residual_sd: float
    n: int
    mean_days: float
    sxx: float
    t_quantile: float

    def predict(self, when: float) -> float:
        return self.intercept + self.slope_per_day * self._days(when)

    def band(self, when: float) -> tuple[float, float]:
        """The 95 % prediction interval of one future observation at ``when`` (epoch seconds)."""
        days = self._days(when)
        half = self.t_quantile * self.residual_sd * math.sqrt(1 + 1 / self.n + (days - self.mean_days) ** 2 / self.sxx)
        centre = self.predict(when)
        return centre - half, centre + half

    def _days(self, when: float) -> float:
        return (when - self.origin) / DAY_S


def t_quantile_975(dof: int) -> float:
    """Student's t 97.5 % quantile (Cornish-Fisher expansion; within 0.1 % of the table from 5 degrees of freedom)."""
    z, v = Z_975, float(dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4)
    )


def fit(points: list[tuple[float, float]]) -> Fit:
    """Least-squares line through ``points`` ((epoch seconds, value)); :class:`TooShort` below the minimum."""
    if len(points) < MIN_POINTS:
        raise TooShort(f"{len(points)} sample(s); a forecast needs at least {MIN_POINTS}")
    times = np.array([p[0] for p in points], dtype=float)
    values = np.array([p[1] for p in points], dtype=float)
    span_days = (times.max() - times.min()) / DAY_S
    if span_days < MIN_SPAN_DAYS:
        raise TooShort(f"history spans {span_days:.1f} day(s); a forecast needs at least {MIN_SPAN_DAYS:g}")
    origin = float(times.min())
    days = (times - origin) / DAY_S
    slope, intercept = np.polyfit(days, values, 1)
    residuals = values - (intercept + slope * days)
    n = len(points)
    return Fit(
        origin=origin,
        intercept=float(intercept),
        slope_per_day=float(slope),
        residual_sd=float(math.sqrt(float(residuals @ residuals) / (n - 2))),
        n=n,
        mean_days=float(days.mean()),
        sxx=float(((days - days.mean()) ** 2).sum()),
        t_quantile=t_quantile_975(n - 2),
    )


@dataclass(frozen=True)
class Crossing:
    """When the trend reaches ``threshold``: expected, earliest (band's upper edge), latest (lower edge).
    None where it does not happen within the horizon."""

    threshold: float
    expected: datetime | None
    earliest: datetime | None
    latest: datetime | None
    already: bool = False  # the fitted value is at or past the threshold now


def crossing(
    model: Fit, threshold: float, now: datetime, horizon_days: float = 365.0, step_s: float = 3600.0
) -> Crossing:
    """When the (rising) trend crosses ``threshold`` between ``now`` and ``now + horizon_days``, hour by hour."""
    start = now.timestamp()
    if model.predict(start) >= threshold:
        return Crossing(threshold, now, now, now, already=True)
    grid = np.arange(start, start + horizon_days * DAY_S + step_s, step_s)
    days = (grid - model.origin) / DAY_S
    centre = model.intercept + model.slope_per_day * days
    half = model.t_quantile * model.residual_sd * np.sqrt(1 + 1 / model.n + (days - model.mean_days) ** 2 / model.sxx)
    return Crossing(
        threshold,
        _first(grid, centre >= threshold),
        _first(grid, centre + half >= threshold),
        _first(grid, centre - half >= threshold),
    )


def _first(grid: np.ndarray, reached: np.ndarray) -> datetime | None:
    hits = np.flatnonzero(reached)
    return None if hits.size == 0 else datetime.fromtimestamp(float(grid[hits[0]]), tz=UTC)


def days_until(when: datetime | None, now: datetime) -> float | None:
    return None if when is None else round((when - now) / timedelta(days=1), 1)
