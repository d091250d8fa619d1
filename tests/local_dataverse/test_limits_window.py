"""The service protection window arithmetic, apart from HTTP."""

from __future__ import annotations

import pytest

from connectors.local_dataverse.limits import (CONCURRENCY_EXCEEDED, EXEC_TIME_EXCEEDED, REQUESTS_EXCEEDED, Charge,
                                               Limiter, LimitSettings, merge_settings, refusal, remaining)

ON = LimitSettings(enabled=True, window_s=30, requests=3, exec_ms=100, concurrent=2)


def test_requests_over_the_limit_are_refused_until_the_oldest_leaves_the_window():
    charges = [Charge(0.0), Charge(10.0), Charge(20.0)]
    refused = refusal(charges, 0, 25.0, ON)
    assert refused.code == REQUESTS_EXCEEDED
    assert "limit of 3 over time window of 30 seconds" in refused.message
    assert refused.retry_after_s == 5  # the charge at 0 leaves at 30
    assert refusal(charges, 0, 30.5, ON) is None  # sliding: the charge at 0 has left


def test_execution_time_over_the_limit_waits_until_enough_time_has_left():
    charges = [Charge(0.0, 60), Charge(5.0, 30), Charge(8.0, 20)]  # 110 ms of 100
    refused = refusal(charges, 0, 9.0, LimitSettings(enabled=True, window_s=30, requests=99, exec_ms=100))
    assert refused.code == EXEC_TIME_EXCEEDED
    assert "exceeded limit of 100 milliseconds over time window of 30 seconds" in refused.message
    assert refused.retry_after_s == 21  # dropping the 60 ms charge (at 0, leaves at 30) is enough


def test_execution_time_needing_several_charges_to_leave():
    charges = [Charge(0.0, 10), Charge(4.0, 10), Charge(6.0, 90)]
    refused = refusal(charges, 0, 10.0, LimitSettings(enabled=True, window_s=30, requests=99, exec_ms=100))
    assert refused.retry_after_s == 24  # 100 left after the first: the second must go too (at 34)


def test_concurrency_is_refused_at_once_and_first():
    charges = [Charge(0.0), Charge(1.0), Charge(2.0)]
    refused = refusal(charges, 2, 3.0, ON)
    assert (refused.code, refused.retry_after_s) == (CONCURRENCY_EXCEEDED, 1)
    assert refused.message == "Number of concurrent requests exceeded the limit of 2."
    assert refusal([], 1, 3.0, ON) is None


def test_remaining_counts_only_the_window():
    charges = [Charge(0.0, 40), Charge(20.0, 30)]
    assert remaining(charges, 25.0, ON) == (1, 30)
    assert remaining(charges, 31.0, ON) == (2, 70)
    assert remaining(charges * 3, 25.0, ON) == (0, 0)  # never below zero


def test_retry_after_is_a_whole_number_of_at_least_one_second():
    refused = refusal([Charge(0.0), Charge(0.1), Charge(0.2)], 0, 29.95, ON)
    assert refused.retry_after_s == 1


def test_limiter_admits_finishes_and_refuses_per_user():
    now = [0.0]
    limiter = Limiter(ON, clock=lambda: now[0])
    held = [limiter.admit("a")[0], limiter.admit("a")[0]]
    charge, refused = limiter.admit("a")
    assert charge is None and refused.code == CONCURRENCY_EXCEEDED
    assert limiter.admit("b")[1] is None  # another user has its own limits
    for c in held:
        limiter.finish("a", c, 10)
    assert limiter.admit("a")[1] is None
    assert limiter.admit("a")[1].code == REQUESTS_EXCEEDED
    assert limiter.headers("a")["x-ms-ratelimit-burst-remaining-xrm-requests"] == "0"
    assert limiter.headers("a")["x-ms-ratelimit-time-remaining-xrm-requests"] == "80"
    now[0] = 31.0
    assert limiter.admit("a")[1] is None


def test_off_nothing_is_refused_and_an_update_starts_a_fresh_window():
    now = [0.0]
    limiter = Limiter(LimitSettings(requests=1, concurrent=1), clock=lambda: now[0])
    assert all(limiter.admit("a")[1] is None for _ in range(5))
    limiter.update(enabled=True, requests=5, concurrent=50)
    assert limiter.headers("a")["x-ms-ratelimit-burst-remaining-xrm-requests"] == "5"
    assert limiter.settings.requests == 5


@pytest.mark.parametrize("changes, message", [
    ({"speed": 1}, "unknown limit setting 'speed'"),
    ({"enabled": "yes"}, "'enabled' must be true or false"),
    ({"requests": 0}, "at least 1"),
    ({"requests": 1.5}, "whole number"),
    ({"window_s": 0}, "more than 0"),
    ({"op_cost_ms": -1}, "must not be negative"),
    ({"exec_ms": "9"}, "must be a number"),
    ({"concurrent": True}, "must be a number"),
])
def test_bad_settings_are_refused_with_the_reason(changes, message):
    with pytest.raises(ValueError, match=message):
        merge_settings(LimitSettings(), changes)


def test_the_dop_hint_never_exceeds_the_concurrency_limit():
    assert LimitSettings(concurrent=3).dop_hint == 3
    assert 1 <= LimitSettings().dop_hint <= 52
