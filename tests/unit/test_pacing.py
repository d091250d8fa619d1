"""The run's pacer: AIMD concurrency, batch size from server time, pauses and throttled time."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from connectors.dataverse.errors import ThrottledError
from plugin.runs.pacing import (MAX_BATCH_OPS, MIN_BATCH_OPS, Pacer, batch_ops_for, decreased, increased,
                                paused_extension)


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def response(status: int = 200, **headers: str):
    return SimpleNamespace(status_code=status, headers=headers)


@pytest.fixture
def fake():
    return FakeTime()


def pacer(fake, start=4, **kw) -> Pacer:
    return Pacer(start, clock=fake.clock, sleep=fake.sleep, **kw)


def test_additive_increase_and_multiplicative_decrease():
    assert increased(4.0, 8) == 4.25
    assert increased(8.0, 8) == 8.0
    assert decreased(6.0) == 3.0 and decreased(1.5) == 1.0


def test_batch_size_follows_the_server_time_per_operation():
    assert batch_ops_for(None) == MAX_BATCH_OPS            # nothing measured: the biggest batch
    assert batch_ops_for(0.005) == 400                     # 5 ms per operation: about 2 s a batch
    assert batch_ops_for(1.0) == MIN_BATCH_OPS
    assert batch_ops_for(0.0001) == MAX_BATCH_OPS


def test_overlapping_pauses_count_their_shared_time_once():
    assert paused_extension(0.0, 10.0, 5.0) == (15.0, 5.0)
    assert paused_extension(15.0, 12.0, 5.0) == (17.0, 2.0)
    assert paused_extension(15.0, 12.0, 1.0) == (15.0, 0.0)


def test_starts_at_the_servers_dop_hint_and_never_exceeds_it(fake):
    p = pacer(fake, start=4)
    p.observe(response(**{"x-ms-dop-hint": "6"}))
    assert p.concurrency == 6
    p.observe(response(**{"x-ms-dop-hint": "50"}))  # the first hint is the one followed
    for _ in range(50):
        p.answered(10, 0.1)
    assert p.concurrency == 6


def test_a_429_halves_concurrency_once_per_pause_and_answers_recover_it(fake):
    p = pacer(fake)
    p.hint(8)
    p.observe(response(429, **{"Retry-After": "3"}))
    p.observe(response(429, **{"Retry-After": "3"}))  # the same pause: not halved again
    assert p.concurrency == 4
    assert (p.throttled_s, p.throttles) == (3.0, 2)
    fake.now += 3
    p.observe(response(429, **{"Retry-After": "2"}))  # a new pause
    assert p.concurrency == 2 and p.throttled_s == 5.0
    seen = []
    for _ in range(40):
        p.answered(10, 0.1)
        seen.append(p.concurrency)
    assert seen == sorted(seen) and seen[-1] == 8


def test_a_429_without_retry_after_pauses_a_second(fake):
    p = pacer(fake)
    p.observe(response(429))
    assert p.throttled_s == 1.0


def test_call_waits_out_throttling_past_the_connectors_budget(fake):
    p = pacer(fake)
    attempts = []

    def flaky() -> str:
        attempts.append(fake.now)
        if len(attempts) <= 3:
            raise ThrottledError("Number of requests exceeded the limit", status=429, retry_after=2.0)
        return "done"

    assert p.call(flaky) == "done"
    assert attempts == [100.0, 102.0, 104.0, 106.0]  # each retry after the Retry-After
    assert p.throttled_s == 6.0


def test_other_errors_are_not_retried_by_the_pacer(fake):
    p = pacer(fake)

    def broken() -> None:
        raise ValueError("not a throttle")

    with pytest.raises(ValueError):
        p.call(broken)
    assert p.throttled_s == 0


def test_a_slot_waits_for_the_pause_to_end(fake):
    p = pacer(fake)
    p.throttled(5.0)
    with p.slot():
        assert fake.now >= 105.0
    assert fake.slept == [5.0]


def test_answered_learns_the_time_per_operation(fake):
    p = pacer(fake)
    assert p.batch_ops() == MAX_BATCH_OPS
    p.answered(100, 0.5)  # 5 ms per operation
    assert p.batch_ops() == 400
