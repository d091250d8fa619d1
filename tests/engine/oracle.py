"""Reference implementation of DESIGN §4, written from the text alone, for differential tests.

Deliberately simple and slow: exact `Fraction` arithmetic, brute-force cycle search, one
`round_money` call per rounded value. Input is plain Dataverse-shaped rows (DESIGN §3):
`_x_value` lookups, DateOnly strings, `Decimal` money, integer choices, possibly-null columns.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

ONE_TIME = "one-time"

# Choice values (DESIGN §3)
RECURRING, ITEM_BASED = 1, 2
ADVANCE, ARREARS = 1, 2
DAYS, MONTHS = 1, 2
LICENSE, SERVICE, USAGE = 1, 2, 3
CAT_FULL, CAT_MID, CAT_USAGE, CAT_NRI, CAT_SERVICE = 1, 2, 3, 4, 5
LCL_ACTIVE, LCL_ARCHIVED = 1, 2
UNBILLED = 1

ONE_DAY = timedelta(days=1)


# ---------------------------------------------------------------- helpers


def to_date(value: Any) -> date | None:
    """DateOnly string (or date) to `date`; None stays None."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def frac(value: Any, default: int = 0) -> Fraction:
    """Exact Fraction of a Decimal/int/str column; null reads as `default`."""
    if value is None:
        return Fraction(default)
    return Fraction(Decimal(str(value)) if not isinstance(value, Decimal) else value)


def flag(value: Any) -> bool:
    """Boolean column; null reads as false."""
    return bool(value)


def days(a: date, b: date) -> int:
    """days([a, b]) = b − a + 1 (0 for an empty interval)."""
    return max((b - a).days + 1, 0)


def round_money(x: Fraction, precision: int) -> Decimal:
    """Round an exact value once, ROUND_HALF_UP (ties away from zero) at `precision` places."""
    scaled = abs(x) * Fraction(10) ** precision
    n = int(scaled + Fraction(1, 2))  # floor(|x|·10^p + ½) = half-up on the magnitude
    if x < 0:
        n = -n
    return Decimal(n).scaleb(-precision) if precision else Decimal(n)


def to_decimal_exact(x: Fraction) -> Decimal:
    """Fraction with a terminating decimal expansion as an exact Decimal (for unit prices/qty)."""
    d = Decimal(x.numerator) / Decimal(x.denominator)
    assert Fraction(d) == x, f"non-terminating {x}"
    return d


def add_months(d: date, n: int) -> date:
    """Same day of month as `d`, n months later, clamped to that month's last day."""
    total = d.year * 12 + (d.month - 1) + n
    year, month = divmod(total, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(d.day, last))


# ---------------------------------------------------------------- contract view


@dataclass
class Contract:
    """The columns of the contract the rules read, with §4.9 null defaults applied."""

    id: str
    type: int
    M: int
    policy: int
    prorate: int
    S: date
    E: date | None
    otp_immediately: bool
    offset: int
    terms: int
    precision: int
    discount_pct: Fraction
    tax_pct: Fraction
    apply_refunds: bool


def read_contract(contract: dict, currency: dict | None) -> Contract:
    """Contract row (+ its currency row) to the oracle's view."""
    precision = None if currency is None else currency.get("currencyprecision")
    return Contract(
        id=contract["w365_billingcontractid"],
        type=contract.get("w365_type") or RECURRING,
        M=contract.get("w365_billingfrequency"),
        policy=contract.get("w365_billingpolicy") or ADVANCE,
        prorate=contract.get("w365_prorateunit") or DAYS,
        S=to_date(contract["w365_startdate"]),
        E=to_date(contract.get("w365_enddate")),
        otp_immediately=flag(contract.get("w365_invoiceotpimmediately")),
        offset=(
            1
            if contract.get("w365_invoiceoffsetdays") is None
            else contract["w365_invoiceoffsetdays"]
        ),
        terms=(
            30
            if contract.get("w365_paymenttermsdays") is None
            else contract["w365_paymenttermsdays"]
        ),
        precision=2 if precision is None else precision,
        discount_pct=frac(contract.get("w365_discountpercent")),
        tax_pct=frac(contract.get("w365_taxpercent")),
        apply_refunds=flag(contract.get("w365_applyrefunds")),
    )


# ---------------------------------------------------------------- §4.1 cycles


@dataclass(frozen=True)
class Cycle:
    index: int
    fs: date  # full start
    fe: date  # full end
    cs: date  # effective start
    ce: date  # effective end

    @property
    def key(self) -> str:
        return self.fs.isoformat()


def full_cycle(c: Contract, i: int) -> tuple[date, date]:
    """Full cycle i, always from S."""
    return add_months(c.S, i * c.M), add_months(c.S, (i + 1) * c.M) - ONE_DAY


def cycle(c: Contract, i: int) -> Cycle | None:
    """Cycle i, or None when it does not exist (starts after E)."""
    if i < 0:
        return None
    fs, fe = full_cycle(c, i)
    if c.E is not None and fs > c.E:
        return None
    ce = fe if c.E is None else min(fe, c.E)
    return Cycle(i, fs, fe, fs, ce)


def full_index_containing(c: Contract, d: date) -> int:
    """Index of the full (unclipped) cycle containing d; −1 before S. Brute force."""
    if d < c.S:
        return -1
    i = 0
    while True:
        fs, fe = full_cycle(c, i)
        if fs <= d <= fe:
            return i
        i += 1


def cycle_by_key(c: Contract, key: str) -> Cycle | None:
    """The existing cycle whose key is `key`, else None."""
    if c.type != RECURRING:
        return None
    try:
        d = date.fromisoformat(key)
    except (TypeError, ValueError):
        return None
    i = full_index_containing(c, d)
    cyc = cycle(c, i)
    return cyc if cyc is not None and cyc.fs == d else None


# ---------------------------------------------------------------- row helpers


def _ref(row: dict, lookup: str) -> str | None:
    return row.get(f"_{lookup}_value")


def subs_by_id(rows: dict) -> dict[str, dict]:
    return {s["w365_subscriptionid"]: s for s in rows.get("subscriptions", [])}


def lcls_of(rows: dict, sub_id: str) -> list[dict]:
    return [l for l in rows.get("lcls", []) if _ref(l, "w365_subscription") == sub_id]


def qty_at(rows: dict, sub_id: str, d: date) -> Fraction:
    """§4.2: Σ quantity change over the subscription's LCLs (any status) dated ≤ d."""
    return sum(
        (
            frac(l.get("w365_quantitychange"))
            for l in lcls_of(rows, sub_id)
            if to_date(l["w365_effectivedate"]) <= d
        ),
        Fraction(0),
    )


def unbilled_nris(rows: dict) -> list[dict]:
    return [n for n in rows.get("nris", []) if n.get("statuscode") == UNBILLED]


# ---------------------------------------------------------------- lines


@dataclass
class Line:
    category: int
    sort_key: tuple
    period_start: date
    period_end: date
    quantity: Fraction
    unit_price: Fraction
    proration_factor: Fraction
    exact_amount: Fraction
    taxable: bool
    subscription_id: str | None = None
    lcl_id: str | None = None
    nri_id: str | None = None
    amount: Decimal = Decimal(0)
    discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    total: Decimal = Decimal(0)


def _price(value: Any) -> Fraction:
    return frac(value)


def full_cycle_lines(c: Contract, rows: dict, cyc: Cycle) -> list[Line]:
    """Rule 1."""
    out = []
    if (cyc.cs, cyc.ce) == (cyc.fs, cyc.fe):
        f = Fraction(1)
    elif c.prorate == DAYS:
        f = Fraction(days(cyc.cs, cyc.ce), days(cyc.fs, cyc.fe))
    else:
        b = [add_months(c.S, cyc.index * c.M + j) for j in range(c.M + 1)]
        k = max(j for j in range(c.M + 1) if b[j] <= cyc.ce + ONE_DAY)
        r = Fraction(days(b[k], cyc.ce), days(b[k], b[k + 1] - ONE_DAY))
        f = (k + r) / c.M
    for sub in rows.get("subscriptions", []):
        if not flag(sub.get("w365_billable")) or sub.get("w365_billingtype") not in (
            LICENSE,
            SERVICE,
        ):
            continue
        q = qty_at(rows, sub["w365_subscriptionid"], cyc.cs)
        if q <= 0:
            continue
        unit = _price(sub.get("w365_priceperunit")) * c.M
        out.append(
            Line(
                category=CAT_FULL if sub["w365_billingtype"] == LICENSE else CAT_SERVICE,
                sort_key=(0, sub.get("w365_name") or "", sub["w365_subscriptionid"]),
                period_start=cyc.cs,
                period_end=cyc.ce,
                quantity=q,
                unit_price=unit,
                proration_factor=f,
                exact_amount=q * unit * f,
                taxable=flag(sub.get("w365_istaxable")),
                subscription_id=sub["w365_subscriptionid"],
            )
        )
    return out


def mid_cycle_lines(
    c: Contract, rows: dict, cyc: Cycle, precision: int
) -> tuple[list[Line], list[str]]:
    """Rule 2: lines and the ids of every LCL looked at (consumed)."""
    subs = subs_by_id(rows)
    out, consumed = [], []
    for lcl in rows.get("lcls", []):
        sub = subs.get(_ref(lcl, "w365_subscription"))
        if (
            sub is None
            or not flag(sub.get("w365_billable"))
            or sub.get("w365_billingtype") not in (LICENSE, SERVICE)
        ):
            continue
        if lcl.get("statuscode") != LCL_ACTIVE:
            continue
        d = to_date(lcl["w365_effectivedate"])
        if not (c.S <= d <= cyc.ce):
            continue
        consumed.append(lcl["w365_licensechangelogid"])
        K = cycle(c, full_index_containing(c, d))
        assert K is not None
        if d == K.fs:
            continue
        delta = frac(lcl.get("w365_quantitychange"))
        p = _price(
            lcl["w365_priceperunit"]
            if lcl.get("w365_priceperunit") is not None
            else sub.get("w365_priceperunit")
        )
        ratio = Fraction(days(d, K.ce), days(K.fs, K.fe))
        exact = delta * p * c.M * ratio
        if round_money(exact, precision) < 0 and not c.apply_refunds:
            continue
        out.append(
            Line(
                category=CAT_MID,
                sort_key=(1, d, lcl["w365_licensechangelogid"]),
                period_start=d,
                period_end=K.ce,
                quantity=delta,
                unit_price=p * c.M,
                proration_factor=ratio,
                exact_amount=exact,
                taxable=flag(sub.get("w365_istaxable")),
                subscription_id=sub["w365_subscriptionid"],
                lcl_id=lcl["w365_licensechangelogid"],
            )
        )
    return out, consumed


def usage_lines(
    c: Contract, rows: dict, cyc: Cycle, precision: int
) -> tuple[list[Line], list[str]]:
    """Rule 3: lines and qualifying (consumed) usage record ids."""
    out, consumed = [], []
    for sub in rows.get("subscriptions", []):
        if not flag(sub.get("w365_billable")) or sub.get("w365_billingtype") != USAGE:
            continue
        sid = sub["w365_subscriptionid"]
        recs = [
            u
            for u in rows.get("usage", [])
            if _ref(u, "w365_subscription") == sid
            and u.get("statuscode") == UNBILLED
            and to_date(u["w365_chargedate"]) <= cyc.ce
        ]
        consumed += [u["w365_usagerecordid"] for u in recs]
        total = sum((frac(u.get("w365_amount")) for u in recs), Fraction(0))
        minimum = frac(sub.get("w365_minimumcommitment"))
        if total == 0 and minimum == 0:
            continue
        exact = max(total, minimum)
        amount = round_money(exact, precision)
        out.append(
            Line(
                category=CAT_USAGE,
                sort_key=(2, sub.get("w365_name") or "", sid),
                period_start=cyc.cs,
                period_end=cyc.ce,
                quantity=Fraction(1),
                unit_price=Fraction(amount),
                proration_factor=Fraction(1),
                exact_amount=exact,
                taxable=flag(sub.get("w365_istaxable")),
                subscription_id=sid,
            )
        )
    return out, consumed


def nri_lines(nris: list[dict], start: date, end: date) -> tuple[list[Line], list[str]]:
    """Rule 4 over the given NRIs, period [start, end]."""
    out = []
    for n in nris:
        q = frac(n.get("w365_quantity"))
        p = frac(n.get("w365_unitprice"))
        out.append(
            Line(
                category=CAT_NRI,
                sort_key=(3, to_date(n["w365_effectivedate"]), n["w365_nonrecurringitemid"]),
                period_start=start,
                period_end=end,
                quantity=q,
                unit_price=p,
                proration_factor=Fraction(1),
                exact_amount=q * p,
                taxable=flag(n.get("w365_istaxable")),
                nri_id=n["w365_nonrecurringitemid"],
            )
        )
    return out, [n["w365_nonrecurringitemid"] for n in nris]


# ---------------------------------------------------------------- §4.4–4.6 the invoice


@dataclass
class Invoice:
    nothing_to_invoice: bool
    category: int | None = None  # 1 Full Cycle, 2 One-Time
    cycle_start: date | None = None
    cycle_end: date | None = None
    invoice_date: date | None = None
    due_date: date | None = None
    schedule_date: date | None = None
    lines: list[Line] = field(default_factory=list)
    totallineitemamount: Decimal = Decimal(0)
    discountamount: Decimal = Decimal(0)
    totaltax: Decimal = Decimal(0)
    totalamount: Decimal = Decimal(0)
    consumed_lcl_ids: list[str] = field(default_factory=list)
    consumed_usage_ids: list[str] = field(default_factory=list)
    consumed_nri_ids: list[str] = field(default_factory=list)
    existing_invoices: frozenset = frozenset()  # §4.7: the cycle was Invoiced when read


class InvalidCycle(Exception):
    """The key names no existing cycle of the contract."""


def _finish(c: Contract, inv: Invoice, lines: list[Line]) -> Invoice:
    """Discount, tax, totals (§4.4), ordering (§4.9), nothing to invoice (§4.5)."""
    p = c.precision
    lines = sorted(lines, key=lambda l: l.sort_key)
    for l in lines:
        l.amount = round_money(l.exact_amount, p)
        l.discount = round_money(Fraction(l.amount) * c.discount_pct / 100, p)
        l.tax = (
            round_money(Fraction(l.amount - l.discount) * c.tax_pct / 100, p)
            if l.taxable
            else round_money(Fraction(0), p)
        )
        l.total = l.amount - l.discount + l.tax
    inv.lines = lines
    if not lines:
        return Invoice(nothing_to_invoice=True, existing_invoices=inv.existing_invoices)
    inv.totallineitemamount = sum((l.amount for l in lines), Decimal(0))
    inv.discountamount = sum((l.discount for l in lines), Decimal(0))
    inv.totaltax = sum((l.tax for l in lines), Decimal(0))
    inv.totalamount = sum((l.total for l in lines), Decimal(0))
    inv.due_date = inv.invoice_date + timedelta(days=c.terms)
    inv.schedule_date = inv.invoice_date + timedelta(days=c.offset)
    return inv


def own_rows(rows: dict) -> dict:
    """Only the rows of this contract (set-based reads may return others' rows)."""
    cid = rows["contract"]["w365_billingcontractid"]
    mine = {
        k: [r for r in v if r.get("_w365_billingcontract_value") in (None, cid)]
        for k, v in rows.items()
        if isinstance(v, list)
    }
    return {**rows, **mine}


def build(rows: dict, key: str, as_of: date) -> Invoice:
    """The invoice the rules produce for cycle `key` (or "one-time") on `as_of`."""
    rows = own_rows(rows)
    c = read_contract(rows["contract"], rows.get("currency"))
    if key == ONE_TIME:
        if not (c.type == ITEM_BASED or c.otp_immediately):
            raise InvalidCycle(key)
        nris = unbilled_nris(rows)
        lines, nri_ids = nri_lines(nris, as_of, as_of)
        inv = Invoice(
            nothing_to_invoice=False,
            category=2,
            cycle_start=as_of,
            cycle_end=as_of,
            invoice_date=as_of,
            consumed_nri_ids=nri_ids,
        )
        return _finish(c, inv, lines)
    cyc = cycle_by_key(c, key)
    if cyc is None:
        raise InvalidCycle(key)
    p = c.precision
    lines = full_cycle_lines(c, rows, cyc)
    mid, lcl_ids = mid_cycle_lines(c, rows, cyc, p)
    usage, usage_ids = usage_lines(c, rows, cyc, p)
    nri_ids: list[str] = []
    nri: list[Line] = []
    if not c.otp_immediately:
        due = [n for n in unbilled_nris(rows) if to_date(n["w365_effectivedate"]) <= cyc.ce]
        nri, nri_ids = nri_lines(due, cyc.cs, cyc.ce)
    inv = Invoice(
        nothing_to_invoice=False,
        category=1,
        cycle_start=cyc.cs,
        cycle_end=cyc.ce,
        invoice_date=cyc.cs if c.policy == ADVANCE else cyc.ce,
        consumed_lcl_ids=lcl_ids,
        consumed_usage_ids=usage_ids,
        consumed_nri_ids=nri_ids,
        existing_invoices=(
            cycle_invoices(rows, cyc.key)
            if schedule_status(rows, cyc.cs) == "invoiced"
            else frozenset()
        ),
    )
    return _finish(c, inv, lines + mid + usage + nri)


# ---------------------------------------------------------------- §4.1 cycle list


@dataclass
class ListedCycle:
    key: str
    start: date
    end: date
    status: str  # "uninvoiced" | "invoiced" | "error"
    invoices: frozenset = frozenset()  # {(invoiceid, invoicenumber)}


def cycle_invoices(rows: dict, key: str) -> frozenset:
    """The existing cycle invoices (not One-Time, category 2) whose cycle start is `key`."""
    return frozenset(
        (i["invoiceid"], i.get("invoicenumber"))
        for i in rows.get("invoices", [])
        if i.get("w365_category") != 2 and i.get("w365_cyclestart") == key
    )


def schedule_status(rows: dict, cs: date) -> str:
    """Status of the cycle starting at cs from its billing schedule row (if any)."""
    for s in rows.get("schedules", []):
        if to_date(s["w365_cyclestart"]) == cs:
            if s.get("statecode") == 1 and s.get("statuscode") == 3:
                return "invoiced"
            if s.get("statecode") == 0 and s.get("statuscode") == 2:
                return "error"
            return "uninvoiced"
    return "uninvoiced"


def list_cycles(
    rows: dict, as_of: date, cycle_range: int = 2
) -> tuple[list[ListedCycle], str | None]:
    """The cycles the user can pick, and the default key."""
    rows = own_rows(rows)
    c = read_contract(rows["contract"], rows.get("currency"))
    one_time = ListedCycle(ONE_TIME, as_of, as_of, "uninvoiced")
    if c.type == ITEM_BASED:
        return [one_time], ONE_TIME
    listed = []
    k = full_index_containing(c, as_of)
    for i in range(0, k + cycle_range + 1):
        cyc = cycle(c, i)
        if cyc is None:
            break
        listed.append(
            ListedCycle(
                cyc.key,
                cyc.cs,
                cyc.ce,
                schedule_status(rows, cyc.cs),
                cycle_invoices(rows, cyc.key),
            )
        )
    default = next((x.key for x in listed if x.status != "invoiced"), None)
    if c.otp_immediately and unbilled_nris(rows):
        listed.append(one_time)
    return listed, default
