"""The standard tables every org has (the columns the service uses), as entity metadata."""

from __future__ import annotations

from connectors.dataverse import metadata_shapes as m
from .catalog_builder import ACTIVE, ACTIVE_STATUS, Catalog, Lookup, strings

_PARAM_TYPES = {
    0: "Boolean", 1: "DateTime", 2: "Decimal", 3: "Entity", 4: "EntityCollection",
    5: "EntityReference", 6: "Float", 7: "Integer", 8: "Money", 9: "Picklist", 10: "String",
    11: "StringArray", 12: "Guid",
}
_CUSTOMIZABLE = {"DefaultValue": True}


def add_standard(c: Catalog) -> None:
    """The standard tables: people, money, invoices, registration and security."""
    c.table("BusinessUnit", "businessunits", "name",
            [m.string("name", 160), Lookup("parentbusinessunitid", "businessunit",
                                           "parentbusinessunitid", relationship="business_unit_parent_business_unit")])
    c.table("Account", "accounts", "name",
            [*strings("name", "emailaddress1", "accountnumber", "telephone1")],
            state=ACTIVE, status=ACTIVE_STATUS)
    c.table("Contact", "contacts", "fullname",
            [*strings("fullname", "firstname", "lastname", "emailaddress1"),
             Lookup("parentcustomerid", "account", "parentcustomerid_account",
                    relationship="contact_customer_accounts")],
            state=ACTIVE, status=ACTIVE_STATUS)
    c.table("SystemUser", "systemusers", "fullname",
            [*strings("fullname", "firstname", "lastname", "domainname", "internalemailaddress"),
             m.uniqueidentifier("azureactivedirectoryobjectid"),
             m.boolean("isdisabled"),
             m.picklist("w365_billingrole", {0: "None", 1: "Sales", 2: "Billing", 3: "Admin"})])
    c.table("TransactionCurrency", "transactioncurrencies", "currencyname",
            [*strings("isocurrencycode", "currencyname", "currencysymbol"),
             m.integer("currencyprecision"), m.decimal("exchangerate")],
            state=ACTIVE, status=ACTIVE_STATUS, plural="Currencies")
    c.table("Role", "roles", "name",
            [m.string("name", 100), Lookup("businessunitid", "businessunit", "businessunitid",
                                           relationship="business_unit_roles")])
    c.table("Privilege", "privileges", "name",
            [m.string("name", 100), m.integer("accessright"),
             *[m.boolean(n) for n in ("canbebasic", "canbelocal", "canbedeep", "canbeglobal")]])
    _add_invoices(c)
    _add_registration(c)


def _add_invoices(c: Catalog) -> None:
    contract = Lookup("w365_billingcontract", "w365_billingcontract", "w365_BillingContract")
    c.table("Invoice", "invoices", "name", [
        m.string("name", 300),
        m.string("invoicenumber", 100, IsValidForCreate=False, IsValidForUpdate=False),
        Lookup("customerid", "account", "customerid_account", relationship="invoice_customer_accounts"),
        Lookup("transactioncurrencyid", "transactioncurrency", "transactioncurrencyid",
               relationship="transactioncurrency_invoice"),
        contract,
        Lookup("w365_billingschedule", "w365_billingschedule", "w365_BillingSchedule"),
        *[m.date_only(n) for n in ("w365_cyclestart", "w365_cycleend", "w365_invoicedate", "duedate")],
        m.picklist("w365_category", {1: "Full Cycle", 2: "One-Time", 3: "Change Log"}),
        *[m.money(n) for n in ("totallineitemamount", "discountamount", "totaltax", "totalamount")],
        m.picklist("w365_runtype", {1: "Manual", 2: "Automatic"}),
        m.boolean("w365_posttasksrequested"),
    ], state={0: "Active", 1: "Closed (deprecated)", 2: "Paid", 3: "Canceled"},
        status={1: "New", 2: "Partially Shipped", 4: "Billed", 5: "Booked (applies to services)",
                6: "Installed (applies to services)", 7: "Paid in Full", 100003: "Canceled"})
    c.table("InvoiceDetail", "invoicedetails", "productdescription", [
        Lookup("invoiceid", "invoice", "invoiceid", delete="Cascade",
               relationship="invoice_details", collection="invoice_details"),
        m.integer("lineitemnumber"),
        *strings("productdescription"), m.memo("description", 2000),
        m.picklist("w365_linecategory", {1: "Full Cycle", 2: "Mid-Cycle Change", 3: "Usage",
                                         4: "Non-Recurring", 5: "Service"}),
        Lookup("w365_subscription", "w365_subscription", "w365_Subscription"),
        Lookup("w365_licensechangelog", "w365_licensechangelog", "w365_LicenseChangeLog"),
        Lookup("w365_nonrecurringitem", "w365_nonrecurringitem", "w365_NonRecurringItem"),
        m.date_only("w365_periodstart"), m.date_only("w365_periodend"),
        m.decimal("w365_prorationfactor"), m.decimal("quantity"),
        *[m.money(n) for n in ("priceperunit", "baseamount", "manualdiscountamount", "tax",
                               "extendedamount")],
        m.boolean("w365_istaxable"),
    ], plural="Invoice Products")


def _add_registration(c: Catalog) -> None:
    c.table("ServiceEndpoint", "serviceendpoints", "name", [
        *strings("name", "url", "description", "namespaceaddress", "path", "solutionnamespace",
                 "saskeyname", "saskey", "sastoken"),
        m.picklist("contract", {1: "OneWay", 2: "Queue", 3: "Rest", 4: "TwoWay", 5: "Topic",
                                6: "Queue (Persistent)", 7: "Event Hub", 8: "Webhook",
                                9: "Event Grid", 10: "Managed Data Lake"}),
        m.picklist("authtype", {1: "ACS", 2: "SAS Key", 3: "SAS Token", 4: "Webhook Key",
                                5: "Http Header", 6: "Http Query String", 7: "Connection String",
                                8: "Access Key"}),
        m.string("authvalue", 4000, IsValidForRead=False),
        m.boolean("isauthvalueset", IsValidForCreate=False, IsValidForUpdate=False),
        m.picklist("messageformat", {1: "Binary XML", 2: "Json", 3: "Text XML"}),
        m.picklist("connectionmode", {1: "Normal", 2: "Federated"}, default=1),
        m.picklist("userclaim", {1: "None", 2: "UserId", 3: "UserInfo"}, default=1),
    ])
    c.table("SdkMessage", "sdkmessages", "name",
            [*strings("name", "categoryname"), m.boolean("isprivate"), m.boolean("isreadonly")])
    c.table("SdkMessageFilter", "sdkmessagefilters", "name", [
        *strings("name", "primaryobjecttypecode", "secondaryobjecttypecode"),
        Lookup("sdkmessageid", "sdkmessage", "sdkmessageid", delete="Cascade",
               relationship="sdkmessageid_sdkmessagefilter"),
        m.boolean("iscustomprocessingstepallowed", default=True), m.integer("availability"),
    ])
    c.table("SdkMessageProcessingStep", "sdkmessageprocessingsteps", "name", [
        *strings("name", "description", "filteringattributes", "configuration"),
        Lookup("eventhandler", "serviceendpoint", "eventhandler_serviceendpoint", delete="Cascade",
               relationship="serviceendpoint_sdkmessageprocessingstep",
               collection="serviceendpoint_sdkmessageprocessingstep"),
        Lookup("sdkmessageid", "sdkmessage", "sdkmessageid", delete="Cascade",
               relationship="sdkmessageid_sdkmessageprocessingstep"),
        Lookup("sdkmessagefilterid", "sdkmessagefilter", "sdkmessagefilterid", delete="Cascade",
               relationship="sdkmessagefilterid_sdkmessageprocessingstep"),
        Lookup("impersonatinguserid", "systemuser", "impersonatinguserid",
               relationship="impersonatinguserid_sdkmessageprocessingstep"),
        m.picklist("stage", {10: "Pre-validation", 20: "Pre-operation", 40: "Post-operation"}),
        m.picklist("mode", {0: "Synchronous", 1: "Asynchronous"}, default=0),
        m.integer("rank", DefaultValue=1),
        m.boolean("asyncautodelete"),
        m.picklist("supporteddeployment", {0: "Server Only",
                                           1: "Microsoft Dynamics 365 Client for Outlook Only",
                                           2: "Both"}, default=0),
        m.picklist("invocationsource", {-1: "Internal", 0: "Parent", 1: "Child"}, default=0),
    ], state={0: "Enabled", 1: "Disabled"}, status={1: "Enabled", 2: "Disabled"})
    c.table("CustomAPI", "customapis", "name", [
        *strings("uniquename", "name", "displayname", "description", "boundentitylogicalname",
                 "executeprivilegename"),
        m.picklist("bindingtype", {0: "Global", 1: "Entity", 2: "EntityCollection"}, default=0),
        m.boolean("isfunction"), m.boolean("isprivate"), m.boolean("workflowsdkstepenabled"),
        m.picklist("allowedcustomprocessingsteptype",
                   {0: "None", 1: "Async Only", 2: "Sync and Async"}, default=0),
        m.boolean("iscustomizable", default=True),
        Lookup("sdkmessageid", "sdkmessage", "SdkMessageId", readonly=True,
               relationship="sdkmessage_customapi"),
    ], state=ACTIVE, status=ACTIVE_STATUS, keys={"uniquename": ("uniquename",)},
        plural="Custom APIs")
    for schema, plural, nav in (
        ("CustomAPIRequestParameter", "customapirequestparameters", "CustomAPIRequestParameters"),
        ("CustomAPIResponseProperty", "customapiresponseproperties", "CustomAPIResponseProperties"),
    ):
        c.table(schema, plural, "name", [
            Lookup("customapiid", "customapi", "CustomAPIId", delete="Cascade",
                   relationship=f"customapi_{schema.lower()}", collection=nav),
            *strings("uniquename", "name", "displayname", "description", "logicalentityname"),
            m.picklist("type", _PARAM_TYPES),
            *([m.boolean("isoptional")] if "Request" in schema else []),
            m.boolean("iscustomizable", default=True),
        ], state=ACTIVE, status=ACTIVE_STATUS)
