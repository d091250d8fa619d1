"""JSON in and out with exact decimals: numbers parse as Decimal, go out with their own digits."""

from __future__ import annotations

import json
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

from .errors import bad_payload
from .values import RawNumber


def dumps(obj: Any) -> bytes:
    """Serialise `obj` (dict, list, str, int, bool, None, Decimal, RawNumber) to compact JSON."""
    out: list[str] = []
    _encode(obj, out)
    return "".join(out).encode("ascii")


def _encode(obj: Any, out: list[str]) -> None:
    t = type(obj)
    if t is str:
        out.append(encode_basestring_ascii(obj))
    elif t is RawNumber:
        out.append(obj)
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif t is int:
        out.append(int.__repr__(obj))
    elif t is dict:
        if not obj:
            out.append("{}")
            return
        sep = "{"
        for key, value in obj.items():
            out.append(sep)
            out.append(encode_basestring_ascii(key))
            out.append(":")
            _encode(value, out)
            sep = ","
        out.append("}")
    elif t is list or t is tuple:
        if not obj:
            out.append("[]")
            return
        sep = "["
        for value in obj:
            out.append(sep)
            _encode(value, out)
            sep = ","
        out.append("]")
    elif t is Decimal:
        out.append(format(obj, "f"))
    elif t is float:
        out.append(float.__repr__(obj))
    elif isinstance(obj, str):
        out.append(encode_basestring_ascii(str(obj)))
    elif isinstance(obj, int):
        out.append(int.__repr__(int(obj)))
    else:
        raise TypeError(f"cannot serialise {t.__name__}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_body(body: bytes) -> Any:
    """Parse a request body (numbers as Decimal); malformed JSON is a Dataverse 400."""
    try:
        return json.loads(
            body.decode("utf-8-sig") if body else "",
            parse_float=Decimal,
            parse_constant=_reject_constant,
        )
    except RecursionError:  # nested deeper than the parser's stack: a 400, never a 500
        raise bad_payload(
            "Error identified in Payload provided by the user: the JSON is nested too deeply."
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_payload(
            f"Error identified in Payload provided by the user: the JSON is malformed ({exc})."
        ) from None
