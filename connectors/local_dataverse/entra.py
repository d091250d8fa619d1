"""The local Dataverse plays Microsoft Entra ID for user sign-in: the authorize page (pick one of
the `systemusers` that have an `azureactivedirectoryobjectid`), the authorization code (with PKCE)
and refresh token grants, and `POST /_admin/tokens` (a user's access token, for tests)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Response, jsonify, request

from .auth import Grants, external_base, issuer_url, oauth_error
from .tokens import TENANT_ID, TokenIssuer, b64url
from .values import canonical_guid

CODE_LIFETIME_S = 300
REFRESH_LIFETIME_S = 90 * 24 * 3600
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ScopeError(ValueError):
    """A scope parameter that names no resource this authority can issue for."""


@dataclass(frozen=True)
class Grant:
    """What an authorization code or a refresh token stands for."""

    client_id: str
    systemuserid: str
    scopes: tuple[str, ...]
    expires: float
    redirect_uri: str = ""
    challenge: str = ""
    method: str = ""
    nonce: str = ""


def loopback_redirect(uri: str) -> bool:
    """An http(s) URI on 127.0.0.1, localhost or [::1] (any port, any path, no fragment)."""
    if not uri.isascii() or any(c.isspace() or not c.isprintable() for c in uri):
        return False
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and (parts.hostname or "") in _LOOPBACK
        and not parts.fragment
        and not parts.username
    )


def resource_of(scopes: list[str], default: str) -> tuple[str, list[str]]:
    """(audience, `scp` names) for the resource scopes requested (the Dataverse if none)."""
    resources: dict[str, list[str]] = {}
    for scope in scopes:
        if scope in OIDC_SCOPES:
            continue
        resource, _, name = scope.rpartition("/")
        if "://" not in resource or not name:
            raise ScopeError(f"The scope '{scope}' is not a resource scope such as "
                             f"'{default}/user_impersonation'.")
        names = resources.setdefault(resource.rstrip("/"), [])
        names.append("user_impersonation" if name == ".default" else name)
    if len(resources) > 1:
        raise ScopeError("The scopes requested name more than one resource: "
                         + ", ".join(sorted(resources)) + ".")
    if not resources:
        return default, ["user_impersonation"]
    audience, names = next(iter(resources.items()))
    return audience, sorted(set(names))


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    if method == "plain":
        return hmac.compare_digest(verifier.encode(), challenge.encode())
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return hmac.compare_digest(digest, challenge.encode())


class SignIn:
    """Codes and refresh tokens (in memory) and the users who may sign in."""

    def __init__(self, store: Any, tokens: TokenIssuer):
        self.store = store
        self.tokens = tokens
        self._codes: dict[str, Grant] = {}
        self._redeemed: dict[str, float] = {}
        self._refresh: dict[str, Grant] = {}
        self._lock = threading.Lock()

    # ----- users --------------------------------------------------------------------------
    def users(self) -> list[dict[str, Any]]:
        """The users who may sign in: an object id, not disabled; by full name."""
        table = self.store.tables["systemusers"]
        ids = self.store.query(
            'SELECT "systemuserid" FROM "systemusers" WHERE "azureactivedirectoryobjectid" '
            'IS NOT NULL ORDER BY "fullname", "systemuserid"'
        )
        rows = [self.store.fetch(table, ident) for (ident,) in ids]
        return [r for r in rows if r and not r.get("isdisabled")]

    def user(self, systemuserid: Any) -> dict[str, Any] | None:
        guid = canonical_guid(systemuserid) if isinstance(systemuserid, str) else None
        if guid is None:
            return None
        row = self.store.fetch(self.store.tables["systemusers"], guid)
        if not row or not row.get("azureactivedirectoryobjectid") or row.get("isdisabled"):
            return None
        return row

    # ----- codes and refresh tokens -------------------------------------------------------
    def new_code(self, grant: Grant) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            for old in [c for c, g in self._codes.items() if g.expires < now]:
                del self._codes[old]
            self._codes[code] = grant
        return code

    def redeem_code(self, code: str) -> tuple[Grant | None, str]:
        """The code's grant (once), or None and why not."""
        with self._lock:
            grant = self._codes.pop(code, None)
            if grant is None:
                return None, "redeemed" if code in self._redeemed else "unknown"
            now = time.time()
            self._redeemed = {c: t for c, t in self._redeemed.items() if t > now}
            self._redeemed[code] = now + REFRESH_LIFETIME_S
        return (grant, "") if grant.expires >= time.time() else (None, "expired")

    def new_refresh(self, grant: Grant) -> str:
        token = "ldvrt." + secrets.token_urlsafe(48)
        with self._lock:
            self._refresh[token] = grant
        return token

    def use_refresh(self, token: str) -> Grant | None:
        with self._lock:
            grant = self._refresh.pop(token, None)
        return grant if grant is not None and grant.expires >= time.time() else None

    # ----- token answers ------------------------------------------------------------------
    def answer(self, tenant: str, grant: Grant, scopes: list[str], nonce: str = "") -> Response:
        """The token endpoint's answer for a user's grant (scopes already validated)."""
        user = self.user(grant.systemuserid)
        if user is None:
            return oauth_error(400, "invalid_grant", "The user account is disabled or no longer "
                               "exists in the directory.", 50057)
        issuer = issuer_url(tenant)
        audience, names = resource_of(scopes, external_base())
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(
                ([s for s in scopes if s not in OIDC_SCOPES] or [f"{audience}/user_impersonation"])
                + [s for s in scopes if s in OIDC_SCOPES]
            ),
            "expires_in": self.tokens.lifetime_s,
            "ext_expires_in": self.tokens.lifetime_s,
            "access_token": self.tokens.issue(grant.client_id, audience, issuer, user, names),
        }
        if "offline_access" in scopes:
            body["refresh_token"] = self.new_refresh(
                Grant(grant.client_id, grant.systemuserid, tuple(scopes),
                      time.time() + REFRESH_LIFETIME_S))
        if "openid" in scopes:
            body["id_token"] = self.tokens.id_token(user, grant.client_id, issuer, nonce)
        info = {"uid": str(user["azureactivedirectoryobjectid"]), "utid": TENANT_ID}
        body["client_info"] = b64url(json.dumps(info).encode())
        return jsonify(body)


def _scopes(raw: str | None) -> list[str]:
    return (raw or "").split()


def grants(sign_in: SignIn) -> Grants:
    """The user grants of the token endpoint (the client is already authenticated)."""

    def scope_error(exc: ScopeError):
        return oauth_error(400, "invalid_scope", str(exc), 70011)

    def authorization_code(tenant: str, client_id: str):
        form = request.form
        code = form.get("code")
        if not code:
            return oauth_error(400, "invalid_request", "The request body must contain the "
                               "following parameter: 'code'.", 900144)
        grant, why = sign_in.redeem_code(code)
        if grant is None:
            text = {
                "redeemed": "The provided authorization code has already been redeemed.",
                "expired": "The provided authorization code has expired.",
            }.get(why, "The provided authorization code is invalid.")
            return oauth_error(400, "invalid_grant", text, 54005 if why == "redeemed" else 70008)
        if grant.client_id != client_id:
            return oauth_error(400, "invalid_grant", "The authorization code was issued to "
                               "another client.", 70000)
        if form.get("redirect_uri") != grant.redirect_uri:
            return oauth_error(400, "invalid_grant", "The redirect URI does not match the one "
                               "the authorization code was issued for.", 500117)
        if not pkce_matches(form.get("code_verifier") or "", grant.challenge, grant.method):
            return oauth_error(400, "invalid_grant", "The code_verifier does not match the "
                               "code_challenge supplied in the authorization request.", 501481)
        return sign_in.answer(tenant, grant, list(grant.scopes), grant.nonce)

    def refresh_token(tenant: str, client_id: str):
        token = request.form.get("refresh_token")
        if not token:
            return oauth_error(400, "invalid_request", "The request body must contain the "
                               "following parameter: 'refresh_token'.", 900144)
        grant = sign_in.use_refresh(token)
        if grant is None or grant.client_id != client_id:
            return oauth_error(400, "invalid_grant", "The refresh token is invalid, expired or "
                               "already used.", 9002313)
        scopes = _scopes(request.form.get("scope")) or list(grant.scopes)
        if "offline_access" in grant.scopes and "offline_access" not in scopes:
            scopes.append("offline_access")  # the refresh token keeps rotating
        try:
            resource_of(scopes, external_base())
        except ScopeError as exc:
            return scope_error(exc)
        return sign_in.answer(tenant, grant, scopes)

    return {"authorization_code": authorization_code, "refresh_token": refresh_token}
