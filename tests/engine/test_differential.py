"""Differential tests: the engine against `oracle.py`, an independent reading of DESIGN §4.

Random but valid Dataverse rows (DESIGN §3 as read) go through `mapping.contract_data_from_rows`
and the engine, and through the oracle; every line, total, date and consumed id must agree.
`W365_HYPOTHESIS_PROFILE=thorough` runs thousands of examples instead of the CI-sized default.
"""

from __future__ import annotations

import calendar
import os
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from plugin.engine import (
    ONE_TIME,
    NoCycleAvailable,
    UnknownCycle,
    build_invoice,
    list_cycles,
    preview_json,
)
from plugin.invoicing import mapping

from . import oracle

settings.register_profile(
    "differential-ci",
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(  # fresh random examples each run; a failure prints its reproduction blob
    "differential-thorough",
    max_examples=int(os.environ.get("W365_HYPOTHESIS_EXAMPLES", "5000")),
    derandomize=False,
    database=None,
    print_blob=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = (
    "differential-thorough"
    if os.environ.get("W365_HYPOTHESIS_PROFILE") == "thorough"
    else "differential-ci"
)
DIFFERENTIAL = settings.get_profile(PROFILE)

CONTRACT_ID = "9a6a3b52-0000-4000-8000-000000000001"

# ------------------------------------------------------------------------------ strategies


def _clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


START = st.one_of(
    st.dates(date(2023, 1, 1), date(2028, 12, 31)),
    st.builds(
        _clamped, st.integers(2023, 2028), st.integers(1, 12), st.sampled_from([28, 29, 30, 31])
    ),
    st.sampled_from([date(2024, 2, 29), date(2028, 2, 29), date(2024, 1, 31), date(2025, 8, 31)]),
)


def decimals(lo: int, hi: int, places: int) -> st.SearchStrategy[Decimal]:
    """Decimals in [lo, hi] with up to `places` decimals (never float)."""
    return st.integers(0, places).flatmap(
        lambda p: st.decimals(
            min_value=lo, max_value=hi, places=p, allow_nan=False, allow_infinity=False
        )
    )


PERCENT = st.one_of(
    st.none(),
    st.just(Decimal(0)),
    decimals(0, 100, 4),
    st.sampled_from([Decimal(v) for v in ("5", "10", "12.5", "25", "50", "33.3333", "7.25")]),
)
MONEY = st.one_of(
    st.integers(1, 90_000).map(lambda n: Decimal(n).scaleb(-2)),  # typical prices
    st.integers(1, 9_000_000).map(lambda n: Decimal(n).scaleb(-4)),  # sub-cent precision
    decimals(0, 900, 3),
    st.sampled_from([Decimal("0.005"), Decimal("0.015"), Decimal("12.345"), Decimal("0")]),
)
FLAG = st.sampled_from([True, False, None])


class Ids:
    """Unique GUID strings whose order is random (drawn high bits, counter low bits)."""

    def __init__(self, draw):
        self.draw, self.n = draw, 0

    def __call__(self) -> str:
        self.n += 1
        high = self.draw(st.integers(0, 0xFFFF))
        return f"{high:04x}{self.n:04x}-0000-4000-8000-{self.n:012x}"


def near_dates(draw, c: oracle.Contract) -> date:
    """A date that matters for contract `c`: before S, a cycle start, its eve, or anywhere."""
    kind = draw(st.sampled_from(["before", "start", "eve", "any", "any"]))
    if kind == "before":
        return c.S - timedelta(days=draw(st.integers(1, 120)))
    if kind in ("start", "eve"):
        d = oracle.add_months(c.S, draw(st.integers(0, 60 // c.M + 1)) * c.M)
        return d if kind == "start" else d - timedelta(days=1)
    return c.S + timedelta(days=draw(st.integers(-30, 5 * 366)))


@st.composite
def contract_rows(draw) -> dict:
    """A valid contract with its currency, subscriptions, LCLs, usage records, NRIs, schedules."""
    ids = Ids(draw)
    start = draw(START)
    months = draw(st.sampled_from([1, 3, 12, 36]))
    end_kind = draw(
        st.sampled_from(["none", "none", "days", "boundary", "days", "boundary", "before"])
    )
    if end_kind == "before":  # a contract that ends before it starts has no cycles
        end = start - timedelta(days=draw(st.integers(1, 40)))
    elif end_kind == "days":
        end = start + timedelta(days=draw(st.integers(0, 4 * 366)))
    elif end_kind == "boundary":
        end = oracle.add_months(start, draw(st.integers(1, 48))) - timedelta(
            days=draw(st.integers(0, 1))
        )
    else:
        end = None
    precision = draw(st.sampled_from([None, 0, 2, 3]))
    contract = {
        "w365_billingcontractid": CONTRACT_ID,
        "w365_name": "Contract",
        "_w365_customer_value": "9a6a3b52-0000-4000-8000-0000000000aa",
        "w365_type": draw(st.sampled_from([1, 1, 1, 1, 2])),
        "w365_billingfrequency": months,
        "w365_billingpolicy": draw(st.sampled_from([1, 2])),
        "w365_prorateunit": draw(st.sampled_from([1, 2])),
        "w365_startdate": start.isoformat(),
        "w365_enddate": end.isoformat() if end else None,
        "w365_invoiceotpimmediately": draw(FLAG),
        "w365_invoiceoffsetdays": draw(st.one_of(st.none(), st.integers(0, 45))),
        "w365_paymenttermsdays": draw(st.one_of(st.none(), st.integers(0, 90))),
        "_transactioncurrencyid_value": "9a6a3b52-0000-4000-8000-0000000000cc",
        "w365_discountpercent": draw(PERCENT),
        "w365_taxpercent": draw(PERCENT),
        "w365_applyrefunds": draw(FLAG),
        "statecode": draw(st.sampled_from([0, 1])),
    }
    currency = (
        None
        if precision is None and draw(st.booleans())
        else {
            "transactioncurrencyid": "9a6a3b52-0000-4000-8000-0000000000cc",
            "isocurrencycode": "XXX",
            "currencyprecision": precision,
        }
    )
    c = oracle.read_contract(contract, currency)
    owned = {"_w365_billingcontract_value": CONTRACT_ID}
    names = st.sampled_from(["Alpha", "Beta", "beta", "Gamma", "Z"])

    subs, lcls, usage = [], [], []
    for btype in (1, 2, 3):
        for _ in range(draw(st.integers(0, 3))):
            sid = ids()
            subs.append(
                {
                    "w365_subscriptionid": sid,
                    "w365_name": draw(names),
                    **owned,
                    "w365_billingtype": btype,
                    "w365_quantity": Decimal(draw(st.integers(0, 20))),
                    "w365_priceperunit": draw(MONEY),
                    "w365_billable": draw(st.sampled_from([True, True, False, None])),
                    "w365_istaxable": draw(FLAG),
                    "statecode": draw(st.sampled_from([0, 1])),
                    "w365_minimumcommitment": (
                        draw(st.one_of(st.none(), MONEY)) if btype == 3 else None
                    ),
                }
            )
            # LCLs (Usage subscriptions get a few too: they must be ignored)
            for _ in range(draw(st.integers(0, 5 if btype != 3 else 1))):
                lcls.append(
                    {
                        "w365_licensechangelogid": ids(),
                        "w365_name": "change",
                        **owned,
                        "_w365_subscription_value": sid,
                        "w365_changetype": draw(st.sampled_from([1, 2, 3])),
                        "w365_effectivedate": near_dates(draw, c).isoformat(),
                        "w365_quantitychange": draw(
                            st.one_of(
                                st.integers(1, 12).map(Decimal),
                                st.integers(-6, 12).map(Decimal),
                                st.none(),
                                st.sampled_from(
                                    [Decimal("2.5"), Decimal("-0.5"), Decimal("0.333")]
                                ),
                            )
                        ),
                        "w365_priceperunit": draw(st.one_of(st.none(), st.none(), MONEY)),
                        "statuscode": draw(st.sampled_from([1, 1, 2])),
                    }
                )
            # usage records (License/Service ones must be ignored)
            for _ in range(draw(st.integers(0, 4 if btype == 3 else 1))):
                usage.append(
                    {
                        "w365_usagerecordid": ids(),
                        "w365_name": "usage",
                        **owned,
                        "_w365_subscription_value": sid,
                        "w365_chargedate": near_dates(draw, c).isoformat(),
                        "w365_amount": draw(st.one_of(MONEY, MONEY.map(lambda m: -m))),
                        "statuscode": draw(st.sampled_from([1, 1, 2])),
                    }
                )
    nris = [
        {
            "w365_nonrecurringitemid": ids(),
            "w365_name": draw(names),
            **owned,
            "w365_quantity": draw(
                st.one_of(st.integers(-2, 10).map(Decimal), st.just(Decimal("1.5")))
            ),
            "w365_unitprice": draw(MONEY),
            "w365_effectivedate": near_dates(draw, c).isoformat(),
            "w365_istaxable": draw(FLAG),
            "statuscode": draw(st.sampled_from([1, 1, 2])),
        }
        for _ in range(draw(st.integers(0, 4)))
    ]
    if draw(st.integers(0, 4)) == 0:  # set-based reads may return other contracts' rows
        other = {"_w365_billingcontract_value": "9a6a3b52-0000-4000-8000-0000000000ff"}
        nris.append(
            {**nris[0], **other, "w365_nonrecurringitemid": ids()}
            if nris
            else {
                "w365_nonrecurringitemid": ids(),
                "w365_name": "other",
                **other,
                "w365_quantity": Decimal(1),
                "w365_unitprice": Decimal(5),
                "w365_effectivedate": start.isoformat(),
                "statuscode": 1,
            }
        )
        if usage:
            usage.append({**usage[0], **other, "w365_usagerecordid": ids()})
        if lcls:
            lcls.append({**lcls[0], **other, "w365_licensechangelogid": ids()})
    schedules: list[dict] = []
    invoices: list[dict] = []
    for i in range(draw(st.integers(0, 4))):
        cyc = oracle.cycle(c, draw(st.integers(0, 6)))
        if cyc is None or any(s["w365_cyclestart"] == cyc.key for s in schedules):
            continue
        state, status = draw(st.sampled_from([(0, 1), (0, 2), (1, 3)]))
        schedule = {
            "w365_billingscheduleid": ids(),
            **owned,
            "w365_cyclestart": cyc.key,
            "w365_cycleend": cyc.ce.isoformat(),
            "statecode": state,
            "statuscode": status,
        }
        for n in range(draw(st.integers(1 if status == 3 else 0, 3 if status == 3 else 1))):
            number = len(invoices) + 1
            invoices.append(
                {
                    "invoiceid": ids(),
                    "invoicenumber": f"INV-{number:05d}",
                    **owned,
                    "w365_cyclestart": cyc.key,
                    "w365_category": 1,
                    "createdon": f"2026-01-01T00:00:{number:02d}Z",
                }
            )
            schedule["_w365_invoice_value"] = invoices[-1]["invoiceid"]  # the newest
        schedules.append(schedule)
    if nris and draw(st.booleans()):  # one-time invoices are no cycle's invoices
        invoices.append(
            {
                "invoiceid": ids(),
                "invoicenumber": "INV-09999",
                **owned,
                "w365_cyclestart": start.isoformat(),
                "w365_category": 2,
            }
        )
    return {
        "contract": contract,
        "currency": currency,
        "subscriptions": subs,
        "lcls": lcls,
        "usage": usage,
        "nris": nris,
        "schedules": schedules,
        "invoices": invoices,
    }


@st.composite
def invoice_cases(draw) -> tuple[dict, str, date]:
    """(rows, cycle key, as_of): a key among the contract's existing cycles, or "one-time"."""
    rows = draw(contract_rows())
    c = oracle.read_contract(rows["contract"], rows["currency"])
    as_of = c.S + timedelta(days=draw(st.integers(-400, 6 * 366)))
    keys = []
    if c.type == oracle.RECURRING:
        i = 0
        while i <= 6 * 12 // c.M + 1 and (cyc := oracle.cycle(c, i)) is not None:
            keys.append(cyc.key)
            i += 1
    if c.type == oracle.ITEM_BASED or (c.otp_immediately and oracle.unbilled_nris(rows)):
        keys.append(ONE_TIME)
    if not keys or draw(st.integers(0, 9)) == 0:  # keys that name nothing must be refused
        keys.append(
            draw(
                st.sampled_from(
                    [ONE_TIME, (c.S + timedelta(days=draw(st.integers(-40, 400)))).isoformat()]
                )
            )
        )
    return rows, draw(st.sampled_from(keys)), as_of


# ------------------------------------------------------------------------------ comparison


def engine_data(rows: dict):
    return mapping.contract_data_from_rows(
        rows["contract"],
        rows["currency"],
        rows["subscriptions"],
        rows["lcls"],
        rows["usage"],
        rows["nris"],
        rows["schedules"],
        rows.get("invoices", ()),
    )


def _engine_line(line) -> dict:
    return {
        "category": int(line.category),
        "period": (line.period_start, line.period_end),
        "quantity": Fraction(line.quantity),
        "unit_price": Fraction(line.unit_price),
        "proration_factor": (
            Fraction(1) if line.proration_factor is None else Fraction(line.proration_factor)
        ),
        "amount": line.amount,
        "discount": line.discount,
        "tax": line.tax,
        "total": line.total,
        "taxable": line.taxable,
        "sources": (line.subscription_id, line.change_log_id, line.nri_id),
    }


def _oracle_line(line: oracle.Line) -> dict:
    return {
        "category": line.category,
        "period": (line.period_start, line.period_end),
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "proration_factor": line.proration_factor,
        "amount": line.amount,
        "discount": line.discount,
        "tax": line.tax,
        "total": line.total,
        "taxable": line.taxable,
        "sources": (line.subscription_id, line.lcl_id, line.nri_id),
    }


def assert_same_invoice(rows: dict, key: str, as_of: date) -> None:
    """The engine's draft equals the oracle's invoice in every compared field."""
    try:
        want = oracle.build(rows, key, as_of)
    except oracle.InvalidCycle:
        with pytest.raises(UnknownCycle):
            build_invoice(engine_data(rows), key, as_of)
        return
    draft = build_invoice(engine_data(rows), key, as_of)
    assert draft.nothing_to_invoice == want.nothing_to_invoice
    assert {(i.id, i.number) for i in draft.existing_invoices} == want.existing_invoices
    if want.nothing_to_invoice:
        return
    assert [_engine_line(l) for l in draft.lines] == [_oracle_line(l) for l in want.lines]
    assert [l.number for l in draft.lines] == list(range(1, len(want.lines) + 1))
    assert (draft.totals.amount, draft.totals.discount, draft.totals.tax, draft.totals.total) == (
        want.totallineitemamount,
        want.discountamount,
        want.totaltax,
        want.totalamount,
    )
    assert int(draft.invoice_category) == want.category
    assert (draft.period_start, draft.period_end) == (want.cycle_start, want.cycle_end)
    assert (draft.invoice_date, draft.due_date) == (want.invoice_date, want.due_date)
    if key == ONE_TIME:
        assert draft.schedule_date is None  # a one-time invoice writes no schedule (§4.9)
    else:
        assert draft.schedule_date == want.schedule_date
    assert sorted(draft.consumption.change_log_ids) == sorted(want.consumed_lcl_ids)
    assert sorted(draft.consumption.usage_record_ids) == sorted(want.consumed_usage_ids)
    assert sorted(draft.consumption.nri_ids) == sorted(want.consumed_nri_ids)
    usage_on_lines = sorted(i for l in draft.lines for i in l.usage_record_ids)
    assert set(usage_on_lines) <= set(want.consumed_usage_ids)
    assert_same_presentation(draft, want)


def _money(x: Fraction | Decimal, p: int) -> str:
    return f"{oracle.round_money(Fraction(x), p):f}"


def _plain(x: Fraction) -> str:
    d = oracle.to_decimal_exact(x)
    return (
        "0"
        if d == 0
        else f"{d.normalize():f}" if d != d.to_integral_value() else f"{d.quantize(Decimal(1)):f}"
    )


def assert_same_presentation(draft, want: oracle.Invoice) -> None:
    """What reaches the customer: preview strings (§7, §4.9) and the deep-insert record (§3)."""
    p = draft.precision
    body = preview_json(draft)
    got = [
        (
            l["category_value"],
            l["period_start"],
            l["period_end"],
            l["quantity"],
            l["unit_price"],
            l["amount"],
            l["discount"],
            l["tax"],
            l["total"],
        )
        for l in body["lines"]
    ]
    assert got == [
        (
            l.category,
            l.period_start.isoformat(),
            l.period_end.isoformat(),
            _plain(l.quantity),
            _money(l.unit_price, p),
            _money(l.amount, p),
            _money(l.discount, p),
            _money(l.tax, p),
            _money(l.total, p),
        )
        for l in want.lines
    ]
    for shown, line in zip(body["lines"], want.lines):
        if line.proration_factor == 1:
            assert shown["proration_factor"] == "1"
        else:  # rounded half-up to 10 places (trailing zeros are presentation)
            assert Decimal(shown["proration_factor"]) == oracle.round_money(
                line.proration_factor, 10
            )
    assert body["totals"] == {
        k: _money(v, p)
        for k, v in (
            ("amount", want.totallineitemamount),
            ("discount", want.discountamount),
            ("tax", want.totaltax),
            ("total", want.totalamount),
        )
    }
    subtotals = [
        (g["category_value"], g["line_count"], g["amount"], g["total"]) for g in body["categories"]
    ]
    assert sorted(subtotals) == [
        (
            cat,
            len(group := [l for l in want.lines if l.category == cat]),
            _money(sum((l.amount for l in group), Decimal(0)), p),
            _money(sum((l.total for l in group), Decimal(0)), p),
        )
        for cat in range(1, 6)
    ]
    record = mapping.invoice_record(draft)
    assert (
        record["w365_cyclestart"],
        record["w365_cycleend"],
        record["w365_invoicedate"],
        record["duedate"],
    ) == (
        want.cycle_start.isoformat(),
        want.cycle_end.isoformat(),
        want.invoice_date.isoformat(),
        want.due_date.isoformat(),
    )
    assert (
        record["w365_category"],
        record["totallineitemamount"],
        record["discountamount"],
        record["totaltax"],
        record["totalamount"],
    ) == (
        want.category,
        want.totallineitemamount,
        want.discountamount,
        want.totaltax,
        want.totalamount,
    )
    for detail, line in zip(record["invoice_details"], want.lines, strict=True):
        assert (
            detail["w365_linecategory"],
            Fraction(detail["quantity"]),
            Fraction(detail["priceperunit"]),
            detail["baseamount"],
            detail["manualdiscountamount"],
            detail["tax"],
            detail["extendedamount"],
            detail["w365_istaxable"],
        ) == (
            line.category,
            line.quantity,
            line.unit_price,
            line.amount,
            line.discount,
            line.tax,
            line.total,
            line.taxable,
        )
        assert detail["w365_prorationfactor"] == oracle.round_money(line.proration_factor, 10)
        binds = {k: v for k, v in detail.items() if k.endswith("@odata.bind")}
        assert binds == {
            k: v
            for k, v in (
                (
                    "w365_Subscription@odata.bind",
                    line.subscription_id and f"/w365_subscriptions({line.subscription_id})",
                ),
                (
                    "w365_LicenseChangeLog@odata.bind",
                    line.lcl_id and f"/w365_licensechangelogs({line.lcl_id})",
                ),
                (
                    "w365_NonRecurringItem@odata.bind",
                    line.nri_id and f"/w365_nonrecurringitems({line.nri_id})",
                ),
            )
            if v
        }


# ------------------------------------------------------------------------------ tests

_S = {
    "w365_billingcontractid": CONTRACT_ID,
    "w365_type": 1,
    "w365_billingpolicy": 1,
    "w365_prorateunit": 1,
    "w365_startdate": "2026-01-01",
    "w365_billingfrequency": 3,
}


def _case(contract: dict, subs=(), lcls=(), usage=(), nris=(), precision=2) -> dict:
    return {
        "contract": {**_S, **contract},
        "currency": {"currencyprecision": precision},
        "subscriptions": list(subs),
        "lcls": list(lcls),
        "usage": list(usage),
        "nris": list(nris),
        "schedules": [],
    }


def _sub(sid: str, btype: int = 1, price: str = "12.00", **kw) -> dict:
    return {
        "w365_subscriptionid": sid,
        "w365_name": sid,
        "w365_billingtype": btype,
        "w365_priceperunit": Decimal(price),
        "w365_billable": True,
        **kw,
    }


def _lcl(lid: str, sid: str, d: str, delta: str, status: int = 1, **kw) -> dict:
    return {
        "w365_licensechangelogid": lid,
        "_w365_subscription_value": sid,
        "w365_effectivedate": d,
        "w365_quantitychange": Decimal(delta),
        "statuscode": status,
        **kw,
    }


# DESIGN §4.8 worked example (mid-cycle change, Days) as an anchor for both sides.
WORKED = _case(
    {"w365_taxpercent": Decimal(10)},
    [_sub("s1", w365_istaxable=True)],
    [_lcl("l1", "s1", "2026-01-01", "10"), _lcl("l2", "s1", "2026-02-15", "4")],
)


def _nri(nid: str, d: str, qty: str = "1", price: str = "5.00", **kw) -> dict:
    return {
        "w365_nonrecurringitemid": nid,
        "w365_name": nid,
        "w365_effectivedate": d,
        "w365_quantity": Decimal(qty),
        "w365_unitprice": Decimal(price),
        "statuscode": 1,
        **kw,
    }


# Fine points of §4.9 pinned so that every CI run covers them.
REFUND_TIE = (
    # −1 × 0.03 × 3 × 15/90 = −0.015 → −0.02 (ties away from zero); tax on the credit
    _case(
        {
            "w365_applyrefunds": True,
            "w365_discountpercent": Decimal(10),
            "w365_taxpercent": Decimal(50),
        },
        [_sub("s1", price="0.03", w365_istaxable=True)],
        [_lcl("l1", "s1", "2026-01-01", "2"), _lcl("l2", "s1", "2026-03-17", "-1")],
    )
)
TINY_DECREASE = _case(  # no refunds, but −0.0003 rounds to 0.00: sign test on the rounded amount
    {"w365_billingfrequency": 1}, [_sub("s1", price="0.01")], [_lcl("l2", "s1", "2026-01-31", "-1")]
)
LEAP_MONTHS = _case(  # S = Feb 29, Annual, Months proration of a last cycle cut mid-month
    {
        "w365_billingfrequency": 12,
        "w365_startdate": "2024-02-29",
        "w365_enddate": "2025-01-15",
        "w365_prorateunit": 2,
        "w365_billingpolicy": 2,
    },
    [_sub("s1", price="9.99"), _sub("s0", btype=2, price="1.00")],
    [_lcl("l1", "s1", "2024-02-29", "3"), _lcl("l0", "s0", "2023-12-01", "1")],
)
ZERO_USAGE = _case(  # Σ 0 and no minimum: no Usage line, yet its records go with the invoice
    {},
    [_sub("u1", btype=3, w365_minimumcommitment=None)],
    usage=[
        {
            "w365_usagerecordid": "r1",
            "_w365_subscription_value": "u1",
            "w365_chargedate": "2026-02-01",
            "w365_amount": Decimal(0),
            "statuscode": 1,
        }
    ],
    nris=[_nri("n1", "2026-03-31"), _nri("n2", "2026-04-01")],
)


@DIFFERENTIAL
@given(invoice_cases())
@example((WORKED, "2026-01-01", date(2026, 1, 1)))
@example((WORKED, "2026-04-01", date(2026, 1, 1)))
@example((REFUND_TIE, "2026-01-01", date(2026, 1, 1)))
@example((TINY_DECREASE, "2026-01-01", date(2026, 1, 1)))
@example((LEAP_MONTHS, "2024-02-29", date(2024, 3, 1)))
@example((ZERO_USAGE, "2026-01-01", date(2026, 1, 1)))
def test_engine_invoice_equals_oracle(case) -> None:
    rows, key, as_of = case
    assert_same_invoice(rows, key, as_of)


@DIFFERENTIAL
@given(contract_rows(), st.integers(-400, 6 * 366), st.integers(0, 3))
def test_engine_cycle_list_equals_oracle(rows, offset, cycle_range) -> None:
    c = oracle.read_contract(rows["contract"], rows["currency"])
    as_of = c.S + timedelta(days=offset)
    want, want_default = oracle.list_cycles(rows, as_of, cycle_range)
    got = list_cycles(engine_data(rows), as_of, cycle_range)
    assert [
        (o.key, o.start, o.end, o.status.value, {(i.id, i.number) for i in o.invoices})
        for o in got.options
    ] == [(w.key, w.start, w.end, w.status, set(w.invoices)) for w in want]
    assert got.default == want_default
    if want_default is not None:  # no key: the default cycle is the one built
        assert build_invoice(engine_data(rows), None, as_of, cycle_range).cycle_key == want_default
    else:
        with pytest.raises(NoCycleAvailable):
            build_invoice(engine_data(rows), None, as_of, cycle_range)


def test_worked_example_through_oracle() -> None:
    """The oracle itself reproduces DESIGN §4.8 (so a shared misreading cannot pass silently)."""
    inv = oracle.build(WORKED, "2026-01-01", date(2026, 1, 1))
    assert [l.amount for l in inv.lines] == [Decimal("360.00"), Decimal("72.00")]
    assert (inv.totaltax, inv.totalamount, inv.due_date) == (
        Decimal("43.20"),
        Decimal("475.20"),
        date(2026, 1, 31),
    )
    rows = _case(
        {
            "w365_billingfrequency": 12,
            "w365_startdate": "2025-07-01",
            "w365_enddate": "2026-03-15",
            "w365_billingpolicy": 2,
            "w365_prorateunit": 2,
        },
        [_sub("s1", price="20.00")],
        [_lcl("l1", "s1", "2025-07-01", "2")],
    )
    assert oracle.build(rows, "2025-07-01", date(2026, 1, 1)).lines[0].amount == Decimal("339.35")
    rows["contract"]["w365_prorateunit"] = 1
    assert oracle.build(rows, "2025-07-01", date(2026, 1, 1)).lines[0].amount == Decimal("339.29")


def test_pinned_fine_points_through_oracle() -> None:
    """The pinned examples mean what their comments say (hand-computed from DESIGN §4.3/§4.9)."""
    inv = oracle.build(REFUND_TIE, "2026-01-01", date(2026, 1, 1))
    assert [(l.amount, l.discount, l.tax) for l in inv.lines] == [
        (Decimal("0.18"), Decimal("0.02"), Decimal("0.08")),
        (Decimal("-0.02"), Decimal("0.00"), Decimal("-0.01")),
    ]
    inv = oracle.build(TINY_DECREASE, "2026-01-01", date(2026, 1, 1))
    assert [(l.category, l.amount) for l in inv.lines] == [(oracle.CAT_MID, Decimal("0.00"))]
    inv = oracle.build(LEAP_MONTHS, "2024-02-29", date(2024, 3, 1))
    assert inv.lines[0].proration_factor == (10 + Fraction(18, 31)) / 12
    assert inv.invoice_date == date(2025, 1, 15)
    inv = oracle.build(ZERO_USAGE, "2026-01-01", date(2026, 1, 1))
    assert [l.nri_id for l in inv.lines] == ["n1"] and inv.consumed_usage_ids == ["r1"]


def test_invalid_keys_agree() -> None:
    """Keys that name no existing cycle are refused by both sides."""
    rows = _case({"w365_enddate": "2026-05-10"})
    for key in ("2026-01-02", "2026-07-01", ONE_TIME):
        with pytest.raises(oracle.InvalidCycle):
            oracle.build(rows, key, date(2026, 1, 1))
        with pytest.raises(UnknownCycle):
            build_invoice(engine_data(rows), key, date(2026, 1, 1))
