"""Parsing the Web API's URL pieces: resource paths, key segments, query options, `Prefer`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from .errors import DataverseFault, bad_query, bad_segment

_INT64_MAX = 2**63 - 1
SUPPORTED_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$expand", "$skiptoken", "$count"}
# query parameters Dataverse answers that the local Dataverse does not implement: refused, never
# ignored (ignoring `fetchXml` would answer the whole table)
NOT_IMPLEMENTED = {"fetchxml": "fetchXml", "sql": "sql", "savedquery": "savedQuery",
                   "userquery": "userQuery"}


def split_top(text: str, sep: str) -> list[str]:
    """Split `text` on `sep` outside quotes and parentheses."""
    parts, depth, quote, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == "'":
            quote = not quote
        elif quote:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def not_implemented(what: str) -> DataverseFault:
    """501: something real Dataverse answers that the local Dataverse does not implement."""
    return DataverseFault(501, "0x80040216", f"{what} is not implemented by the local Dataverse.")


@dataclass
class Resource:
    """`<entity set>[(<key>)][/<rest>]` below the API root."""

    name: str
    key: str | None = None
    rest: str | None = None


def parse_resource(path: str) -> Resource:
    """Split a path below `/api/data/v9.2/` into set name, key text and the rest."""
    path = path.strip("/")
    match = _NAME.match(path)
    i = match.end()
    name = path[:i]
    key = rest = None
    if i < len(path) and path[i] == "(":
        j = _closing_paren(path, i + 1)
        if j < 0:
            raise bad_segment(path)
        key = path[i + 1 : j]
        i = j + 1
        if i < len(path) and path[i] != "/":
            raise bad_segment(path)
    if i < len(path):
        rest = path[i + 1 :] or None
    return Resource(name, key, rest)


_NAME = re.compile(r"[^(/]*")


def _closing_paren(path: str, start: int) -> int:
    """Index of the `)` closing a key segment that starts at `start` (quotes respected), or -1."""
    end = path.find(")", start)
    if end < 0 or "'" not in path[start:end]:
        return end
    quote = False
    for j in range(start, len(path)):
        ch = path[j]
        if ch == "'":
            quote = not quote
        elif ch == ")" and not quote:
            return j
    return -1


def parse_key(text: str) -> tuple[str | None, dict[str, str]]:
    """A key segment: (bare primary key, {}) or (None, {column: literal text})."""
    parts = [
        p.strip() for p in (split_top(text, ",") if "'" in text or "(" in text else text.split(","))
    ]
    if len(parts) == 1 and "=" not in _unquoted(parts[0]):
        return parts[0], {}
    named: dict[str, str] = {}
    for part in parts:
        name, eq, value = part.partition("=")
        if not eq or not name.strip() or not value.strip():
            raise bad_query(f"Bad Request - Error in query syntax: invalid key segment '({text})'.")
        named[name.strip()] = value.strip()
    return None, named


def _unquoted(text: str) -> str:
    return "".join(p for i, p in enumerate(text.split("'")) if i % 2 == 0)


def parse_query_string(query: str) -> dict[str, str]:
    """Query options of a URL (`$`-options checked; `@alias` parameters kept)."""
    options: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name.startswith("$") and name not in SUPPORTED_OPTIONS:
            raise bad_query(f"The query parameter {name} is not supported")
        if name.lower() in NOT_IMPLEMENTED:
            raise not_implemented(f"The '{NOT_IMPLEMENTED[name.lower()]}' query parameter")
        options[name] = value
    return options


@dataclass
class QueryOptions:
    """The query options that shape a read (top level or inside `$expand`)."""

    select: list[str] | None = None
    filter: str | None = None
    orderby: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    top: int | None = None
    expand: list["Expand"] = field(default_factory=list)
    count: bool = False


@dataclass
class Expand:
    """One `$expand` item: a navigation property with its nested options."""

    nav: str
    options: QueryOptions


def parse_options(opts: dict[str, str]) -> QueryOptions:
    """Parse `$select`, `$filter`, `$orderby`, `$top`, `$expand`, `$count`."""
    result = QueryOptions()
    if "$select" in opts:
        result.select = [s.strip() for s in opts["$select"].split(",") if s.strip()]
        if not result.select:
            raise bad_query("The $select query option is empty.")
    if opts.get("$filter", "").strip():
        result.filter = opts["$filter"]
    if opts.get("$orderby", "").strip():
        for item in opts["$orderby"].split(","):
            words = item.split()
            if (
                not words
                or len(words) > 2
                or (len(words) == 2 and words[1].lower() not in ("asc", "desc"))
            ):
                raise bad_query(f"Syntax error in $orderby: '{opts['$orderby']}'.")
            result.orderby.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    if "$top" in opts:
        try:
            result.top = int(opts["$top"])
        except ValueError:
            result.top = -1
        if not 0 <= result.top <= _INT64_MAX:  # OData's $top is an Edm.Int64
            raise bad_query(
                f"Invalid value '{opts['$top']}' for $top query option found. "
                "The $top query option requires a non-negative integer value."
            )
    if opts.get("$expand", "").strip():
        result.expand = [
            _parse_expand_item(item.strip()) for item in split_top(opts["$expand"], ",")
        ]
    if "$count" in opts:
        if opts["$count"] not in ("true", "false"):
            raise bad_query("The $count query option must be true or false.")
        result.count = opts["$count"] == "true"
    return result


def _parse_expand_item(item: str) -> Expand:
    if not item:
        raise bad_query("Syntax error in $expand: empty item.")
    if "(" not in item:
        return Expand(item, QueryOptions())
    nav, _, inner = item.partition("(")
    if not inner.endswith(")"):
        raise bad_query(f"Syntax error in $expand: '{item}'.")
    nested: dict[str, str] = {}
    for part in split_top(inner[:-1], ";"):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or name not in ("$select", "$filter", "$orderby", "$top", "$expand"):
            raise bad_query(f"The query option '{name}' is not supported inside $expand.")
        nested[name] = value
    return Expand(nav.strip(), parse_options(nested))


def parse_prefer(header: str | None) -> dict[str, str]:
    """`Prefer` preferences as {name (lowercase): value without quotes}."""
    prefs: dict[str, str] = {}
    for part in _split_quoted_commas(header or ""):
        name, _, value = part.strip().partition("=")
        if name.strip():
            prefs[name.strip().lower()] = value.strip().strip('"')
    return prefs


def _split_quoted_commas(text: str) -> list[str]:
    parts, quote, start = [], False, 0
    for i, ch in enumerate(text):
        if ch == '"':
            quote = not quote
        elif ch == "," and not quote:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts
