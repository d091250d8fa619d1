"""Bearer tokens and the msal-compatible authority: OIDC discovery, the JWKS and the token
endpoint (client credentials here; the user grants come from `entra.py`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Callable

from flask import Blueprint, Flask, jsonify, request

from .tokens import DEV_TOKEN, TENANT_ID, TokenIssuer  # noqa: F401 (re-exported)

CLIENT_ID = "local-client"
CLIENT_SECRET = "local-secret"
TENANT = "local-tenant"
# grant_type -> handler(tenant, client_id) answering the token request
Grants = dict[str, Callable[[str, str], object]]


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    scheme, _, token = (header or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def external_base() -> str:
    """This server's URL as the client sees it (`X-Forwarded-Proto` honoured, else its scheme)."""
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return f"{proto if proto in ('http', 'https') else request.scheme}://{request.host}"


def issuer_url(tenant: str = TENANT) -> str:
    """The issuer of every token, whichever tenant segment was used (as the discovery says):
    `<base>/<tenant id>/v2.0`, like Entra's `https://login.microsoftonline.com/<tid>/v2.0`."""
    del tenant  # any tenant segment names the one directory
    return f"{external_base()}/{TENANT_ID}/v2.0"


def oauth_error(status: int, error: str, description: str, code: int):
    """An error answer of the token endpoint, in Entra's shape."""
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description}",
        "error_codes": [code],
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    }
    return jsonify(body), status


def client_credentials() -> tuple[str | None, str | None]:
    """The client id and secret of a token request: in the form, or as HTTP Basic."""
    client_id, secret = request.form.get("client_id"), request.form.get("client_secret")
    if request.authorization and request.authorization.type == "basic":
        client_id = client_id or request.authorization.username
        secret = secret or request.authorization.password
    return client_id, secret


def authority_blueprint(issuer: TokenIssuer, grants: Grants | None = None) -> Blueprint:
    """OIDC discovery and the client-credentials token endpoint under `/<tenant>/`."""
    bp = Blueprint("local_dataverse_authority", __name__)

    def discovery(tenant: str):
        base = f"{external_base()}/{tenant}"
        return jsonify(
            {
                "issuer": issuer_url(tenant),
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "grant_types_supported": [
                    "client_credentials",
                    "authorization_code",
                    "refresh_token",
                ],
                "code_challenge_methods_supported": ["S256", "plain"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": [
                    "sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "nonce", "name",
                    "preferred_username", "ver",
                ],
                "tenant_region_scope": "NA",
                "cloud_instance_name": "local",
            }
        )

    bp.add_url_rule("/<tenant>/v2.0/.well-known/openid-configuration", "discovery_v2", discovery)
    bp.add_url_rule("/<tenant>/.well-known/openid-configuration", "discovery", discovery)

    @bp.get("/<tenant>/discovery/v2.0/keys")
    def keys(tenant: str):
        return jsonify(issuer.jwks())

    @bp.post("/<tenant>/oauth2/v2.0/token")
    def token(tenant: str):
        form = request.form
        client_id, secret = client_credentials()
        grant = form.get("grant_type")
        if grant != "client_credentials" and grant not in (grants or {}):
            return oauth_error(
                400,
                "unsupported_grant_type",
                "The provided value for the input parameter 'grant_type' is not valid.",
                70003,
            )
        if client_id != CLIENT_ID:
            return oauth_error(
                401,
                "invalid_client",
                f"Application with identifier '{client_id}' was not found in the directory.",
                700016,
            )
        if secret != CLIENT_SECRET:
            return oauth_error(401, "invalid_client", "Invalid client secret provided.", 7000215)
        if grant != "client_credentials":
            return grants[grant](tenant, client_id)
        scopes = (form.get("scope") or "").split()
        if not scopes or not all(s.endswith("/.default") for s in scopes):
            return oauth_error(
                400,
                "invalid_scope",
                "The provided value for scope is not valid. Client credential flows must have "
                "a scope value with /.default suffixed to the resource identifier.",
                1002012,
            )
        lifetime = issuer.lifetime_s
        return jsonify(
            {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": issuer.issue(
                    client_id, scopes[0][: -len("/.default")], issuer_url(tenant)
                ),
            }
        )

    return bp


def register_authority(app: Flask, issuer: TokenIssuer, grants: Grants | None = None) -> None:
    """Add the authority routes to `app`."""
    app.register_blueprint(authority_blueprint(issuer, grants))
