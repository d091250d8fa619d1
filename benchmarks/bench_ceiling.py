"""Throughput at Dataverse's ceiling: how much of the execution-time budget a bulk run uses.

    python benchmarks/bench_ceiling.py                     # 1,000 contracts; naive baseline on 250
    python benchmarks/bench_ceiling.py --contracts 300 --naive-contracts 0

A local Dataverse in its own process enforces the service protection limits (`--limits`,
`--limit-window-s 30`, `--op-cost-ms 5`) with an execution budget per window sized so the run needs
several windows. Seeding happens with the limits and the cost off; they are switched back on (a
fresh window) just before the run. Prints one JSON object: wall time, server execution time
charged, 429s, efficiency = server time used / (budget per window × run time in windows) (and the
stricter figure over whole started windows, as an empty window at the start lets a run burst a
whole budget at once; and the least wall time the budget allows for the server time used), counts,
invoices, operations per contract, for the product's bulk run and a naive baseline (one plain
request at a time, the connector's ordinary retries).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_bulk import (TODAY, admin, bulk_run, invoice_fingerprint, local_dataverse,  # noqa: E402
                                   naive_run, seeded)

WINDOW_S = 30
OP_COST_MS = 5
TARGET_EFFICIENCY = 0.80


def limited_run(url: str, limits: dict[str, Any], contracts: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Switch the limits on (fresh window, fresh counters), run, and measure against the budget."""
    admin(url, "limits", limits)
    admin(url, "stats/reset", {})
    result = run()
    stats = admin(url, "stats")
    admin(url, "limits", {"enabled": False, "op_cost_ms": 0})
    windows = result["wall_s"] / limits["window_s"]
    budget_ms = limits["exec_ms"] * windows
    # the window starts empty: the least wall time that lets `exec_ms` through is one window fewer
    # than the budgets it needs (a lower bound: the last budget's own execution is not counted)
    min_wall_s = (max(1, math.ceil(stats["exec_ms"] / limits["exec_ms"])) - 1) * limits["window_s"]
    result.update(
        server_exec_ms=stats["exec_ms"], throttled_429=stats["throttled"], http_requests=stats["http_requests"],
        operations=stats["operations"], operations_per_contract=round(stats["operations"] / contracts, 3),
        windows=round(windows, 2), efficiency=round(stats["exec_ms"] / budget_ms, 3) if budget_ms else None,
        # the window starts empty, so a run may use up to one budget per *started* window
        efficiency_whole_windows=round(stats["exec_ms"] / (limits["exec_ms"] * max(1, math.ceil(windows))), 3),
        min_wall_s=min_wall_s, wall_over_min=round(result["wall_s"] / min_wall_s, 3) if min_wall_s else None,
        **invoice_fingerprint(url, result["run_id"]))
    result["invoices_equal_created"] = result["invoices"] == result["counts"].get("created")
    return result


def measure(contracts: int, seed_value: int, limits: dict[str, Any], run: Callable[[str, list[str]], dict]) -> dict:
    """A fresh limited local Dataverse, seeded with the limits off, then one run under them."""
    flags = ["--limits", "--limit-window-s", str(limits["window_s"]), "--limit-exec-ms", str(limits["exec_ms"]),
             "--op-cost-ms", str(limits["op_cost_ms"])]
    with local_dataverse(*flags) as url:
        admin(url, "limits", {"enabled": False, "op_cost_ms": 0})  # seeding is not what is measured
        ids = seeded(url, contracts, seed_value)
        return limited_run(url, limits, contracts, lambda: run(url, ids))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the product's bulk run (and the naive baseline) under the limits; print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contracts", type=int, default=1000)
    parser.add_argument("--naive-contracts", type=int, default=250,
                        help="contracts of the naive baseline (0: none; it is slow by design)")
    parser.add_argument("--seed", type=int, default=365)
    parser.add_argument("--limit-exec-ms", type=int, default=8000,
                        help="execution budget per 30 s window (the default makes 1,000 contracts need several)")
    args = parser.parse_args(argv)
    limits = {"enabled": True, "window_s": WINDOW_S, "exec_ms": args.limit_exec_ms, "op_cost_ms": OP_COST_MS}
    report: dict[str, Any] = {"benchmark": "ceiling", "contracts": args.contracts, "seed": args.seed,
                              "as_of": TODAY.isoformat(), "limits": limits, "cpu_count": os.cpu_count()}
    report["bulk"] = measure(args.contracts, args.seed, limits,
                             lambda url, ids: bulk_run(url, ids, measure_memory=False))
    if args.naive_contracts:
        report["naive"] = measure(args.naive_contracts, args.seed, limits, naive_run)
        report["naive"]["contracts"] = args.naive_contracts
    bulk = report["bulk"]
    report["targets"] = {
        "efficiency_min": TARGET_EFFICIENCY,
        "efficiency_met": (bulk["efficiency"] or 0) >= TARGET_EFFICIENCY,
        "no_failed_row": bulk["counts"].get("failed", 0) == 0,
        "invoices_equal_created": bulk["invoices_equal_created"],
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
