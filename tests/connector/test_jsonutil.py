"""Decimal-exact JSON both ways, Dataverse date formats."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from connectors.dataverse.jsonutil import dumps, loads


def test_decimal_keeps_its_exact_digits_on_the_wire():
    body = dumps(
        {
            "amount": Decimal("0.1000"),
            "big": Decimal("12345678901234567890.0123456789"),
            "n": 3,
            "ok": True,
            "none": None,
            "list": [Decimal("-0.01")],
        }
    )
    assert body == (
        '{"amount":0.1000,"big":12345678901234567890.0123456789,"n":3,"ok":true,'
        '"none":null,"list":[-0.01]}'
    )


def test_round_trip_parses_numbers_as_decimal():
    parsed = loads(dumps({"amount": Decimal("19.9900")}))
    assert parsed["amount"] == Decimal("19.9900")
    assert isinstance(parsed["amount"], Decimal)
    assert str(parsed["amount"]) == "19.9900"


def test_dates_datetimes_and_uuids():
    value = {
        "d": date(2026, 2, 28),
        "dt": datetime(2026, 2, 28, 23, 0, tzinfo=timezone.utc),
        "naive": datetime(2026, 1, 1),
        "u": uuid.UUID(int=1),
    }
    assert loads(dumps(value)) == {
        "d": "2026-02-28",
        "dt": "2026-02-28T23:00:00Z",
        "naive": "2026-01-01T00:00:00Z",
        "u": "00000000-0000-0000-0000-000000000001",
    }


def test_non_finite_decimal_and_unknown_types_are_refused():
    with pytest.raises(ValueError):
        dumps({"x": Decimal("NaN")})
    with pytest.raises(TypeError):
        dumps({"x": object()})
