"""OData `$filter` text -> tokens, the value kinds and the errors every stage raises."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation

KINDS = frozenset({"guid", "string", "int", "decimal", "bool", "date", "datetime"})

_EDM_TYPE = {
    "guid": "Edm.Guid", "string": "Edm.String", "int": "Edm.Int32", "decimal": "Edm.Decimal",
    "bool": "Edm.Boolean", "date": "Edm.Date", "datetime": "Edm.DateTimeOffset", "null": "null",
}
_OPERATOR_KIND = {
    "eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual",
    "lt": "LessThan", "le": "LessThanOrEqual",
}
_SQL_OP = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_FLIPPED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
_STRING_FUNCTIONS = {"contains": ("%", "%"), "startswith": ("", "%"), "endswith": ("%", "")}
_CRM_PREFIX = "Microsoft.Dynamics.CRM."
_LIST_FUNCTIONS = {"In", "NotIn", "Between", "NotBetween"}
_KEYWORDS = {"and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "null", "true", "false"}
_MAX_DEPTH = 100
_MAX_PARAMETERS = 32000  # SQLite binds at most 32766 parameters per statement
_SQLITE_INT_MAX = 2**63 - 1


@dataclass(frozen=True)
class ColumnRef:
    """How a `$filter` property maps to SQL: an SQL expression and its value kind."""

    sql: str
    kind: str  # guid|string|int|decimal|bool|date|datetime

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}; expected one of {sorted(KINDS)}")


class FilterSyntaxError(ValueError):
    """The `$filter` text is malformed or compares incompatible types (400, 0x80060888)."""


class UnknownColumn(KeyError):
    """`$filter` names a property the table does not have (400, 0x80048d19)."""

    def __init__(self, name: str, entity: str | None = None):
        super().__init__(name)
        self.name = name
        self.entity = entity

    def __str__(self) -> str:
        on_type = f" on type 'Microsoft.Dynamics.CRM.{self.entity}'" if self.entity else ""
        return f"Could not find a property named '{self.name}'{on_type}."


# ----------------------------------------------------------------------------------------- tokens

@dataclass(frozen=True)
class _Token:
    kind: str  # ident|string|number|guid|date|datetime|alias|punct|eof
    value: object
    pos: int
    raw: str


_TOKEN_PATTERNS = [
    ("guid", re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}(?![\w.\-])")),
    ("datetime", re.compile(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})(?![\w.:])")),
    ("date", re.compile(r"\d{4}-\d{2}-\d{2}(?![\w.:\-])")),
    ("number", re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")),
    ("ident", re.compile(r"[A-Za-z_]\w*(?:[./][A-Za-z_]\w*)*", re.ASCII)),
    ("alias", re.compile(r"@[A-Za-z_]\w*", re.ASCII)),
    ("dquoted", re.compile(r'"(?:[^"\\]|\\.)*"')),
]
_WHITESPACE = re.compile(r"\s+")
_PUNCT = set("(),=[]")


def _describe(token: _Token) -> str:
    return "end of input" if token.kind == "eof" else f"'{token.raw}'"


def _syntax_error(text: str, pos: int, problem: str) -> FilterSyntaxError:
    return FilterSyntaxError(f"Syntax error at position {pos} in '{_shorten(text)}': {problem}.")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        ws = _WHITESPACE.match(text, pos)
        if ws:
            pos = ws.end()
            continue
        char = text[pos]
        if char in _PUNCT:
            tokens.append(_Token("punct", char, pos, char))
            pos += 1
            continue
        if char == "'":
            token = _single_quoted(text, pos)
            tokens.append(token)
            pos += len(token.raw)
            continue
        for kind, pattern in _TOKEN_PATTERNS:
            match = pattern.match(text, pos)
            if match:
                tokens.append(_make_token(text, kind, match.group(), pos))
                pos = match.end()
                break
        else:
            raise _syntax_error(text, pos, f"unexpected character '{char}'")
    tokens.append(_Token("eof", None, len(text), ""))
    return tokens


def _single_quoted(text: str, start: int) -> _Token:
    """A '...' literal with '' standing for one quote."""
    pos = start + 1
    chars: list[str] = []
    while True:
        end = text.find("'", pos)
        if end < 0:
            raise FilterSyntaxError(
                f"There is an unterminated literal at position {len(text)} in '{_shorten(text)}'.")
        chars.append(text[pos:end])
        if text.startswith("''", end):
            chars.append("'")
            pos = end + 2
            continue
        return _Token("string", "".join(chars), start, text[start:end + 1])


def _make_token(text: str, kind: str, raw: str, pos: int) -> _Token:
    if kind == "number":
        try:
            return _Token("number", _number(raw), pos, raw)
        except InvalidOperation:  # an exponent beyond what Decimal can hold
            raise _syntax_error(text, pos, f"the number {raw} is out of range") from None
    if kind == "dquoted":
        try:
            value = json.loads(raw)
            value.encode("utf-8")
        except ValueError:  # UnicodeEncodeError (a lone surrogate escape) is one too
            raise _syntax_error(text, pos, f"invalid double-quoted string {raw}") from None
        return _Token("string", value, pos, raw)
    if kind == "guid":
        return _Token("guid", raw.lower(), pos, raw)
    if kind == "date":
        return _Token("date", _valid_date(text, raw, pos), pos, raw)
    if kind == "datetime":
        return _Token("datetime", _valid_datetime(text, raw, pos), pos, raw)
    return _Token(kind, raw, pos, raw)


def _number(raw: str) -> int | Decimal:
    if re.fullmatch(r"[-+]?\d{1,19}", raw):  # longer ones would overflow SQLite's INTEGER
        value = int(raw)
        if -_SQLITE_INT_MAX <= value <= _SQLITE_INT_MAX:
            return value
    return Decimal(raw)


def _valid_date(text: str, raw: str, pos: int) -> str:
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise _syntax_error(text, pos, f"'{raw}' is not a valid date") from None


def _valid_datetime(text: str, raw: str, pos: int) -> str:
    """The moment as UTC ISO text SQLite's julianday() reads (no offset means UTC)."""
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise _syntax_error(text, pos, f"'{raw}' is not a valid date and time") from None
    return moment.isoformat(timespec="microseconds") + "Z"

def _shorten(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
