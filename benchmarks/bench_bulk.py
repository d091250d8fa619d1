"""Bulk-run benchmark (README.md, Benchmarks): requests per contract, wall time, and speed-up over a naive run.

    python benchmarks/bench_bulk.py                      # 250 demo contracts, 20 ms latency, + naive
    python benchmarks/bench_bulk.py --contracts 10000    # wall time and peak memory (no naive run)

Each local Dataverse runs in its own process (`w365 dataverse-local`), seeded with `plugin.seed`.
The bulk run is the product's run engine (`RunService`, source cli). The naive run creates the
same invoices one plain request at a time: every read and every write its own HTTP request, no
`$batch`. Prints one JSON object; `peak_traced_memory_mb` is the run's peak Python heap
(tracemalloc, which slows the run), `max_rss_mb` the whole process's (seeding included).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import socket
import subprocess
import sys
import time
import tracemalloc
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.dataverse import DataverseClient, odata  # noqa: E402
from connectors.dataverse.auth import token_provider  # noqa: E402
from plugin.config import Config  # noqa: E402
from plugin.engine import NOTHING_TO_INVOICE  # noqa: E402
from plugin.invoicing import mapping  # noqa: E402
from plugin.engine.cycles import resolve_cycle  # noqa: E402
from plugin.engine.invoice import build_for_option  # noqa: E402
from plugin.invoicing import reads  # noqa: E402
from plugin.runs.model import RunRequest, RunRow  # noqa: E402
from plugin.runs.service import RunService  # noqa: E402
from plugin.invoicing.writes import (MODE_BULK, RESULT_CREATED, RESULT_SKIPPED, RUN_COMPLETED,  # noqa: E402
                                     request_row, run_item_record, run_record)
from plugin.provisioning import provision  # noqa: E402
from plugin.seed import seed  # noqa: E402

TODAY = date(2026, 2, 1)
TARGET_REQUESTS_PER_CONTRACT = 0.1
TARGET_SPEEDUP = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_dataverse(*flags: str) -> Iterator[str]:
    """A local Dataverse in a child process (in-memory database, extra CLI `flags`); yields its URL."""
    port = _free_port()
    w365 = Path(sys.executable).with_name("w365")
    command = [str(w365)] if w365.exists() else [sys.executable, "-m", "plugin.cli"]
    child = subprocess.Popen([*command, "dataverse-local", "--port", str(port), "--db", ":memory:", *flags],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                requests.get(f"{url}/_admin/stats", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        else:
            raise RuntimeError("the local Dataverse did not start")
        provision(connect(url))  # the service's own tables, as on a real org
        yield url
    finally:
        child.terminate()
        child.wait(timeout=10)


def admin(url: str, path: str, body: dict | None = None) -> dict:
    """Call the local Dataverse's `/_admin` API (never counted, never faulted)."""
    response = requests.post(f"{url}/_admin/{path}", json=body or {}) if body is not None or path.endswith("reset") \
        else requests.get(f"{url}/_admin/{path}")
    response.raise_for_status()
    return response.json() if response.content else {}


def connect(url: str, retry_budget_s: float = 300.0) -> DataverseClient:
    """A connector for the local Dataverse at `url` (fixed dev token)."""
    return DataverseClient(url, token_provider=token_provider(resource_url=url, fixed_token="local-dev-token"),
                           retry_budget_s=retry_budget_s)


def seeded(url: str, contracts: int, seed_value: int) -> list[str]:
    """Seed `contracts` demo contracts; their ids."""
    return seed(connect(url), contracts=contracts, seed=seed_value, today=TODAY)["contract_ids"]


# ---- the bulk run (the product) --------------------------------------------------------------------

def bulk_run(url: str, ids: list[str], *, measure_memory: bool) -> dict[str, Any]:
    """The product's bulk run over `ids`: wall time, counts, run id (and peak memory when asked)."""
    service = RunService(connect(url), Config())
    request = RunRequest(rows=tuple(RunRow(i, cid, None, False) for i, cid in enumerate(ids)),
                         source="cli", as_of=TODAY)
    gc.collect()
    if measure_memory:
        tracemalloc.start()
    started = time.perf_counter()
    run_id = service.start(request, background=False)
    wall = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if measure_memory else None
    if measure_memory:
        tracemalloc.stop()
    view = service.view(run_id)
    counts = view.counts()
    service.close()
    return {"wall_s": round(wall, 3), "counts": counts, "run_id": run_id, "throttled_s": round(view.throttled_s, 1),
            "peak_traced_memory_mb": None if peak is None else round(peak / 2**20, 1)}


# ---- the naive run: one plain request per read and per write ----------------------------------------

def _naive_read(client: DataverseClient, contract_id: str):
    row = client.get("w365_billingcontracts", contract_id, select=list(reads.CONTRACT_COLUMNS),
                     expand=[f"transactioncurrencyid($select={','.join(reads.CURRENCY_COLUMNS)})",
                             "w365_Customer($select=name)"])
    children = {}
    for key, entity_set, columns, extra in reads.CHILD_QUERIES:
        children[key] = list(client.query(entity_set, select=list(columns), filter=odata.and_(
            odata.eq("_w365_billingcontract_value", uuid.UUID(contract_id)), extra)))
    return mapping.contract_data_from_rows(row, row.get("transactioncurrencyid"), children["subscriptions"],
                                           children["change_logs"], children["usage_records"], children["nris"],
                                           children["schedules"], children["invoices"])


def _naive_invoice(client: DataverseClient, run_id: str, index: int, contract_id: str) -> str:
    data = _naive_read(client, contract_id)
    option = resolve_cycle(data, None, TODAY, 2)
    draft = build_for_option(data, option, TODAY)
    if draft.nothing_to_invoice:
        client.create("w365_invoicerunitems", run_item_record(
            run=run_id, row_index=index, contract_id=contract_id, cycle_key=draft.cycle_key,
            result=RESULT_SKIPPED, message=NOTHING_TO_INVOICE, correlation_id=None))
        return "skipped"
    now = datetime.now(timezone.utc)
    schedule_id = None
    if not draft.is_one_time:
        record = mapping.schedule_record(draft, invoice="00000000-0000-0000-0000-000000000000", run_date=now)
        record.pop("w365_Invoice@odata.bind")
        schedule_id = client.upsert("w365_billingschedules", {"_w365_billingcontract_value": contract_id,
                                                               "w365_cyclestart": draft.cycle_key}, record)
    invoice_id = client.create("invoices", mapping.invoice_record(draft, schedule=schedule_id, run=run_id))
    if schedule_id:
        client.update("w365_billingschedules", schedule_id,
                      {"w365_Invoice@odata.bind": mapping.bind("invoices", invoice_id)})
    for update in mapping.consumption_updates(draft, invoice_id):
        client.update(update.entity_set, update.id, update.changes)
    client.create("w365_invoicerunitems", run_item_record(
        run=run_id, row_index=index, contract_id=contract_id, cycle_key=draft.cycle_key, result=RESULT_CREATED,
        message="Invoice created", correlation_id=None, invoice=invoice_id))
    return "created"


def naive_run(url: str, ids: list[str]) -> dict[str, Any]:
    """The baseline: one plain request per read and per write, contract by contract."""
    client = connect(url)
    started = time.perf_counter()
    run_id = client.create("w365_invoiceruns", run_record(
        run_key=str(uuid.uuid4()), mode=MODE_BULK, source="cli", rows=[request_row(i, None) for i in ids]))
    counts = {"created": 0, "skipped": 0, "failed": 0}
    for index, contract_id in enumerate(ids):
        counts[_naive_invoice(client, run_id, index, contract_id)] += 1
    client.update("w365_invoiceruns", run_id, {"w365_status": RUN_COMPLETED, "w365_created": counts["created"],
                                               "w365_skipped": counts["skipped"]})
    return {"wall_s": round(time.perf_counter() - started, 3), "counts": counts, "run_id": run_id}


def invoice_fingerprint(url: str, run_id: str) -> dict[str, Any]:
    """How many invoices a run made and their summed total (the two runs must agree)."""
    rows = list(connect(url).query("invoices", select=["totalamount"], filter=odata.eq("_w365_invoicerun_value", run_id)))
    return {"invoices": len(rows), "total": str(sum((Decimal(str(r["totalamount"])) for r in rows), Decimal(0)))}


def measured(url: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `run()` with fresh counters; its result plus requests and operations per contract."""
    admin(url, "stats/reset", {})
    result = run()
    stats = admin(url, "stats")
    contracts = sum(result["counts"].values())
    result.update(http_requests=stats["http_requests"], operations=stats["operations"],
                  requests_per_contract=round(stats["http_requests"] / contracts, 4),
                  operations_per_contract=round(stats["operations"] / contracts, 3),
                  **invoice_fingerprint(url, result["run_id"]))
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Seed, run the bulk run (and the naive baseline), print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contracts", type=int, default=250)
    parser.add_argument("--seed", type=int, default=365)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--naive", action=argparse.BooleanOptionalAction, default=None,
                        help="also run the naive baseline (default: only up to 1000 contracts)")
    parser.add_argument("--tracemalloc", action=argparse.BooleanOptionalAction, default=None,
                        help="trace the run's peak Python memory (slows it; default: above 1000 contracts)")
    args = parser.parse_args(argv)
    naive = args.naive if args.naive is not None else args.contracts <= 1000
    report: dict[str, Any] = {"benchmark": "bulk_run", "contracts": args.contracts, "seed": args.seed,
                              "latency_ms": args.latency_ms, "as_of": TODAY.isoformat(), "cpu_count": os.cpu_count()}

    with local_dataverse() as url:
        ids = seeded(url, args.contracts, args.seed)
        admin(url, "faults", {"latency_ms": args.latency_ms})
        trace = args.tracemalloc if args.tracemalloc is not None else args.contracts > 1000
        report["bulk"] = measured(url, lambda: bulk_run(url, ids, measure_memory=trace))
    report["bulk"]["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if naive:
        with local_dataverse() as url:
            ids = seeded(url, args.contracts, args.seed)
            admin(url, "faults", {"latency_ms": args.latency_ms})
            report["naive"] = measured(url, lambda: naive_run(url, ids))
        report["speedup"] = round(report["naive"]["wall_s"] / report["bulk"]["wall_s"], 1)
        report["same_invoices"] = (report["naive"]["invoices"], report["naive"]["total"]) == (
            report["bulk"]["invoices"], report["bulk"]["total"])
    report["targets"] = {
        "requests_per_contract_max": TARGET_REQUESTS_PER_CONTRACT,
        "requests_per_contract_met": report["bulk"]["requests_per_contract"] <= TARGET_REQUESTS_PER_CONTRACT,
        "speedup_min": TARGET_SPEEDUP,
        "speedup_met": report.get("speedup", 0) >= TARGET_SPEEDUP if naive else None,
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
