"""Bulk runs against the local Dataverse's service protection limits: paced, never Failed."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from connectors.dataverse.errors import ThrottledError
from connectors.local_dataverse.limits import LimitSettings
from plugin.config import Config
from plugin.runs import executor as executor_module
from plugin.runs.model import RunRequest, RunRow
from plugin.runs.pacing import Pacer
from plugin.runs.rows import ChunkWriter, plan_row
from plugin.invoicing.reads import load_contracts
from plugin.runs.store import open_run
from plugin.runs.service import RunService
from plugin.seed import seed
from tests.e2e.test_bulk_faults import audit, created_ids

TODAY = date(2026, 2, 1)


class RecordingPacer(Pacer):
    """A pacer that remembers its concurrency after every change."""

    made: list["RecordingPacer"] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.history: list[int] = []
        RecordingPacer.made.append(self)

    def throttled(self, retry_after_s):
        super().throttled(retry_after_s)
        self.history.append(self.concurrency)

    def answered(self, operations, elapsed_s):
        super().answered(operations, elapsed_s)
        self.history.append(self.concurrency)


@pytest.fixture(scope="module")
def contracts(dataverse_client) -> list[str]:
    return seed(dataverse_client, contracts=40, seed=15, today=TODAY)["contract_ids"]


@pytest.fixture
def limited(local_dataverse):
    yield local_dataverse
    local_dataverse.set_limits(**LimitSettings().as_json())


def test_a_throttled_run_slows_down_recovers_and_fails_no_row(dataverse_client, contracts, limited, monkeypatch):
    monkeypatch.setattr(executor_module, "Pacer", RecordingPacer)
    RecordingPacer.made.clear()
    service = RunService(dataverse_client, Config(), chunk_rows=5)
    request = RunRequest(rows=tuple(RunRow(i, cid, None, False) for i, cid in enumerate(contracts)), as_of=TODAY)
    # two in flight (the dop hint), five requests a second: every chunk meets the request limit
    limited.set_limits(enabled=True, window_s=1, requests=5, concurrent=2)
    limited.reset_stats()
    try:
        run_id = service.start(request, background=False)
        view = service.view(run_id)
    finally:
        limited.set_limits(enabled=False)
        service.close()

    assert limited.stats()["throttled"] > 0
    assert view.counts()["failed"] == 0 and view.counts()["pending"] == 0
    assert view.throttled_s > 0 and view.as_json()["throttled_s"] > 0
    audit(dataverse_client, run_id, created_ids(view))
    history = RecordingPacer.made[0].history
    assert max(history) == 2, "started at the server's dop hint"
    dropped = history.index(1)
    assert 2 in history[dropped:], "concurrency recovered after the 429"


class ThrottlingClient:
    """The connector, but its first `$batch`es answer 429 past any retry budget."""

    def __init__(self, client, refusals: int) -> None:
        self._client, self.refusals = client, refusals

    def __getattr__(self, name):
        return getattr(self._client, name)

    def execute_batch(self, batch, **kwargs):
        if self.refusals:
            self.refusals -= 1
            raise ThrottledError("Combined execution time of incoming requests exceeded limit", status=429,
                                 code="0x80072321", retry_after=0.05)
        return self._client.execute_batch(batch, **kwargs)


def test_a_batch_throttled_past_the_connectors_budget_is_sent_again_not_failed(dataverse_client, contracts):
    rows = [RunRow(i, cid, None, False) for i, cid in enumerate(contracts[-3:])]
    record, _ = open_run(dataverse_client, RunRequest(rows=tuple(rows)), {})
    loaded = {c.id: c for c in load_contracts(dataverse_client, [r.billing_contract_id for r in rows])}
    plans = [plan_row(r, loaded[r.billing_contract_id], on_existing=None, as_of=TODAY, cycle_range=2) for r in rows]
    pacer = Pacer(2)
    client = ThrottlingClient(dataverse_client, refusals=3)
    with ThreadPoolExecutor(2) as pool:
        results = ChunkWriter(client, pool, record.run_id, 2, pacer=pacer).write(plans)
    assert client.refusals == 0
    assert [(r.status, r.outcome.message) for r in results.values() if r.status == "failed"] == []
    assert any(r.status == "created" for r in results.values())
    assert pacer.throttled_s >= 0.15 and pacer.concurrency >= 1
