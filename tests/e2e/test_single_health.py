"""`GET /api/v1/health` and `GET /api/v1/openapi.json`."""
from __future__ import annotations

from connectors.dataverse import DataverseClient
from connectors.dataverse.auth import token_provider
from plugin.app import create_app
from plugin.config import Config
from tests.conftest import free_port


def test_health_reports_dataverse(api, counter):
    count = counter()
    body = api.get("/api/v1/health").get_json()
    assert body["status"] == "ok" and body["dataverse"]["reachable"] is True
    assert count.delta()["http_requests"] == 1


def test_health_is_degraded_when_dataverse_does_not_answer():
    port = free_port()  # a loopback port nobody listens on
    url = f"http://127.0.0.1:{port}"
    client = DataverseClient(url, token_provider=token_provider(resource_url=url, fixed_token="local-dev-token"))
    response = create_app(Config(), dataverse=client).test_client().get("/api/v1/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded" and body["dataverse"]["reachable"] is False and body["dataverse"]["error"]


def test_openapi_document_is_generated_from_the_schemas(api):
    doc = api.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    post = doc["paths"]["/api/v1/invoices"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CreateInvoiceRequest"}
    assert {"201", "200", "409", "422"} <= set(post["responses"])
    request = doc["components"]["schemas"]["CreateInvoiceRequest"]
    assert request["properties"]["on_existing"]["enum"] == ["create_additional", "skip", None]
    assert request["required"] == ["billing_contract_id"]
    assert "/api/v1/billing-contracts/{contract_id}/cycles" in doc["paths"]


def test_health_says_only_ok_or_degraded_to_a_caller_without_credentials(dataverse_client):
    app = create_app(Config(api_auth=("keys",), api_keys=("the-key",)), dataverse=dataverse_client)
    anonymous = app.test_client().get("/api/v1/health")
    assert anonymous.status_code == 200 and anonymous.get_json() == {"status": "ok"}
    signed = app.test_client().get("/api/v1/health", headers={"X-API-Key": "the-key"}).get_json()
    assert signed["status"] == "ok" and signed["dataverse"]["reachable"] is True


def test_a_degraded_health_shows_no_dataverse_url_or_error_text_without_credentials():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client = DataverseClient(url, token_provider=token_provider(resource_url=url, fixed_token="local-dev-token"))
    app = create_app(Config(api_auth=("keys",), api_keys=("the-key",), dataverse_url=url), dataverse=client)
    response = app.test_client().get("/api/v1/health")
    assert response.get_json() == {"status": "degraded"} and str(port) not in response.get_data(as_text=True)
