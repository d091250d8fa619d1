"""Reproducible demo data: a realistic mix of billing contracts and their items, written through the connector.

`generate_dataset` is pure (same arguments, same rows); `write_dataset` sends the rows with
`CreateMultiple` in chunks, in dependency order, with client-assigned ids so no read-back is needed.
"""
from __future__ import annotations

import calendar
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterator

from connectors.dataverse import DataverseClient, odata
from plugin.engine import add_months
from plugin.invoicing.single import today_utc

# entity set -> logical name, in the order rows must be written (lookup targets first)
WRITE_ORDER: tuple[tuple[str, str], ...] = (
    ("transactioncurrencies", "transactioncurrency"),
    ("systemusers", "systemuser"),
    ("accounts", "account"),
    ("contacts", "contact"),
    ("w365_billingcontracts", "w365_billingcontract"),
    ("w365_subscriptions", "w365_subscription"),
    ("w365_licensechangelogs", "w365_licensechangelog"),
    ("w365_nonrecurringitems", "w365_nonrecurringitem"),
    ("w365_usagerecords", "w365_usagerecord"),
)
PRIMARY_KEYS = {
    "transactioncurrencies": "transactioncurrencyid", "systemusers": "systemuserid",
    "accounts": "accountid", "contacts": "contactid",
    "w365_billingcontracts": "w365_billingcontractid", "w365_subscriptions": "w365_subscriptionid",
    "w365_licensechangelogs": "w365_licensechangelogid",
    "w365_nonrecurringitems": "w365_nonrecurringitemid", "w365_usagerecords": "w365_usagerecordid",
}
CURRENCIES = (("USD", "US Dollar", "$", 2, 70), ("EUR", "Euro", "€", 2, 20), ("JPY", "Yen", "¥", 0, 10))
USERS = (("Nora None", 0), ("Sam Sales", 1), ("Billie Billing", 2), ("Ada Admin", 3))
COMPANY_WORDS = (
    "Contoso", "Fabrikam", "Northwind", "Adatum", "Litware", "Tailspin", "Proseware", "Woodgrove",
    "Lucerne", "Wingtip", "Alpine", "Coho", "Datum", "Humongous", "Margie", "Relecloud", "Trey",
    "Blue Yonder", "Graphic", "Wide World", "Fourth Coffee", "VanArsdel", "Consolidated", "Lamna",
)
COMPANY_SUFFIX = ("Ltd", "Inc", "GmbH", "LLC", "Group", "Partners", "Holdings", "AG", "BV", "KK")
LICENSES = (
    ("Microsoft 365 E3", "36.00"), ("Microsoft 365 Business Premium", "22.00"),
    ("Microsoft 365 E5", "57.00"), ("Exchange Online Plan 1", "4.00"), ("Teams Premium", "10.00"),
    ("Power BI Pro", "10.00"), ("Dynamics 365 Sales Enterprise", "105.00"), ("Visio Plan 2", "15.00"),
)
SERVICES = (("Managed Endpoint Support", "8.50"), ("Helpdesk per seat", "12.75"), ("Backup as a Service", "3.20"))
USAGE = (("Azure consumption", "0"), ("Azure Virtual Desktop usage", "150.00"), ("Azure Backup usage", "0"))
NRIS = (("Onboarding workshop", "1250.00"), ("Laptop setup", "95.00"), ("Tenant migration", "3400.00"),
        ("Security assessment", "2200.00"), ("Licence true-up fee", "49.99"))
FREQUENCIES = ((1, 50), (3, 20), (12, 25), (36, 5))


@dataclass
class Dataset:
    """Rows to write, per entity set, in the write shape (`@odata.bind` lookups, client-assigned ids)."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, entity_set: str, row: dict[str, Any]) -> str:
        """Append a row and return its id."""
        self.rows.setdefault(entity_set, []).append(row)
        return row[PRIMARY_KEYS[entity_set]]

    @property
    def contract_ids(self) -> list[str]:
        """Ids of the generated billing contracts, in generation order."""
        return [r["w365_billingcontractid"] for r in self.rows.get("w365_billingcontracts", [])]

    def read_rows(self, entity_set: str) -> list[dict[str, Any]]:
        """The rows of a set as the Web API reads them back: lookups as `_x_value` GUIDs."""
        return [_read_shape(row) for row in self.rows.get(entity_set, [])]

    def counts(self) -> dict[str, int]:
        """Row count per entity set."""
        return {name: len(self.rows.get(name, [])) for name, _ in WRITE_ORDER}


def _read_shape(row: dict[str, Any]) -> dict[str, Any]:
    read: dict[str, Any] = {}
    for key, value in row.items():
        if key.endswith("@odata.bind"):
            nav = key[: -len("@odata.bind")].lower()
            read[f"_{nav}_value"] = value[value.index("(") + 1:-1]
        else:
            read[key] = value
    return read


def _weighted(rng: random.Random, options) -> Any:
    return rng.choices([o[0] for o in options], weights=[o[-1] for o in options])[0]


class _Generator:
    """Builds one data set; every random choice comes from one seeded `random.Random`."""

    def __init__(self, seed: int, today: date):
        self.rng = random.Random(seed)
        self.today = today
        self.data = Dataset()

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def money(self, low: int, high: int, places: int = 2) -> Decimal:
        cents = self.rng.randint(low * 10**places, high * 10**places)
        return Decimal(cents).scaleb(-places)

    def reference_rows(self) -> dict[str, str]:
        currency_ids = {}
        for code, name, symbol, precision, _ in CURRENCIES:
            currency_ids[code] = self.data.add("transactioncurrencies", {
                "transactioncurrencyid": self.new_id(), "isocurrencycode": code, "currencyname": name,
                "currencysymbol": symbol, "currencyprecision": precision,
            })
        for fullname, role in USERS:
            aad = self.new_id()
            self.data.add("systemusers", {
                "systemuserid": self.new_id(), "fullname": fullname,
                "domainname": f"{fullname.split()[0].lower()}@contoso.example",
                "azureactivedirectoryobjectid": aad, "w365_billingrole": role,
            })
        return currency_ids

    def account(self, index: int) -> tuple[str, str | None, str]:
        word = COMPANY_WORDS[index % len(COMPANY_WORDS)]
        name = f"{word} {COMPANY_SUFFIX[(index // len(COMPANY_WORDS)) % len(COMPANY_SUFFIX)]} {index + 1:05d}"
        slug = word.lower().replace(" ", "")
        account_id = self.data.add("accounts", {
            "accountid": self.new_id(), "name": name, "emailaddress1": f"billing@{slug}{index + 1}.example",
            "statecode": 0,
        })
        contact_id = None
        if self.rng.random() < 0.9:
            contact_id = self.data.add("contacts", {
                "contactid": self.new_id(), "fullname": f"Accounts Payable {index + 1:05d}",
                "emailaddress1": f"ap@{slug}{index + 1}.example",
                "parentcustomerid_account@odata.bind": odata.bind("accounts", account_id),
            })
        return account_id, contact_id, name

    def contract(self, index: int, currency_ids: dict[str, str]) -> None:
        rng = self.rng
        account_id, contact_id, account_name = self.account(index)
        item_based = rng.random() < 0.1
        frequency = _weighted(rng, FREQUENCIES)
        day = rng.choice([1] * 8 + list(range(2, 29)) + [29, 30, 31])
        months_back = rng.randint(0, 20)
        month = add_months(self.today.replace(day=1), -months_back)
        start = month.replace(day=min(day, calendar.monthrange(month.year, month.month)[1]))
        end = None
        if rng.random() < 0.15:
            end = start + timedelta(days=rng.randint(60, 900))
        code = _weighted(rng, CURRENCIES)
        contract_id = self.new_id()
        label = "Item Based" if item_based else {1: "Monthly", 3: "Quarterly", 12: "Annual", 36: "Triennial"}[frequency]
        record = {
            "w365_billingcontractid": contract_id,
            "w365_name": f"{account_name} – CSP – {label}",
            "w365_type": 2 if item_based else 1,
            "w365_billingfrequency": frequency,
            "w365_billingpolicy": 1 if rng.random() < 0.7 else 2,
            "w365_prorateunit": 1 if rng.random() < 0.6 else 2,
            "w365_startdate": start.isoformat(),
            "w365_enddate": end.isoformat() if end else None,
            "w365_invoiceotpimmediately": rng.random() < 0.15,
            "w365_invoiceoffsetdays": rng.choice([1, 1, 1, 0, 3, -2]),
            "w365_paymenttermsdays": rng.choice([30, 30, 14, 45, 60]),
            "w365_discountpercent": rng.choice([Decimal("0")] * 8 + [Decimal("5"), Decimal("10")]),
            "w365_taxpercent": rng.choice([Decimal("0"), Decimal("0"), Decimal("7.5"), Decimal("10"), Decimal("20")]),
            "w365_applyrefunds": rng.random() < 0.5,
            "w365_autosend": rng.random() < 0.4,
            "w365_autosync": rng.random() < 0.3,
            "w365_autocharge": rng.random() < 0.2,
            "statecode": 0 if rng.random() < 0.97 else 1,
            "w365_Customer@odata.bind": odata.bind("accounts", account_id),
            "transactioncurrencyid@odata.bind": odata.bind("transactioncurrencies", currency_ids[code]),
        }
        if contact_id:
            record["w365_PrimaryBillingContact@odata.bind"] = odata.bind("contacts", contact_id)
        self.data.add("w365_billingcontracts", record)
        if item_based:
            for _ in range(rng.randint(1, 3)):
                self.nri(contract_id, start)
            return
        used: set[str] = set()
        for _ in range(rng.randint(1, 4)):
            kind = rng.choices((1, 2, 3), weights=(60, 20, 20))[0]
            self.subscription(contract_id, kind, start, precision=0 if code == "JPY" else 2, used=used)
        for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
            self.nri(contract_id, start)

    def subscription(self, contract_id: str, kind: int, start: date, precision: int, used: set[str]) -> None:
        rng = self.rng
        catalogue = [item for item in {1: LICENSES, 2: SERVICES, 3: USAGE}[kind] if item[0] not in used]
        if not catalogue:
            return
        name, price = rng.choice(catalogue)
        used.add(name)
        price = Decimal(price) if precision else Decimal(price).scaleb(2).quantize(Decimal("1"))
        sub_start = start if rng.random() < 0.7 else min(self.today, start + timedelta(days=rng.randint(1, 120)))
        sub_id = self.data.add("w365_subscriptions", {
            "w365_subscriptionid": self.new_id(), "w365_name": name, "w365_billingtype": kind,
            "w365_quantity": Decimal(1), "w365_priceperunit": price if kind != 3 else Decimal(0),
            "w365_effectivestartdate": sub_start.isoformat(),
            "w365_billable": rng.random() < 0.92, "w365_istaxable": rng.random() < 0.7,
            "w365_minimumcommitment": price if kind == 3 and price else None, "statecode": 0,
            "w365_BillingContract@odata.bind": odata.bind("w365_billingcontracts", contract_id),
        })
        binds = {
            "w365_Subscription@odata.bind": odata.bind("w365_subscriptions", sub_id),
            "w365_BillingContract@odata.bind": odata.bind("w365_billingcontracts", contract_id),
        }
        if kind == 3:
            for months_ago in range(rng.randint(1, 3), 0, -1):
                charge = add_months(self.today, -months_ago).replace(day=rng.randint(1, 28))
                if charge >= start:
                    self.data.add("w365_usagerecords", {
                        "w365_usagerecordid": self.new_id(), "w365_name": f"{name} {charge:%Y-%m}",
                        "w365_chargedate": charge.isoformat(), "w365_amount": self.money(20, 900),
                        "statuscode": 1, **binds,
                    })
            return
        quantity = rng.randint(1, 60)
        self.change_log(binds, 1, sub_start, quantity)
        day_span = max((self.today - sub_start).days, 0)
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            if day_span < 2:
                break
            delta = rng.choice([-1, 1]) * rng.randint(1, max(1, quantity // 3))
            if quantity + delta <= 0:
                delta = abs(delta)
            quantity += delta
            self.change_log(binds, 2, sub_start + timedelta(days=rng.randint(1, day_span)), delta)
        if rng.random() < 0.05 and day_span > 2:
            self.change_log(binds, 3, sub_start + timedelta(days=rng.randint(1, day_span)), -quantity)

    def change_log(self, binds: dict[str, str], change_type: int, effective: date, delta: int) -> None:
        label = {1: "Create", 2: "Update", 3: "Deactivate"}[change_type]
        self.data.add("w365_licensechangelogs", {
            "w365_licensechangelogid": self.new_id(), "w365_name": f"{label} {delta:+d} on {effective}",
            "w365_changetype": change_type, "w365_effectivedate": effective.isoformat(),
            "w365_quantitychange": Decimal(delta), "w365_priceperunit": None, "statuscode": 1, **binds,
        })

    def nri(self, contract_id: str, start: date) -> None:
        name, price = self.rng.choice(NRIS)
        span = max((self.today - start).days, 0)
        effective = start + timedelta(days=self.rng.randint(0, span)) if span else start
        self.data.add("w365_nonrecurringitems", {
            "w365_nonrecurringitemid": self.new_id(), "w365_name": name,
            "w365_quantity": Decimal(self.rng.choice([1, 1, 1, 2, 5])), "w365_unitprice": Decimal(price),
            "w365_effectivedate": effective.isoformat(), "w365_istaxable": self.rng.random() < 0.6,
            "statuscode": 1,
            "w365_BillingContract@odata.bind": odata.bind("w365_billingcontracts", contract_id),
        })


def generate_dataset(contracts: int = 250, seed: int = 365, today: date | None = None) -> Dataset:
    """The demo rows for `contracts` contracts; identical for identical arguments."""
    generator = _Generator(seed, today or today_utc())
    currency_ids = generator.reference_rows()
    for index in range(contracts):
        generator.contract(index, currency_ids)
    return generator.data


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def write_dataset(client: DataverseClient, data: Dataset, *, chunk_size: int = 500,
                  progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Write every row with CreateMultiple, lookup targets first; returns rows written per set."""
    written: dict[str, int] = {}
    existing_currencies = {
        row["isocurrencycode"].upper(): row["transactioncurrencyid"]
        for row in client.query("transactioncurrencies", select=["transactioncurrencyid", "isocurrencycode"])
    }
    for entity_set, logical_name in WRITE_ORDER:
        rows = data.rows.get(entity_set, [])
        if entity_set == "transactioncurrencies":
            rows = _reuse_currencies(data, existing_currencies)
        for chunk in _chunks(rows, chunk_size):
            client.create_multiple(entity_set, logical_name, chunk)
            written[entity_set] = written.get(entity_set, 0) + len(chunk)
            if progress:
                progress(entity_set, len(chunk))
    return written


def _reuse_currencies(data: Dataset, existing: dict[str, str]) -> list[dict[str, Any]]:
    """Point the data set at currencies the org already has; return only the missing ones."""
    remap = {}
    missing = []
    for row in data.rows.get("transactioncurrencies", []):
        known = existing.get(row["isocurrencycode"].upper())
        if known:
            remap[odata.bind("transactioncurrencies", row["transactioncurrencyid"])] = odata.bind("transactioncurrencies", known)
        else:
            missing.append(row)
    if remap:
        for contract in data.rows.get("w365_billingcontracts", []):
            bind = contract["transactioncurrencyid@odata.bind"]
            contract["transactioncurrencyid@odata.bind"] = remap.get(bind, bind)
    return missing


def already_seeded(client: DataverseClient, data: Dataset) -> bool:
    """Whether this data set's first contract is already in Dataverse."""
    ids = data.contract_ids
    if not ids:
        return False
    rows = list(client.query("w365_billingcontracts", select=["w365_billingcontractid"],
                             filter=odata.eq("w365_billingcontractid", uuid.UUID(ids[0])), top=1))
    return bool(rows)


def past_cycle_keys(contract: dict[str, Any], today: date) -> list[str]:
    """Keys of a recurring contract's cycles that ended before `today` (none for Item Based)."""
    if contract["w365_type"] != 1:
        return []
    start, months = date.fromisoformat(contract["w365_startdate"]), contract["w365_billingfrequency"]
    end = date.fromisoformat(contract["w365_enddate"]) if contract["w365_enddate"] else None
    keys, index = [], 0
    while True:
        cycle_start = add_months(start, index * months)
        cycle_end = add_months(start, (index + 1) * months) - timedelta(days=1)
        if cycle_end >= today or (end is not None and cycle_start > end):
            return keys
        keys.append(cycle_start.isoformat())
        index += 1


def invoice_history(client: DataverseClient, data: Dataset, *, share: float, today: date, seed: int,
                    progress: Callable[[str, int], None] | None = None) -> int:
    """Invoice every past cycle of a share of the recurring contracts, oldest first, through the
    product's own bulk runs (one run per cycle index); returns the invoices created."""
    from plugin.config import Config
    from plugin.runs.model import RunRequest, RunRow
    from plugin.runs.service import RunService

    rng = random.Random(seed + 1)
    chosen = [(c["w365_billingcontractid"], past_cycle_keys(c, today))
              for c in data.rows.get("w365_billingcontracts", []) if rng.random() < share]
    service = RunService(client, Config())
    created = 0
    try:
        for round_index in range(max((len(keys) for _, keys in chosen), default=0)):
            rows = [(cid, keys[round_index]) for cid, keys in chosen if len(keys) > round_index]
            request = RunRequest(rows=tuple(RunRow(i, cid, key, False) for i, (cid, key) in enumerate(rows)),
                                 source="cli", as_of=today)
            view = service.view(service.start(request, background=False))
            created += view.counts()["created"]
            if progress:
                progress("invoices", len(rows))
    finally:
        service.close()
    return created


def seed(client: DataverseClient, contracts: int = 250, seed: int = 365, today: date | None = None,
         progress: Callable[[str, int], None] | None = None, invoiced_share: float = 0.0) -> dict[str, Any]:
    """Generate and write the demo data set unless it is already there; returns a summary.

    `invoiced_share`: the share of recurring contracts whose past cycles are then invoiced.
    """
    today = today or today_utc()
    data = generate_dataset(contracts, seed, today)
    if already_seeded(client, data):
        return {"seeded": False, "contract_ids": data.contract_ids, "counts": data.counts()}
    written = write_dataset(client, data, progress=progress)
    if invoiced_share > 0:
        written["invoices"] = invoice_history(client, data, share=invoiced_share, today=today, seed=seed,
                                              progress=progress)
    return {"seeded": True, "contract_ids": data.contract_ids, "counts": written}
