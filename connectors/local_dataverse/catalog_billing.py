"""The billing product's tables (assumed present in an org), as entity metadata."""

from __future__ import annotations

from connectors.dataverse import metadata_shapes as m
from .catalog_builder import ACTIVE, ACTIVE_STATUS, Catalog, Lookup, strings

_UNBILLED = {1: "Unbilled", 2: "Invoiced"}


def _contract() -> Lookup:
    return Lookup("w365_billingcontract", "w365_billingcontract", "w365_BillingContract")


def _invoice() -> Lookup:
    return Lookup("w365_invoice", "invoice", "w365_Invoice")


def _subscription() -> Lookup:
    return Lookup("w365_subscription", "w365_subscription", "w365_Subscription")


def add_billing(c: Catalog) -> None:
    """Billing contracts, schedules, subscriptions, change logs, one-time items, usage."""
    c.table("w365_BillingContract", "w365_billingcontracts", "w365_name", [
        m.string("w365_name", 200),
        Lookup("w365_customer", "account", "w365_Customer"),
        m.picklist("w365_type", {1: "Recurring", 2: "Item Based"}),
        m.picklist("w365_billingfrequency", {1: "Monthly", 3: "Quarterly", 12: "Annual",
                                             36: "Triennial"}),
        m.picklist("w365_billingpolicy", {1: "Advance", 2: "Arrears"}),
        m.picklist("w365_prorateunit", {1: "Days", 2: "Months"}),
        m.date_only("w365_startdate"), m.date_only("w365_enddate"),
        m.boolean("w365_invoiceotpimmediately"),
        m.integer("w365_invoiceoffsetdays"), m.integer("w365_paymenttermsdays"),
        Lookup("transactioncurrencyid", "transactioncurrency", "transactioncurrencyid",
               relationship="transactioncurrency_w365_billingcontract"),
        m.decimal("w365_discountpercent"), m.decimal("w365_taxpercent"),
        *[m.boolean(n) for n in ("w365_applyrefunds", "w365_autosend", "w365_autosync",
                                 "w365_autocharge")],
        Lookup("w365_primarybillingcontact", "contact", "w365_PrimaryBillingContact"),
    ], state=ACTIVE, status=ACTIVE_STATUS)
    c.table("w365_BillingSchedule", "w365_billingschedules", "w365_name", [
        m.string("w365_name", 300), _contract(),
        *[m.date_only(n) for n in ("w365_cyclestart", "w365_cycleend", "w365_scheduledate")],
        _invoice(), m.date_time("w365_rundate"),
        m.picklist("w365_runtype", {1: "Manual", 2: "Automatic"}),
        m.string("w365_correlationid"), m.memo("w365_message", 4000),
    ], state=ACTIVE, status={1: "Pending", 2: "Error", 3: "Invoiced"},
        keys={"w365_contractcycle": ("w365_billingcontract", "w365_cyclestart")})
    c.table("w365_Subscription", "w365_subscriptions", "w365_name", [
        m.string("w365_name", 200), _contract(),
        m.picklist("w365_billingtype", {1: "License", 2: "Service", 3: "Usage"}),
        m.decimal("w365_quantity"), m.money("w365_priceperunit"),
        m.date_only("w365_effectivestartdate"), m.date_only("w365_enddate"),
        m.boolean("w365_billable"), m.boolean("w365_istaxable"), m.money("w365_minimumcommitment"),
    ], state=ACTIVE, status=ACTIVE_STATUS)
    c.table("w365_LicenseChangeLog", "w365_licensechangelogs", "w365_name", [
        m.string("w365_name", 200), _subscription(), _contract(),
        m.picklist("w365_changetype", {1: "Create", 2: "Update", 3: "Deactivate"}),
        m.date_only("w365_effectivedate"), m.decimal("w365_quantitychange"),
        m.money("w365_priceperunit"), _invoice(),
    ], state=ACTIVE, status={1: "Active", 2: "Archived"})
    c.table("w365_NonRecurringItem", "w365_nonrecurringitems", "w365_name", [
        m.string("w365_name", 200), _contract(), m.decimal("w365_quantity"),
        m.money("w365_unitprice"), m.date_only("w365_effectivedate"), m.boolean("w365_istaxable"),
        _invoice(),
    ], state=ACTIVE, status=_UNBILLED)
    c.table("w365_UsageRecord", "w365_usagerecords", "w365_name", [
        m.string("w365_name", 200), _subscription(), _contract(), m.date_only("w365_chargedate"),
        m.money("w365_amount"), _invoice(),
    ], state=ACTIVE, status=_UNBILLED)


def shipped_catalog() -> Catalog:
    """Every table a fresh local Dataverse holds: the standard ones and the billing product's."""
    from .catalog_standard import add_standard

    c = Catalog()
    add_standard(c)
    add_billing(c)
    return c


__all__ = ["shipped_catalog", "add_billing", "strings"]
