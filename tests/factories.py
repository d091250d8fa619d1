"""Test data through the connector: DESIGN §3 rows with sensible defaults, every field overridable."""
from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.dataverse import DataverseClient, odata

_counter = itertools.count(1)


def _unique(prefix: str) -> str:
    return f"{prefix} {next(_counter):04d}-{uuid.uuid4().hex[:6]}"


def _iso(d: date | str | None) -> str | None:
    return d.isoformat() if isinstance(d, date) else d


def create_currency(client: DataverseClient, code: str = "USD", precision: int = 2, symbol: str = "$") -> str:
    """A transactioncurrency (reuses an existing one with the same ISO code)."""
    for row in client.query("transactioncurrencies", select=["transactioncurrencyid"],
                            filter=odata.eq("isocurrencycode", code), top=1):
        return row["transactioncurrencyid"]
    return client.create("transactioncurrencies", {
        "isocurrencycode": code, "currencyname": code, "currencysymbol": symbol,
        "currencyprecision": precision,
    })


def create_account(client: DataverseClient, name: str | None = None, email: str | None = None) -> str:
    """An active account."""
    return client.create("accounts", {"name": name or _unique("Account"),
                                      "emailaddress1": email or "billing@example.com", "statecode": 0})


def create_contact(client: DataverseClient, account_id: str, email: str | None = "ap@example.com",
                   fullname: str | None = None) -> str:
    """A contact of `account_id`."""
    return client.create("contacts", {
        "fullname": fullname or _unique("Contact"), "emailaddress1": email,
        "parentcustomerid_account@odata.bind": odata.bind("accounts", account_id),
    })


def create_user(client: DataverseClient, role: int = 2, fullname: str | None = None) -> dict[str, str]:
    """A systemuser with a billing role (0 None, 1 Sales, 2 Billing, 3 Admin): its id and AAD object id."""
    aad = str(uuid.uuid4())
    user_id = client.create("systemusers", {
        "fullname": fullname or _unique("User"), "domainname": f"{aad[:8]}@contoso.example",
        "azureactivedirectoryobjectid": aad, "w365_billingrole": role,
    })
    return {"systemuserid": user_id, "azureactivedirectoryobjectid": aad}


def create_contract(client: DataverseClient, *, account_id: str, currency_id: str,
                    start: date | str = "2026-01-01", end: date | str | None = None,
                    name: str | None = None, contact_id: str | None = None, **columns: Any) -> str:
    """A billing contract; `columns` override any w365_* column (without the prefix or with it)."""
    record: dict[str, Any] = {
        "w365_name": name or _unique("Contract"),
        "w365_type": 1, "w365_billingfrequency": 1, "w365_billingpolicy": 1, "w365_prorateunit": 1,
        "w365_startdate": _iso(start), "w365_enddate": _iso(end),
        "w365_invoiceotpimmediately": False, "w365_invoiceoffsetdays": 1, "w365_paymenttermsdays": 30,
        "w365_discountpercent": Decimal("0"), "w365_taxpercent": Decimal("0"),
        "w365_applyrefunds": False, "w365_autosend": False, "w365_autosync": False,
        "w365_autocharge": False, "statecode": 0,
        "w365_Customer@odata.bind": odata.bind("accounts", account_id),
        "transactioncurrencyid@odata.bind": odata.bind("transactioncurrencies", currency_id),
    }
    if contact_id:
        record["w365_PrimaryBillingContact@odata.bind"] = odata.bind("contacts", contact_id)
    for key, value in columns.items():
        record[key if key.startswith(("w365_", "statecode")) else f"w365_{key}"] = _iso(value) if isinstance(value, date) else value
    return client.create("w365_billingcontracts", record)


def create_subscription(client: DataverseClient, contract_id: str, *, price: Decimal | str = "10.00",
                        billing_type: int = 1, name: str | None = None, billable: bool = True,
                        taxable: bool = False, minimum: Decimal | str | None = None,
                        quantity: Decimal | str = "0", statecode: int = 0) -> str:
    """A subscription (1 License, 2 Service, 3 Usage) of a contract."""
    return client.create("w365_subscriptions", {
        "w365_name": name or _unique("Subscription"), "w365_billingtype": billing_type,
        "w365_quantity": Decimal(str(quantity)), "w365_priceperunit": Decimal(str(price)),
        "w365_billable": billable, "w365_istaxable": taxable,
        "w365_minimumcommitment": None if minimum is None else Decimal(str(minimum)),
        "statecode": statecode,
        "w365_BillingContract@odata.bind": odata.bind("w365_billingcontracts", contract_id),
    })


def create_change_log(client: DataverseClient, subscription_id: str, contract_id: str, *,
                      effective: date | str, delta: Decimal | str | int, change_type: int = 2,
                      price: Decimal | str | None = None, status: int = 1) -> str:
    """A license change log (1 Create, 2 Update, 3 Deactivate); status 1 Active, 2 Archived."""
    return client.create("w365_licensechangelogs", {
        "w365_name": _unique("LCL"), "w365_changetype": change_type,
        "w365_effectivedate": _iso(effective), "w365_quantitychange": Decimal(str(delta)),
        "w365_priceperunit": None if price is None else Decimal(str(price)), "statuscode": status,
        "w365_Subscription@odata.bind": odata.bind("w365_subscriptions", subscription_id),
        "w365_BillingContract@odata.bind": odata.bind("w365_billingcontracts", contract_id),
    })


def create_nri(client: DataverseClient, contract_id: str, *, effective: date | str,
               quantity: Decimal | str | int = 1, unit_price: Decimal | str = "100.00",
               taxable: bool = False, name: str | None = None) -> str:
    """An Unbilled non-recurring item."""
    return client.create("w365_nonrecurringitems", {
        "w365_name": name or _unique("NRI"), "w365_quantity": Decimal(str(quantity)),
        "w365_unitprice": Decimal(str(unit_price)), "w365_effectivedate": _iso(effective),
        "w365_istaxable": taxable, "statuscode": 1,
        "w365_BillingContract@odata.bind": odata.bind("w365_billingcontracts", contract_id),
    })


def create_usage(client: DataverseClient, subscription_id: str, contract_id: str, *,
                 charge_date: date | str, amount: Decimal | str) -> str:
    """An Unbilled usage record."""
    return client.create("w365_usagerecords", {
        "w365_name": _unique("Usage"), "w365_chargedate": _iso(charge_date),
        "w365_amount": Decimal(str(amount)), "statuscode": 1,
        "w365_Subscription@odata.bind": odata.bind("w365_subscriptions", subscription_id),
        "w365_BillingContract@odata.bind": odata.bind("w365_billingcontracts", contract_id),
    })


@dataclass
class World:
    """The shared rows most tests need: a currency, an account with a contact, two users."""

    currency_id: str
    account_id: str
    contact_id: str
    billing_user: dict[str, str]
    no_role_user: dict[str, str]


def make_world(client: DataverseClient, currency: str = "USD", precision: int = 2) -> World:
    """Create (or reuse the currency of) a small world of reference rows."""
    currency_id = create_currency(client, currency, precision)
    account_id = create_account(client)
    return World(
        currency_id=currency_id, account_id=account_id,
        contact_id=create_contact(client, account_id),
        billing_user=create_user(client, role=2), no_role_user=create_user(client, role=0),
    )


def license_contract(client: DataverseClient, world: World, *, start: str = "2026-01-01",
                     quantity: int = 10, price: str = "12.00", frequency: int = 3,
                     **contract_columns: Any) -> dict[str, str]:
    """A recurring contract with one License subscription created with `quantity` on the start date."""
    contract_id = create_contract(client, account_id=world.account_id, currency_id=world.currency_id,
                                  contact_id=world.contact_id, start=start,
                                  billingfrequency=frequency, **contract_columns)
    sub_id = create_subscription(client, contract_id, price=price, name="Microsoft 365 E3")
    lcl_id = create_change_log(client, sub_id, contract_id, effective=start, delta=quantity, change_type=1)
    return {"contract_id": contract_id, "subscription_id": sub_id, "change_log_id": lcl_id}


def invoices_of(client: DataverseClient, contract_id: str) -> list[dict]:
    """The invoices of a billing contract (id, number and cycle start)."""
    return list(client.query("invoices", select=["invoiceid", "invoicenumber", "w365_cyclestart"],
                             filter=odata.eq("_w365_billingcontract_value", contract_id)))
