"""OData `$filter` tokens -> AST: a recursive-descent parser of Dataverse's dialect."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Union

from .odata_filter_tokens import (
    FilterSyntaxError,
    _CRM_PREFIX,
    _KEYWORDS,
    _LIST_FUNCTIONS,
    _MAX_DEPTH,
    _SQL_OP,
    _STRING_FUNCTIONS,
    _Token,
    _describe,
    _syntax_error,
    _tokenize,
)

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
