"""OData URL pieces: safe literals, filter builders, key segments, binds and query strings."""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable, Mapping
from urllib.parse import quote

from .jsonutil import format_datetime, format_decimal

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
GUID_RE = re.compile(f"^{_GUID}$")
_ENTITY_ID_RE = re.compile(rf"\(({_GUID})\)/?$")
# Strings shaped like Dataverse's own JSON values for Edm.Date / Edm.DateTimeOffset columns.
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LOOKUP_RE = re.compile(r"^_\w+_value$")
_IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
# Characters left as they are in query values and paths (OData syntax servers expect unescaped).
_QUERY_SAFE = "$,()'/:@=*!-._~"
_PATH_SAFE = "$,()'/:@=*!-._~;"


def is_guid(value: Any) -> bool:
    """True for a UUID or a str in canonical GUID form."""
    return isinstance(value, uuid.UUID) or (isinstance(value, str) and bool(GUID_RE.match(value)))


def entity_id_from_url(url: str | None) -> str | None:
    """The GUID (lowercased) ending an `OData-EntityId` / `Location`: `.../accounts(<guid>)`."""
    match = _ENTITY_ID_RE.search(url or "")
    return match.group(1).lower() if match else None


def _check_text(value: str) -> str:
    if _CONTROL_RE.search(value):
        raise ValueError(f"control characters are not allowed in an OData literal: {value!r}")
    return value


class Text(str):
    """A str always written as a quoted string literal, even when it looks like a GUID or a date.

    `literal()` writes GUID- and date-shaped str bare (as Guid/Date columns need); wrap a value of
    a String column in `Text` (`eq("w365_name", Text(v))`) when it may take such a shape.
    """

    __slots__ = ()


def quote_string(value: str) -> str:
    """A single-quoted OData string literal with `'` doubled."""
    return "'" + _check_text(value).replace("'", "''") + "'"


def literal(value: Any) -> str:
    """The OData literal of a Python value.

    str -> quoted ('' escaping; a `Text` always) -- except a str in canonical GUID, `YYYY-MM-DD`
    or ISO date-time form, written bare as Edm.Guid/Date/DateTimeOffset columns require (the way
    Dataverse's JSON returns them, so read values can be fed back); UUID bare, bool, int/Decimal,
    date, datetime (UTC Z), None -> null.
    """
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Text):
        return quote_string(value)
    if isinstance(value, str):
        if GUID_RE.match(value):
            return value.lower()
        return value if _DATE_RE.match(value) or _DATETIME_RE.match(value) else quote_string(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, float):
        raise TypeError("float is not allowed in OData literals: use Decimal")
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"no OData literal for {type(value).__name__}")


def _column(name: str) -> str:
    if not _IDENTIFIER_RE.match(name):
        raise ValueError(f"not a column name: {name!r}")
    return name


def _compare(op: str, column: str, value: Any) -> str:
    return f"{_column(column)} {op} {literal(value)}"


def eq(column: str, value: Any) -> str:
    """`column eq <literal>`."""
    return _compare("eq", column, value)


def ne(column: str, value: Any) -> str:
    """`column ne <literal>`."""
    return _compare("ne", column, value)


def gt(column: str, value: Any) -> str:
    """`column gt <literal>`."""
    return _compare("gt", column, value)


def ge(column: str, value: Any) -> str:
    """`column ge <literal>`."""
    return _compare("ge", column, value)


def lt(column: str, value: Any) -> str:
    """`column lt <literal>`."""
    return _compare("lt", column, value)


def le(column: str, value: Any) -> str:
    """`column le <literal>`."""
    return _compare("le", column, value)


def _join(op: str, conditions: Iterable[str | None]) -> str:
    parts = [c for c in conditions if c]
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return f" {op} ".join(f"({p})" for p in parts)


def and_(*conditions: str | None) -> str:
    """Conditions joined with `and` (each parenthesised; empty ones dropped)."""
    return _join("and", conditions)


def or_(*conditions: str | None) -> str:
    """Conditions joined with `or` (each parenthesised; empty ones dropped)."""
    return _join("or", conditions)


def not_(condition: str) -> str:
    """`not (condition)`."""
    return f"not ({condition})"


def _in_value(value: Any) -> str:
    text = _check_text(value) if isinstance(value, str) else literal(value)
    # "..." is a JSON string (backslash escapes, no raw control characters); '...' has none
    if '"' in text or "\\" in text or any(ch < " " for ch in text):
        return quote_string(text)
    return '"' + text + '"'


def in_(column: str, values: Iterable[Any]) -> str:
    """`Microsoft.Dynamics.CRM.In(PropertyName='col',PropertyValues=["v1","v2"])`."""
    items = list(values)
    if not items:
        raise ValueError("in_() needs at least one value")
    rendered = ",".join(_in_value(v) for v in items)
    return (f"Microsoft.Dynamics.CRM.In(PropertyName='{_column(column)}',"
            f"PropertyValues=[{rendered}])")


def key_literal(column: str, value: Any) -> str:
    """The literal of one alternate-key value: `literal()`, except that a GUID (str or UUID) is
    bare only for a lookup (`_x_value`) column.

    An alternate key's Guid columns are always lookups, so any other column given a GUID-shaped
    str is a String column (`w365_runkey`): Dataverse refuses a bare GUID there (Edm.Guid does not
    convert to Edm.String), so it is quoted.
    """
    if is_guid(value) and not _LOOKUP_RE.match(column):
        return quote_string(str(value).lower())
    return literal(value)


def key_segment(keys: Mapping[str, Any] | Any) -> str:
    """The key predicate inside `entityset(...)`: a bare id, or `k1=v1,k2=v2` for alternate keys."""
    if isinstance(keys, Mapping):
        if not keys:
            raise ValueError("an alternate key needs at least one column")
        return ",".join(f"{_column(k)}={key_literal(k, v)}" for k, v in keys.items())
    if not is_guid(keys):
        raise ValueError(f"not a row id: {keys!r}")
    return str(keys).lower()


def entity_path(entity_set: str, id_or_keys: Mapping[str, Any] | Any) -> str:
    """`entityset(<id>)` or `entityset(k1=v1,...)`; a `$n` Content-ID reference as is."""
    if isinstance(id_or_keys, str) and id_or_keys.startswith("$"):
        return id_or_keys
    return f"{_column(entity_set)}({key_segment(id_or_keys)})"


def bind(entity_set: str, id: Any) -> str:
    """The `@odata.bind` value `/entityset(<guid>)` (a `$n` reference is returned as is)."""
    if isinstance(id, str) and id.startswith("$"):
        return id
    return "/" + entity_path(entity_set, id)


def comma_list(value: str | Iterable[str] | None) -> str | None:
    """A `$select` / `$expand` / `$orderby` value from a list (a ready string is kept)."""
    if value is None or isinstance(value, str):
        return value
    return ",".join(value)


def query_string(params: Mapping[str, Any] | None) -> str:
    """Encode query options: spaces as %20 (never '+'), OData punctuation kept readable."""
    if not params:
        return ""
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append(f"{quote(str(key), safe='$@')}={quote(str(value), safe=_QUERY_SAFE)}")
    return "&".join(pairs)


def quote_path(path: str) -> str:
    """Percent-encode a resource path (spaces, '#', '?', '%' ...) keeping OData punctuation."""
    return quote(path, safe=_PATH_SAFE)
