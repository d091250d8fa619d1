"""Quantity over time (docs/billing-rules.md): the LCLs alone define a subscription's quantity."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from .model import ChangeLog


def qty_at(change_logs: Iterable[ChangeLog], d: date) -> Decimal:
    """Σ quantity change of the LCLs (any status) effective on or before `d`; 0 without LCLs."""
    return sum((c.quantity_change for c in change_logs if c.effective_date <= d), Decimal(0))
