"""JSON for the Web API: Decimal kept exact both ways, dates as Dataverse writes them."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any


def loads(text: str | bytes) -> Any:
    """Parse JSON with every non-integer number as Decimal (money never becomes float)."""
    return json.loads(text, parse_float=Decimal)


def format_decimal(value: Decimal) -> str:
    """A Decimal as a JSON number with its exact digits (no exponent)."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a JSON number")
    return format(value, "f")


def format_datetime(value: datetime) -> str:
    """UTC ISO 8601 with Z (naive datetimes are taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds") + "Z"


def dumps(value: Any) -> str:
    """Serialise to compact JSON: Decimal exact, date YYYY-MM-DD, datetime UTC Z, UUID as str."""
    return "".join(_encode(value))


def _encode(value: Any):
    if value is None or value is True or value is False or isinstance(value, str):
        yield json.dumps(value, ensure_ascii=False)
    elif isinstance(value, int):
        yield str(int(value))
    elif isinstance(value, Decimal):
        yield format_decimal(value)
    elif isinstance(value, float):
        yield json.dumps(value, allow_nan=False)
    elif isinstance(value, datetime):
        yield json.dumps(format_datetime(value))
    elif isinstance(value, date):
        yield json.dumps(value.isoformat())
    elif isinstance(value, uuid.UUID):
        yield json.dumps(str(value))
    elif isinstance(value, dict):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
            yield ("," if i else "") + json.dumps(key, ensure_ascii=False) + ":"
            yield from _encode(item)
        yield "}"
    elif isinstance(value, (list, tuple)):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ","
            yield from _encode(item)
        yield "]"
    else:
        raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
