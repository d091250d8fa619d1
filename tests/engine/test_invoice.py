"""Discount/tax/totals §4.4, nothing to invoice §4.5, dates §4.6, re-invoicing §4.7, order §4.9."""

from dataclasses import replace
from decimal import Decimal

import pytest

from plugin.engine import (
    NOTHING_TO_INVOICE,
    BillingPolicy,
    BillingType,
    CycleStatus,
    LineCategory,
    ScheduleStatus,
    already_invoiced_warning,
    build_invoice,
    InvoiceRef,
    InvalidRecord,
)

from .builders import archive, contract, d, data, lcl, nri, schedule, sub, usage

AS_OF = d("2026-01-15")


def test_discount_then_tax_on_the_discounted_amount():
    s = sub(price="12.00", taxable=True)
    c = contract(months=3, discount_percent=Decimal("15"), tax_percent=Decimal("7.5"))
    (line,) = build_invoice(data(c, [s], [lcl(s, "2026-01-01", 10)]), "2026-01-01", AS_OF).lines
    assert (str(line.amount), str(line.discount), str(line.tax), str(line.total)) == (
        "360.00",
        "54.00",
        "22.95",
        "328.95",
    )


def test_non_taxable_lines_have_no_tax():
    s = sub(price="10.00", taxable=False)
    c = contract(tax_percent=Decimal("20"))
    (line,) = build_invoice(data(c, [s], [lcl(s, "2026-01-01", 1)]), "2026-01-01", AS_OF).lines
    assert (str(line.tax), str(line.total)) == ("0.00", "10.00")


@pytest.mark.parametrize(
    "unit_price, quantity, discount, tax",
    [
        ("0.05", 1, "0.01", "0.01"),  # 10 % of 0.05 = 0.005 → 0.01; 25 % of 0.04 = 0.01
        ("0.05", -1, "-0.01", "-0.01"),  # ties away from zero on credits
    ],
)
def test_discount_and_tax_half_up_ties_with_sign(unit_price, quantity, discount, tax):
    c = contract(discount_percent=Decimal("10"), tax_percent=Decimal("25"))
    draft = build_invoice(
        data(c, nris=[nri("2026-01-02", quantity, unit_price, taxable=True)]), "2026-01-01", AS_OF
    )
    (line,) = draft.lines
    assert (str(line.discount), str(line.tax)) == (discount, tax)
    assert line.total == line.amount - line.discount + line.tax


def test_tax_tie_on_the_discounted_amount():
    # amount 1.00, discount 5 % = 0.05, tax 10 % of 0.95 = 0.095 → 0.10 (never round 0.095 down)
    c = contract(discount_percent=Decimal("5"), tax_percent=Decimal("10"))
    (line,) = build_invoice(
        data(c, nris=[nri("2026-01-02", 1, "1.00", taxable=True)]), "2026-01-01", AS_OF
    ).lines
    assert (str(line.discount), str(line.tax), str(line.total)) == ("0.05", "0.10", "1.05")


def test_totals_are_sums_of_rounded_lines_and_credits_carry_sign():
    a, b = sub("A", "3.33", taxable=True), sub("B", "1.01", taxable=True)
    logs = [lcl(a, "2026-01-01", 1), lcl(b, "2026-01-01", 1), lcl(a, "2026-01-20", -1)]
    c = contract(apply_refunds=True, discount_percent=Decimal("3.3"), tax_percent=Decimal("8.25"))
    draft = build_invoice(data(c, [a, b], logs), "2026-01-01", AS_OF)
    assert any(l.amount < 0 for l in draft.lines)
    t = draft.totals
    assert t.amount == sum(l.amount for l in draft.lines)
    assert t.discount == sum(l.discount for l in draft.lines)
    assert t.tax == sum(l.tax for l in draft.lines)
    assert t.total == sum(l.total for l in draft.lines) == t.amount - t.discount + t.tax
    credit = [l for l in draft.lines if l.amount < 0][0]
    assert credit.discount <= 0 and credit.tax <= 0 and credit.total < 0


@pytest.mark.parametrize(
    "precision, amounts, totals",
    [
        (0, ["360", "72"], ("432", "0", "43", "475")),
        (2, ["360.00", "72.00"], ("432.00", "0.00", "43.20", "475.20")),
        (3, ["360.000", "72.000"], ("432.000", "0.000", "43.200", "475.200")),
    ],
)
def test_currency_precision(precision, amounts, totals):
    s = sub("License", "12.00", taxable=True)
    c = contract(months=3, precision=precision, tax_percent=Decimal(10))
    draft = build_invoice(
        data(c, [s], [lcl(s, "2026-01-01", 10), lcl(s, "2026-02-15", 4)]), "2026-01-01", AS_OF
    )
    assert [str(l.amount) for l in draft.lines] == amounts
    t = draft.totals
    assert (str(t.amount), str(t.discount), str(t.tax), str(t.total)) == totals


def test_precision_zero_taxes_round_per_line():
    # two lines of 5 at 10 % → 0.5 → 1 each; total tax 2 (sum of rounded), not round(1.0) = 1
    a, b = sub("A", "5", taxable=True), sub("B", "5", taxable=True)
    c = contract(precision=0, tax_percent=Decimal(10))
    draft = build_invoice(
        data(c, [a, b], [lcl(a, "2026-01-01", 1), lcl(b, "2026-01-01", 1)]), "2026-01-01", AS_OF
    )
    assert str(draft.totals.tax) == "2"


@pytest.mark.parametrize(
    "policy, invoice_date",
    [(BillingPolicy.ADVANCE, "2026-02-01"), (BillingPolicy.ARREARS, "2026-02-28")],
)
def test_dates_follow_the_policy(policy, invoice_date):
    s = sub()
    c = contract(policy=policy, payment_terms_days=45, offset_days=3)
    draft = build_invoice(data(c, [s], [lcl(s, "2026-01-01", 1)]), "2026-02-01", AS_OF)
    inv = d(invoice_date)
    assert draft.invoice_date == inv
    assert (draft.due_date - inv).days == 45 and (draft.schedule_date - inv).days == 3


def test_arrears_on_a_clipped_cycle_invoices_on_the_end_date():
    s = sub()
    c = contract(policy=BillingPolicy.ARREARS, end="2026-02-10")
    draft = build_invoice(data(c, [s], [lcl(s, "2026-01-01", 1)]), "2026-02-01", AS_OF)
    assert str(draft.invoice_date) == "2026-02-10" and str(draft.due_date) == "2026-03-12"


def test_nothing_to_invoice():
    draft = build_invoice(data(contract(), [sub()]), "2026-01-01", AS_OF)
    assert (
        draft.nothing_to_invoice
        and draft.lines == ()
        and NOTHING_TO_INVOICE == "nothing to invoice"
    )
    assert str(draft.totals.total) == "0.00"


def test_re_invoicing_warns_and_bills_full_cycle_again_but_only_unconsumed_items():
    s = sub("License", "10.00")
    u = sub("Usage", "0", billing_type=BillingType.USAGE)
    logs = [lcl(s, "2026-01-01", 2), lcl(s, "2026-01-16", 1)]
    cd = data(
        contract(apply_refunds=True),
        [s, u],
        logs,
        usages=[usage(u, "2026-01-03", "9.99")],
        nris=[nri("2026-01-04")],
    )
    first = build_invoice(cd, "2026-01-01", AS_OF)
    assert len(first.lines) == 4 and first.warnings == () and first.existing_invoices == ()
    invoiced = replace(
        archive(cd, first),
        schedules=(schedule("2026-01-01", invoice_id="inv-12"),),
        cycle_invoices={"2026-01-01": (InvoiceRef("inv-12", "INV-00012"),)},
    )
    again = build_invoice(invoiced, "2026-01-01", AS_OF)
    assert again.option.status == CycleStatus.INVOICED and again.already_invoiced
    assert [(l.category, str(l.amount)) for l in again.lines] == [
        (LineCategory.FULL_CYCLE, "20.00")
    ]
    assert again.consumption.change_log_ids == () and again.consumption.nri_ids == ()
    assert again.existing_invoices == (InvoiceRef("inv-12", "INV-00012"),)
    assert again.warnings == (
        "Already invoiced (INV-00012): an additional invoice will be created",
    )


def test_warning_names_every_existing_invoice():
    assert (
        already_invoiced_warning((InvoiceRef("a", "INV-00012"), InvoiceRef("b", "INV-00015")))
        == "Already invoiced (INV-00012, INV-00015): an additional invoice will be created"
    )
    assert already_invoiced_warning(()) == "Already invoiced: an additional invoice will be created"


def test_error_cycles_do_not_warn():
    s = sub()
    cd = data(
        contract(),
        [s],
        [lcl(s, "2026-01-01", 1)],
        schedules=[schedule("2026-01-01", ScheduleStatus.ERROR)],
    )
    draft = build_invoice(cd, "2026-01-01", AS_OF)
    assert (
        draft.option.status == CycleStatus.ERROR
        and draft.warnings == ()
        and not draft.already_invoiced
    )


def test_line_order_and_numbers():
    b = sub("Beta", id="sub-b")
    a2, a1 = sub("Alpha", id="sub-a2"), sub("Alpha", id="sub-a1")
    svc = sub("Alpha Support", billing_type=BillingType.SERVICE, id="sub-s")
    uz, ua = (
        sub(n, "0", billing_type=BillingType.USAGE, minimum_commitment=Decimal(1), id=f"u-{n}")
        for n in ("Zulu", "Able")
    )
    logs = [lcl(x, "2026-01-01", 1) for x in (b, a2, a1, svc)] + [
        lcl(b, "2026-01-20", 1, id="lcl-2"),
        lcl(a1, "2026-01-10", 1, id="lcl-9"),
        lcl(b, "2026-01-10", 1, id="lcl-3"),
    ]
    items = [
        nri("2026-01-09", id="nri-2"),
        nri("2026-01-02", id="nri-9"),
        nri("2026-01-09", id="nri-1"),
    ]
    draft = build_invoice(
        data(contract(), [b, a2, a1, svc, uz, ua], logs, nris=items), "2026-01-01", AS_OF
    )
    got = [
        (l.number, l.category, l.subscription_id or l.nri_id, l.change_log_id) for l in draft.lines
    ]
    assert got == [
        (1, LineCategory.FULL_CYCLE, "sub-a1", None),
        (2, LineCategory.FULL_CYCLE, "sub-a2", None),
        (3, LineCategory.SERVICE, "sub-s", None),
        (4, LineCategory.FULL_CYCLE, "sub-b", None),
        (5, LineCategory.MID_CYCLE_CHANGE, "sub-b", "lcl-3"),
        (6, LineCategory.MID_CYCLE_CHANGE, "sub-a1", "lcl-9"),
        (7, LineCategory.MID_CYCLE_CHANGE, "sub-b", "lcl-2"),
        (8, LineCategory.USAGE, "u-Able", None),
        (9, LineCategory.USAGE, "u-Zulu", None),
        (10, LineCategory.NON_RECURRING, "nri-9", None),
        (11, LineCategory.NON_RECURRING, "nri-1", None),
        (12, LineCategory.NON_RECURRING, "nri-2", None),
    ]


def test_absurd_payment_terms_are_bad_data_not_a_crash():
    s = sub()
    cd = data(contract(payment_terms_days=10**9), [s], [lcl(s, "2026-01-01", 1)])
    with pytest.raises(InvalidRecord) as err:
        build_invoice(cd, "2026-01-01", AS_OF)
    assert err.value.details == {"column": "w365_paymenttermsdays"}
