"""Fixtures for connector tests: a client on a fake clock, with `responses` intercepting HTTP."""

from __future__ import annotations

import pytest
import responses

from connectors.dataverse import DataverseClient
from connectors.dataverse.auth import FixedTokenProvider

ORG = "https://org.example.com"
API = ORG + "/api/data/v9.2/"


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def client(fake_clock) -> DataverseClient:
    return DataverseClient(
        ORG,
        token_provider=FixedTokenProvider("test-token"),
        retry_budget_s=20.0,
        sleep=fake_clock.sleep,
        clock=fake_clock.clock,
    )


def error_json(code: str, message: str) -> dict:
    """Dataverse's error body."""
    return {"error": {"code": code, "message": message}}
