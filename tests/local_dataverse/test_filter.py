"""`$filter` compiler: Dataverse semantics checked by running the SQL on SQLite, plus error texts."""
from __future__ import annotations

import sqlite3

import pytest

from connectors.local_dataverse.odata_filter import (
    ColumnRef,
    FilterSyntaxError,
    UnknownColumn,
    compile_filter,
)

COLUMNS = {
    "name": ColumnRef('"name"', "string"),
    "accountid": ColumnRef("accountid", "guid"),
    "_w365_customer_value": ColumnRef("_w365_customer_value", "guid"),
    "qty": ColumnRef("qty", "int"),
    "amount": ColumnRef("amount", "decimal"),
    "active": ColumnRef("active", "bool"),
    "start": ColumnRef("start", "date"),
    "created": ColumnRef("created", "datetime"),
    "budget": ColumnRef("budget", "decimal"),
}

G1 = "3f0c2a10-0000-4000-8000-000000000001"
G2 = "3f0c2a10-0000-4000-8000-000000000002"

# id, name, customer, qty, amount (exact text), active, start, created
ROWS = [
    (1, "Contoso", G1, 5, "10.5000", 1, "2026-01-01", "2026-01-01T00:00:00Z"),
    (2, "contoso ltd", G2, 12, "9.9900", 0, "2026-02-15", "2026-02-15T10:30:00Z"),
    (3, "O'Bryan", G1, None, "100.0000", 1, "2025-12-31", "2025-12-31T23:30:00-01:00"),
    (4, None, None, 0, None, None, None, None),
    (5, "Fabrikam 50%", G2, 7, "0.0001", 0, "2026-03-01", "2026-03-01T00:00:00.000Z"),
]


def resolve(name: str) -> ColumnRef:
    try:
        return COLUMNS[name]
    except KeyError:
        raise UnknownColumn(name, "account") from None


@pytest.fixture(scope="module")
def db():
    conn = sqlite3.connect(":memory:")
    conn.execute('CREATE TABLE account (accountid TEXT, "name" TEXT, _w365_customer_value TEXT, '
                 "qty INTEGER, amount TEXT, active INTEGER, start TEXT, created TEXT, budget TEXT)")
    for row in ROWS:
        conn.execute("INSERT INTO account VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (f"00000000-0000-4000-8000-00000000000{row[0]}", *row[1:], row[4]))
    yield conn
    conn.close()


def ids(db, text: str, **kwargs) -> set[int]:
    sql, params = compile_filter(text, resolve, **kwargs)
    rows = db.execute(f"SELECT accountid FROM account WHERE {sql}", params).fetchall()
    return {int(r[0][-1]) for r in rows}


@pytest.mark.parametrize("text, expected", [
    ("name eq 'contoso'", {1}),
    ("name eq 'CONTOSO LTD'", {2}),
    ("name eq 'O''Bryan'", {3}),
    ("name ne 'contoso'", {2, 3, 4, 5}),          # Dataverse's ne keeps empty values
    ("name eq null", {4}),
    ("name ne null", {1, 2, 3, 5}),
    ("null eq name", {4}),
    ("name gt 'd'", {3, 5}),
    ("qty gt 5", {2, 5}),
    ("qty ge 5", {1, 2, 5}),
    ("5 lt qty", {2, 5}),
    ("qty lt 5.5", {1, 4}),
    ("qty le 0", {4}),
    ("amount gt 9.995", {1, 3}),                 # numeric, not text, order
    ("amount eq 100", {3}),                      # "100.0000" equals 100
    ("amount lt 1", {5}),
    ("amount eq 0.0001", {5}),
    ("active eq true", {1, 3}),
    ("active eq false", {2, 5}),
    ("start ge 2026-01-01", {1, 2, 5}),
    ("start lt 2026-01-01", {3}),
    ("created ge 2026-01-01T00:00:00Z", {1, 2, 3, 5}),  # 23:30-01:00 is 00:30Z
    ("created lt 2026-01-01T00:30:00Z", {1}),
    ("created eq 2026-03-01T01:00:00+01:00", {5}),
    ("created lt 2026-02-01", {1, 3}),
    ("start lt 2026-01-01T12:00:00Z", {1, 3}),
    (f"_w365_customer_value eq {G1.upper()}", {1, 3}),
    (f"_w365_customer_value eq '{G2}'", {2, 5}),
    (f"_w365_customer_value ne {G1}", {2, 4, 5}),
    ("contains(name,'TOSO')", {1, 2}),
    ("startswith(name,'c')", {1, 2}),
    ("endswith(name,'LTD')", {2}),
    ("not contains(name,'toso')", {3, 5}),
    ("contains(name,'50%')", {5}),
    ("contains(name,'o_B')", {3}),                # % and _ are wildcards, as in Dataverse
    ("qty gt 6 or qty lt 1 and active eq true", {2, 5}),   # and binds tighter than or
    ("(qty gt 6 or qty lt 1) and active eq false", {2, 5}),
    ("not qty gt 6 and active eq true", {1}),               # not binds tighter than and
    ("not (qty gt 6 and active eq false)", {1, 3, 4}),
    ("qty gt 1 and qty lt 10 and active eq false", {5}),
    ("amount gt qty", {1}),                       # column to column; null qty never matches
    ("name eq name", {1, 2, 3, 5}),
    (f"Microsoft.Dynamics.CRM.In(PropertyName='_w365_customer_value',PropertyValues=['{G2.upper()}'])",
     {2, 5}),
    ("Microsoft.Dynamics.CRM.In(PropertyName='qty',PropertyValues=['5','7','99'])", {1, 5}),
    ("Microsoft.Dynamics.CRM.In(PropertyName='amount',PropertyValues=['10.5','100'])", {1, 3}),
    ("Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[\"o'bryan\",'CONTOSO'])", {1, 3}),
    ("Microsoft.Dynamics.CRM.In(PropertyName='active',PropertyValues=['true'])", {1, 3}),
    ("Microsoft.Dynamics.CRM.In(PropertyName='start',PropertyValues=['2026-01-01','2026-03-01'])",
     {1, 5}),
    ("Microsoft.Dynamics.CRM.NotIn(PropertyName='qty',PropertyValues=['5','7'])", {2, 3, 4}),
    ("Microsoft.Dynamics.CRM.Between(PropertyName='qty',PropertyValues=[\"5\",\"7\"])", {1, 5}),
    ("Microsoft.Dynamics.CRM.NotBetween(PropertyName='qty',PropertyValues=['5','7'])", {2, 3, 4}),
    ("  qty   eq\t5  ", {1}),
])
def test_filter_selects_the_rows_dataverse_would(db, text, expected):
    assert ids(db, text) == expected


def test_parameter_aliases_as_in_the_dataverse_docs(db):
    text = "Microsoft.Dynamics.CRM.In(PropertyName=@p1,PropertyValues=@p2) and qty ge @p3"
    aliases = {"@p1": "'name'", "@p2": "[\"o'bryan\",\"contoso\"]", "@p3": "1"}
    assert ids(db, text, aliases=aliases) == {1}


def test_decimal_values_stay_exact_strings_in_parameters():
    sql, params = compile_filter("amount eq 12345678.1234567891", resolve)
    assert params == ["12345678.1234567891"]
    assert "CAST(amount AS REAL)" in sql


def test_lookup_value_names_resolve_like_plain_columns():
    seen = []

    def recording(name: str) -> ColumnRef:
        seen.append(name)
        return resolve(name)

    compile_filter(f"_w365_customer_value eq {G1} and accountid ne null", recording)
    assert seen == ["_w365_customer_value", "accountid"]


def test_huge_number_literals_compare_numerically(db):
    assert ids(db, "qty lt " + "9" * 5000) == {1, 2, 4, 5}
    assert ids(db, "qty gt -" + "9" * 30) == {1, 2, 4, 5}


def test_a_long_or_chain_stays_within_sqlites_expression_depth(db):
    text = " or ".join(f"qty eq {i}" for i in range(3000))
    assert ids(db, text) == {1, 2, 4, 5}


def test_a_big_in_list_runs(db):
    values = ",".join(f"'{i}'" for i in range(5000))
    assert ids(db, f"Microsoft.Dynamics.CRM.In(PropertyName='qty',PropertyValues=[{values}])") == {
        1, 2, 4, 5}


@pytest.mark.parametrize("text, message", [
    ("lastname eq 'O'Bryan'", "There is an unterminated literal at position 21 in 'lastname eq 'O'Bryan''."),
    ("name eq", "Syntax error at position 7 in 'name eq': expected a property name or a literal value, "
                "found end of input."),
    ("name 'x'", "Syntax error at position 5 in 'name 'x'': expected a comparison operator"),
    ("name eq 'a' qty eq 1", "Syntax error at position 12 in 'name eq 'a' qty eq 1': expected 'and', "
                             "'or' or end of input, found 'qty'."),
    ("(name eq 'a'", "expected ')', found end of input"),
    ("name eq 'a')", "position 11"),
    ("name == 'a'", "Syntax error at position 5 in 'name == 'a'': expected a comparison operator"),
    ("name eq 1", "A binary operator with incompatible types was detected. Found operand types "
                  "'Edm.String' and 'Edm.Int32' for operator kind 'Equal'."),
    ("qty gt 'five'", "'Edm.Int32' and 'Edm.String' for operator kind 'GreaterThan'"),
    ("active eq 1", "'Edm.Boolean' and 'Edm.Int32'"),
    ("start eq 'x'", "'Edm.Date' and 'Edm.String'"),
    ("qty lt null", "null can only be compared with eq or ne, not lt"),
    ("1 eq 1", "a comparison needs a property on one side"),
    ("start eq 2026-02-30", "'2026-02-30' is not a valid date"),
    ("created eq 2026-01-01T25:00:00Z", "is not a valid date and time"),
    ("created eq 0001-01-01T00:00:00+01:00", "is not a valid date and time"),  # before year 1 in UTC
    ("accountid eq 'not-a-guid'", "'not-a-guid' is not a valid Guid"),
    ("contains(qty,'1')", "contains needs a string property, 'qty' is Edm.Int32"),
    ("contains(name,1)", "contains needs a quoted string"),
    ("contains('x',name)", "expected a property name, found ''x''"),
    ("tolower(name) eq 'x'", "unknown function 'tolower'"),
    ("Microsoft.Dynamics.CRM.Under(PropertyName='x',PropertyValue='y')", "unknown function"),
    ("Microsoft.Dynamics.CRM.In(PropertyName='qty')", "needs PropertyValues"),
    ("Microsoft.Dynamics.CRM.In(PropertyName='qty',PropertyValues=[])", "must not be empty"),
    ("Microsoft.Dynamics.CRM.In(PropertyName='qty',PropertyValues=['x'])", "'x' is not a valid number"),
    ("Microsoft.Dynamics.CRM.In(PropertyName='qty',PropertyValues=['1' '2'])", "expected ','"),
    ("Microsoft.Dynamics.CRM.In(PropertyName=qty,PropertyValues=['1'])", "expected a quoted property name"),
    ("Microsoft.Dynamics.CRM.Between(PropertyName='qty',PropertyValues=['1'])", "exactly 2"),
    ("qty eq @p9", "parameter alias @p9 has no value"),
    ("name eq 'a' # b", "unexpected character '#'"),
    ("", "Expression expected at position 0 in ''."),
    ("amount gt 1e40099999999999999999999", "the number 1e40099999999999999999999 is out of range"),
    ("name eq '\ud800'", "not valid Unicode text"),
    ('Microsoft.Dynamics.CRM.In(PropertyName=\'name\',PropertyValues=["\\ud800"])',
     "invalid double-quoted string"),
    ("(" * 500 + "qty eq 1" + ")" * 500, "nested more than 100 levels"),
    ("not " * 500 + "qty eq 1", "nested more than 100 levels"),
])
def test_bad_filters_get_a_precise_friendly_error(text, message):
    with pytest.raises(FilterSyntaxError) as raised:
        compile_filter(text, resolve)
    assert message in str(raised.value)


@pytest.mark.parametrize("text", [
    "nosuch eq 1",
    "qty eq nosuch",
    "contains(nosuch,'a')",
    "Microsoft.Dynamics.CRM.In(PropertyName='nosuch',PropertyValues=['1'])",
])
def test_unknown_columns_raise_unknown_column(text):
    with pytest.raises(UnknownColumn) as raised:
        compile_filter(text, resolve)
    assert raised.value.name == "nosuch"
    assert str(raised.value) == (
        "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.account'.")


def test_a_plain_key_error_from_resolve_becomes_unknown_column():
    with pytest.raises(UnknownColumn) as raised:
        compile_filter("x eq 1", {}.__getitem__)
    assert raised.value.name == "x"


def test_column_kinds_are_checked():
    with pytest.raises(ValueError):
        ColumnRef("x", "money")
