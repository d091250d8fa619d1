"""The invoice of one (contract, cycle): rules, discount/tax, totals, dates, warnings (docs/billing-rules.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from .cycles import DEFAULT_CYCLE_RANGE, CycleOption, CycleStatus, resolve_cycle
from .draft import Consumption, InvoiceCategory, InvoiceDraft, InvoiceLine, Totals
from .errors import InvalidRecord
from .model import BillingPolicy, ContractData, InvoiceRef
from .money import exact, round_half_up
from .rules import RuleLine, cycle_nris, full_cycle_lines, mid_cycle_lines, nri_lines, usage_lines


def build_invoice(
    data: ContractData, cycle_key: str | None, as_of: date, cycle_range: int = DEFAULT_CYCLE_RANGE
) -> InvoiceDraft:
    """The invoice `cycle_key` (None: the default cycle) would produce on `as_of`.

    Raises `UnknownCycle` / `NoCycleAvailable` (4xx). An empty `lines` is "nothing to invoice".
    """
    return build_for_option(data, resolve_cycle(data, cycle_key, as_of, cycle_range), as_of)


def build_for_option(data: ContractData, option: CycleOption, as_of: date) -> InvoiceDraft:
    """The invoice of an already-resolved cycle option (see `resolve_cycle`)."""
    contract = data.contract
    if option.cycle is None:  # one-time: every Unbilled NRI
        period = (as_of, as_of)
        rule_lines = nri_lines(data, list(data.unbilled_nris), period)
        consumption = Consumption(nri_ids=tuple(sorted(n.id for n in data.unbilled_nris)))
        invoice_date, category = as_of, InvoiceCategory.ONE_TIME
    else:
        cycle = option.cycle
        period = (cycle.start, cycle.end)
        mid, lcl_ids = mid_cycle_lines(data, cycle)
        usage, usage_ids = usage_lines(data, cycle)
        nris = cycle_nris(data, cycle)
        rule_lines = full_cycle_lines(data, cycle) + mid + usage + nri_lines(data, nris, period)
        consumption = Consumption(
            tuple(sorted(lcl_ids)), tuple(sorted(usage_ids)), tuple(sorted(n.id for n in nris))
        )
        invoice_date = cycle.start if contract.policy == BillingPolicy.ADVANCE else cycle.end
        category = InvoiceCategory.FULL_CYCLE
    lines = priced_lines(data, rule_lines)
    existing = option.invoices if option.status == CycleStatus.INVOICED else ()
    return InvoiceDraft(
        contract=contract,
        option=option,
        as_of=as_of,
        invoice_category=category,
        period_start=period[0],
        period_end=period[1],
        invoice_date=invoice_date,
        due_date=plus_days(invoice_date, contract.payment_terms_days, "w365_paymenttermsdays"),
        schedule_date=(
            None
            if option.cycle is None
            else plus_days(invoice_date, contract.offset_days, "w365_invoiceoffsetdays")
        ),
        lines=lines,
        totals=totals_of(lines, contract.currency.precision),
        consumption=consumption,
        existing_invoices=existing,
        warnings=warnings_for(option, existing),
        source_etags=source_etags(data, option, lines, consumption),
    )


def plus_days(d: date, n: int, column: str) -> date:
    """`d` + `n` days (invoice, due and schedule dates); a result outside the calendar is bad contract data, not a crash."""
    try:
        return d + timedelta(days=n)
    except OverflowError:
        message = f"{column} = {n} puts the date outside the calendar"
        raise InvalidRecord(message, column=column) from None


def priced_lines(data: ContractData, rule_lines: list[RuleLine]) -> tuple[InvoiceLine, ...]:
    """Discount and tax per line (docs/billing-rules.md); presentation order, numbered from 1."""
    contract, precision = data.contract, data.contract.currency.precision
    zero = round_half_up(0, precision)
    result = []
    for number, (_, line) in enumerate(sorted(rule_lines, key=lambda r: r.sort_key), start=1):
        discount = round_half_up(
            exact(line.amount) * exact(contract.discount_percent) / 100, precision
        )
        tax = (
            round_half_up(
                (exact(line.amount) - exact(discount)) * exact(contract.tax_percent) / 100,
                precision,
            )
            if line.taxable
            else zero
        )
        result.append(
            replace(
                line, number=number, discount=discount, tax=tax, total=line.amount - discount + tax
            )
        )
    return tuple(result)


def totals_of(lines: tuple[InvoiceLine, ...], precision: int) -> Totals:
    """Invoice totals: the sums of the rounded line values."""
    zero = round_half_up(0, precision)
    return Totals(
        amount=sum((l.amount for l in lines), zero),
        discount=sum((l.discount for l in lines), zero),
        tax=sum((l.tax for l in lines), zero),
        total=sum((l.total for l in lines), zero),
    )


def already_invoiced_warning(existing: tuple[InvoiceRef, ...]) -> str:
    """docs/interfaces.md wording: "Already invoiced (INV-00012): an additional invoice will be created"."""
    names = ", ".join(i.number or i.id for i in existing)
    return (
        f"Already invoiced ({names}): an additional invoice will be created"
        if names
        else "Already invoiced: an additional invoice will be created"
    )


def warnings_for(option: CycleOption, existing: tuple[InvoiceRef, ...]) -> tuple[str, ...]:
    """The warnings shown before Create: re-invoicing an Invoiced cycle."""
    return (already_invoiced_warning(existing),) if option.status == CycleStatus.INVOICED else ()


def source_etags(
    data: ContractData,
    option: CycleOption,
    lines: tuple[InvoiceLine, ...],
    consumption: Consumption,
) -> tuple[tuple[str, str, str], ...]:
    """(entity set, id, ETag) of every known row the invoice depends on, sorted."""
    found: set[tuple[str, str, str]] = set()

    def add(entity_set: str, row) -> None:
        if row is not None and row.etag:
            found.add((entity_set, row.id, row.etag))

    add("w365_billingcontracts", data.contract)
    add("w365_billingschedules", option.schedule)
    subs = data.subscriptions_by_id
    lcls = {c.id: c for c in data.change_logs}
    usage = {u.id: u for u in data.usage_records}
    nris = {n.id: n for n in data.nris}
    for line in lines:
        add("w365_subscriptions", subs.get(line.subscription_id or ""))
    for i in consumption.change_log_ids:
        add("w365_licensechangelogs", lcls.get(i))
        add("w365_subscriptions", subs.get(lcls[i].subscription_id))
    for i in consumption.usage_record_ids:
        add("w365_usagerecords", usage.get(i))
        add("w365_subscriptions", subs.get(usage[i].subscription_id))
    for i in consumption.nri_ids:
        add("w365_nonrecurringitems", nris.get(i))
    return tuple(sorted(found))
