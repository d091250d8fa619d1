"""OData literals, filters, key segments, binds and query encoding."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from connectors.dataverse import odata

G = "6F9619FF-8B86-D011-B42D-00C04FC964FF"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("O'Brien", "'O''Brien'"),
        ("''", "''''''"),
        ("plain text", "'plain text'"),
        ("2026-01-31", "2026-01-31"),
        ("2026-01-31T10:30:00Z", "2026-01-31T10:30:00Z"),
        ("2026-01-31 and more", "'2026-01-31 and more'"),
        (G, G.lower()),
        (uuid.UUID(G), G.lower()),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (Decimal("1234.5600"), "1234.5600"),
        (Decimal("1E+3"), "1000"),
        (date(2026, 1, 31), "2026-01-31"),
        (
            datetime(2026, 1, 31, 12, 30, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-31T10:30:00Z",
        ),
        (None, "null"),
    ],
)
def test_literal(value, expected):
    assert odata.literal(value) == expected


def test_literal_refuses_control_characters_and_floats():
    with pytest.raises(ValueError):
        odata.literal("a\x00b")
    with pytest.raises(ValueError):
        odata.literal("escape\x1b[0m")
    assert odata.literal("two\nlines") == "'two\nlines'"
    with pytest.raises(TypeError):
        odata.literal(1.5)


def test_comparisons_and_boolean_combinators():
    assert odata.eq("name", "A'B") == "name eq 'A''B'"
    assert odata.eq("_w365_customer_value", G) == f"_w365_customer_value eq {G.lower()}"
    assert (
        odata.and_(odata.eq("statecode", 0), None, odata.ge("w365_startdate", date(2026, 1, 1)))
        == "(statecode eq 0) and (w365_startdate ge 2026-01-01)"
    )
    assert odata.or_(odata.eq("a", 1)) == "a eq 1"
    assert odata.and_() == ""
    with pytest.raises(ValueError):
        odata.eq("name) or (1 eq 1", "x")


def test_in_uses_the_dynamics_function_with_double_quoted_values():
    assert odata.in_("w365_billingcontractid", [G, "x'y"]) == (
        "Microsoft.Dynamics.CRM.In(PropertyName='w365_billingcontractid',"
        f'PropertyValues=["{G}","x\'y"])'
    )
    assert (
        odata.in_("name", ['say "hi"'])
        == "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['say \"hi\"'])"
    )
    with pytest.raises(ValueError):
        odata.in_("name", [])


def test_key_segment_entity_path_and_bind():
    keys = {"_w365_billingcontract_value": G, "w365_cyclestart": date(2026, 1, 1)}
    assert (
        odata.key_segment(keys)
        == f"_w365_billingcontract_value={G.lower()},w365_cyclestart=2026-01-01"
    )
    assert odata.key_segment(G) == G.lower()
    assert odata.entity_path("accounts", G) == f"accounts({G.lower()})"
    assert (
        odata.entity_path("w365_runitems", {"w365_key": "a'b"}) == "w365_runitems(w365_key='a''b')"
    )
    assert odata.entity_path("invoices", "$1") == "$1"
    assert odata.bind("accounts", G) == f"/accounts({G.lower()})"
    assert odata.bind("invoices", "$3") == "$3"
    with pytest.raises(ValueError):
        odata.key_segment("not-a-guid")


def test_query_string_encodes_spaces_as_percent_20_and_keeps_odata_punctuation():
    qs = odata.query_string(
        {
            "$select": ["name", "accountid"],
            "$filter": "name eq 'A&B+C'",
            "$top": 5,
            "$orderby": None,
        }
    )
    assert qs == "$select=name,accountid&$filter=name%20eq%20'A%26B%2BC'&$top=5"


def test_entity_id_from_url():
    assert odata.entity_id_from_url(f"https://o/api/data/v9.2/accounts({G})") == G.lower()
    assert odata.entity_id_from_url("https://o/api/data/v9.2/accounts") is None


def test_text_is_always_a_quoted_string_literal():
    assert odata.literal(odata.Text(G)) == f"'{G}'"
    assert odata.eq("w365_name", odata.Text("2026-01-31")) == "w365_name eq '2026-01-31'"
    assert odata.eq("w365_name", odata.Text("it's")) == "w365_name eq 'it''s'"


def test_in_values_needing_json_escapes_are_single_quoted():
    # inside "..." a backslash or a raw control character would be a JSON escape (or invalid)
    assert odata.in_("name", ["back\\slash", "tab\there"]) == (
        "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['back\\slash','tab\there'])"
    )


def test_alternate_key_guids_are_bare_only_for_lookup_columns():
    # only a lookup can be a Guid alternate-key column: a GUID-shaped run key is an Edm.String
    assert odata.key_segment({"w365_runkey": G}) == f"w365_runkey='{G.lower()}'"
    assert odata.key_segment({"w365_runkey": uuid.UUID(G)}) == f"w365_runkey='{G.lower()}'"
    assert odata.key_segment({"_w365_invoicerun_value": G, "w365_rowindex": 3}) == (
        f"_w365_invoicerun_value={G.lower()},w365_rowindex=3"
    )
    assert odata.key_segment({"w365_runkey": "k'1"}) == "w365_runkey='k''1'"
