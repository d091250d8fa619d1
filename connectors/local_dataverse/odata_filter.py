"""OData v4 `$filter` in Dataverse's dialect, compiled to a parameterised SQLite boolean expression.

Pipeline: tokenize -> recursive-descent parse (precedence `or` < `and` < `not` < comparison) -> AST
-> SQL. Only `FilterSyntaxError` (bad text or incompatible types) and `UnknownColumn` (from
`resolve`) ever leave `compile_filter`, whatever the input.

Storage conventions of the local Dataverse this relies on: Decimal/Money as exact TEXT (compared
numerically through `CAST(... AS REAL)`, only inside the comparison), dates and datetimes as ISO
text, booleans 0/1, GUIDs lowercase text. String comparisons are case-insensitive, as in Dataverse.
"""
from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Callable, Mapping

from .odata_filter_syntax import (
    _Column,
    _Compare,
    _ListFunction,
    _Literal,
    _Logical,
    _Node,
    _Not,
    _Parser,
    _StringFunction,
)
from .odata_filter_tokens import (  # noqa: F401 (the public names are re-exported)
    ColumnRef,
    FilterSyntaxError,
    KINDS,
    UnknownColumn,
    _EDM_TYPE,
    _FLIPPED,
    _MAX_PARAMETERS,
    _OPERATOR_KIND,
    _SQL_OP,
    _STRING_FUNCTIONS,
    _shorten,
    _syntax_error,
    _valid_date,
    _valid_datetime,
)

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




def _literal_kind(literal: _Literal) -> str:
    if literal.kind == "number":
        return "int" if isinstance(literal.value, int) else "decimal"
    return {"string": "string", "guid": "guid", "date": "date", "datetime": "datetime",
            "bool": "bool"}.get(literal.kind, "null")
