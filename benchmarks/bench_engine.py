"""Engine benchmark (pure, no I/O): previews per second; prints one JSON object.

Measures `contract_data_from_rows` → `build_invoice` (default cycle) → `preview_json`:
- one contract with 20 subscriptions × 10 change logs (Quarterly, mid-cycle changes, refunds);
- the 250-contract demo set of `w365 seed` (`plugin.seed.generate_dataset`, read shape);
- a 250-contract mixed set (frequencies 1/3/12/36, both policies and prorate units, end dates,
  precisions 0/2/3, usage with minimums, NRIs, OTP Immediately, Item Based), generated here
  deterministically from `--seed` in the Web API read shape.
Both also without the row mapping ("engine only").

Run: `python benchmarks/bench_engine.py [--seed 365] [--contracts 250] [--seconds 2]`
"""

from __future__ import annotations

import argparse
import calendar
import json
import platform
import random
import sys
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plugin.engine import ContractData, build_invoice, preview_json  # noqa: E402
from plugin.invoicing.mapping import contract_data_from_rows  # noqa: E402
from plugin.seed import generate_dataset  # noqa: E402

AS_OF = date(2026, 6, 15)
CURRENCIES = [
    {"transactioncurrencyid": "cur-usd", "isocurrencycode": "USD", "currencyprecision": 2},
    {"transactioncurrencyid": "cur-jpy", "isocurrencycode": "JPY", "currencyprecision": 0},
    {"transactioncurrencyid": "cur-kwd", "isocurrencycode": "KWD", "currencyprecision": 3},
]


def _clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


class Rows:
    """Read-shape rows of one contract (the arguments of `contract_data_from_rows`)."""

    def __init__(self, rng: random.Random, *, subscriptions: int, change_logs: int, mixed: bool):
        self.rng = rng
        self.id = self.new_id()
        months = rng.choice([1, 1, 3, 12, 36]) if mixed else 3
        start = (
            _clamped(2025, rng.randint(1, 12), rng.choice([1, 1, 15, 28, 29, 30, 31]))
            if mixed
            else date(2025, 1, 1)
        )
        end = (
            start + timedelta(days=rng.randint(200, 900)) if mixed and rng.random() < 0.3 else None
        )
        item_based = mixed and rng.random() < 0.05
        self.currency = rng.choice(CURRENCIES) if mixed else CURRENCIES[0]
        self.contract = {
            "@odata.etag": f'W/"{rng.randint(1, 10**6)}"',
            "w365_billingcontractid": self.id,
            "w365_name": f"Contract {self.id[:8]}",
            "_w365_customer_value": self.new_id(),
            "w365_type": 2 if item_based else 1,
            "w365_billingfrequency": months,
            "w365_billingpolicy": rng.choice([1, 2]),
            "w365_prorateunit": rng.choice([1, 2]),
            "w365_startdate": start.isoformat(),
            "w365_enddate": end.isoformat() if end else None,
            "w365_invoiceotpimmediately": mixed and rng.random() < 0.2,
            "w365_invoiceoffsetdays": 1,
            "w365_paymenttermsdays": 30,
            "_transactioncurrencyid_value": self.currency["transactioncurrencyid"],
            "w365_discountpercent": Decimal(rng.choice(["0", "0", "5", "12.5"])),
            "w365_taxpercent": Decimal(rng.choice(["0", "10", "19", "8.875"])),
            "w365_applyrefunds": rng.random() < 0.5,
            "statecode": 0,
        }
        self.subscriptions, self.change_logs, self.usage, self.nris = [], [], [], []
        for _ in range(subscriptions):
            self.subscription(start, change_logs, mixed)
        for _ in range(rng.randint(0, 3) if mixed else 2):
            self.nris.append(
                {
                    "@odata.etag": 'W/"1"',
                    "w365_nonrecurringitemid": self.new_id(),
                    "w365_name": "Setup",
                    "_w365_billingcontract_value": self.id,
                    "w365_quantity": Decimal(rng.randint(1, 3)),
                    "w365_unitprice": Decimal(rng.randint(100, 999_999)).scaleb(-2),
                    "w365_effectivedate": (start + timedelta(days=rng.randint(0, 400))).isoformat(),
                    "w365_istaxable": rng.random() < 0.5,
                    "statuscode": 1,
                }
            )

    def new_id(self) -> str:
        """A GUID from the seeded generator (the same seed gives the same ids)."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def subscription(self, start: date, change_logs: int, mixed: bool) -> None:
        """Add one subscription with its change logs (and, for usage, its usage records)."""
        rng = self.rng
        kind = rng.choices([1, 2, 3], weights=[70, 15, 15])[0] if mixed else 1
        sub_id = self.new_id()
        self.subscriptions.append(
            {
                "@odata.etag": 'W/"1"',
                "w365_subscriptionid": sub_id,
                "w365_name": f"Sub {sub_id[:6]}",
                "_w365_billingcontract_value": self.id,
                "w365_billingtype": kind,
                "w365_priceperunit": Decimal(rng.randint(100, 12_000)).scaleb(-2),
                "w365_billable": rng.random() < 0.95,
                "w365_istaxable": rng.random() < 0.7,
                "w365_minimumcommitment": Decimal(rng.choice([0, 0, 100])),
                "statecode": 0,
            }
        )
        if kind == 3:
            for _ in range(rng.randint(0, 6)):
                self.usage.append(
                    {
                        "@odata.etag": 'W/"1"',
                        "w365_usagerecordid": self.new_id(),
                        "_w365_subscription_value": sub_id,
                        "_w365_billingcontract_value": self.id,
                        "statuscode": 1,
                        "w365_chargedate": (
                            start + timedelta(days=rng.randint(0, 500))
                        ).isoformat(),
                        "w365_amount": Decimal(rng.randint(0, 50_000)).scaleb(-2),
                    }
                )
            return
        count = change_logs if not mixed else rng.randint(1, change_logs)
        for j in range(count):
            effective = start if j == 0 else start + timedelta(days=rng.randint(-10, 520))
            self.change_logs.append(
                {
                    "@odata.etag": 'W/"1"',
                    "w365_licensechangelogid": self.new_id(),
                    "_w365_subscription_value": sub_id,
                    "_w365_billingcontract_value": self.id,
                    "w365_changetype": 1 if j == 0 else 2,
                    "w365_effectivedate": effective.isoformat(),
                    "w365_quantitychange": Decimal(
                        rng.randint(5, 50) if j == 0 else rng.randint(-4, 8)
                    ),
                    "w365_priceperunit": None,
                    "statuscode": 1 if rng.random() < 0.8 else 2,
                }
            )

    def args(self) -> tuple:
        """The positional arguments of `contract_data_from_rows`."""
        return (
            self.contract,
            self.currency,
            self.subscriptions,
            self.change_logs,
            self.usage,
            self.nris,
            [],
            {},
        )


def demo_set(contracts: int, seed: int) -> list[ContractData]:
    """The demo data set of `w365 seed` (as the Web API reads it back), one ContractData per contract."""
    data = generate_dataset(contracts, seed, today=AS_OF)
    currencies = {c["transactioncurrencyid"]: c for c in data.read_rows("transactioncurrencies")}
    children: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for entity_set in ("w365_subscriptions", "w365_licensechangelogs", "w365_usagerecords",
                       "w365_nonrecurringitems"):
        for row in data.read_rows(entity_set):
            owner = children.setdefault(row["_w365_billingcontract_value"], {})
            owner.setdefault(entity_set, []).append(row)
    return [
        contract_data_from_rows(
            contract, currencies[contract["_transactioncurrencyid_value"]],
            *(children.get(contract["w365_billingcontractid"], {}).get(s, ())
              for s in ("w365_subscriptions", "w365_licensechangelogs", "w365_usagerecords",
                        "w365_nonrecurringitems")))
        for contract in data.read_rows("w365_billingcontracts")
    ]


def rate(work: Callable[[], int], seconds: float) -> tuple[float, int]:
    """(previews per second, previews made) of `work` (returns previews per call), ~`seconds`."""
    done, began = 0, time.perf_counter()
    while True:
        done += work()
        elapsed = time.perf_counter() - began
        if elapsed >= seconds:
            return done / elapsed, done


def preview(data: ContractData) -> dict[str, Any]:
    """The preview JSON of the contract's default cycle as of `AS_OF`."""
    return preview_json(build_invoice(data, None, AS_OF))


def main(argv: list[str] | None = None) -> None:
    """Build the contracts, measure previews per second, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=365)
    parser.add_argument("--contracts", type=int, default=250)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    big = Rows(rng, subscriptions=20, change_logs=10, mixed=False)
    mixed = [
        Rows(rng, subscriptions=rng.randint(0, 8), change_logs=10, mixed=True)
        for _ in range(args.contracts)
    ]
    big_data = contract_data_from_rows(*big.args())
    mixed_data = [contract_data_from_rows(*r.args()) for r in mixed]

    big_lines = len(preview(big_data)["lines"])
    mixed_previews = [preview(d) for d in mixed_data]
    single_rows, _ = rate(
        lambda: (preview(contract_data_from_rows(*big.args())), 1)[1], args.seconds
    )
    single_engine, _ = rate(lambda: (preview(big_data), 1)[1], args.seconds)
    set_rows, _ = rate(
        lambda: sum(1 for r in mixed if preview(contract_data_from_rows(*r.args()))), args.seconds
    )
    set_engine, _ = rate(lambda: sum(1 for d in mixed_data if preview(d)), args.seconds)
    demo_data = demo_set(args.contracts, args.seed)
    demo_previews = [preview(d) for d in demo_data]
    demo_engine, _ = rate(lambda: sum(1 for d in demo_data if preview(d)), args.seconds)
    print(
        json.dumps(
            {
                "benchmark": "engine_previews",
                "python": platform.python_version(),
                "seed": args.seed,
                "contract_20x10": {
                    "subscriptions": len(big.subscriptions),
                    "change_logs": len(big.change_logs),
                    "lines": big_lines,
                    "previews_per_s": round(single_rows, 1),
                    "previews_per_s_engine_only": round(single_engine, 1),
                },
                "mixed_set": {
                    "contracts": len(mixed),
                    "subscriptions": sum(len(r.subscriptions) for r in mixed),
                    "change_logs": sum(len(r.change_logs) for r in mixed),
                    "lines": sum(len(p["lines"]) for p in mixed_previews),
                    "nothing_to_invoice": sum(p["nothing_to_invoice"] for p in mixed_previews),
                    "previews_per_s": round(set_rows, 1),
                    "previews_per_s_engine_only": round(set_engine, 1),
                    "seconds_per_set": round(len(mixed) / set_rows, 4),
                },
                "demo_set": {
                    "contracts": len(demo_data),
                    "lines": sum(len(p["lines"]) for p in demo_previews),
                    "nothing_to_invoice": sum(p["nothing_to_invoice"] for p in demo_previews),
                    "previews_per_s_engine_only": round(demo_engine, 1),
                    "seconds_per_set": round(len(demo_data) / demo_engine, 4),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
