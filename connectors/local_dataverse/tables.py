"""The table registry: every table the local Dataverse serves, declared once (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# column types
GUID, STRING, INTEGER, DECIMAL, MONEY, BOOLEAN, DATEONLY, DATETIME, CHOICE, LOOKUP = (
    "Guid",
    "String",
    "Integer",
    "Decimal",
    "Money",
    "Boolean",
    "DateOnly",
    "DateTime",
    "Choice",
    "Lookup",
)

# what a `$filter` sees for each column type (odata_filter.ColumnRef.kind)
FILTER_KIND = {
    GUID: "guid",
    LOOKUP: "guid",
    STRING: "string",
    INTEGER: "int",
    CHOICE: "int",
    DECIMAL: "decimal",
    MONEY: "decimal",
    BOOLEAN: "bool",
    DATEONLY: "date",
    DATETIME: "datetime",
}


@dataclass(frozen=True)
class Column:
    """One column: its logical name, type and what that type needs (labels, lookup target)."""

    name: str
    type: str
    labels: Mapping[int, str] | None = None  # Choice labels (formatted values)
    nav: str | None = None  # Lookup: single-valued navigation property
    target: str | None = None  # Lookup: target entity set
    on_delete: str = "setnull"  # Lookup: what deleting the target does (setnull|cascade)
    readonly: bool = False  # set by the server; client values ignored
    write_only: bool = False  # never returned (serviceendpoint.authvalue)
    default: Any = None  # value on create when the client sends none

    @property
    def read_name(self) -> str:
        """The property name on read: `_x_value` for lookups."""
        return f"_{self.name}_value" if self.type == LOOKUP else self.name


@dataclass(frozen=True)
class Collection:
    """A collection-valued navigation property: rows of `target` whose lookup `fk` points here."""

    name: str
    target: str
    fk: str


@dataclass
class Table:
    """One table: entity set, logical name, key, primary name, columns, alt keys, collections."""

    entity_set: str
    logical_name: str
    primary_name: str | None
    columns: dict[str, Column]
    alternate_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    collections: dict[str, Collection] = field(default_factory=dict)

    @property
    def primary_id(self) -> str:
        return f"{self.logical_name}id"

    def __post_init__(self) -> None:
        self.by_read_name = {c.read_name: c for c in self.columns.values()}
        self.by_nav = {c.nav: c for c in self.columns.values() if c.nav}


SYSTEM_COLUMNS = ("createdon", "modifiedon", "versionnumber")


def _choice(name: str, labels: Mapping[int, str], default: int | None = None) -> Column:
    return Column(name, CHOICE, labels=labels, default=default)


def _lookup(name: str, nav: str, target: str, on_delete: str = "setnull") -> Column:
    return Column(name, LOOKUP, nav=nav, target=target, on_delete=on_delete)


def _bool(name: str) -> Column:
    return Column(name, BOOLEAN, labels={0: "No", 1: "Yes"}, default=False)


_ACTIVE = {0: "Active", 1: "Inactive"}


def _state(
    status: Mapping[int, str] | None = {1: "Active", 2: "Inactive"},
    state: Mapping[int, str] = _ACTIVE,
) -> list[Column]:
    cols = [_choice("statecode", state, default=0)]
    if status is not None:
        cols.append(_choice("statuscode", status, default=1))
    return cols


def _table(
    entity_set: str,
    logical: str,
    primary_name: str | None,
    cols: list[Column],
    *,
    keys: Mapping[str, tuple[str, ...]] | None = None,
    collections: list[Collection] | None = None,
) -> Table:
    columns = {f"{logical}id": Column(f"{logical}id", GUID)}
    for col in cols:
        columns[col.name] = col
    for name in SYSTEM_COLUMNS:
        columns[name] = Column(
            name, INTEGER if name == "versionnumber" else DATETIME, readonly=True
        )
    return Table(
        entity_set,
        logical,
        primary_name,
        columns,
        dict(keys or {}),
        {c.name: c for c in (collections or [])},
    )


def _s(*names: str) -> list[Column]:
    return [Column(n, STRING) for n in names]


_CONTRACT = _lookup("w365_billingcontract", "w365_BillingContract", "w365_billingcontracts")
_INVOICE = _lookup("w365_invoice", "w365_Invoice", "invoices")
_SUBSCRIPTION = _lookup("w365_subscription", "w365_Subscription", "w365_subscriptions")
_CURRENCY = _lookup("transactioncurrencyid", "transactioncurrencyid", "transactioncurrencies")
_UNBILLED = {1: "Unbilled", 2: "Invoiced"}
_PARAM_TYPES = {
    0: "Boolean",
    1: "DateTime",
    2: "Decimal",
    3: "Entity",
    4: "EntityCollection",
    5: "EntityReference",
    6: "Float",
    7: "Integer",
    8: "Money",
    9: "Picklist",
    10: "String",
    11: "StringArray",
    12: "Guid",
}

TABLES: dict[str, Table] = {
    t.entity_set: t
    for t in [
        # standard tables
        _table(
            "accounts",
            "account",
            "name",
            [*_s("name", "emailaddress1", "accountnumber", "telephone1"), *_state()],
        ),
        _table(
            "contacts",
            "contact",
            "fullname",
            [
                *_s("fullname", "firstname", "lastname", "emailaddress1"),
                _lookup("parentcustomerid", "parentcustomerid_account", "accounts"),
                *_state(),
            ],
        ),
        _table(
            "systemusers",
            "systemuser",
            "fullname",
            [
                *_s("fullname", "firstname", "lastname", "domainname", "internalemailaddress"),
                Column("azureactivedirectoryobjectid", GUID),
                _bool("isdisabled"),
                _choice("w365_billingrole", {0: "None", 1: "Sales", 2: "Billing", 3: "Admin"}),
            ],
        ),
        _table(
            "transactioncurrencies",
            "transactioncurrency",
            "currencyname",
            [
                *_s("isocurrencycode", "currencyname", "currencysymbol"),
                Column("currencyprecision", INTEGER),
                Column("exchangerate", DECIMAL),
                *_state(),
            ],
        ),
        # Work 365 tables
        _table(
            "w365_billingcontracts",
            "w365_billingcontract",
            "w365_name",
            [
                Column("w365_name", STRING),
                _lookup("w365_customer", "w365_Customer", "accounts"),
                _choice("w365_type", {1: "Recurring", 2: "Item Based"}),
                _choice(
                    "w365_billingfrequency",
                    {1: "Monthly", 3: "Quarterly", 12: "Annual", 36: "Triennial"},
                ),
                _choice("w365_billingpolicy", {1: "Advance", 2: "Arrears"}),
                _choice("w365_prorateunit", {1: "Days", 2: "Months"}),
                Column("w365_startdate", DATEONLY),
                Column("w365_enddate", DATEONLY),
                _bool("w365_invoiceotpimmediately"),
                Column("w365_invoiceoffsetdays", INTEGER),
                Column("w365_paymenttermsdays", INTEGER),
                _CURRENCY,
                Column("w365_discountpercent", DECIMAL),
                Column("w365_taxpercent", DECIMAL),
                _bool("w365_applyrefunds"),
                _bool("w365_autosend"),
                _bool("w365_autosync"),
                _bool("w365_autocharge"),
                _lookup("w365_primarybillingcontact", "w365_PrimaryBillingContact", "contacts"),
                *_state(),
            ],
        ),
        _table(
            "w365_billingschedules",
            "w365_billingschedule",
            "w365_name",
            [
                Column("w365_name", STRING),
                _CONTRACT,
                Column("w365_cyclestart", DATEONLY),
                Column("w365_cycleend", DATEONLY),
                Column("w365_scheduledate", DATEONLY),
                _INVOICE,
                Column("w365_rundate", DATETIME),
                _choice("w365_runtype", {1: "Manual", 2: "Automatic"}),
                *_s("w365_correlationid", "w365_message"),
                *_state({1: "Pending", 2: "Error", 3: "Invoiced"}),
            ],
            keys={"w365_contractcycle": ("w365_billingcontract", "w365_cyclestart")},
        ),
        _table(
            "w365_subscriptions",
            "w365_subscription",
            "w365_name",
            [
                Column("w365_name", STRING),
                _CONTRACT,
                _choice("w365_billingtype", {1: "License", 2: "Service", 3: "Usage"}),
                Column("w365_quantity", DECIMAL),
                Column("w365_priceperunit", MONEY),
                Column("w365_effectivestartdate", DATEONLY),
                Column("w365_enddate", DATEONLY),
                _bool("w365_billable"),
                _bool("w365_istaxable"),
                Column("w365_minimumcommitment", MONEY),
                *_state(),
            ],
        ),
        _table(
            "w365_licensechangelogs",
            "w365_licensechangelog",
            "w365_name",
            [
                Column("w365_name", STRING),
                _SUBSCRIPTION,
                _CONTRACT,
                _choice("w365_changetype", {1: "Create", 2: "Update", 3: "Deactivate"}),
                Column("w365_effectivedate", DATEONLY),
                Column("w365_quantitychange", DECIMAL),
                Column("w365_priceperunit", MONEY),
                _INVOICE,
                *_state({1: "Active", 2: "Archived"}),
            ],
        ),
        _table(
            "w365_nonrecurringitems",
            "w365_nonrecurringitem",
            "w365_name",
            [
                Column("w365_name", STRING),
                _CONTRACT,
                Column("w365_quantity", DECIMAL),
                Column("w365_unitprice", MONEY),
                Column("w365_effectivedate", DATEONLY),
                _bool("w365_istaxable"),
                _INVOICE,
                *_state(_UNBILLED),
            ],
        ),
        _table(
            "w365_usagerecords",
            "w365_usagerecord",
            "w365_name",
            [
                Column("w365_name", STRING),
                _SUBSCRIPTION,
                _CONTRACT,
                Column("w365_chargedate", DATEONLY),
                Column("w365_amount", MONEY),
                _INVOICE,
                *_state(_UNBILLED),
            ],
        ),
        _table(
            "invoices",
            "invoice",
            "name",
            [
                Column("name", STRING),
                Column("invoicenumber", STRING, readonly=True),
                _lookup("customerid", "customerid_account", "accounts"),
                _CURRENCY,
                _CONTRACT,
                _lookup("w365_billingschedule", "w365_BillingSchedule", "w365_billingschedules"),
                _lookup("w365_invoicerun", "w365_InvoiceRun", "w365_invoiceruns"),
                Column("w365_cyclestart", DATEONLY),
                Column("w365_cycleend", DATEONLY),
                Column("w365_invoicedate", DATEONLY),
                Column("duedate", DATEONLY),
                _choice("w365_category", {1: "Full Cycle", 2: "One-Time", 3: "Change Log"}),
                Column("totallineitemamount", MONEY),
                Column("discountamount", MONEY),
                Column("totaltax", MONEY),
                Column("totalamount", MONEY),
                _choice("w365_runtype", {1: "Manual", 2: "Automatic"}),
                _bool("w365_posttasksrequested"),
                *_state(
                    {
                        1: "New",
                        2: "Partially Shipped",
                        4: "Billed",
                        5: "Booked (applies to services)",
                        6: "Installed (applies to services)",
                        7: "Paid in Full",
                        100003: "Canceled",
                    },
                    {0: "Active", 1: "Closed (deprecated)", 2: "Paid", 3: "Canceled"},
                ),
            ],
            collections=[Collection("invoice_details", "invoicedetails", "invoiceid")],
        ),
        _table(
            "invoicedetails",
            "invoicedetail",
            "productdescription",
            [
                _lookup("invoiceid", "invoiceid", "invoices", on_delete="cascade"),
                Column("lineitemnumber", INTEGER),
                *_s("productdescription", "description"),
                _choice(
                    "w365_linecategory",
                    {
                        1: "Full Cycle",
                        2: "Mid-Cycle Change",
                        3: "Usage",
                        4: "Non-Recurring",
                        5: "Service",
                    },
                ),
                _SUBSCRIPTION,
                _lookup("w365_licensechangelog", "w365_LicenseChangeLog", "w365_licensechangelogs"),
                _lookup("w365_nonrecurringitem", "w365_NonRecurringItem", "w365_nonrecurringitems"),
                Column("w365_periodstart", DATEONLY),
                Column("w365_periodend", DATEONLY),
                Column("w365_prorationfactor", DECIMAL),
                Column("quantity", DECIMAL),
                Column("priceperunit", MONEY),
                Column("baseamount", MONEY),
                Column("manualdiscountamount", MONEY),
                Column("tax", MONEY),
                Column("extendedamount", MONEY),
                _bool("w365_istaxable"),
            ],
        ),
        _table(
            "w365_invoiceruns",
            "w365_invoicerun",
            "w365_name",
            [
                *_s("w365_name", "w365_runkey"),
                _choice("w365_mode", {1: "Single", 2: "Bulk"}),
                _choice("w365_source", {1: "API", 2: "Webhook", 3: "Page", 4: "CLI"}),
                Column("w365_requestjson", STRING),
                _lookup("w365_initiatinguser", "w365_InitiatingUser", "systemusers"),
                _choice("w365_status", {1: "Running", 2: "Completed", 3: "Completed with errors"}),
                *[
                    Column(n, INTEGER)
                    for n in ("w365_total", "w365_created", "w365_skipped", "w365_failed")
                ],
                Column("w365_leaseowner", STRING),
                Column("w365_leaseexpires", DATETIME),
                *_state(),
            ],
            keys={"w365_runkey": ("w365_runkey",)},
        ),
        _table(
            "w365_invoicerunitems",
            "w365_invoicerunitem",
            "w365_name",
            [
                Column("w365_name", STRING),
                _lookup(
                    "w365_invoicerun", "w365_InvoiceRun", "w365_invoiceruns", on_delete="cascade"
                ),
                Column("w365_rowindex", INTEGER),
                _CONTRACT,
                Column("w365_cyclekey", STRING),
                _bool("w365_triggerposttasks"),
                _choice("w365_result", {1: "Created", 2: "Skipped", 3: "Failed"}),
                _INVOICE,
                *_s("w365_message", "w365_correlationid"),
                *_state(),
            ],
            keys={"w365_runrow": ("w365_invoicerun", "w365_rowindex")},
        ),
        _table(
            "w365_postinvoicetasks",
            "w365_postinvoicetask",
            "w365_name",
            [
                Column("w365_name", STRING),
                _INVOICE,
                _choice("w365_tasktype", {1: "Send", 2: "Sync", 3: "Charge"}),
                _choice("w365_status", {1: "Queued", 2: "Succeeded", 3: "Failed", 4: "Skipped"}),
                Column("w365_attempts", INTEGER),
                Column("w365_message", STRING),
                Column("w365_completedon", DATETIME),
                Column("w365_signature", STRING),
                *_state(),
            ],
        ),
        # registration tables (research/dataverse-platform.md §3)
        _table(
            "serviceendpoints",
            "serviceendpoint",
            "name",
            [
                *_s(
                    "name",
                    "url",
                    "description",
                    "namespaceaddress",
                    "path",
                    "solutionnamespace",
                    "saskeyname",
                    "saskey",
                    "sastoken",
                ),
                _choice(
                    "contract",
                    {
                        1: "OneWay",
                        2: "Queue",
                        3: "Rest",
                        4: "TwoWay",
                        5: "Topic",
                        6: "Queue (Persistent)",
                        7: "Event Hub",
                        8: "Webhook",
                        9: "Event Grid",
                        10: "Managed Data Lake",
                    },
                ),
                _choice(
                    "authtype",
                    {
                        1: "ACS",
                        2: "SAS Key",
                        3: "SAS Token",
                        4: "Webhook Key",
                        5: "Http Header",
                        6: "Http Query String",
                        7: "Connection String",
                        8: "Access Key",
                    },
                ),
                Column("authvalue", STRING, write_only=True),
                Column("isauthvalueset", BOOLEAN, labels={0: "No", 1: "Yes"}, readonly=True),
                _choice("messageformat", {1: "Binary XML", 2: "Json", 3: "Text XML"}),
                _choice("connectionmode", {1: "Normal", 2: "Federated"}, default=1),
                _choice("userclaim", {1: "None", 2: "UserId", 3: "UserInfo"}, default=1),
            ],
            collections=[
                Collection(
                    "serviceendpoint_sdkmessageprocessingstep",
                    "sdkmessageprocessingsteps",
                    "eventhandler",
                )
            ],
        ),
        _table(
            "sdkmessages",
            "sdkmessage",
            "name",
            [*_s("name", "categoryname"), _bool("isprivate"), _bool("isreadonly")],
        ),
        _table(
            "sdkmessagefilters",
            "sdkmessagefilter",
            "name",
            [
                *_s("name", "primaryobjecttypecode", "secondaryobjecttypecode"),
                _lookup("sdkmessageid", "sdkmessageid", "sdkmessages", on_delete="cascade"),
                Column(
                    "iscustomprocessingstepallowed",
                    BOOLEAN,
                    labels={0: "No", 1: "Yes"},
                    default=True,
                ),
                Column("availability", INTEGER),
            ],
        ),
        _table(
            "sdkmessageprocessingsteps",
            "sdkmessageprocessingstep",
            "name",
            [
                *_s("name", "description", "filteringattributes", "configuration"),
                _lookup(
                    "eventhandler",
                    "eventhandler_serviceendpoint",
                    "serviceendpoints",
                    on_delete="cascade",
                ),
                _lookup("sdkmessageid", "sdkmessageid", "sdkmessages", on_delete="cascade"),
                _lookup(
                    "sdkmessagefilterid",
                    "sdkmessagefilterid",
                    "sdkmessagefilters",
                    on_delete="cascade",
                ),
                _lookup("impersonatinguserid", "impersonatinguserid", "systemusers"),
                _choice("stage", {10: "Pre-validation", 20: "Pre-operation", 40: "Post-operation"}),
                _choice("mode", {0: "Synchronous", 1: "Asynchronous"}, default=0),
                Column("rank", INTEGER, default=1),
                _bool("asyncautodelete"),
                _choice(
                    "supporteddeployment",
                    {
                        0: "Server Only",
                        1: "Microsoft Dynamics 365 Client for Outlook Only",
                        2: "Both",
                    },
                    default=0,
                ),
                _choice("invocationsource", {-1: "Internal", 0: "Parent", 1: "Child"}, default=0),
                *_state({1: "Enabled", 2: "Disabled"}, {0: "Enabled", 1: "Disabled"}),
            ],
        ),
        _table(
            "customapis",
            "customapi",
            "name",
            [
                *_s(
                    "uniquename",
                    "name",
                    "displayname",
                    "description",
                    "boundentitylogicalname",
                    "executeprivilegename",
                ),
                _choice(
                    "bindingtype", {0: "Global", 1: "Entity", 2: "EntityCollection"}, default=0
                ),
                _bool("isfunction"),
                _bool("isprivate"),
                _bool("workflowsdkstepenabled"),
                _choice(
                    "allowedcustomprocessingsteptype",
                    {0: "None", 1: "Async Only", 2: "Sync and Async"},
                    default=0,
                ),
                Column("iscustomizable", BOOLEAN, labels={0: "No", 1: "Yes"}, default=True),
                Column(
                    "sdkmessageid", LOOKUP, nav="SdkMessageId", target="sdkmessages", readonly=True
                ),
                *_state(),
            ],
            keys={"uniquename": ("uniquename",)},
            collections=[
                Collection(
                    "CustomAPIRequestParameters", "customapirequestparameters", "customapiid"
                ),
                Collection(
                    "CustomAPIResponseProperties", "customapiresponseproperties", "customapiid"
                ),
            ],
        ),
        _table(
            "customapirequestparameters",
            "customapirequestparameter",
            "name",
            [
                _lookup("customapiid", "CustomAPIId", "customapis", on_delete="cascade"),
                *_s("uniquename", "name", "displayname", "description", "logicalentityname"),
                _choice("type", _PARAM_TYPES),
                _bool("isoptional"),
                Column("iscustomizable", BOOLEAN, labels={0: "No", 1: "Yes"}, default=True),
                *_state(),
            ],
        ),
        _table(
            "customapiresponseproperties",
            "customapiresponseproperty",
            "name",
            [
                _lookup("customapiid", "CustomAPIId", "customapis", on_delete="cascade"),
                *_s("uniquename", "name", "displayname", "description", "logicalentityname"),
                _choice("type", _PARAM_TYPES),
                Column("iscustomizable", BOOLEAN, labels={0: "No", 1: "Yes"}, default=True),
                *_state(),
            ],
        ),
    ]
}

BY_LOGICAL_NAME: dict[str, Table] = {t.logical_name: t for t in TABLES.values()}

# standard messages every org has (the registration CLI looks some of them up)
STANDARD_MESSAGES = (
    "Create",
    "Update",
    "Delete",
    "Retrieve",
    "RetrieveMultiple",
    "Associate",
    "Disassociate",
    "SetState",
    "CreateMultiple",
    "UpdateMultiple",
    "UpsertMultiple",
)


def referencing_lookups(entity_set: str) -> list[tuple[Table, Column]]:
    """Every (table, lookup column) whose target is `entity_set`."""
    return [
        (t, c)
        for t in TABLES.values()
        for c in t.columns.values()
        if c.type == LOOKUP and c.target == entity_set
    ]
