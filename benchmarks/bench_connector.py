"""Connector benchmark on a local Dataverse (file database in a temp dir); prints one JSON object.

Measures, through the connector (msal client-credentials path, as in production):
- one `$batch` of 1,000 creates (one change set each, continue-on-error): wall time, HTTP requests
  and operations as counted by `/_admin/stats`;
- paging 10,000 rows with `Prefer: odata.maxpagesize=5000`: wall time and HTTP requests.

Run: `python benchmarks/bench_connector.py [--rows 10000] [--batch 1000]`
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.dataverse import Batch, DataverseClient  # noqa: E402
from connectors.local_dataverse import LocalDataverse  # noqa: E402
from plugin.provisioning.local import provision_local  # noqa: E402
from plugin.config import Config  # noqa: E402

PAGE_SIZE = 5000
SEED_CHUNK = 1000


def connect(dv: LocalDataverse) -> DataverseClient:
    """A connector configured like production (msal client credentials) for the local authority."""
    config = Config(
        dataverse_url=dv.url,
        tenant_id="local-tenant",
        client_id="local-client",
        client_secret="local-secret",
        authority=dv.authority,
    )
    return DataverseClient.from_config(config, retry_budget_s=60.0)


def bench_batch(client: DataverseClient, dv: LocalDataverse, size: int) -> dict:
    """One $batch of `size` creates, one change set per create."""
    batch = Batch()
    for i in range(size):
        batch.changeset(tag=i).create("accounts", {"name": f"batch-{i:05d}"})
    dv.reset_stats()
    started = time.perf_counter()
    result = client.execute_batch(batch, continue_on_error=True)
    wall = time.perf_counter() - started
    stats = dv.stats()
    return {
        "creates": size,
        "wall_s": round(wall, 3),
        "http_requests": stats["http_requests"],
        "operations": stats["operations"],
        "all_ok": result.ok,
        "creates_per_s": round(size / wall, 1),
    }


def bench_paging(client: DataverseClient, dv: LocalDataverse, rows: int) -> dict:
    """Seed `rows` accounts with CreateMultiple, then read them all back across pages."""
    for start in range(0, rows, SEED_CHUNK):
        client.create_multiple(
            "accounts",
            "account",
            [{"name": f"page-{i:06d}"} for i in range(start, min(start + SEED_CHUNK, rows))],
        )
    dv.reset_stats()
    started = time.perf_counter()
    count = sum(
        1
        for _ in client.query(
            "accounts",
            select=["accountid", "name"],
            filter="startswith(name,'page-')",
            page_size=PAGE_SIZE,
        )
    )
    wall = time.perf_counter() - started
    return {
        "rows": count,
        "page_size": PAGE_SIZE,
        "wall_s": round(wall, 3),
        "http_requests": dv.stats()["http_requests"],
        "rows_per_s": round(count / wall, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    """Run both measurements and print them as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-connector-") as tmp:
        dv = LocalDataverse(db_path=str(Path(tmp) / "dataverse.db"), port=0).start()
        provision_local(dv)
        try:
            client = connect(dv)
            client.token_provider()  # token acquisition is not part of the figures
            figures = {
                "benchmark": "connector",
                "batch_creates": bench_batch(client, dv, args.batch),
                "paging": bench_paging(client, dv, args.rows),
            }
        finally:
            dv.stop()
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
