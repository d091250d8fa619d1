"""Reference implementation of change-log invoices (docs/billing-rules.md), for differential tests.

Written from the rules text on top of `oracle` (rows in, `oracle.Invoice` out), deliberately
simple: exact Fractions, one rounding per value, brute-force cycle search.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from . import oracle
from .oracle import (CAT_USAGE, ITEM_BASED, LCL_ACTIVE, LICENSE, SERVICE, UNBILLED, USAGE, Invoice, Line, _finish,
                     _ref, cycle, flag, frac, full_index_containing, mid_cycle_lines, nri_lines, own_rows,
                     read_contract, schedule_status, subs_by_id, to_date, unbilled_nris)


class Refused(Exception):
    """The change log cannot be made; `code` says why."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _containing(c, d: date):
    cyc = cycle(c, full_index_containing(c, d)) if d >= c.S else None
    return cyc if cyc is not None and cyc.cs <= d <= cyc.ce else None


def _usage_lines(rows: dict, last: date, start: date, precision: int) -> tuple[list[Line], list[str]]:
    out, consumed = [], []
    for sub in rows.get("subscriptions", []):
        if not flag(sub.get("w365_billable")) or sub.get("w365_billingtype") != USAGE:
            continue
        sid = sub["w365_subscriptionid"]
        recs = [u for u in rows.get("usage", []) if _ref(u, "w365_subscription") == sid
                and u.get("statuscode") == UNBILLED and to_date(u["w365_chargedate"]) <= last]
        consumed += [u["w365_usagerecordid"] for u in recs]
        total = sum((frac(u.get("w365_amount")) for u in recs), Fraction(0))
        if total == 0:  # no minimum commitment on a change log
            continue
        out.append(Line(category=CAT_USAGE, sort_key=(2, sub.get("w365_name") or "", sid), period_start=start,
                        period_end=last, quantity=Fraction(1),
                        unit_price=Fraction(oracle.round_money(total, precision)), proration_factor=Fraction(1),
                        exact_amount=total, taxable=flag(sub.get("w365_istaxable")), subscription_id=sid))
    return out, consumed


def build_change_log(rows: dict, as_of: date, today: date) -> Invoice:
    """The change-log invoice as of `as_of`; `Refused` when the rules refuse it."""
    rows = own_rows(rows)
    c = read_contract(rows["contract"], rows.get("currency"))
    if c.type == ITEM_BASED or c.M < 3 or as_of > today:
        raise Refused("change_log_not_allowed")
    K = _containing(c, as_of)
    if K is None:
        raise Refused("change_log_not_allowed")
    subs = subs_by_id(rows)
    for lcl in rows.get("lcls", []):
        sub = subs.get(_ref(lcl, "w365_subscription"))
        if (sub is None or not flag(sub.get("w365_billable")) or sub.get("w365_billingtype") not in (LICENSE, SERVICE)
                or lcl.get("statuscode") != LCL_ACTIVE):
            continue
        d = to_date(lcl["w365_effectivedate"])
        if c.S <= d < K.cs and schedule_status(rows, _containing(c, d).cs) != "invoiced":
            raise Refused("earlier_cycles_not_invoiced")
    up_to_a = oracle.Cycle(K.index, K.fs, K.fe, K.cs, as_of)  # rule 2 reads only its end: S ≤ d ≤ A
    mid, lcl_ids = mid_cycle_lines(c, rows, up_to_a, c.precision)
    usage, usage_ids = _usage_lines(rows, as_of, K.cs, c.precision)
    nri, nri_ids = [], []
    if not c.otp_immediately:
        nri, nri_ids = nri_lines([n for n in unbilled_nris(rows) if to_date(n["w365_effectivedate"]) <= as_of],
                                 K.cs, as_of)
    inv = Invoice(nothing_to_invoice=False, category=3, cycle_start=K.cs, cycle_end=as_of, invoice_date=as_of,
                  consumed_lcl_ids=lcl_ids, consumed_usage_ids=usage_ids, consumed_nri_ids=nri_ids)
    inv = _finish(c, inv, mid + usage + nri)
    inv.schedule_date = None  # a change log writes no billing schedule
    return inv
