"""Durable runs: how long a run takes to resume after its process is killed, and Celery throughput.

    python benchmarks/bench_durable.py                    # lease 30 s (the default), 400-row kill, 2000 rows
    python benchmarks/bench_durable.py --lease-s 5 --contracts 500 --workers 1,2

1. **Resume after kill -9**: a separate process executes a bulk run; it is killed with SIGKILL at
   half of the rows; a second run service sweeps as every process of the service does. Prints the
   seconds from the kill to the run's end, the seconds from the kill to the takeover, and whether
   invoices = rows Created (no duplicate, no lost row).
2. **Celery workers** (`w365 worker`, a real `redis-server` as broker): one run of `--contracts`
   rows with 20 ms injected latency, executed by 1, 2 and 4 workers; and the same rows as four
   concurrent runs. Prints rows per second for each.

Prints one JSON object. Each local Dataverse runs in its own process (see bench_bulk.py).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_bulk import _free_port, admin, connect, local_dataverse, seeded  # noqa: E402
from connectors.dataverse import odata  # noqa: E402
from plugin.config import Config  # noqa: E402
from plugin.runs.lease import read_lease  # noqa: E402
from plugin.runs.model import RunRequest, RunRow  # noqa: E402
from plugin.runs.store import find_run, find_run_by_key  # noqa: E402
from plugin.runs.celery_tasks import CeleryRunQueue  # noqa: E402
from plugin.runs.view import load_view  # noqa: E402
from plugin.runs.service import RunService  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
W365 = Path(sys.executable).with_name("w365")


def exactly_once(client, run_id: str) -> dict[str, Any]:
    """Row counts, and whether the invoices in Dataverse are exactly the rows reported Created."""
    view = load_view(client, find_run(client, run_id))
    counts = view.counts()
    invoices = {str(i["invoiceid"]).lower() for i in client.query(
        "invoices", select=["invoiceid"], filter=odata.eq("_w365_invoicerun_value", run_id))}
    created = {str(r.outcome.invoice["id"]).lower() for r in view.results if r.status == "created"}
    return {"rows": counts, "invoices": len(invoices), "invoices_equal_created": invoices == created}


def resume_after_kill(contracts: int, lease_s: float) -> dict[str, Any]:
    """Kill the executing process at half of a run; time until another service has completed it."""
    with local_dataverse() as url:
        client = connect(url)
        ids = seeded(url, contracts, 365)
        ids_file = ROOT / ".w365" / f"bench-ids-{uuid.uuid4()}.txt"
        ids_file.parent.mkdir(exist_ok=True)
        ids_file.write_text("\n".join(ids))
        run_key = f"bench-kill-{uuid.uuid4()}"
        admin(url, "faults", {"latency_ms": 20})
        process = subprocess.Popen([sys.executable, "-m", "tests.durability.run_process", url, run_key,
                                    str(ids_file), str(lease_s), "25"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        reached = 0
        for line in process.stdout:
            if line.startswith("done ") and int(line.split()[1]) >= contracts // 2:
                reached = int(line.split()[1])
                process.send_signal(signal.SIGKILL)
                break
        killed = time.monotonic()
        process.wait(timeout=10)
        ids_file.unlink()
        run_id = find_run_by_key(client, run_key).run_id
        survivor = RunService(client, Config(run_lease_s=lease_s, run_sweep=True), owner="bench-survivor:1")
        survivor.start_run_sweep()
        taken_at = None
        while time.monotonic() - killed < lease_s + 120:
            lease = read_lease(client, run_id)
            if taken_at is None and lease.owner == "bench-survivor:1":
                taken_at = time.monotonic()
            if not lease.running:
                break
            time.sleep(0.2)
        ended = time.monotonic()
        survivor.close()
        return {"contracts": contracts, "lease_s": lease_s, "killed_at_rows": reached,
                "seconds_kill_to_takeover": round(taken_at - killed, 2) if taken_at else None,
                "seconds_kill_to_end": round(ended - killed, 2), "target_s": lease_s + 60,
                **exactly_once(client, run_id)}


@contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server on a free loopback port; yields its URL."""
    port = _free_port()
    server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def workers_throughput(contracts: int, worker_counts: list[int], lease_s: float) -> list[dict[str, Any]]:
    """Rows per second of `w365 worker` processes on one run, and on four concurrent runs of the same rows."""
    figures = []
    for count in worker_counts:
        for runs in (1, 4):
            with local_dataverse() as url, redis_server() as broker:
                client = connect(url)
                ids = seeded(url, contracts, 365)
                env = {**{k: v for k, v in os.environ.items() if not k.startswith("W365_")},
                       "W365_DATAVERSE_URL": url, "W365_DATAVERSE_TOKEN": "local-dev-token",
                       "W365_BROKER_URL": broker, "W365_RUN_LEASE_S": str(lease_s)}
                workers = [subprocess.Popen([str(W365), "worker", "--concurrency", "2"], cwd=ROOT, env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                           for _ in range(count)]
                time.sleep(3)  # the workers connect to the broker
                admin(url, "faults", {"latency_ms": 20})
                config = Config(dataverse_url=url, broker_url=broker, run_lease_s=lease_s)
                web = RunService(client, config, queue=CeleryRunQueue(config))
                share = -(-len(ids) // runs)
                started = time.monotonic()
                run_ids = [web.start(RunRequest(rows=tuple(RunRow(i, c, None, False)
                                                           for i, c in enumerate(ids[k * share:(k + 1) * share]))))
                           for k in range(runs)]
                while any(read_lease(client, r).running for r in run_ids) and time.monotonic() - started < 900:
                    time.sleep(0.25)
                seconds = time.monotonic() - started
                for worker in workers:
                    worker.send_signal(signal.SIGTERM)
                for worker in workers:
                    worker.wait(timeout=60)
                checks = [exactly_once(client, r)["invoices_equal_created"] for r in run_ids]
                figures.append({"workers": count, "runs": runs, "contracts": len(ids), "seconds": round(seconds, 2),
                                "rows_per_second": round(len(ids) / seconds, 1), "invoices_equal_created": all(checks)})
                web.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lease-s", type=float, default=30.0)
    parser.add_argument("--kill-contracts", type=int, default=400)
    parser.add_argument("--contracts", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    result = {"resume_after_kill": resume_after_kill(args.kill_contracts, args.lease_s),
              "celery_workers_20ms": workers_throughput(args.contracts, [int(w) for w in args.workers.split(",")],
                                                        min(args.lease_s, 10.0))}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
