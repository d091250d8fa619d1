"""Bearer tokens: the development token, and an msal-compatible client-credentials authority."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timezone

from flask import Blueprint, Flask, jsonify, request

DEV_TOKEN = "local-dev-token"
CLIENT_ID = "local-client"
CLIENT_SECRET = "local-secret"
TENANT = "local-tenant"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Issues and checks signed, expiring access tokens (valid across restarts of one database)."""

    def __init__(self, secret: str, lifetime_s: int = 3599):
        self._key = secret.encode()
        self.lifetime_s = lifetime_s

    def issue(self, client_id: str, audience: str) -> str:
        """A new access token for `client_id`."""
        payload = _b64(
            json.dumps(
                {
                    "sub": client_id,
                    "aud": audience,
                    "exp": int(time.time()) + self.lifetime_s,
                    "jti": uuid.uuid4().hex,
                }
            ).encode()
        )
        return f"ldv.{payload}.{self._sign(payload)}"

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def valid(self, token: str) -> bool:
        """True for the development token and for unexpired tokens this issuer signed."""
        if not token.isascii():  # never issued; compare_digest refuses non-ASCII str (a 500)
            return False
        if hmac.compare_digest(token, DEV_TOKEN):
            return True
        parts = token.split(".")
        if (
            len(parts) != 3
            or parts[0] != "ldv"
            or not hmac.compare_digest(parts[2], self._sign(parts[1]))
        ):
            return False
        try:
            return json.loads(_unb64(parts[1]))["exp"] > time.time()
        except (ValueError, KeyError):
            return False


def token_subject(token: str) -> str:
    """The `sub` of a token this issuer signed (the development token is its own subject)."""
    parts = token.split(".")
    try:
        return str(json.loads(_unb64(parts[1]))["sub"]) if len(parts) == 3 else token
    except (ValueError, KeyError, TypeError):
        return token


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    scheme, _, token = (header or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def external_base() -> str:
    """This server's URL as the client sees it (`X-Forwarded-Proto` honoured, else its scheme)."""
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return f"{proto if proto in ('http', 'https') else request.scheme}://{request.host}"


def _oauth_error(status: int, error: str, description: str, code: int):
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description}",
        "error_codes": [code],
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    }
    return jsonify(body), status


def authority_blueprint(issuer: TokenIssuer) -> Blueprint:
    """OIDC discovery and the client-credentials token endpoint under `/<tenant>/`."""
    bp = Blueprint("local_dataverse_authority", __name__)

    def discovery(tenant: str):
        base = f"{external_base()}/{tenant}"
        return jsonify(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "grant_types_supported": ["client_credentials"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
                "tenant_region_scope": "NA",
                "cloud_instance_name": "local",
            }
        )

    bp.add_url_rule("/<tenant>/v2.0/.well-known/openid-configuration", "discovery_v2", discovery)
    bp.add_url_rule("/<tenant>/.well-known/openid-configuration", "discovery", discovery)

    @bp.get("/<tenant>/discovery/v2.0/keys")
    def keys(tenant: str):
        return jsonify({"keys": []})

    @bp.post("/<tenant>/oauth2/v2.0/token")
    def token(tenant: str):
        form = request.form
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if request.authorization and request.authorization.type == "basic":
            client_id = client_id or request.authorization.username
            secret = secret or request.authorization.password
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400,
                "unsupported_grant_type",
                "The provided value for the input parameter 'grant_type' is not valid.",
                70003,
            )
        if client_id != CLIENT_ID:
            return _oauth_error(
                401,
                "invalid_client",
                f"Application with identifier '{client_id}' was not found in the directory.",
                700016,
            )
        if secret != CLIENT_SECRET:
            return _oauth_error(401, "invalid_client", "Invalid client secret provided.", 7000215)
        scopes = (form.get("scope") or "").split()
        if not scopes or not all(s.endswith("/.default") for s in scopes):
            return _oauth_error(
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
                "access_token": issuer.issue(client_id, scopes[0][: -len("/.default")]),
            }
        )

    return bp


def register_authority(app: Flask, issuer: TokenIssuer) -> None:
    """Add the authority routes to `app`."""
    app.register_blueprint(authority_blueprint(issuer))
