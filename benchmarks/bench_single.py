"""Single-contract flow: Dataverse HTTP requests per preview/create and their latency (README.md, Benchmarks).

Runs against an in-process local Dataverse through the real connector and the plugin app (dev
auth, test client), without and with injected latency. Prints one JSON object.

    .venv/bin/python benchmarks/bench_single.py [--latency-ms 20] [--repeat 15]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plugin.provisioning.local import provisioned_dataverse  # noqa: E402
from plugin.app import create_app  # noqa: E402
from plugin.config import Config  # noqa: E402
from tests import factories  # noqa: E402
from tests.conftest import make_client  # noqa: E402


def realistic_contract(client, world) -> str:
    """A monthly contract with three licenses (several LCLs each), a usage subscription and two NRIs."""
    contract_id = factories.create_contract(client, account_id=world.account_id, currency_id=world.currency_id,
                                            start="2025-01-01", taxpercent=Decimal("8.25"),
                                            discountpercent=Decimal("5"))
    for n in range(3):
        sub = factories.create_subscription(client, contract_id, price=f"{10 + n}.50", name=f"License {n}",
                                            taxable=True)
        factories.create_change_log(client, sub, contract_id, effective="2025-01-01", delta=10, change_type=1)
        for month in range(2, 12):
            factories.create_change_log(client, sub, contract_id, effective=f"2025-{month:02d}-15", delta=1)
    usage = factories.create_subscription(client, contract_id, billing_type=3, price="0", name="Azure usage",
                                          minimum="25.00")
    for day in (3, 9, 21):
        factories.create_usage(client, usage, contract_id, charge_date=f"2025-01-{day:02d}", amount="12.3456")
    for day in (5, 20):
        factories.create_nri(client, contract_id, effective=f"2025-01-{day:02d}", unit_price="99.99")
    return contract_id


def measure(dv, api, contract_ids, repeat: int) -> dict:
    """Requests, operations and latency of previews and creates (one create per contract)."""
    preview_ms, create_ms, preview_requests, create_requests, create_ops, lines = [], [], [], [], [], []
    for i in range(repeat):
        contract_id = contract_ids[i]
        dv.reset_stats()
        started = time.perf_counter()
        response = api.post("/api/v1/invoices/preview", json={"billing_contract_id": contract_id,
                                                               "cycle": "2025-01-01"})
        preview_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_json()
        lines.append(len(response.get_json()["lines"]))
        preview_requests.append(dv.stats()["http_requests"])
        dv.reset_stats()
        started = time.perf_counter()
        response = api.post("/api/v1/invoices", json={"billing_contract_id": contract_id, "cycle": "2025-01-01"})
        create_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 201, response.get_json()
        stats = dv.stats()
        create_requests.append(stats["http_requests"])
        create_ops.append(stats["operations"])
    return {
        "lines_per_invoice": max(lines),
        "preview": {"http_requests": max(preview_requests), "median_ms": round(statistics.median(preview_ms), 1),
                    "p90_ms": round(sorted(preview_ms)[int(0.9 * (len(preview_ms) - 1))], 1)},
        "create": {"http_requests": max(create_requests), "operations": max(create_ops),
                   "median_ms": round(statistics.median(create_ms), 1),
                   "p90_ms": round(sorted(create_ms)[int(0.9 * (len(create_ms) - 1))], 1)},
    }


def main() -> None:
    """Seed realistic contracts, measure previews and creates, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    dv = provisioned_dataverse(port=0).start()
    try:
        client = make_client(dv)
        world = factories.make_world(client)
        contracts = [realistic_contract(client, world) for _ in range(2 * args.repeat)]
        api = create_app(Config(), dataverse=client).test_client()
        api.post("/api/v1/invoices/preview", json={"billing_contract_id": contracts[0]})  # warm up (token, imports)
        no_latency = measure(dv, api, contracts[:args.repeat], args.repeat)
        dv.set_faults(latency_ms=args.latency_ms)
        with_latency = measure(dv, api, contracts[args.repeat:], args.repeat)
        print(json.dumps({"benchmark": "single", "repeat": args.repeat,
                          "no_latency": no_latency, f"latency_{args.latency_ms}ms": with_latency,
                          "target_preview_http_requests": 4}, indent=2))
    finally:
        dv.stop()


if __name__ == "__main__":
    main()
