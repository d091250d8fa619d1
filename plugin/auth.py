"""API authentication (`W365_API_AUTH` = dev | keys | entra | keys,entra, docs/interfaces.md).

- `dev`: no authentication, loopback only (the bind address and every remote address).
- `keys`: `Authorization: Bearer <key>` or `X-API-Key: <key>`, compared in constant time.
- `entra`: an Entra ID bearer JWT (RS256 against the JWKS, issuer, audience, expiry); its `oid`
  becomes `CallerObjectId` on the caller's Dataverse requests.
"""
from __future__ import annotations

import hmac
import ipaddress
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
from flask import Flask, Request

from plugin.config import Config
from plugin.errors import ApiError

_ENTRA_ALGORITHMS = ["RS256"]


@dataclass(frozen=True)
class Caller:
    """Who made an API request: how they authenticated and (for Entra) their object id."""

    method: str  # "dev", "key", "entra"
    object_id: str | None = None
    name: str | None = None


class UnsafeBindError(RuntimeError):
    """Raised when dev mode (no auth) would serve on a non-loopback address."""


def is_loopback(host: str | None) -> bool:
    """True for localhost and loopback IPv4/IPv6 addresses."""
    if not host:
        return False
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def dev_mode(config: Config) -> bool:
    """True when the API or the pages run without authentication (loopback only)."""
    return "dev" in config.api_auth or config.pages_mode == "dev"


def assert_bind_allowed(config: Config, host: str) -> None:
    """Refuse dev mode (no authentication) unless the service binds loopback only and its Dataverse is a
    loopback address too (development mode must never act on a real org)."""
    if not dev_mode(config):
        return
    if not is_loopback(host):
        raise UnsafeBindError(
            f"W365_API_AUTH=dev has no authentication and serves only on loopback; refusing to bind {host!r}. "
            "Set W365_API_AUTH=keys and/or entra to serve on other addresses.")
    dataverse_host = urlsplit(config.dataverse_url).hostname
    if not is_loopback(dataverse_host):
        raise UnsafeBindError(
            f"W365_API_AUTH=dev has no authentication and works only with a loopback Dataverse (a local one); "
            f"refusing to act on {dataverse_host!r} without authentication. Set W365_API_AUTH=keys and/or entra.")


def host_allowed(config: Config, host_header: str | None) -> bool:
    """Whether the service answers to this `Host` (DNS rebinding): W365_ALLOWED_HOSTS when set; in dev
    mode loopback names always, and nothing else unless listed."""
    host = urlsplit(f"//{host_header or ''}").hostname or ""
    if config.allowed_hosts and host in config.allowed_hosts:
        return True
    if dev_mode(config):
        return is_loopback(host)
    return not config.allowed_hosts


FORWARDED_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Forwarded-Host", "X-Real-IP")


def forwarded(request: Request) -> bool:
    """Whether a proxy forwarded the request (a same-host proxy would make a remote client look local)."""
    return any(request.headers.get(name) for name in FORWARDED_HEADERS)


def _session_caller(request: Request) -> Caller | None:
    """The signed-in user of the pages' session, or None; 403 for a state-changing call without its CSRF token."""
    from plugin.pages.signin import csrf_valid, signed_in_user

    user = signed_in_user()
    if user is None:
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS") and not csrf_valid():
        raise ApiError(403, "csrf_token_missing", "this call must carry the page's CSRF token (X-CSRF-Token)")
    return Caller("session", object_id=user["oid"], name=user.get("name") or user.get("username"))


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def key_matches(candidate: str, keys: tuple[str, ...]) -> bool:
    """Constant-time comparison of `candidate` against every configured key."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate.encode(), key.encode())
    return matched


class EntraValidator:
    """Validates Entra ID access tokens against a JWKS (keys cached by PyJWKClient)."""

    def __init__(self, config: Config):
        self._config = config
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _jwks(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                if not self._config.entra_jwks_url:
                    raise ApiError(401, "unauthorized", "Entra ID authentication is not configured")
                self._client = jwt.PyJWKClient(self._config.entra_jwks_url, cache_keys=True, lifespan=3600)
            return self._client

    def validate(self, token: str) -> Caller:
        """The caller of a valid token; ApiError 401 otherwise."""
        cfg = self._config
        if not (cfg.entra_audience and cfg.entra_issuer):
            raise ApiError(401, "unauthorized", "Entra ID authentication is not configured")
        try:
            signing_key = self._jwks().get_signing_key_from_jwt(token)
            claims = jwt.decode(token, signing_key.key, algorithms=_ENTRA_ALGORITHMS,
                                audience=cfg.entra_audience, issuer=cfg.entra_issuer,
                                options={"require": ["exp", "iss", "aud"]})
        except jwt.PyJWKClientError as exc:
            raise ApiError(401, "unauthorized", f"the token's signing key cannot be resolved: {exc}") from exc
        except jwt.InvalidTokenError as exc:
            raise ApiError(401, "unauthorized", f"invalid token: {exc}") from exc
        oid = claims.get("oid")
        if not isinstance(oid, str) or not oid:
            raise ApiError(401, "unauthorized", "the token has no oid claim")
        return Caller("entra", object_id=oid, name=claims.get("preferred_username") or claims.get("name"))


class ApiAuthenticator:
    """Authenticates API requests according to the configuration."""

    def __init__(self, config: Config):
        self.config = config
        self.entra = EntraValidator(config) if "entra" in config.api_auth else None

    def authenticate(self, request: Request) -> Caller:
        """The caller of `request`; ApiError 401/403 when it may not call the API.

        The pages' own calls are authenticated by the signed-in user's session (state-changing ones
        must carry the session's CSRF token); everything else by the modes of W365_API_AUTH."""
        modes = self.config.api_auth
        has_credentials = bool(request.headers.get("Authorization") or request.headers.get("X-API-Key"))
        if not has_credentials and self.config.pages_mode == "entra":
            caller = _session_caller(request)
            if caller is not None:
                return caller
        if "dev" in modes or (self.config.pages_mode == "dev" and not has_credentials):
            if not is_loopback(request.remote_addr) or forwarded(request):
                raise ApiError(403, "forbidden", "development mode (no authentication) serves loopback clients only, "
                               "never through a proxy")
            return Caller("dev")
        token = _bearer(request)
        api_key = request.headers.get("X-API-Key")
        if token and self.entra is not None and (_looks_like_jwt(token) or "keys" not in modes):
            return self.entra.validate(token)
        if "keys" in modes:
            candidate = api_key or token
            if candidate and key_matches(candidate, self.config.api_keys):
                return Caller("key")
        raise ApiError(401, "unauthorized", "missing or invalid credentials",
                       {"accepted": list(m for m in modes if m in ("keys", "entra"))})


def authenticator(app: Flask) -> ApiAuthenticator:
    """The app's authenticator (created by the factory)."""
    return app.extensions["w365.auth"]
