"""A separate process executing one bulk run, for the kill tests: prints `done <n>` as rows finish.

`python -m tests.durability.run_process <dataverse url> <run key> <ids file> <lease s> <chunk rows>`
"""
from __future__ import annotations

import sys
from pathlib import Path

from connectors.dataverse import DataverseClient
from connectors.dataverse.auth import token_provider
from plugin.config import Config
from plugin.runs.model import RunRequest, RunRow
from plugin.runs.service import RunService


def main(url: str, run_key: str, ids_file: str, lease_s: str, chunk_rows: str) -> None:
    """Start the run and execute it in the foreground, reporting progress on stdout."""
    client = DataverseClient(url, token_provider=token_provider(resource_url=url, fixed_token="local-dev-token"))
    ids = Path(ids_file).read_text().split()
    service = RunService(client, Config(dataverse_url=url, run_lease_s=float(lease_s), bulk_concurrency=2),
                         chunk_rows=int(chunk_rows))
    request = RunRequest(rows=tuple(RunRow(i, c, None, False) for i, c in enumerate(ids)), run_key=run_key,
                         as_of=None)
    print("started", flush=True)
    service.start(request, background=False, on_progress=lambda done, total: print(f"done {done}", flush=True))
    print("finished", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
