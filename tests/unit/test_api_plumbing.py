"""The app's plumbing without Dataverse: error shape, OpenAPI registry, auth helpers."""
from __future__ import annotations

import pytest
from flask import Blueprint

from connectors.dataverse.errors import BadRequestError, PrivilegeError, ThrottledError
from plugin.api.openapi import build_spec, doc
from plugin.app import create_app
from plugin.auth import ApiAuthenticator, is_loopback, key_matches
from plugin.config import Config
from plugin.errors import ApiError
from schemas.api import PreviewRequestSchema


@pytest.fixture()
def app():
    app = create_app(Config(api_auth=("keys",), api_keys=("k1",)))
    extra = Blueprint("extra", __name__)

    @extra.post("/documented/<thing_id>")
    @doc(summary="a documented route", body=PreviewRequestSchema, responses={202: "accepted"})
    def documented(thing_id):
        return {}

    @extra.get("/raise/<kind>")
    def raising(kind):
        raise {"throttled": ThrottledError("slow down", status=429, retry_after=7),
               "privilege": PrivilegeError("no prvCreateInvoice", status=403),
               "bad": BadRequestError("bad column", status=400),
               "api": ApiError(418, "teapot", "short and stout", {"a": 1}),
               "bug": RuntimeError("boom")}[kind]

    app.register_blueprint(extra, url_prefix="/api/v1/extra")
    return app


def test_openapi_registry_documents_decorated_routes_only(app):
    spec = build_spec(app)
    assert "/api/v1/extra/documented/{thing_id}" in spec["paths"]
    assert not any("/raise/" in p for p in spec["paths"])
    op = spec["paths"]["/api/v1/extra/documented/{thing_id}"]["post"]
    assert op["responses"]["202"] == {"description": "accepted"}
    assert op["responses"]["422"] == {"$ref": "#/components/responses/Error"}
    assert op["parameters"][0] == {"in": "path", "name": "thing_id", "required": True, "schema": {"type": "string"}}
    assert spec["paths"]["/api/v1/health"]["get"]["security"] == []


@pytest.mark.parametrize("kind, status, code", [
    ("throttled", 503, "dataverse_unavailable"), ("privilege", 403, "forbidden"), ("bad", 502, "dataverse_error"),
    ("api", 418, "teapot"), ("bug", 500, "server_error"),
])
def test_errors_have_one_shape(app, kind, status, code):
    response = app.test_client().get(f"/api/v1/extra/raise/{kind}", headers={"X-API-Key": "k1"})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert set(response.get_json()["error"]) == {"code", "message", "details"}
    if kind == "throttled":
        assert response.headers["Retry-After"] == "7"


def test_auth_helpers():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("10.0.0.1", "0.0.0.0", "::", "example.com", "", None, "127.0.0.1.nip.io"))
    assert key_matches("b", ("a", "b")) and not key_matches("c", ("a", "b")) and not key_matches("a", ())


def test_entra_without_configuration_refuses(app):
    authenticator = ApiAuthenticator(Config(api_auth=("entra",)))
    with app.test_request_context(headers={"Authorization": "Bearer a.b.c"}):
        from flask import request

        with pytest.raises(ApiError) as raised:
            authenticator.authenticate(request)
    assert raised.value.status == 401
