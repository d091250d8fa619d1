"""Column values: JSON body -> SQLite storage, storage -> JSON, and alternate-key URL literals."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .errors import DataverseFault, bad_payload, bad_query
from .schema import (
    BOOLEAN,
    CHOICE,
    DATEONLY,
    DATETIME,
    DECIMAL,
    GUID,
    INTEGER,
    LOOKUP,
    MONEY,
    STRING,
    Column,
)

MONEY_PLACES = Decimal("0.0001")
DECIMAL_PLACES = Decimal("0.0000000001")
_MONEY_MAX = Decimal("922337203685477")
_DECIMAL_MAX = Decimal("100000000000")
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


class RawNumber(str):
    """A decimal kept as its exact digits; the JSON encoder writes it as a bare number."""

    __slots__ = ()


def canonical_guid(value: Any) -> str | None:
    """The lowercase canonical form of a GUID string, or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value.strip("{}")))
    except ValueError:
        return None


def now_utc() -> str:
    """The current UTC time as Dataverse writes DateTime values."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unconvertible(col: Column, value: Any, edm_type: str) -> DataverseFault:
    return bad_payload(
        f"Cannot convert the literal '{value}' to the expected type '{edm_type}' " f"({col.name})."
    )


def _out_of_range(col: Column, value: Any) -> DataverseFault:
    return bad_payload(
        f"A validation error occurred. The value {value} of '{col.name}' is "
        "outside the valid range."
    )


def _fixed(value: Decimal, places: Decimal) -> str:
    return format(
        (
            value.quantize(places, rounding=ROUND_HALF_UP)
            if value.as_tuple().exponent < places.as_tuple().exponent
            else value
        ),
        "f",
    )


def _decimal(col: Column, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise _unconvertible(col, value, "Edm.Decimal")
    value = Decimal(value)
    limit = _MONEY_MAX if col.type == MONEY else _DECIMAL_MAX
    if not value.is_finite() or abs(value) > limit:
        raise _out_of_range(col, value)
    if col.type == MONEY:
        return format(value.quantize(MONEY_PLACES, rounding=ROUND_HALF_UP), "f")
    return _fixed(value, DECIMAL_PLACES)


def _integer(col: Column, value: Any) -> int:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _unconvertible(col, value, "Edm.Int32")
    if not _INT_MIN <= value <= _INT_MAX:
        raise _out_of_range(col, value)
    if col.type == CHOICE and col.labels is not None and value not in col.labels:
        raise _out_of_range(col, value)
    return value


def _date(col: Column, value: Any) -> str:
    try:
        if isinstance(value, str) and len(value) == 10:
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise _unconvertible(col, value, "Edm.Date")


def _datetime(col: Column, value: Any) -> str:
    try:
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        pass
    raise _unconvertible(col, value, "Edm.DateTimeOffset")


def to_storage(col: Column, value: Any) -> Any:
    """Validate a JSON body value for `col`; its SQLite form (400 if it does not fit)."""
    if value is None:
        return None
    kind = col.type
    if kind == STRING:
        if not isinstance(value, str):
            raise _unconvertible(col, value, "Edm.String")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escape ("\ud800") is no text
            raise _unconvertible(col, value.encode("utf-8", "backslashreplace").decode(),
                                 "Edm.String") from None
        return value
    if kind in (INTEGER, CHOICE):
        return _integer(col, value)
    if kind in (MONEY, DECIMAL):
        return _decimal(col, value)
    if kind == BOOLEAN:
        if isinstance(value, dict) and "Value" in value:  # managed properties: {"Value": false}
            value = value["Value"]
        if not isinstance(value, bool):
            raise _unconvertible(col, value, "Edm.Boolean")
        return int(value)
    if kind in (GUID, LOOKUP):
        guid = canonical_guid(value)
        if guid is None:
            raise _unconvertible(col, value, "Edm.Guid")
        return guid
    if kind == DATEONLY:
        return _date(col, value)
    if kind == DATETIME:
        return _datetime(col, value)
    raise AssertionError(kind)


def from_storage(col_type: str, value: Any) -> Any:
    """A stored value as it goes out in JSON."""
    if value is None:
        return None
    if col_type in (MONEY, DECIMAL):
        return RawNumber(value)
    if col_type == BOOLEAN:
        return bool(value)
    return value


def parse_key_literal(col: Column, text: str) -> Any:
    """A value in a key URL segment (`'text'` quoted, GUID/date/number bare) in its stored form.

    A String key takes only a quoted literal, as OData's URI parser does: a bare GUID is an
    Edm.Guid and a bare date an Edm.Date there, which do not convert to Edm.String (400).
    """
    quoted = text.startswith("'") and text.endswith("'") and len(text) >= 2
    if col.type == STRING and not quoted:
        raise bad_query(
            f"Bad Request - Error in query syntax: the key value {text} of '{col.name}' "
            "is not an Edm.String literal; quote it ('...', with ' doubled)."
        )
    if quoted:
        raw: Any = text[1:-1].replace("''", "'")
    elif text in ("true", "false"):
        raw = text == "true"
    elif text == "null":
        raw = None
    elif col.type in (INTEGER, CHOICE):
        try:
            raw = int(text)
        except ValueError:
            raw = text
    elif col.type in (MONEY, DECIMAL):
        try:
            raw = Decimal(text)
        except InvalidOperation:
            raw = text
    else:
        raw = text
    return to_storage(col, raw)
