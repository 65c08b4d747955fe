"""A bar chart of monthly earnings as plain numbers for an SVG template: no JavaScript."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_currency

from portal.money import minor_digits

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 80, 8, 12, 30


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass(frozen=True)
class Tick:
    y: float
    value: int
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    bottom: float
    bars: list[Bar]
    ticks: list[Tick]


def nice_ceiling(value: int, currency: str) -> int:
    """The smallest 1/2/2.5/5 × 10^n major units at or above `value` (minor units)."""
    unit = 10 ** minor_digits(currency)
    step = unit
    while True:
        for factor in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5)):
            candidate = int(step * factor)
            if candidate >= value:
                return candidate
        step *= 10


def axis_label(amount: int, currency: str) -> str:
    """A short axis label in whole major units, e.g. 250000 usd -> "$2,500"."""
    digits = minor_digits(currency)
    major = Decimal(amount).scaleb(-digits)
    pattern = "¤#,##0" if amount % (10**digits) == 0 else "¤#,##0.00"
    return format_currency(
        major, currency.upper(), format=pattern, locale="en_US", currency_digits=False
    )


def bar_chart(points: list[tuple[str, int]], currency: str) -> Chart:
    """Bars for (label, amount) points; the axis is scaled to a round maximum."""
    top_value = nice_ceiling(max([value for _, value in points] + [1]), currency)
    # 2.5 and 5 split evenly in fifths, 1 and 2 in quarters.
    ticks = 5 if str(top_value).rstrip("0") in ("25", "5") else 4
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        height = plot_h * max(value, 0) / top_value
        bars.append(
            Bar(
                x=round(LEFT + i * slot + slot * 0.15, 1),
                y=round(TOP + plot_h - height, 1),
                width=round(slot * 0.7, 1),
                height=round(height, 1),
                label=label,
                value=value,
            )
        )
    marks = []
    for k in range(ticks + 1):
        value = top_value * k // ticks
        marks.append(
            Tick(
                y=round(TOP + plot_h - plot_h * k / ticks, 1),
                value=value,
                label=axis_label(value, currency),
            )
        )
    return Chart(WIDTH, HEIGHT, LEFT, TOP + plot_h, bars, marks)
