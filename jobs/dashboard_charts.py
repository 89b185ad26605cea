"""Geometry of the dashboard's bar charts, for inline SVG (no JS, no CDN): time buckets, stacked
bars, a y axis with labelled ticks and headroom above the tallest bar, an x axis with time
labels. Pure functions of numbers already aggregated in SQL (jobs.dashboard)."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1)}
# Spacing of the x axis labels, in minutes: the first that gives at most MAX_X_LABELS labels.
X_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880)
MAX_X_LABELS = 8
HEADROOM = 1.1  # the y axis reaches at least 10% above the tallest bar

# Plot margins inside the SVG: room for the y labels on the left and the x labels below.
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 24


def floor_to(moment: datetime, unit: str) -> datetime:
    """The start of the `unit` (minute or hour) holding `moment`, in the current time zone (as
    the database's TruncMinute/TruncHour count), as an instant in UTC."""
    local = timezone.localtime(moment).replace(second=0, microsecond=0)
    if unit == "hour":
        local = local.replace(minute=0)
    return local.astimezone(UTC)


def bucket_starts(since: datetime, now: datetime, unit: str) -> list[datetime]:
    """Every `unit` bucket from the one holding `since` to the one holding `now` (instants:
    stepping in UTC stays right across daylight-saving changes)."""
    step = UNITS[unit]
    first, last = floor_to(since, unit), floor_to(now, unit)
    return [first + step * i for i in range(int((last - first) / step) + 1)]


def nice_top(peak, *, money: bool = False) -> Decimal:
    """The y axis' top: the smallest 1, 2, 2.5 or 5 times a power of ten that is at least
    HEADROOM times the peak (1 when there is nothing to show); a count's top is a whole number."""
    target = Decimal(str(peak)) * Decimal(str(HEADROOM))
    if target <= 0:
        return Decimal(1)
    power = Decimal(10) ** math.floor(math.log10(target))
    for factor in (1, 2, Decimal("2.5"), 5, 10):
        top = _plain(power * factor)
        if top >= target and (money or top == top.to_integral_value()):
            return top
    return _plain(power * 10)


def _plain(value: Decimal) -> Decimal:
    """10, not 1E+1; 0.25, not 0.250."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def y_ticks(top: Decimal, *, money: bool = False) -> list[Decimal]:
    """Evenly spaced values from 0 to `top`, at a round step (a whole one for counts)."""
    lead = top.scaleb(-top.adjusted())  # 1, 2, 2.5 or 5
    count = 4 if lead == 2 else 5
    if not money and top < count:
        count = int(top)
    return [top * i / count for i in range(count + 1)]


def _y_label(value: Decimal, step: Decimal, money: bool) -> str:
    if not money:
        return str(int(value))
    places = max(2, -step.normalize().as_tuple().exponent)
    return f"${value:.{places}f}"


def _x_step_minutes(span_minutes: float) -> int:
    for step in X_STEPS:
        if span_minutes / step <= MAX_X_LABELS:
            return step
    return X_STEPS[-1]


def _x_label(moment: datetime, step_minutes: int) -> str:
    local = timezone.localtime(moment)
    if step_minutes >= 1440:
        return local.strftime("%m-%d")
    if local.hour == 0 and local.minute == 0 and step_minutes >= 60:
        return local.strftime("%m-%d")
    return local.strftime("%H:%M")


@dataclass(frozen=True)
class Series:
    key: str  # the value the aggregate is grouped on (a status, a service)
    label: str
    color: str


def bar_chart(
    buckets: list[datetime],
    unit: str,
    series: list[Series],
    values: dict[tuple[datetime, str], object],
    *,
    money: bool = False,
    width: int = 900,
    height: int = 220,
) -> dict:
    """A stacked bar per bucket (one segment per series with a value), with axes.

    `values` maps (bucket start, series key) to a number (int or Decimal); buckets are the
    instants of `bucket_starts`. Returns what the template draws, plus the totals it shows."""
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    slot = plot_w / max(len(buckets), 1)
    gap = min(2.0, slot * 0.2)
    zero = Decimal(0)
    tz = timezone.get_current_timezone()  # once: a day per minute is 1,440 buckets
    local = [bucket.astimezone(tz) for bucket in buckets]
    values = {key: Decimal(value) for key, value in values.items()}
    stacks = [sum((values.get((b, s.key), zero) for s in series), zero) for b in buckets]
    peak = max(stacks, default=zero)
    top = nice_top(peak, money=money)
    fmt = "%Y-%m-%d %H:%M"
    bars = []
    for i, bucket in enumerate(buckets):
        y = float(TOP + plot_h)
        for s in series:
            value = values.get((bucket, s.key), zero)
            if not value:
                continue
            h = float(value / top) * plot_h
            y -= h
            shown = f"${value:.4f}" if money else f"{value}"
            bars.append(
                {
                    "x": round(LEFT + i * slot + gap / 2, 2),
                    "y": round(y, 2),
                    "w": round(max(slot - gap, 0.5), 2),
                    "h": round(h, 2),
                    "color": s.color,
                    "series": s.key,
                    "value": value,
                    "title": f"{local[i].strftime(fmt)} {s.label}: {shown}",
                }
            )
    ticks = y_ticks(top, money=money)
    y_axis = [
        {
            "y": round(TOP + plot_h - plot_h * float(value / top), 2),
            "text": _y_label(value, ticks[1], money),
        }
        for value in ticks
    ]
    step = _x_step_minutes(len(buckets) * UNITS[unit].total_seconds() / 60)
    x_ticks = []
    for i, bucket in enumerate(buckets):
        minutes = local[i].hour * 60 + local[i].minute
        aligned = minutes % step == 0 if step < 1440 else minutes == 0
        if aligned:
            x_ticks.append({"x": round(LEFT + i * slot, 2), "text": _x_label(bucket, step)})
    totals = {s.key: sum((values.get((b, s.key), zero) for b in buckets), zero) for s in series}
    return {
        "width": width,
        "height": height,
        "plot": {"left": LEFT, "top": TOP, "right": LEFT + plot_w, "bottom": TOP + plot_h},
        "bars": bars,
        "y_ticks": y_axis,
        "x_ticks": x_ticks,
        "top": top,
        "peak": peak,
        "legend": [
            {"key": s.key, "label": s.label, "color": s.color, "total": totals[s.key]}
            for s in series
        ],
        "totals": totals,
        "total": sum(totals.values(), zero),
        "unit": unit,
    }
