"""Dataverse rows (DESIGN §3 read shape) ⇄ engine data, and the records written back."""

import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from plugin.engine import (
    BillingPolicy,
    BillingType,
    ContractType,
    CycleStatus,
    InvalidRecord,
    ProrateUnit,
    ScheduleStatus,
    build_invoice,
    list_cycles,
)
from plugin.invoicing.mapping import (
    SourceUpdate,
    bind,
    consumed_change_log_ids,
    consumed_nri_ids,
    consumed_usage_record_ids,
    consumption_updates,
    contract_data_from_rows,
    contract_from_row,
    invoice_record,
    schedule_record,
)

CID = "6f1c0c7e-0000-4000-8000-000000000001"
SUB, USE = "6f1c0c7e-0000-4000-8000-0000000000a1", "6f1c0c7e-0000-4000-8000-0000000000a2"


def contract_row(**over):
    row = json.loads(
        """{
      "@odata.etag": "W/\\"1001\\"", "w365_billingcontractid": "%s", "w365_name": "Fabrikam Q",
      "_w365_customer_value": "acc-1",
      "_w365_customer_value@OData.Community.Display.V1.FormattedValue": "Fabrikam",
      "w365_type": 1, "w365_billingfrequency": 3, "w365_billingpolicy": 1, "w365_prorateunit": 1,
      "w365_startdate": "2026-01-01", "w365_enddate": null, "w365_invoiceotpimmediately": false,
      "w365_invoiceoffsetdays": 1, "w365_paymenttermsdays": 30,
      "_transactioncurrencyid_value": "cur-1",
      "w365_discountpercent": 0, "w365_taxpercent": 10.0, "w365_applyrefunds": false,
      "w365_autosend": true, "w365_autosync": false, "w365_autocharge": null,
      "_w365_primarybillingcontact_value": "con-1", "statecode": 0
    }""" % CID,
        parse_float=Decimal,
    )
    row.update(over)
    return row


CURRENCY = {
    "transactioncurrencyid": "cur-1",
    "isocurrencycode": "EUR",
    "currencyprecision": 2,
    "currencysymbol": "€",
    "currencyname": "Euro",
}


def rows():
    subs = [
        {
            "@odata.etag": 'W/"2001"',
            "w365_subscriptionid": SUB,
            "w365_name": "M365 E3",
            "_w365_billingcontract_value": CID,
            "w365_billingtype": 1,
            "w365_quantity": Decimal(14),
            "w365_priceperunit": Decimal("12.0000"),
            "w365_billable": True,
            "w365_istaxable": True,
            "w365_minimumcommitment": None,
            "statecode": 0,
        },
        {
            "@odata.etag": 'W/"2002"',
            "w365_subscriptionid": USE,
            "w365_name": "Azure",
            "_w365_billingcontract_value": CID,
            "w365_billingtype": 3,
            "w365_priceperunit": Decimal(0),
            "w365_billable": True,
            "w365_istaxable": None,
            "w365_minimumcommitment": Decimal("25.0000"),
            "statecode": 0,
        },
        {
            "w365_subscriptionid": "other",
            "w365_name": "Other contract",
            "_w365_billingcontract_value": "other-contract",
            "w365_billingtype": 1,
            "w365_priceperunit": Decimal(1),
            "w365_billable": True,
        },
    ]
    lcls = [
        {
            "@odata.etag": 'W/"3001"',
            "w365_licensechangelogid": "lcl-1",
            "_w365_subscription_value": SUB,
            "_w365_billingcontract_value": CID,
            "w365_changetype": 1,
            "w365_effectivedate": "2026-01-01",
            "w365_quantitychange": Decimal("10.0000000000"),
            "w365_priceperunit": None,
            "statuscode": 1,
        },
        {
            "@odata.etag": 'W/"3002"',
            "w365_licensechangelogid": "lcl-2",
            "_w365_subscription_value": SUB,
            "_w365_billingcontract_value": CID,
            "w365_changetype": 2,
            "w365_effectivedate": "2026-02-15",
            "w365_quantitychange": 4,
            "w365_priceperunit": None,
            "statuscode": 1,
        },
    ]
    usage = [
        {
            "@odata.etag": 'W/"4001"',
            "w365_usagerecordid": "use-1",
            "_w365_subscription_value": USE,
            "_w365_billingcontract_value": CID,
            "w365_chargedate": "2026-01-20",
            "w365_amount": Decimal("30.5"),
            "statuscode": 1,
        }
    ]
    nris = [
        {
            "@odata.etag": 'W/"5001"',
            "w365_nonrecurringitemid": "nri-1",
            "w365_name": "Onboarding",
            "_w365_billingcontract_value": CID,
            "w365_quantity": Decimal(1),
            "w365_unitprice": Decimal("99.99"),
            "w365_effectivedate": "2026-01-05",
            "w365_istaxable": False,
            "statuscode": 1,
        }
    ]
    schedules = [
        {
            "@odata.etag": 'W/"6001"',
            "w365_billingscheduleid": "sch-1",
            "_w365_billingcontract_value": CID,
            "w365_cyclestart": "2026-04-01",
            "w365_cycleend": "2026-06-30",
            "_w365_invoice_value": "inv-2",
            "statecode": 1,
            "statuscode": 3,
        }
    ]
    invoices = {
        "inv-1": {
            "invoiceid": "inv-1",
            "invoicenumber": "INV-00003",
            "_w365_billingcontract_value": CID,
            "w365_cyclestart": "2026-04-01",
            "w365_category": 1,
            "createdon": "2026-04-01T08:00:00Z",
        },
        "inv-2": {
            "invoiceid": "inv-2",
            "invoicenumber": "INV-00012",
            "_w365_billingcontract_value": CID,
            "w365_cyclestart": "2026-04-01",
            "w365_category": 1,
            "createdon": "2026-04-02T08:00:00Z",
        },
        "inv-3": {
            "invoiceid": "inv-3",
            "invoicenumber": "INV-00013",
            "_w365_billingcontract_value": CID,
            "w365_cyclestart": "2026-04-01",
            "w365_category": 2,
            "createdon": "2026-04-01T09:00:00Z",
        },
    }
    return subs, lcls, usage, nris, schedules, invoices


def load(**over):
    return contract_data_from_rows(contract_row(**over), CURRENCY, *rows())


def test_contract_row_is_read_with_types_and_defaults():
    c = load().contract
    assert (c.id, c.name, c.account_id, c.account_name) == (CID, "Fabrikam Q", "acc-1", "Fabrikam")
    assert (c.type, c.months, c.policy, c.prorate_unit) == (
        ContractType.RECURRING,
        3,
        BillingPolicy.ADVANCE,
        ProrateUnit.DAYS,
    )
    assert (c.start, c.end) == (date(2026, 1, 1), None)
    assert (c.currency.id, c.currency.code, c.currency.precision) == ("cur-1", "EUR", 2)
    assert c.tax_percent == Decimal("10.0") and c.discount_percent == 0
    assert (c.autosend, c.autosync, c.autocharge, c.primary_contact_id) == (
        True,
        False,
        False,
        "con-1",
    )
    assert c.etag == 'W/"1001"'


def test_nulls_read_as_defaults():
    row = contract_row(
        w365_invoiceoffsetdays=None,
        w365_paymenttermsdays=None,
        w365_discountpercent=None,
        w365_taxpercent=None,
        w365_applyrefunds=None,
        w365_invoiceotpimmediately=None,
    )
    c = contract_from_row(row, {"transactioncurrencyid": "x", "currencyprecision": None})
    assert (c.offset_days, c.payment_terms_days, c.discount_percent, c.tax_percent) == (1, 30, 0, 0)
    assert (c.apply_refunds, c.otp_immediately, c.currency.precision) == (False, False, 2)
    c2 = contract_from_row(contract_row(), None)
    assert (c2.currency.id, c2.currency.precision) == ("cur-1", 2)


def test_child_rows_and_membership():
    cd = load()
    assert [s.id for s in cd.subscriptions] == [SUB, USE]  # other contract's row dropped
    use = cd.subscriptions_by_id[USE]
    assert (use.billing_type, use.minimum_commitment, use.taxable) == (
        BillingType.USAGE,
        Decimal("25.0000"),
        False,
    )
    assert cd.subscriptions_by_id[SUB].minimum_commitment == 0
    assert [(x.id, x.quantity_change, x.price, x.active) for x in cd.change_logs] == [
        ("lcl-1", Decimal("10.0000000000"), None, True),
        ("lcl-2", Decimal(4), None, True),
    ]
    assert cd.usage_records[0].charge_date == date(2026, 1, 20)
    assert cd.nris[0].unit_price == Decimal("99.99")
    assert (
        cd.schedules[0].status == ScheduleStatus.INVOICED and cd.schedules[0].invoice_id == "inv-2"
    )


def test_invoices_give_numbers_per_cycle_oldest_first_and_skip_one_time():
    cd = load()
    assert [(i.id, i.number) for i in cd.cycle_invoices["2026-04-01"]] == [
        ("inv-1", "INV-00003"),
        ("inv-2", "INV-00012"),
    ]
    listing = list_cycles(cd, date(2026, 4, 10))
    assert [o.status for o in listing.options][:2] == [CycleStatus.UNINVOICED, CycleStatus.INVOICED]
    assert listing.as_json()["cycles"][1]["invoices"] == [
        {"id": "inv-1", "number": "INV-00003"},
        {"id": "inv-2", "number": "INV-00012"},
    ]
    # a plain list of invoice rows works too
    cd2 = contract_data_from_rows(contract_row(), CURRENCY, *rows()[:5], list(rows()[5].values()))
    assert cd2.cycle_invoices == cd.cycle_invoices


def test_worked_example_through_rows():
    draft = build_invoice(load(), "2026-01-01", date(2026, 1, 1))
    assert [str(l.amount) for l in draft.lines] == ["360.00", "72.00", "30.50", "99.99"]
    assert str(draft.totals.total) == str(Decimal("475.20") + Decimal("30.50") + Decimal("99.99"))


@pytest.mark.parametrize(
    "column, value",
    [
        ("w365_billingfrequency", 0),
        ("w365_billingfrequency", None),
        ("w365_type", 7),
        ("w365_billingpolicy", "x"),
        ("w365_startdate", None),
        ("w365_startdate", "01/01/2026"),
        ("w365_taxpercent", 10.5),
        ("w365_discountpercent", "abc"),
        ("w365_paymenttermsdays", Decimal("1.5")),
        ("w365_billingcontractid", None),
    ],
)
def test_bad_contract_rows_raise_invalid_record(column, value):
    with pytest.raises(InvalidRecord) as err:
        contract_from_row(contract_row(**{column: value}), CURRENCY)
    assert err.value.code == "invalid_record" and 400 <= err.value.status < 500


def test_floats_in_child_rows_are_refused():
    subs, lcls, *rest = rows()
    lcls[0]["w365_quantitychange"] = 10.0
    with pytest.raises(InvalidRecord):
        contract_data_from_rows(contract_row(), CURRENCY, subs, lcls, *rest)


def test_bad_currency_precision():
    with pytest.raises(InvalidRecord):
        contract_from_row(contract_row(), {"transactioncurrencyid": "x", "currencyprecision": 11})


def test_bind_helper():
    assert bind("accounts", "abc") == "/accounts(abc)"
    assert bind("invoices", "$1") == "$1"
    assert bind("invoices", "/invoices(x)") == "/invoices(x)"


INVOICE_COLUMNS = {
    "name",
    "customerid_account@odata.bind",
    "transactioncurrencyid@odata.bind",
    "w365_BillingContract@odata.bind",
    "w365_BillingSchedule@odata.bind",
    "w365_InvoiceRun@odata.bind",
    "w365_cyclestart",
    "w365_cycleend",
    "w365_invoicedate",
    "duedate",
    "w365_category",
    "totallineitemamount",
    "discountamount",
    "totaltax",
    "totalamount",
    "w365_runtype",
    "w365_posttasksrequested",
    "statecode",
    "statuscode",
    "invoice_details",
}
LINE_COLUMNS = {
    "lineitemnumber",
    "productdescription",
    "description",
    "w365_linecategory",
    "w365_Subscription@odata.bind",
    "w365_LicenseChangeLog@odata.bind",
    "w365_NonRecurringItem@odata.bind",
    "w365_periodstart",
    "w365_periodend",
    "w365_prorationfactor",
    "quantity",
    "priceperunit",
    "baseamount",
    "manualdiscountamount",
    "tax",
    "extendedamount",
    "w365_istaxable",
}


def test_invoice_record_is_a_deep_insert_with_binds():
    draft = build_invoice(load(), "2026-01-01", date(2026, 1, 1))
    record = invoice_record(draft, schedule="$2", run="run-1", post_tasks_requested=True)
    assert set(record) == INVOICE_COLUMNS
    assert record["customerid_account@odata.bind"] == "/accounts(acc-1)"
    assert record["transactioncurrencyid@odata.bind"] == "/transactioncurrencies(cur-1)"
    assert record["w365_BillingContract@odata.bind"] == f"/w365_billingcontracts({CID})"
    assert record["w365_BillingSchedule@odata.bind"] == "$2"
    assert record["w365_InvoiceRun@odata.bind"] == "/w365_invoiceruns(run-1)"
    assert (
        record["w365_cyclestart"],
        record["w365_cycleend"],
        record["w365_invoicedate"],
        record["duedate"],
    ) == ("2026-01-01", "2026-03-31", "2026-01-01", "2026-01-31")
    assert (
        record["w365_category"],
        record["w365_runtype"],
        record["statecode"],
        record["statuscode"],
    ) == (1, 1, 0, 1)
    assert record["totalamount"] == draft.totals.total and isinstance(
        record["totalamount"], Decimal
    )
    assert record["w365_posttasksrequested"] is True
    assert record["name"] == "Fabrikam Q 2026-01-01–2026-03-31"
    lines = record["invoice_details"]
    assert all(set(line) <= LINE_COLUMNS for line in lines)
    full, mid, use, one = lines
    assert full == {
        "lineitemnumber": 1,
        "productdescription": "M365 E3",
        "description": "M365 E3",
        "w365_linecategory": 1,
        "w365_periodstart": "2026-01-01",
        "w365_periodend": "2026-03-31",
        "w365_prorationfactor": Decimal(1),
        "quantity": Decimal("10.0000000000"),
        "priceperunit": Decimal("36.0000"),
        "baseamount": Decimal("360.00"),
        "manualdiscountamount": Decimal("0.00"),
        "tax": Decimal("36.00"),
        "extendedamount": Decimal("396.00"),
        "w365_istaxable": True,
        "w365_Subscription@odata.bind": f"/w365_subscriptions({SUB})",
    }
    assert mid["w365_LicenseChangeLog@odata.bind"] == "/w365_licensechangelogs(lcl-2)"
    assert mid["w365_prorationfactor"] == Decimal("0.5000000000") and mid["quantity"] == 4
    assert (use["w365_linecategory"], use["quantity"], use["priceperunit"]) == (
        3,
        Decimal(1),
        Decimal("30.50"),
    )
    assert one["w365_NonRecurringItem@odata.bind"] == "/w365_nonrecurringitems(nri-1)"
    assert "w365_Subscription@odata.bind" not in one
    # a record is JSON-serialisable exactly (Decimal → number) by the connector; no floats inside
    assert not any(isinstance(v, float) for line in lines for v in line.values())


def test_invoice_record_without_optional_binds():
    record = invoice_record(build_invoice(load(), "2026-01-01", date(2026, 1, 1)))
    assert (
        "w365_BillingSchedule@odata.bind" not in record
        and "w365_InvoiceRun@odata.bind" not in record
    )
    assert record["w365_posttasksrequested"] is False


def test_one_time_invoice_record():
    cd = load(w365_invoiceotpimmediately=True)
    draft = build_invoice(cd, "one-time", date(2026, 5, 5))
    record = invoice_record(draft)
    assert (
        record["w365_category"],
        record["w365_cyclestart"],
        record["w365_cycleend"],
        record["w365_invoicedate"],
    ) == (2, "2026-05-05", "2026-05-05", "2026-05-05")
    assert record["name"] == "Fabrikam Q one-time 2026-05-05"
    with pytest.raises(ValueError):
        schedule_record(draft, invoice="$1", run_date=datetime(2026, 5, 5, tzinfo=timezone.utc))


def test_schedule_record():
    draft = build_invoice(load(), "2026-01-01", date(2026, 1, 1))
    rec = schedule_record(
        draft,
        invoice="$1",
        run_date=datetime(2026, 1, 1, 9, 30, tzinfo=timezone.utc),
        correlation_id="corr-1",
    )
    assert rec == {
        "w365_name": "Fabrikam Q 2026-01-01–2026-03-31",
        "w365_BillingContract@odata.bind": f"/w365_billingcontracts({CID})",
        "w365_cyclestart": "2026-01-01",
        "w365_cycleend": "2026-03-31",
        "w365_scheduledate": "2026-01-02",
        "w365_Invoice@odata.bind": "$1",
        "w365_rundate": "2026-01-01T09:30:00Z",
        "w365_runtype": 1,
        "w365_message": None,
        "w365_correlationid": "corr-1",
        "statecode": 1,
        "statuscode": 3,
    }


def test_consumption_updates_with_etags():
    draft = build_invoice(load(), "2026-01-01", date(2026, 1, 1))
    assert consumed_change_log_ids(draft) == ("lcl-1", "lcl-2")
    assert consumed_usage_record_ids(draft) == ("use-1",)
    assert consumed_nri_ids(draft) == ("nri-1",)
    updates = consumption_updates(draft, "inv-9")
    changes = {"statuscode": 2, "w365_Invoice@odata.bind": "/invoices(inv-9)"}
    assert updates == (
        SourceUpdate("w365_licensechangelogs", "lcl-1", changes, 'W/"3001"'),
        SourceUpdate("w365_licensechangelogs", "lcl-2", changes, 'W/"3002"'),
        SourceUpdate("w365_usagerecords", "use-1", changes, 'W/"4001"'),
        SourceUpdate("w365_nonrecurringitems", "nri-1", changes, 'W/"5001"'),
    )
    assert consumption_updates(draft, "$1")[0].changes["w365_Invoice@odata.bind"] == "$1"
