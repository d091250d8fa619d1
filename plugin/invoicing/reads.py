"""Set-based reads: everything the engine needs for N contracts in one `$batch` of GETs per chunk.

Per chunk of contracts, one HTTP request carries seven GETs filtered with
`Microsoft.Dynamics.CRM.In` on the contract id: contracts (currency and customer expanded),
subscriptions, license change logs, Unbilled usage records, Unbilled NRIs, billing schedules and
the contracts' invoices. `@odata.nextLink` pages (over 5000 rows) are followed with plain GETs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from connectors.dataverse import Batch, odata
from connectors.dataverse.errors import NotFoundError
from plugin.engine import ContractData
from plugin.invoicing import mapping

if TYPE_CHECKING:
    from connectors.dataverse import DataverseClient

CHUNK_SIZE = 50  # contracts per $batch: keeps every GET URL far below Dataverse's 64 KB
PAGE_SIZE = 5000
ACCOUNT_NAME = "_w365_customer_value@OData.Community.Display.V1.FormattedValue"
_FORMATTED = {"Prefer": f'odata.include-annotations="OData.Community.Display.V1.FormattedValue",'
                        f"odata.maxpagesize={PAGE_SIZE}"}
_PAGED = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}

CONTRACT_COLUMNS = (
    "w365_billingcontractid", "w365_name", "_w365_customer_value", "w365_type", "w365_billingfrequency",
    "w365_billingpolicy", "w365_prorateunit", "w365_startdate", "w365_enddate",
    "w365_invoiceotpimmediately", "w365_invoiceoffsetdays", "w365_paymenttermsdays",
    "_transactioncurrencyid_value", "w365_discountpercent", "w365_taxpercent", "w365_applyrefunds",
    "w365_autosend", "w365_autosync", "w365_autocharge", "_w365_primarybillingcontact_value", "statecode",
)
CURRENCY_COLUMNS = ("transactioncurrencyid", "isocurrencycode", "currencyname", "currencysymbol",
                    "currencyprecision")
SUBSCRIPTION_COLUMNS = ("w365_subscriptionid", "w365_name", "_w365_billingcontract_value", "w365_billingtype",
                        "w365_quantity", "w365_priceperunit", "w365_billable", "w365_istaxable",
                        "w365_minimumcommitment", "statecode")
CHANGE_LOG_COLUMNS = ("w365_licensechangelogid", "w365_name", "_w365_subscription_value",
                      "_w365_billingcontract_value", "w365_changetype", "w365_effectivedate",
                      "w365_quantitychange", "w365_priceperunit", "statuscode")
USAGE_COLUMNS = ("w365_usagerecordid", "w365_name", "_w365_subscription_value", "_w365_billingcontract_value",
                 "w365_chargedate", "w365_amount", "statuscode")
NRI_COLUMNS = ("w365_nonrecurringitemid", "w365_name", "_w365_billingcontract_value", "w365_quantity",
               "w365_unitprice", "w365_effectivedate", "w365_istaxable", "statuscode")
SCHEDULE_COLUMNS = ("w365_billingscheduleid", "w365_name", "_w365_billingcontract_value", "w365_cyclestart",
                    "w365_cycleend", "_w365_invoice_value", "w365_message", "w365_correlationid",
                    "statecode", "statuscode")
INVOICE_COLUMNS = ("invoiceid", "invoicenumber", "_w365_billingcontract_value", "_w365_billingschedule_value",
                   "w365_cyclestart", "w365_cycleend", "w365_category", "totalamount", "createdon")

# (key, entity set, columns, extra filter) of the per-contract child queries, in batch order.
CHILD_QUERIES = (
    ("subscriptions", "w365_subscriptions", SUBSCRIPTION_COLUMNS, None),
    ("change_logs", "w365_licensechangelogs", CHANGE_LOG_COLUMNS, None),
    ("usage_records", "w365_usagerecords", USAGE_COLUMNS, odata.eq("statuscode", 1)),
    ("nris", "w365_nonrecurringitems", NRI_COLUMNS, odata.eq("statuscode", 1)),
    ("schedules", "w365_billingschedules", SCHEDULE_COLUMNS, None),
    ("invoices", "invoices", INVOICE_COLUMNS, None),
)


@dataclass
class LoadedContract:
    """One contract as read: the engine data (with ETags) plus the raw rows the API shows."""

    data: ContractData
    contract_row: dict[str, Any]
    currency_row: dict[str, Any] | None
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)  # invoice id -> row

    @property
    def id(self) -> str:
        """The contract id."""
        return self.data.contract.id


def _contract_query(ids: list[str]) -> dict[str, str]:
    currency = ",".join(CURRENCY_COLUMNS)
    return {"$select": ",".join(CONTRACT_COLUMNS),
            "$filter": odata.in_("w365_billingcontractid", ids),
            "$expand": f"transactioncurrencyid($select={currency}),w365_Customer($select=name)"}


def _child_query(ids: list[str], columns: Iterable[str], extra: str | None) -> dict[str, str]:
    return {"$select": ",".join(columns),
            "$filter": odata.and_(odata.in_("_w365_billingcontract_value", ids), extra)}


def _rows(client: "DataverseClient", part) -> list[dict[str, Any]]:
    """The rows of a batch GET answer, following `@odata.nextLink` pages."""
    if part.error is not None:
        raise part.error
    body = part.json or {}
    rows = list(body.get("value", []))
    next_link = body.get("@odata.nextLink")
    while next_link:
        page = client.request("GET", next_link, headers=_PAGED).json()
        rows.extend(page.get("value", []))
        next_link = page.get("@odata.nextLink")
    return rows


def _group(rows: Iterable[Mapping[str, Any]], column: str = "_w365_billingcontract_value") -> dict[str, list]:
    groups: dict[str, list] = {}
    for row in rows:
        owner = row.get(column)
        if owner:
            groups.setdefault(str(owner).lower(), []).append(row)
    return groups


def _loaded(row: dict[str, Any], children: dict[str, dict[str, list]]) -> LoadedContract:
    cid = str(row["w365_billingcontractid"]).lower()
    currency_row = row.get("transactioncurrencyid") or None
    customer = row.get("w365_Customer") or {}
    if not row.get(ACCOUNT_NAME) and customer.get("name"):
        row[ACCOUNT_NAME] = customer["name"]
    mine = {key: groups.get(cid, []) for key, groups in children.items()}
    data = mapping.contract_data_from_rows(
        row, currency_row, mine["subscriptions"], mine["change_logs"], mine["usage_records"],
        mine["nris"], mine["schedules"], mine["invoices"])
    return LoadedContract(data=data, contract_row=row, currency_row=currency_row,
                          invoices={str(i["invoiceid"]).lower(): i for i in mine["invoices"]})


def _load_chunk(client: "DataverseClient", ids: list[str]) -> Iterator[LoadedContract]:
    batch = Batch()
    batch.get("w365_billingcontracts", params=_contract_query(ids), headers=_FORMATTED)
    for _, entity_set, columns, extra in CHILD_QUERIES:
        batch.get(entity_set, params=_child_query(ids, columns, extra), headers=_PAGED)
    result = client.execute_batch(batch, continue_on_error=True)
    contracts = _rows(client, result.requests[0])
    children = {key: _group(_rows(client, part))
                for (key, *_), part in zip(CHILD_QUERIES, result.requests[1:])}
    for row in contracts:
        yield _loaded(row, children)


def load_contracts(client: "DataverseClient", contract_ids: Iterable[str], *,
                   chunk_size: int = CHUNK_SIZE) -> Iterator[LoadedContract]:
    """Every existing contract of `contract_ids` with its data, chunk by chunk (one `$batch` each).

    Ids that name no contract are simply absent; rows that break docs/data-model.md raise `InvalidRecord`.
    """
    unique = list(dict.fromkeys(str(i).lower() for i in contract_ids))
    for start in range(0, len(unique), chunk_size):
        yield from _load_chunk(client, unique[start:start + chunk_size])


def load_contract(client: "DataverseClient", contract_id: str) -> LoadedContract | None:
    """One contract with its data (one HTTP request), or None when it does not exist."""
    return next(load_contracts(client, [contract_id]), None)


def read_schedule(client: "DataverseClient", contract_id: str, cycle_start: str) -> dict[str, Any] | None:
    """The billing schedule of (contract, cycle start) by its alternate key, or None."""
    try:
        return client.get_by_key("w365_billingschedules",
                                 {"_w365_billingcontract_value": contract_id, "w365_cyclestart": cycle_start},
                                 select=list(SCHEDULE_COLUMNS))
    except NotFoundError:
        return None


def invoice_numbers(client: "DataverseClient", invoice_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Invoice id -> {invoiceid, invoicenumber, totalamount, ...} for the given ids (set-based)."""
    ids = [i for i in dict.fromkeys(invoice_ids) if i]
    if not ids:
        return {}
    return {str(r["invoiceid"]).lower(): r
            for r in client.query_in("invoices", "invoiceid", ids, select=list(INVOICE_COLUMNS))}
