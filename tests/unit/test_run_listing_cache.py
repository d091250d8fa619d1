"""The viewer cache: one Dataverse lookup per user a minute, not one per poll."""
from __future__ import annotations

from plugin.runs.listing import RunViewer, TtlCache


def test_entries_are_made_once_and_expire(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("plugin.runs.listing.time.monotonic", lambda: clock[0])
    cache, calls = TtlCache(60.0), []

    def make():
        calls.append(1)
        return RunViewer(user_id="u1")

    assert cache.get("oid-1", make) == cache.get("oid-1", make) == RunViewer(user_id="u1")
    assert len(calls) == 1
    clock[0] += 61
    cache.get("oid-1", make)
    assert len(calls) == 2


def test_a_full_cache_starts_over_instead_of_growing():
    cache = TtlCache(60.0, max_entries=3)
    for key in range(10):
        cache.get(key, lambda: key)
    assert len(cache._entries) <= 3
