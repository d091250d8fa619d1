"""Properties of the `$filter` compiler: no stray exceptions, valid SQL, and Dataverse's semantics."""
from __future__ import annotations

import sqlite3
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.local_dataverse.odata_filter import (
    ColumnRef,
    FilterSyntaxError,
    UnknownColumn,
    compile_filter,
)

G1 = "3f0c2a10-0000-4000-8000-000000000001"
G2 = "3f0c2a10-0000-4000-8000-000000000002"

COLUMNS = {
    "name": ColumnRef("name", "string"),
    "qty": ColumnRef("qty", "int"),
    "amount": ColumnRef("amount", "decimal"),
    "active": ColumnRef("active", "bool"),
    "start": ColumnRef("start", "date"),
    "created": ColumnRef("created", "datetime"),
    "_w365_customer_value": ColumnRef("_w365_customer_value", "guid"),
}
ORDER = list(COLUMNS)

STORED = {  # what the server keeps (None is an empty column)
    "name": ["Contoso", "contoso", "FABRIKAM", "fab", "O'Bryan", "", None],
    "qty": [-3, 0, 5, 7, None],
    "amount": ["10.5000", "9.9900", "100.0000", "0.0001", "-2.5000", None],
    "active": [0, 1, None],
    "start": ["2026-01-01", "2025-12-31", "2026-03-01", None],
    "created": ["2026-01-01T00:00:00Z", "2026-01-01T10:00:00Z", None],
    "_w365_customer_value": [G1, G2, None],
}
LITERALS = {  # (filter text, comparable python value)
    "name": [("'contoso'", "contoso"), ("'Fab'", "fab"), ("'o''bryan'", "o'bryan"), ("''", ""),
             ("'zz'", "zz")],
    "qty": [(str(v), Decimal(v)) for v in (-3, 0, 5, 6, 7)] + [("5.5", Decimal("5.5"))],
    "amount": [(t, Decimal(t)) for t in ("10.5", "100", "9.99", "0", "-2.5", "0.0001")],
    "active": [("true", 1), ("false", 0)],
    "start": [(d, d) for d in ("2026-01-01", "2025-12-31", "2026-02-01")],
    "created": [("2026-01-01T00:00:00Z", 0), ("2026-01-01T11:00:00+01:00", 36000),
                ("2026-01-01", 0)],
    "_w365_customer_value": [(G1.upper(), G1), (G2, G2)],
}
IN_VALUES = {  # PropertyValues strings and their comparable values
    "name": [("CONTOSO", "contoso"), ("fab", "fab"), ('O\'Bryan', "o'bryan")],
    "qty": [("5", Decimal(5)), ("-3", Decimal(-3)), ("8", Decimal(8))],
    "amount": [("10.5", Decimal("10.5")), ("0.0001", Decimal("0.0001"))],
    "active": [("true", 1), ("0", 0)],
    "start": [("2026-01-01", "2026-01-01"), ("2026-03-01", "2026-03-01")],
    "created": [("2026-01-01T10:00:00Z", 36000)],
    "_w365_customer_value": [(G1.upper(), G1)],
}


def comparable(column: str, stored):
    """The stored value as Dataverse compares it."""
    if stored is None:
        return None
    if column == "name":
        return stored.lower()
    if column in ("qty", "amount"):
        return Decimal(stored)
    if column == "created":
        return 36000 if stored.startswith("2026-01-01T10") else 0
    return stored


def resolve(name: str) -> ColumnRef:
    try:
        return COLUMNS[name]
    except KeyError:
        raise UnknownColumn(name) from None


# A node is (text, precedence, evaluate(row) -> True | False | None): SQL's three-valued logic.
ATOM, NOT, AND, OR = 3, 2, 1, 0

OPS = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
}


@st.composite
def comparisons(draw):
    column = draw(st.sampled_from(ORDER))
    op = draw(st.sampled_from(["eq", "ne"] if column in ("active", "_w365_customer_value") else list(OPS)))
    text, value = draw(st.sampled_from(LITERALS[column]))

    def evaluate(row):
        stored = comparable(column, row[column])
        if stored is None:
            return True if op == "ne" else None
        return OPS[op](stored, value)

    return f"{column} {op} {text}", ATOM, evaluate


@st.composite
def null_tests(draw):
    column = draw(st.sampled_from(ORDER))
    op = draw(st.sampled_from(["eq", "ne"]))
    return f"{column} {op} null", ATOM, lambda row: (row[column] is None) == (op == "eq")


@st.composite
def string_functions(draw):
    function = draw(st.sampled_from(["contains", "startswith", "endswith"]))
    needle = draw(st.sampled_from(["CON", "o", "fab", "Bry", "toso", "m", "'"]))
    test = {"contains": lambda s, n: n in s, "startswith": str.startswith,
            "endswith": str.endswith}[function]
    quoted = needle.replace("'", "''")

    def evaluate(row):
        return None if row["name"] is None else test(row["name"].lower(), needle.lower())

    return f"{function}(name,'{quoted}')", ATOM, evaluate


@st.composite
def in_lists(draw):
    column = draw(st.sampled_from(ORDER))
    negate = draw(st.booleans())
    chosen = draw(st.lists(st.sampled_from(IN_VALUES[column]), min_size=1, max_size=3))
    rendered = ",".join('"' + text + '"' if "'" in text else f"'{text}'" for text, _ in chosen)
    members = {value for _, value in chosen}

    def evaluate(row):
        stored = comparable(column, row[column])
        if stored is None:
            return True if negate else None
        return (stored in members) != negate

    name = "NotIn" if negate else "In"
    text = f"Microsoft.Dynamics.CRM.{name}(PropertyName='{column}',PropertyValues=[{rendered}])"
    return text, ATOM, evaluate


def kleene_not(a):
    return None if a is None else not a


def kleene_and(a, b):
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def kleene_or(a, b):
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def wrap(node, precedence):
    text, own, _ = node
    return f"({text})" if own < precedence else text


def combine(children):
    nots = children.map(lambda n: (f"not {wrap(n, NOT)}", NOT, lambda row, e=n[2]: kleene_not(e(row))))
    ands = st.tuples(children, children).map(lambda p: (
        f"{wrap(p[0], AND)} and {wrap(p[1], AND + 1)}", AND,
        lambda row, a=p[0][2], b=p[1][2]: kleene_and(a(row), b(row))))
    ors = st.tuples(children, children).map(lambda p: (
        f"{wrap(p[0], OR)} or {wrap(p[1], OR + 1)}", OR,
        lambda row, a=p[0][2], b=p[1][2]: kleene_or(a(row), b(row))))
    return st.one_of(nots, ands, ors)


expressions = st.recursive(st.one_of(comparisons(), null_tests(), string_functions(), in_lists()),
                           combine, max_leaves=8)
rows = st.lists(st.fixed_dictionaries({c: st.sampled_from(STORED[c]) for c in ORDER}), max_size=6)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, rows)
def test_sqlite_selects_exactly_the_rows_dataverse_semantics_select(expression, table_rows):
    text, _, evaluate = expression
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE t (rowno INTEGER, {', '.join(ORDER)})")
    for number, row in enumerate(table_rows):
        conn.execute(f"INSERT INTO t VALUES ({', '.join('?' * (len(ORDER) + 1))})",
                     [number] + [row[c] for c in ORDER])
    sql, params = compile_filter(text, resolve)
    got = {r[0] for r in conn.execute(f"SELECT rowno FROM t WHERE {sql}", params)}
    expected = {n for n, row in enumerate(table_rows) if evaluate(row) is True}
    assert got == expected, (text, sql, params)


FRAGMENTS = [
    "name", "qty", "amount", "active", "start", "created", "_w365_customer_value", "nosuch",
    " eq ", " ne ", " gt ", " le ", " and ", " or ", "not ", "(", ")", ",", "=", "[", "]", "'a'",
    "'x''y'", "''", "'", '"q"', '"', "5", "-1", "1.5", "1e400", "99999999999999999999", "null", "true",
    "false", G1, "2026-01-01", "2026-13-45", "2026-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
    "contains(", "startswith(",
    "Microsoft.Dynamics.CRM.In(", "Microsoft.Dynamics.CRM.NotBetween(", "Microsoft.Dynamics.CRM.X(",
    "PropertyName=", "PropertyValues=", "@p1", "@p2", " ", "/", ".",
]
ALIASES = {"@p1": "'qty'", "@p2": "['1','x']"}


def assert_only_documented_errors(text: str) -> None:
    try:
        sql, params = compile_filter(text, resolve, aliases=ALIASES)
    except (FilterSyntaxError, UnknownColumn) as error:
        assert str(error)
        return
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE t ({', '.join(ORDER)})")
    conn.execute(f"SELECT * FROM t WHERE {sql}", params).fetchall()  # valid SQL, bindable params


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=14).map("".join))
def test_token_soup_only_raises_the_two_documented_errors(text):
    assert_only_documented_errors(text)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=()), max_size=60))  # surrogates included
def test_random_text_only_raises_the_two_documented_errors(text):
    assert_only_documented_errors(text)
