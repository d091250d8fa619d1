"""The public surfaces exactly as DESIGN §7/§8 state them: documented shapes, limits and edge inputs."""
from __future__ import annotations

import json
import uuid

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec

from tests import factories
from tests.e2e.conftest import count_rows, execution_context, webhook_headers

AS_OF = "2026-02-01"
WEBHOOK = "/api/v1/webhooks/dataverse"


def row(contract_id: str, cycle: str | None = None) -> dict:
    return {"billing_contract_id": contract_id, "cycle": cycle, "trigger_post_invoicing_tasks": False}


@pytest.fixture(scope="module")
def openapi(plugin_app) -> dict:
    return plugin_app.test_client().get("/api/v1/openapi.json").get_json()


def schema_errors(openapi: dict, name: str, body) -> list[str]:
    """Where `body` breaks the documented component schema `name` (empty: it conforms)."""
    schema = {**openapi["components"]["schemas"][name], "components": openapi["components"]}
    return [f"{list(e.absolute_path)}: {e.message}" for e in OAS30Validator(schema).iter_errors(body)]


def test_the_openapi_document_is_valid_and_documents_every_route(plugin_app, openapi):
    validate_spec(openapi)
    routes = {(rule.rule.replace("<", "{").replace(">", "}"), method.lower())
              for rule in plugin_app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, ops in openapi["paths"].items() for method in ops}
    assert routes == documented
    key = next(p for p in openapi["paths"]["/api/v1/invoices"]["post"]["parameters"]
               if p["name"] == "Idempotency-Key")
    assert key["schema"]["maxLength"] == 100  # the limit the service enforces
    ids_query = openapi["paths"]["/api/v1/bulk/rows"]["get"]["parameters"][0]
    assert (ids_query["name"], ids_query["schema"]["type"]) == ("ids", "string")
    assert openapi["components"]["schemas"]["BulkRowsBody"]["properties"]["ids"]["type"] == "array"
    assert openapi["components"]["schemas"]["RemoteExecutionContext"]["properties"]["InputParameters"]["type"] == \
        "array"


def test_finished_runs_and_single_answers_match_their_documented_schemas(api, dataverse_client, world, openapi):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    missing = str(uuid.uuid4())
    run = api.post("/api/v1/invoice-runs?wait=60", json={"rows": [row(contract), row(missing)], "as_of": AS_OF})
    assert run.status_code == 200, run.get_json()
    body = run.get_json()
    assert [r["result"]["status"] for r in body["rows"]] == ["created", "failed"]
    for result in (r["result"] for r in body["rows"]):
        assert set(result) == {"status", "invoice", "existing_invoices", "message", "post_tasks"}
    assert schema_errors(openapi, "Run", body) == []
    assert schema_errors(openapi, "Run", api.get(f"/api/v1/invoice-runs/{body['run_id']}").get_json()) == []
    single = api.post("/api/v1/invoices", json={"billing_contract_id": contract, "cycle": "2026-04-01"})
    assert single.status_code == 201
    assert schema_errors(openapi, "CreateInvoiceResponse", single.get_json()) == []


@pytest.mark.parametrize("method, url, body", [
    ("get", "/api/v1/bulk/rows?ids={cid}&as_of=9999-12-31", None),
    ("post", "/api/v1/bulk/rows", {"ids": ["{cid}"], "as_of": "9999-12-31"}),
    ("post", "/api/v1/invoice-runs", {"rows": [row("{cid}")], "as_of": "0001-01-01"}),
])
def test_as_of_has_the_same_range_on_every_route(api, dataverse_client, world, counter, method, url, body):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    body = json.loads(json.dumps(body).replace("{cid}", contract)) if body else None
    runs = count_rows(dataverse_client, "w365_invoiceruns")
    response = getattr(api, method)(url.replace("{cid}", contract), json=body)
    assert response.status_code == 422, response.get_data()[:300]
    assert list(response.get_json()["error"]["details"]["fields"]) == ["as_of"]
    assert count_rows(dataverse_client, "w365_invoiceruns") == runs


def webhook(api, message: str, params: list[dict], user: str):
    payload = execution_context(message, params, initiating_user_id=user)
    return api.post(WEBHOOK, data=json.dumps(payload), headers=webhook_headers(message))


def test_unpaired_surrogate_escapes_are_malformed_input_not_server_errors(api, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    raw = '{"rows": [{"billing_contract_id": "%s", "trigger_post_invoicing_tasks": false, "cycle": "\\ud800"}]}'
    response = api.post("/api/v1/invoice-runs", data=raw % contract, content_type="application/json")
    assert (response.status_code, response.get_json()["error"]["code"]) == (400, "malformed_json")
    paired = api.post("/api/v1/invoices/preview", data='{"billing_contract_id": "%s", "cycle": "\\ud83d\\ude00"}'
                      % contract, content_type="application/json")
    assert (paired.status_code, paired.get_json()["error"]["code"]) == (400, "unknown_cycle")  # a real character

    user = world.billing_user["systemuserid"]
    rows = '[{"billingContractId": "%s", "cycle": "\\ud800", "triggerPostInvoicingTasks": false}]' % contract
    by_rows = webhook(api, "w365_GenerateInvoices", [{"key": "RunId", "value": str(uuid.uuid4())},
                                                     {"key": "Rows", "value": rows}], user)
    assert (by_rows.status_code, by_rows.get_json()["error"]["code"]) == (400, "malformed_payload")
    payload = json.dumps(execution_context("w365_GenerateInvoices", [], initiating_user_id=user))
    payload = payload.replace('"InputParameters": []', '"InputParameters": [{"key": "RunId", "value": "\\udfff"}]')
    by_run_id = api.post(WEBHOOK, data=payload, headers=webhook_headers("w365_GenerateInvoices"))
    assert (by_run_id.status_code, by_run_id.get_json()["error"]["code"]) == (400, "malformed_payload")


def test_an_idempotency_key_names_one_request(api, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    key = {"Idempotency-Key": f"conformance-{uuid.uuid4()}"}
    first = api.post("/api/v1/invoices", json={"billing_contract_id": contract, "cycle": "2026-01-01"}, headers=key)
    assert first.status_code == 201
    invoices = count_rows(dataverse_client, "invoices")
    again = api.post("/api/v1/invoices", json={"billing_contract_id": contract, "cycle": "2026-01-01"}, headers=key)
    assert (again.status_code, again.get_json()) == (201, first.get_json())
    other_cycle = api.post("/api/v1/invoices", json={"billing_contract_id": contract, "cycle": "2026-04-01"},
                           headers=key)
    as_run = api.post("/api/v1/invoice-runs", json={"rows": [row(contract)]}, headers=key)
    assert [(r.status_code, r.get_json()["error"]["code"]) for r in (other_cycle, as_run)] == \
        [(409, "idempotency_key_reused")] * 2

    run_key = {"Idempotency-Key": f"conformance-{uuid.uuid4()}"}
    started = api.post("/api/v1/invoice-runs?wait=60", json={"rows": [row(contract, "2026-04-01")]},
                       headers=run_key)
    assert started.status_code == 200 and started.get_json()["rows"][0]["result"]["status"] == "created"
    as_single = api.post("/api/v1/invoices", json={"billing_contract_id": contract, "cycle": "2026-04-01"},
                         headers=run_key)
    assert (as_single.status_code, as_single.get_json()["error"]["code"]) == (409, "idempotency_key_reused")
    assert count_rows(dataverse_client, "invoices") == invoices + 1  # the run's invoice only


def test_empty_optional_webhook_strings_mean_not_given(api, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    user = world.billing_user["systemuserid"]
    single = webhook(api, "w365_GenerateInvoice", [{"key": "BillingContractId", "value": contract},
                                                   {"key": "Cycle", "value": ""}, {"key": "OnExisting", "value": ""}],
                     user)
    assert single.status_code == 200, single.get_json()
    assert (single.get_json()["result"]["status"], single.get_json()["result"]["cycle"]) == ("created", "2026-01-01")
    bulk = webhook(api, "w365_GenerateInvoices", [{"key": "RunId", "value": str(uuid.uuid4())},
                                                  {"key": "BillingContractIds", "value": [contract]},
                                                  {"key": "OnExisting", "value": ""}], user)
    assert bulk.status_code == 200, bulk.get_json()
    assert bulk.get_json()["rows"][0]["result"]["status"] == "created"


def test_a_webhook_key_in_either_place_authenticates(api, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    payload = json.dumps(execution_context("w365_GenerateInvoice", [{"key": "BillingContractId", "value": contract}],
                                           initiating_user_id=world.billing_user["systemuserid"]))
    good = webhook_headers("w365_GenerateInvoice")["x-w365-webhook-key"]
    stale_header = api.post(f"{WEBHOOK}?code={good}", data=payload,
                            headers=webhook_headers("w365_GenerateInvoice", key="stale"))
    assert stale_header.status_code == 200 and stale_header.get_json()["result"]["status"] == "created"
    both_wrong = api.post(f"{WEBHOOK}?code=nope", data=payload, headers=webhook_headers("w365_GenerateInvoice",
                                                                                        key="stale"))
    assert (both_wrong.status_code, both_wrong.get_json()["error"]["code"]) == (401, "unauthorized")


def test_a_run_id_is_a_guid_in_any_spelling(api, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    run_id = api.post("/api/v1/invoice-runs?wait=60", json={"rows": [row(contract)], "as_of": AS_OF}).get_json()["run_id"]
    for spelling in (run_id.upper(), "{" + run_id + "}"):
        assert api.get(f"/api/v1/invoice-runs/{spelling}").get_json()["run_id"] == run_id
        assert api.get(f"/api/v1/invoice-runs/{spelling}/results.csv").status_code == 200
        assert api.post(f"/api/v1/invoice-runs/{spelling}/retry?wait=60", json={}).get_json()["run_id"] == run_id


def test_a_redelivery_to_a_restarted_service_reads_as_the_initiating_user(api, recording_app, dataverse_client,
                                                                          world):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    user = world.billing_user["systemuserid"]
    params = [{"key": "RunId", "value": str(uuid.uuid4())}, {"key": "BillingContractIds", "value": [contract]}]
    first = webhook(api, "w365_GenerateInvoices", params, user)
    assert first.status_code == 200 and first.get_json()["status"] == "completed"
    restarted, seen = recording_app  # another app: its run service never saw this run
    again = webhook(restarted.test_client(), "w365_GenerateInvoices", params, user)
    assert again.status_code == 200 and again.get_json()["rows"] == first.get_json()["rows"]
    callers = {s["caller"] for s in seen if "/api/data/" in s["url"]}
    assert callers == {user}


def test_empty_and_repeated_query_values(api, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    plain = api.get(f"/api/v1/billing-contracts/{contract}/cycles").get_json()
    assert api.get(f"/api/v1/billing-contracts/{contract}/cycles?as_of=").get_json() == plain
    assert api.get(f"/api/v1/bulk/rows?ids={contract}&as_of=").status_code == 200
    other = factories.license_contract(dataverse_client, world)["contract_id"]
    repeated = api.get(f"/api/v1/bulk/rows?ids={contract}&ids={other}")  # how `requests` sends a list
    assert [r["billing_contract_id"] for r in repeated.get_json()["rows"]] == [contract, other]
    missing = api.get("/api/v1/bulk/rows?ids=")
    assert (missing.status_code, list(missing.get_json()["error"]["details"]["fields"])) == (422, ["ids"])
