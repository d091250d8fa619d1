"""OData v4 `$filter` in Dataverse's dialect, compiled to a parameterised SQLite boolean expression.

Pipeline: tokenize -> recursive-descent parse (precedence `or` < `and` < `not` < comparison) -> AST
-> SQL. Only `FilterSyntaxError` (bad text or incompatible types) and `UnknownColumn` (from
`resolve`) ever leave `compile_filter`, whatever the input.

Storage conventions of the local Dataverse this relies on: Decimal/Money as exact TEXT (compared
numerically through `CAST(... AS REAL)`, only inside the comparison), dates and datetimes as ISO
text, booleans 0/1, GUIDs lowercase text. String comparisons are case-insensitive, as in Dataverse.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Callable, Mapping, Union

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


# -------------------------------------------------------------------------------------------- AST

@dataclass(frozen=True)
class _Column:
    name: str
    pos: int


@dataclass(frozen=True)
class _Literal:
    kind: str  # string|number|guid|date|datetime|bool|null
    value: object
    pos: int
    raw: str


_Operand = Union[_Column, _Literal]


@dataclass(frozen=True)
class _Logical:
    op: str  # and|or
    operands: tuple["_Node", ...]


@dataclass(frozen=True)
class _Not:
    operand: "_Node"


@dataclass(frozen=True)
class _Compare:
    op: str
    left: _Operand
    right: _Operand
    pos: int


@dataclass(frozen=True)
class _StringFunction:
    name: str
    column: _Column
    value: _Literal


@dataclass(frozen=True)
class _ListFunction:
    name: str  # In|NotIn|Between|NotBetween
    column: _Column
    values: tuple[_Literal, ...]
    pos: int


_Node = Union[_Logical, _Not, _Compare, _StringFunction, _ListFunction]


# ----------------------------------------------------------------------------------------- parser

class _Parser:
    """Recursive descent over the token list; every failure is a FilterSyntaxError."""

    def __init__(self, text: str, aliases: Mapping[str, str], *, in_alias: bool = False):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0
        self.aliases = aliases
        self.in_alias = in_alias

    # -- helpers
    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def _peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def _advance(self) -> _Token:
        token = self.token
        if token.kind != "eof":
            self.index += 1
        return token

    def _is(self, kind: str, value: object = None) -> bool:
        return self.token.kind == kind and (value is None or self.token.value == value)

    def _fail(self, expected: str, token: _Token | None = None) -> FilterSyntaxError:
        token = token or self.token
        return _syntax_error(self.text, token.pos, f"expected {expected}, found {_describe(token)}")

    def _expect_punct(self, char: str) -> _Token:
        if not self._is("punct", char):
            raise self._fail(f"'{char}'")
        return self._advance()

    def _nest(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _syntax_error(self.text, self.token.pos,
                                f"expression nested more than {_MAX_DEPTH} levels deep")

    # -- grammar
    def parse(self) -> _Node:
        if self._is("eof"):
            raise FilterSyntaxError(f"Expression expected at position 0 in '{self.text}'.")
        node = self._or()
        if not self._is("eof"):
            raise self._fail("'and', 'or' or end of input")
        return node

    def _or(self) -> _Node:
        return self._chain("or", self._and)

    def _and(self) -> _Node:
        return self._chain("and", self._unary)

    def _chain(self, op: str, operand: Callable[[], _Node]) -> _Node:
        """`operand (op operand)*` as one n-ary node (no deep left-nested trees)."""
        operands = [operand()]
        while self._is("ident", op):
            self._advance()
            operands.append(operand())
        return operands[0] if len(operands) == 1 else _Logical(op, tuple(operands))

    def _unary(self) -> _Node:
        if self._is("ident", "not"):
            self._advance()
            self._nest()
            node = _Not(self._unary())
            self.depth -= 1
            return node
        return self._primary()

    def _primary(self) -> _Node:
        if self._is("punct", "("):
            self._advance()
            self._nest()
            node = self._or()
            self.depth -= 1
            self._expect_punct(")")
            return node
        if self._is("ident") and self._peek().kind == "punct" and self._peek().value == "(":
            return self._function()
        return self._comparison()

    def _comparison(self) -> _Compare:
        left = self._operand()
        op_token = self.token
        if not (op_token.kind == "ident" and op_token.value in _SQL_OP):
            raise self._fail("a comparison operator (eq, ne, gt, ge, lt, le)")
        self._advance()
        right = self._operand()
        return _Compare(str(op_token.value), left, right, op_token.pos)

    def _operand(self) -> _Operand:
        token = self.token
        if token.kind == "ident" and token.value not in _KEYWORDS:
            self._advance()
            return _Column(str(token.value), token.pos)
        return self._literal("a property name or a literal value")

    def _literal(self, expected: str) -> _Literal:
        token = self.token
        if token.kind == "alias":
            self._advance()
            return self._alias_literal(token)
        if token.kind == "ident" and token.value in ("null", "true", "false"):
            self._advance()
            if token.value == "null":
                return _Literal("null", None, token.pos, token.raw)
            return _Literal("bool", token.value == "true", token.pos, token.raw)
        if token.kind in ("string", "number", "guid", "date", "datetime"):
            self._advance()
            return _Literal(token.kind, token.value, token.pos, token.raw)
        raise self._fail(expected)

    def _function(self) -> _Node:
        name_token = self._advance()
        name = str(name_token.value)
        self._expect_punct("(")
        if name in _STRING_FUNCTIONS:
            column = self._column_argument()
            self._expect_punct(",")
            value = self._literal("a string literal")
            self._expect_punct(")")
            return _StringFunction(name, column, value)
        if name.startswith(_CRM_PREFIX) and name[len(_CRM_PREFIX):] in _LIST_FUNCTIONS:
            return self._list_function(name[len(_CRM_PREFIX):], name_token)
        supported = "contains, startswith, endswith, " + ", ".join(
            _CRM_PREFIX + f for f in sorted(_LIST_FUNCTIONS))
        raise _syntax_error(self.text, name_token.pos,
                            f"unknown function '{name}' (supported: {supported})")

    def _column_argument(self) -> _Column:
        token = self.token
        if token.kind != "ident" or token.value in _KEYWORDS:
            raise self._fail("a property name")
        self._advance()
        return _Column(str(token.value), token.pos)

    def _list_function(self, name: str, name_token: _Token) -> _ListFunction:
        arguments: dict[str, object] = {}
        while True:
            key = self.token
            if key.kind != "ident" or key.value not in ("PropertyName", "PropertyValues"):
                raise self._fail("PropertyName= or PropertyValues=")
            if key.value in arguments:
                raise _syntax_error(self.text, key.pos, f"{key.value} given twice")
            self._advance()
            self._expect_punct("=")
            if key.value == "PropertyName":
                literal = self._literal("a quoted property name")
                if literal.kind != "string":
                    raise _syntax_error(self.text, literal.pos,
                                        "PropertyName must be a quoted name")
                arguments["PropertyName"] = _Column(str(literal.value), literal.pos)
            else:
                arguments["PropertyValues"] = self._value_list()
            if self._is("punct", ","):
                self._advance()
                continue
            self._expect_punct(")")
            break
        missing = [a for a in ("PropertyName", "PropertyValues") if a not in arguments]
        if missing:
            raise _syntax_error(self.text, name_token.pos,
                                f"{_CRM_PREFIX}{name} needs {' and '.join(missing)}")
        column = arguments["PropertyName"]
        values = arguments["PropertyValues"]
        assert isinstance(column, _Column) and isinstance(values, tuple)
        if not values:
            raise _syntax_error(self.text, name_token.pos, "PropertyValues must not be empty")
        if name.endswith("Between") and len(values) != 2:
            raise _syntax_error(self.text, name_token.pos,
                                f"{_CRM_PREFIX}{name} needs exactly 2 PropertyValues")
        return _ListFunction(name, column, values, name_token.pos)

    def _value_list(self) -> tuple[_Literal, ...]:
        if self._is("alias"):
            token = self._advance()
            return self._alias_parser(token)._value_list_alone()
        self._expect_punct("[")
        values: list[_Literal] = []
        if self._is("punct", "]"):
            self._advance()
            return ()
        while True:
            values.append(self._literal("a quoted value"))
            if self._is("punct", "]"):
                self._advance()
                return tuple(values)
            self._expect_punct(",")

    # -- parameter aliases (@p1=... beside $filter)
    def _alias_parser(self, token: _Token) -> "_Parser":
        if self.in_alias:
            raise _syntax_error(self.text, token.pos, "an alias value cannot use another alias")
        name = str(token.value)
        value = self.aliases.get(name, self.aliases.get(name[1:]))
        if value is None:
            raise _syntax_error(self.text, token.pos, f"parameter alias {name} has no value")
        return _Parser(value, self.aliases, in_alias=True)

    def _alias_literal(self, token: _Token) -> _Literal:
        parser = self._alias_parser(token)
        literal = parser._literal("a literal value")
        if not parser._is("eof"):
            raise parser._fail("end of the alias value")
        return _Literal(literal.kind, literal.value, token.pos, literal.raw)

    def _value_list_alone(self) -> tuple[_Literal, ...]:
        values = self._value_list()
        if not self._is("eof"):
            raise self._fail("end of the alias value")
        return values


# ---------------------------------------------------------------------------------------- compile

_Resolve = Callable[[str], ColumnRef]


def compile_filter(text: str, resolve: _Resolve, *,
                   aliases: Mapping[str, str] | None = None) -> tuple[str, list]:
    """SQL boolean expression with ? placeholders, and its parameters."""
    if not isinstance(text, str):
        raise FilterSyntaxError("$filter must be text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FilterSyntaxError(
            f"Syntax error at position {exc.start}: not valid Unicode text.") from None
    node = _Parser(text, aliases or {}).parse()
    return _Compiler(text, resolve).compile(node)


class _Compiler:
    """AST -> SQL; type checks happen here because they need the resolved column kinds."""

    def __init__(self, text: str, resolve: _Resolve):
        self.text = text
        self.resolve = resolve
        self.params: list = []

    def compile(self, node: _Node) -> tuple[str, list]:
        sql = self._node(node)
        if len(self.params) > _MAX_PARAMETERS:
            raise FilterSyntaxError(
                f"The filter in '{_shorten(self.text)}' has {len(self.params)} values; "
                f"at most {_MAX_PARAMETERS} are allowed.")
        return sql, self.params

    def _node(self, node: _Node) -> str:
        if isinstance(node, _Logical):
            return _balanced(node.op.upper(), [self._node(operand) for operand in node.operands])
        if isinstance(node, _Not):
            return f"(NOT {self._node(node.operand)})"
        if isinstance(node, _Compare):
            return self._compare(node)
        if isinstance(node, _StringFunction):
            return self._string_function(node)
        return self._list_function(node)

    def _column(self, column: _Column) -> ColumnRef:
        try:
            ref = self.resolve(column.name)
        except UnknownColumn:
            raise
        except KeyError:
            raise UnknownColumn(column.name) from None
        if not isinstance(ref, ColumnRef):
            raise UnknownColumn(column.name)
        return ref

    # -- comparisons
    def _compare(self, node: _Compare) -> str:
        left, right, op = node.left, node.right, node.op
        if isinstance(left, _Literal) and isinstance(right, _Column):
            left, right, op = right, left, _FLIPPED[op]
        if not isinstance(left, _Column):
            raise _syntax_error(self.text, node.pos, "a comparison needs a property on one side")
        ref = self._column(left)
        if isinstance(right, _Column):
            return self._compare_columns(ref, op, self._column(right), node.pos)
        if right.kind == "null":
            if op == "eq":
                return f"({ref.sql} IS NULL)"
            if op == "ne":
                return f"({ref.sql} IS NOT NULL)"
            raise _syntax_error(self.text, right.pos,
                                f"null can only be compared with eq or ne, not {op}")
        lhs, placeholder = self._typed(ref, right, op)
        comparison = f"{lhs} {_SQL_OP[op]} {placeholder}"
        if op == "ne":  # Dataverse's "does not equal" also matches rows where the column is empty
            return f"({comparison} OR {ref.sql} IS NULL)"
        return f"({comparison})"

    def _compare_columns(self, left: ColumnRef, op: str, right: ColumnRef, pos: int) -> str:
        numeric = {"int", "decimal"}
        if left.kind != right.kind and not {left.kind, right.kind} <= numeric:
            raise self._incompatible(left.kind, right.kind, op)
        kind = "decimal" if left.kind != right.kind else left.kind
        return f"({self._lhs(left, kind)} {_SQL_OP[op]} {self._lhs(right, kind)})"

    @staticmethod
    def _lhs(ref: ColumnRef, kind: str) -> str:
        """The column side of a comparison, normalised so SQLite compares like Dataverse."""
        if kind == "string":
            return f"{ref.sql} COLLATE NOCASE"
        if kind == "guid":  # stored lowercase, COLLATE NOCASE: a bare column keeps its index usable
            return ref.sql
        if kind == "decimal":
            return f"CAST({ref.sql} AS REAL)"
        if kind == "date":
            return f"date({ref.sql})"
        if kind == "datetime":
            return f"julianday({ref.sql})"
        return ref.sql

    def _typed(self, ref: ColumnRef, literal: _Literal, op: str) -> tuple[str, str]:
        """(column expression, placeholder expression) for `ref <op> literal`; appends the param."""
        kind, value = ref.kind, literal.value
        if kind == "string" and literal.kind == "string":
            return self._bind(ref, "string", value, "?")
        if kind == "guid" and literal.kind in ("guid", "string"):
            return self._bind(ref, "guid", self._guid(value, literal), "?")
        if kind in ("int", "decimal") and literal.kind == "number":
            if kind == "int" and isinstance(value, int):
                return self._bind(ref, "int", value, "?")
            return self._bind(ref, "decimal", str(value), "CAST(? AS REAL)")
        if kind == "bool" and literal.kind == "bool":
            return self._bind(ref, "bool", 1 if value else 0, "?")
        if kind == "date" and literal.kind == "date":
            return self._bind(ref, "date", value, "?")
        if kind in ("date", "datetime") and literal.kind in ("date", "datetime"):
            moment = f"{value}T00:00:00Z" if literal.kind == "date" else value
            return self._bind(ref, "datetime", moment, "julianday(?)")
        raise self._incompatible(kind, _literal_kind(literal), op)

    def _bind(self, ref: ColumnRef, kind: str, param: object, placeholder: str) -> tuple[str, str]:
        self.params.append(param)
        return self._lhs(ref, kind), placeholder

    def _incompatible(self, left_kind: str, right_kind: str, op: str) -> FilterSyntaxError:
        return FilterSyntaxError(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{_EDM_TYPE[left_kind]}' and '{_EDM_TYPE[right_kind]}' for operator kind "
            f"'{_OPERATOR_KIND[op]}'.")

    def _guid(self, value: object, literal: _Literal) -> str:
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise _syntax_error(self.text, literal.pos, f"'{value}' is not a valid Guid") from None

    # -- functions
    def _string_function(self, node: _StringFunction) -> str:
        ref = self._column(node.column)
        if ref.kind != "string":
            raise _syntax_error(self.text, node.column.pos,
                                f"{node.name} needs a string property, '{node.column.name}' is "
                                f"{_EDM_TYPE[ref.kind]}")
        if node.value.kind != "string":
            raise _syntax_error(self.text, node.value.pos,
                                f"{node.name} needs a quoted string, found {node.value.raw}")
        prefix, suffix = _STRING_FUNCTIONS[node.name]
        # % and _ inside the value stay wildcards, as they do in Dataverse.
        self.params.append(f"{prefix}{node.value.value}{suffix}")
        return f"({ref.sql} LIKE ?)"

    def _list_function(self, node: _ListFunction) -> str:
        ref = self._column(node.column)
        kind = "decimal" if ref.kind == "int" else ref.kind  # "1.5" is a fine value for an int
        placeholder = {"decimal": "CAST(? AS REAL)", "datetime": "julianday(?)"}.get(kind, "?")
        for literal in node.values:
            self.params.append(self._list_value(ref, literal))
        lhs = self._lhs(ref, kind)
        if node.name.endswith("Between"):
            sql = f"{lhs} BETWEEN {placeholder} AND {placeholder}"
        else:
            sql = f"{lhs} IN ({', '.join([placeholder] * len(node.values))})"
        if node.name.startswith("Not"):
            return f"(NOT ({sql}) OR {ref.sql} IS NULL)"
        return f"({sql})"

    def _list_value(self, ref: ColumnRef, literal: _Literal) -> object:
        """PropertyValues are strings in Dataverse; convert each by the column's kind."""
        if literal.kind == "null" or (literal.kind == "bool" and ref.kind != "bool"):
            raise _syntax_error(self.text, literal.pos, f"{literal.raw} is not a valid value here")
        text = str(literal.value).lower() if literal.kind == "bool" else str(literal.value)
        kind = ref.kind
        if kind == "string":
            return text
        if kind == "guid":
            return self._guid(text, literal)
        if kind in ("int", "decimal"):
            try:
                number = Decimal(text.strip())
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite():
                raise _syntax_error(self.text, literal.pos, f"'{text}' is not a valid number")
            return str(number)
        if kind == "bool":
            if text.lower() in ("true", "1"):
                return 1
            if text.lower() in ("false", "0"):
                return 0
            raise _syntax_error(self.text, literal.pos, f"'{text}' is not a valid Boolean")
        if kind == "date":
            return _valid_date(self.text, text, literal.pos)
        moment = text if "T" in text else f"{text}T00:00:00Z"
        return _valid_datetime(self.text, moment, literal.pos)


def _balanced(op: str, parts: list[str]) -> str:
    """`a OP b OP c ...` as a balanced tree: SQLite refuses expression trees deeper than 1000."""
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    return f"({_balanced(op, parts[:middle])} {op} {_balanced(op, parts[middle:])})"


def _shorten(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _literal_kind(literal: _Literal) -> str:
    if literal.kind == "number":
        return "int" if isinstance(literal.value, int) else "decimal"
    return {"string": "string", "guid": "guid", "date": "date", "datetime": "datetime",
            "bool": "bool"}.get(literal.kind, "null")
