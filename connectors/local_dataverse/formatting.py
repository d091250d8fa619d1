"""Formatted values (`...@OData.Community.Display.V1.FormattedValue`) as an en-US user sees them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .schema import BOOLEAN, CHOICE, DATEONLY, DATETIME, DECIMAL, INTEGER, MONEY, Column

FORMATTED_TYPES = frozenset({CHOICE, BOOLEAN, INTEGER, DECIMAL, MONEY, DATEONLY, DATETIME})


def _us_date(d: date) -> str:
    return f"{d.month}/{d.day}/{d.year}"


def formatted(col: Column, value: Any, currency: tuple[str, int] | None = None) -> str | None:
    """The display text of a stored value; `currency` = (symbol, precision) for Money."""
    kind = col.type
    if kind in (CHOICE, BOOLEAN):
        return col.labels.get(int(value)) if col.labels else None
    if kind == INTEGER:
        return f"{value:,}"
    if kind == DECIMAL:
        return f"{Decimal(value):,f}"
    if kind == MONEY:
        symbol, precision = currency or ("", 2)
        amount = Decimal(value).quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP)
        sign = "-" if amount < 0 else ""
        return f"{sign}{symbol}{abs(amount):,f}"
    if kind == DATEONLY:
        return _us_date(date.fromisoformat(value))
    if kind == DATETIME:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        hour = moment.hour % 12 or 12
        return f"{_us_date(moment.date())} {hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"
    return None
