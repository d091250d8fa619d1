"""Create, read, update, upsert, delete over raw HTTP: statuses, ETags, keys, decimals, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from .conftest import error_code, new_id, parse


@pytest.fixture(scope="module")
def account(api) -> str:
    return api.create("accounts", {"name": "Contoso Ltd", "emailaddress1": "ap@contoso.example"})


@pytest.fixture(scope="module")
def contract(api, account) -> str:
    return api.create(
        "w365_billingcontracts",
        {
            "w365_name": "Contoso Annual",
            "w365_type": 1,
            "w365_billingfrequency": 12,
            "w365_startdate": "2026-01-01",
            "w365_Customer@odata.bind": f"/accounts({account})",
        },
    )


def test_create_answers_204_with_the_entity_id(api):
    resp = api.post("accounts", {"name": "Plain"})
    assert resp.status_code == 204 and resp.text == ""
    entity_id = resp.headers["OData-EntityId"]
    assert entity_id.startswith(api.root + "accounts(") and entity_id.endswith(")")
    ident = entity_id.rsplit("(", 1)[1][:-1]
    row = api.row("accounts", ident)
    assert row["name"] == "Plain" and row["accountid"] == ident
    assert row["@odata.etag"].startswith('W/"') and row["createdon"].endswith("Z")
    assert row["statecode"] == 0 and row["statuscode"] == 1  # platform defaults


def test_create_with_representation_answers_201_and_honours_select(api):
    resp = api.post(
        "accounts?$select=name",
        {"name": "Represented"},
        headers={"Prefer": "return=representation"},
    )
    assert resp.status_code == 201
    body = parse(resp)
    assert body["name"] == "Represented" and body["accountid"]
    assert "emailaddress1" not in body and body["@odata.etag"].startswith('W/"')
    assert "return=representation" in resp.headers["Preference-Applied"]


def test_a_client_chosen_id_is_kept(api):
    ident = new_id()
    assert api.create("accounts", {"accountid": ident, "name": "Chosen"}) == ident
    dup = api.post("accounts", {"accountid": ident, "name": "Again"})
    assert dup.status_code == 412
    assert api.rows("accounts", f"$filter=accountid eq {ident}")[0]["name"] == "Chosen"


def test_decimals_and_money_round_trip_exactly(api, contract):
    sub = api.create(
        "w365_subscriptions",
        {
            "w365_name": "Seats",
            "w365_BillingContract@odata.bind": f"/w365_billingcontracts({contract})",
            "w365_priceperunit": Decimal("12345678901.1234"),
            "w365_quantity": Decimal("0.1234567891"),
            "w365_minimumcommitment": Decimal("0.1"),
        },
    )
    resp = api.get(
        f"w365_subscriptions({sub})?$select=w365_priceperunit,w365_quantity,w365_minimumcommitment"
    )
    # the wire carries the exact digits (no float rounding); Money keeps 4 decimals
    assert '"w365_priceperunit":12345678901.1234' in resp.text
    assert '"w365_quantity":0.1234567891' in resp.text
    assert '"w365_minimumcommitment":0.1000' in resp.text
    row = parse(resp)
    assert row["w365_priceperunit"] == Decimal("12345678901.1234")
    assert row["w365_quantity"] == Decimal("0.1234567891")


def test_money_rounds_to_four_and_decimal_to_ten_places(api):
    ident = api.create(
        "invoicedetails",
        {"priceperunit": Decimal("1.23456"), "quantity": Decimal("1.123456789012")},
    )
    row = api.row("invoicedetails", ident, "priceperunit,quantity")
    assert row["priceperunit"] == Decimal("1.2346") and row["quantity"] == Decimal("1.1234567890")


def test_lookups_read_as_value_and_bind_must_exist(api, account):
    ghost = new_id()
    before = api.count("contacts")
    resp = api.post(
        "contacts",
        {"fullname": "Nobody", "parentcustomerid_account@odata.bind": f"/accounts({ghost})"},
    )
    assert resp.status_code == 404 and error_code(resp) == "0x80040217"
    assert api.count("contacts") == before
    wrong_set = api.post(
        "contacts", {"fullname": "X", "parentcustomerid_account@odata.bind": f"/contacts({ghost})"}
    )
    assert wrong_set.status_code == 400
    ident = api.create(
        "contacts",
        {
            "firstname": "Ann",
            "lastname": "Lee",
            "parentcustomerid_account@odata.bind": f"{api.root}accounts({account})",
        },
    )
    row = api.row("contacts", ident, "fullname,_parentcustomerid_value")
    assert row["_parentcustomerid_value"] == account and row["fullname"] == "Ann Lee"


def test_update_with_if_match_and_a_stale_etag(api, account):
    etag = api.row("accounts", account)["@odata.etag"]
    ok = api.patch(
        f"accounts({account})", {"emailaddress1": "new@contoso.example"}, headers={"If-Match": etag}
    )
    assert ok.status_code == 204 and ok.headers["OData-EntityId"].endswith(f"accounts({account})")
    stale = api.patch(
        f"accounts({account})",
        {"emailaddress1": "stale@contoso.example"},
        headers={"If-Match": etag},
    )
    assert stale.status_code == 412 and error_code(stale) == "0x80060882"
    row = api.row("accounts", account)
    assert row["emailaddress1"] == "new@contoso.example" and row["@odata.etag"] != etag


def test_update_with_representation_answers_200(api, account):
    resp = api.patch(
        f"accounts({account})?$select=name",
        {"name": "Contoso Ltd"},
        headers={"Prefer": "return=representation", "If-Match": "*"},
    )
    assert resp.status_code == 200 and parse(resp)["name"] == "Contoso Ltd"


def test_patch_without_if_match_upserts_with_the_url_id(api):
    ident = new_id()
    resp = api.patch(f"accounts({ident})", {"name": "Upserted"})
    assert resp.status_code == 204
    assert api.row("accounts", ident)["name"] == "Upserted"
    again = api.patch(f"accounts({ident})", {"name": "Updated"})
    assert again.status_code == 204 and api.row("accounts", ident)["name"] == "Updated"


def test_if_match_star_never_creates_and_if_none_match_star_never_updates(api, account):
    ghost = new_id()
    missing = api.patch(f"accounts({ghost})", {"name": "Ghost"}, headers={"If-Match": "*"})
    assert missing.status_code == 404 and error_code(missing) == "0x80040217"
    assert api.get(f"accounts({ghost})").status_code == 404
    exists = api.patch(
        f"accounts({account})", {"name": "Overwritten"}, headers={"If-None-Match": "*"}
    )
    assert exists.status_code == 412
    assert api.row("accounts", account)["name"] != "Overwritten"
    created = api.patch(f"accounts({ghost})", {"name": "Fresh"}, headers={"If-None-Match": "*"})
    assert created.status_code == 204 and api.row("accounts", ghost)["name"] == "Fresh"


def test_if_none_match_null_is_ignored(api):
    ident = new_id()
    resp = api.patch(
        f"accounts({ident})", {"name": "Null header"}, headers={"If-None-Match": "null"}
    )
    assert resp.status_code == 204 and api.row("accounts", ident)["name"] == "Null header"


def test_alternate_key_read_upsert_and_uniqueness(api, contract):
    key = (
        f"w365_billingschedules(_w365_billingcontract_value={contract},w365_cyclestart=2026-01-01)"
    )
    assert api.get(key).status_code == 404
    created = api.patch(
        key, {"w365_name": "Cycle 1", "w365_cycleend": "2026-12-31"}, headers={"If-None-Match": "*"}
    )
    assert created.status_code == 204
    row = parse(api.get(key))
    # an upsert that creates takes the key values from the URL
    assert row["_w365_billingcontract_value"] == contract and row["w365_cyclestart"] == "2026-01-01"
    assert created.headers["OData-EntityId"].endswith(f"({row['w365_billingscheduleid']})")
    again = api.patch(key, {"w365_name": "dup"}, headers={"If-None-Match": "*"})
    assert again.status_code == 412 and error_code(again) == "0x80040237"
    assert again.json()["error"]["message"] == "A record with matching key values already exists."
    updated = api.patch(key, {"statuscode": 3, "w365_name": "Cycle 1 invoiced"})
    assert updated.status_code == 204 and parse(api.get(key))["statuscode"] == 3
    dup = api.post(
        "w365_billingschedules",
        {
            "w365_name": "dup",
            "w365_cyclestart": "2026-01-01",
            "w365_BillingContract@odata.bind": f"/w365_billingcontracts({contract})",
        },
    )
    assert dup.status_code == 412 and error_code(dup) == "0x80060892"
    assert (
        len(api.rows("w365_billingschedules", f"$filter=_w365_billingcontract_value eq {contract}"))
        == 1
    )


def test_string_alternate_keys_are_quoted(api):
    key = "w365_invoiceruns(w365_runkey='run ''one''')"
    assert api.patch(key, {"w365_name": "Run", "w365_status": 1}).status_code == 204
    row = parse(api.get(key))
    assert row["w365_runkey"] == "run 'one'" and row["w365_name"] == "Run"
    dup = api.post(
        "w365_invoiceruns", {"w365_runkey": "RUN 'ONE'"}
    )  # keys compare case-insensitively
    assert dup.status_code == 412 and error_code(dup) == "0x80060892"
    bad = api.get("w365_invoiceruns(w365_name='Run')")
    assert bad.status_code == 400


def test_run_row_alternate_key(api, contract):
    run = api.create("w365_invoiceruns", {"w365_runkey": new_id(), "w365_total": 2})
    body = {
        "w365_InvoiceRun@odata.bind": f"/w365_invoiceruns({run})",
        "w365_rowindex": 0,
        "w365_result": 1,
    }
    api.create("w365_invoicerunitems", body)
    dup = api.post("w365_invoicerunitems", body)
    assert dup.status_code == 412 and error_code(dup) == "0x80060892"
    row = parse(api.get(f"w365_invoicerunitems(_w365_invoicerun_value={run},w365_rowindex=0)"))
    assert row["w365_result"] == 1


def test_delete_and_missing_rows(api):
    ident = api.create("accounts", {"name": "Doomed"})
    etag = api.row("accounts", ident)["@odata.etag"]
    api.patch(f"accounts({ident})", {"name": "Doomed 2"})
    stale = api.delete(f"accounts({ident})", headers={"If-Match": etag})
    assert stale.status_code == 412 and api.get(f"accounts({ident})").status_code == 200
    assert api.delete(f"accounts({ident})").status_code == 204
    missing = api.get(f"accounts({ident})")
    assert missing.status_code == 404 and error_code(missing) == "0x80040217"
    assert api.delete(f"accounts({ident})").status_code == 404


def test_deleting_a_target_clears_lookups_to_it(api):
    acc = api.create("accounts", {"name": "Parent"})
    contact = api.create(
        "contacts",
        {"fullname": "Child", "parentcustomerid_account@odata.bind": f"/accounts({acc})"},
    )
    api.delete(f"accounts({acc})")
    assert api.row("contacts", contact)["_parentcustomerid_value"] is None


def test_invoice_auto_number_ignores_the_client_value(api, account):
    first = api.post(
        "invoices?$select=invoicenumber",
        {"name": "A", "invoicenumber": "MINE-1"},
        headers={"Prefer": "return=representation"},
    )
    second = api.post(
        "invoices?$select=invoicenumber", {"name": "B"}, headers={"Prefer": "return=representation"}
    )
    n1, n2 = parse(first)["invoicenumber"], parse(second)["invoicenumber"]
    assert n1.startswith("INV-") and len(n1) == 9 and n1 != "MINE-1"
    assert int(n2[4:]) == int(n1[4:]) + 1
    api.patch(f"invoices({parse(first)['invoiceid']})", {"invoicenumber": "CHANGED"})
    assert api.row("invoices", parse(first)["invoiceid"])["invoicenumber"] == n1


def test_deep_insert_of_invoice_lines(api, account, contract):
    resp = api.post(
        "invoices?$select=name,invoicenumber&$expand=invoice_details("
        "$select=lineitemnumber,extendedamount;$orderby=lineitemnumber)",
        {
            "name": "Deep",
            "customerid_account@odata.bind": f"/accounts({account})",
            "w365_BillingContract@odata.bind": f"/w365_billingcontracts({contract})",
            "totalamount": Decimal("475.20"),
            "invoice_details": [
                {
                    "lineitemnumber": 2,
                    "productdescription": "Mid",
                    "extendedamount": Decimal("79.20"),
                },
                {
                    "lineitemnumber": 1,
                    "productdescription": "Full",
                    "extendedamount": Decimal("396.00"),
                },
            ],
        },
        headers={"Prefer": "return=representation"},
    )
    assert resp.status_code == 201, resp.text
    body = parse(resp)
    assert [d["lineitemnumber"] for d in body["invoice_details"]] == [1, 2]
    lines = api.rows("invoicedetails", f"$filter=_invoiceid_value eq {body['invoiceid']}")
    assert len(lines) == 2 and {line["extendedamount"] for line in lines} == {
        Decimal("396.00"),
        Decimal("79.20"),
    }
    # deleting the invoice deletes its lines (parental relationship)
    assert api.delete(f"invoices({body['invoiceid']})").status_code == 204
    assert api.rows("invoicedetails", f"$filter=_invoiceid_value eq {body['invoiceid']}") == []


def test_a_failing_deep_insert_writes_nothing(api, account):
    invoices, lines = api.count("invoices"), api.count("invoicedetails")
    resp = api.post(
        "invoices",
        {
            "name": "Broken",
            "invoice_details": [{"lineitemnumber": 1}, {"lineitemnumber": 2, "no_such_column": 1}],
        },
    )
    assert resp.status_code == 400 and error_code(resp) == "0x80048d19"
    assert (api.count("invoices"), api.count("invoicedetails")) == (invoices, lines)


@pytest.mark.parametrize(
    "path, body, status, code",
    [
        ("nosuchset", {"name": "x"}, 404, "0x80060888"),
        ("accounts", {"nosuchcolumn": "x"}, 400, "0x80048d19"),
        ("accounts", {"_parentcustomerid_value": "x"}, 400, "0x80048d19"),
        (
            "contacts",
            {"parentcustomerid": "0b0f1e1c-1f7b-4e1a-9e6c-0c6a5e0b7d11"},
            400,
            "0x80048d19",
        ),
        ("accounts", {"name": 5}, 400, "0x80048d19"),
        ("accounts", {"statecode": "zero"}, 400, "0x80048d19"),
        ("w365_billingcontracts", {"w365_type": 7}, 400, "0x80048d19"),
        ("w365_billingcontracts", {"w365_startdate": "01/02/2026"}, 400, "0x80048d19"),
        ("w365_billingcontracts", {"w365_taxpercent": "ten"}, 400, "0x80048d19"),
        ("w365_billingcontracts", {"w365_autosend": "yes"}, 400, "0x80048d19"),
        ("accounts", ["not", "an", "object"], 400, "0x80048d19"),
    ],
)
def test_bad_creates_are_dataverse_errors_and_write_nothing(api, path, body, status, code):
    before = api.count("accounts"), api.count("w365_billingcontracts"), api.count("contacts")
    resp = api.post(path, body)
    assert resp.status_code == status and error_code(resp) == code
    assert resp.json()["error"]["message"]
    assert (
        api.count("accounts"),
        api.count("w365_billingcontracts"),
        api.count("contacts"),
    ) == before


def test_malformed_json_is_a_400(api):
    before = api.count("accounts")
    resp = api.request(
        "POST", "accounts", data='{"name": "x",', headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400 and error_code(resp) == "0x80048d19"
    assert api.count("accounts") == before


def test_bad_key_segments(api):
    assert api.get("accounts(not-a-guid)").status_code == 400
    assert api.get("accounts(").status_code == 404
    resp = api.get("accounts(00000000-0000-0000-0000-000000000001)/nosuchnav")
    assert resp.status_code == 404 and error_code(resp) == "0x80060888"


def test_create_multiple_and_update_multiple(api):
    kind = "Microsoft.Dynamics.CRM.account"
    resp = api.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        {
            "Targets": [
                {"@odata.type": kind, "name": "Bulk 1"},
                {"@odata.type": kind, "name": "Bulk 2"},
            ]
        },
    )
    assert resp.status_code == 200, resp.text
    ids = resp.json()["Ids"]
    assert [api.row("accounts", i)["name"] for i in ids] == ["Bulk 1", "Bulk 2"]
    upd = api.post(
        "accounts/Microsoft.Dynamics.CRM.UpdateMultiple",
        {
            "Targets": [
                {"@odata.type": kind, "accountid": ids[0], "name": "Bulk 1b"},
                {"@odata.type": kind, "accountid": ids[1], "name": "Bulk 2b"},
            ]
        },
    )
    assert upd.status_code == 204
    assert [api.row("accounts", i)["name"] for i in ids] == ["Bulk 1b", "Bulk 2b"]


def test_upsert_multiple_by_alternate_key_and_id(api):
    kind = "Microsoft.Dynamics.CRM.w365_invoicerun"
    existing = api.create("w365_invoiceruns", {"w365_runkey": "upsert-multiple-1", "w365_total": 1})
    fresh_id = new_id()
    resp = api.post(
        "w365_invoiceruns/Microsoft.Dynamics.CRM.UpsertMultiple",
        {
            "Targets": [
                {
                    "@odata.type": kind,
                    "@odata.id": "w365_invoiceruns(w365_runkey='upsert-multiple-1')",
                    "w365_total": 5,
                },
                {
                    "@odata.type": kind,
                    "@odata.id": "w365_invoiceruns(w365_runkey='upsert-multiple-2')",
                    "w365_total": 7,
                },
                {
                    "@odata.type": kind,
                    "w365_invoicerunid": fresh_id,
                    "w365_runkey": "upsert-multiple-3",
                },
            ]
        },
    )
    assert resp.status_code == 204, resp.text
    assert api.row("w365_invoiceruns", existing)["w365_total"] == 5
    created = api.rows("w365_invoiceruns", "$filter=w365_runkey eq 'upsert-multiple-2'")
    assert len(created) == 1 and created[0]["w365_total"] == 7
    assert api.row("w365_invoiceruns", fresh_id)["w365_runkey"] == "upsert-multiple-3"


def test_create_multiple_is_all_or_nothing(api):
    before = api.count("accounts")
    kind = "Microsoft.Dynamics.CRM.account"
    resp = api.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        {"Targets": [{"@odata.type": kind, "name": "ok"}, {"@odata.type": kind, "nosuch": 1}]},
    )
    assert resp.status_code == 400 and api.count("accounts") == before
    no_type = api.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": [{"name": "x"}]}
    )
    assert no_type.status_code == 400
    wrong_type = api.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.contact", "fullname": "x"}]},
    )
    assert wrong_type.status_code == 400 and api.count("accounts") == before
    ghost = api.post(
        "accounts/Microsoft.Dynamics.CRM.UpdateMultiple",
        {"Targets": [{"@odata.type": kind, "accountid": new_id(), "name": "x"}]},
    )
    assert ghost.status_code == 404


def test_custom_api_creates_and_deletes_its_message_and_deep_inserts_parameters(api):
    resp = api.post(
        "customapis?$expand=CustomAPIRequestParameters($select=uniquename,type)",
        {
            "uniquename": "w365_GenerateInvoice",
            "name": "Generate Invoice",
            "displayname": "Generate Invoice",
            "bindingtype": 0,
            "isfunction": False,
            "allowedcustomprocessingsteptype": 2,
            "iscustomizable": {"Value": False},
            "CustomAPIRequestParameters": [
                {
                    "uniquename": "BillingContractId",
                    "name": "w365_GenerateInvoice.BillingContractId",
                    "displayname": "Billing Contract",
                    "type": 12,
                    "isoptional": False,
                },
                {
                    "uniquename": "Cycle",
                    "name": "w365_GenerateInvoice.Cycle",
                    "displayname": "Cycle",
                    "type": 10,
                    "isoptional": True,
                },
            ],
        },
        headers={"Prefer": "return=representation"},
    )
    assert resp.status_code == 201, resp.text
    api_row = parse(resp)
    assert sorted(p["uniquename"] for p in api_row["CustomAPIRequestParameters"]) == [
        "BillingContractId",
        "Cycle",
    ]
    messages = api.rows("sdkmessages", "$filter=name eq 'w365_GenerateInvoice'")
    assert len(messages) == 1 and messages[0]["sdkmessageid"] == api_row["_sdkmessageid_value"]
    assert api.delete(f"customapis({api_row['customapiid']})").status_code == 204
    assert api.rows("sdkmessages", "$filter=name eq 'w365_GenerateInvoice'") == []
    assert api.rows("customapirequestparameters", "$filter=uniquename eq 'Cycle'") == []


def test_service_endpoint_auth_value_is_write_only_and_steps_hang_off_it(api):
    resp = api.post(
        "serviceendpoints",
        {
            "name": "w365-invoicing",
            "contract": 8,
            "url": "https://example.test/hook",
            "authtype": 5,
            "messageformat": 2,
            "authvalue": '<settings><setting name="x-w365-webhook-key" value="k" /></settings>',
        },
        headers={"Prefer": "return=representation"},
    )
    assert resp.status_code == 201
    endpoint = parse(resp)
    assert "authvalue" not in endpoint and endpoint["isauthvalueset"] is True
    assert api.get("serviceendpoints?$select=authvalue").status_code == 400
    message = api.rows("sdkmessages", "$filter=name eq 'Create'")[0]["sdkmessageid"]
    api.create(
        "sdkmessageprocessingsteps",
        {
            "name": "step",
            "stage": 40,
            "mode": 0,
            "rank": 1,
            "supporteddeployment": 0,
            "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint['serviceendpointid']})",
            "sdkmessageid@odata.bind": f"/sdkmessages({message})",
        },
    )
    steps = api.rows(
        f"serviceendpoints({endpoint['serviceendpointid']})/serviceendpoint_sdkmessageprocessingstep",
        "$select=name,stage,_eventhandler_value",
    )
    assert [s["name"] for s in steps] == ["step"] and steps[0]["_eventhandler_value"] == endpoint[
        "serviceendpointid"
    ]
    api.patch(f"serviceendpoints({endpoint['serviceendpointid']})", {"authvalue": None})
    assert api.row("serviceendpoints", endpoint["serviceendpointid"])["isauthvalueset"] is False
    api.delete(f"serviceendpoints({endpoint['serviceendpointid']})")
    assert api.rows("sdkmessageprocessingsteps", "$filter=name eq 'step'") == []


def test_who_am_i(api):
    body = api.get("WhoAmI").json()
    assert {"UserId", "BusinessUnitId", "OrganizationId"} <= set(body)
