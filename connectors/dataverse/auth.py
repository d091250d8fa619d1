"""Bearer tokens for Dataverse: msal client credentials (secret or certificate) or a fixed token."""
from __future__ import annotations

import ipaddress
import logging
import threading
from pathlib import Path
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests

from .errors import AuthenticationError

log = logging.getLogger(__name__)


class TokenProvider(Protocol):
    """A callable returning a bearer token; `force_refresh=True` skips any cached token."""

    def __call__(self, *, force_refresh: bool = False) -> str: ...


def is_loopback_host(host: str | None) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _msal_authority(authority: str) -> str:
    """The authority as msal takes it: https only (over plain http, use a fixed token)."""
    parts = urlsplit(authority.rstrip("/"))
    if parts.scheme != "https":
        hint = (" The local Dataverse serves https with `w365 dataverse-local --tls` (trust its CA "
                "through REQUESTS_CA_BUNDLE); over plain http use W365_DATAVERSE_TOKEN instead."
                if is_loopback_host(parts.hostname) else "")
        raise ValueError(f"msal accepts only https authorities, not {authority}.{hint}")
    return urlunsplit(parts)


def _load_certificate(cert_path: str, thumbprint: str) -> dict[str, str]:
    pem = Path(cert_path).read_text()
    if "PRIVATE KEY" not in pem:
        raise ValueError(f"{cert_path} holds no PEM private key")
    return {"private_key": pem, "thumbprint": thumbprint.replace(":", "").strip()}


class MsalTokenProvider:
    """Client-credentials tokens from one msal ConfidentialClientApplication (cache reused)."""

    def __init__(self, *, resource_url: str, client_id: str, authority: str,
                 client_credential: Any, timeout_s: float = 30.0) -> None:
        self.scopes = [resource_url.rstrip("/") + "/.default"]
        self.client_id = client_id
        self.authority = _msal_authority(authority)
        self._credential = client_credential
        self._timeout_s = timeout_s
        self._app: Any = None
        self._lock = threading.Lock()

    def _application(self) -> Any:
        import msal
        from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

        if self._app is None:
            host = urlsplit(self.authority).hostname or ""
            kwargs: dict[str, Any] = {"timeout": self._timeout_s}
            if host not in WELL_KNOWN_AUTHORITY_HOSTS:
                kwargs["instance_discovery"] = False
            try:
                self._app = msal.ConfidentialClientApplication(
                    self.client_id, authority=self.authority,
                    client_credential=self._credential, **kwargs)
            except (ValueError, requests.RequestException) as exc:
                raise AuthenticationError(f"authority {self.authority} unusable: {exc}") from exc
        return self._app

    def _drop_cached(self, app: Any) -> None:
        cache = app.token_cache
        for item in list(cache.search(cache.CredentialType.ACCESS_TOKEN, target=self.scopes)):
            cache.remove_at(item)

    def __call__(self, *, force_refresh: bool = False) -> str:
        """A valid access token (msal's cache first; `force_refresh` drops the cached one)."""
        with self._lock:
            app = self._application()
            if force_refresh:
                self._drop_cached(app)
            try:
                result = app.acquire_token_for_client(scopes=self.scopes)
            except requests.RequestException as exc:
                message = f"token endpoint unreachable: {type(exc).__name__}"
                raise AuthenticationError(message) from exc
        if "access_token" not in result:
            error = result.get("error", "unknown_error")
            description = result.get("error_description") or ""
            raise AuthenticationError(f"{error}: {description}".strip(": "), code=error)
        log.debug("token acquired for %s (%s)", self.scopes[0], result.get("token_source", "?"))
        return result["access_token"]


class FixedTokenProvider:
    """Always the same bearer token (the local Dataverse's `local-dev-token`)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, *, force_refresh: bool = False) -> str:
        """The fixed token."""
        return self._token

    def __repr__(self) -> str:
        return "FixedTokenProvider(<redacted>)"


def token_provider(*, resource_url: str, tenant_id: str | None = None, client_id: str | None = None,
                   client_secret: str | None = None, cert_path: str | None = None,
                   thumbprint: str | None = None, authority: str | None = None,
                   fixed_token: str | None = None, timeout_s: float = 30.0) -> Callable[..., str]:
    """A callable returning a bearer token for `resource_url` (scope `<resource_url>/.default`).

    `fixed_token` bypasses msal. Otherwise msal client credentials with `client_secret`, or a
    certificate (`cert_path` PEM with the private key + `thumbprint`), against `authority`
    (default `https://login.microsoftonline.com/<tenant_id>`; the local Dataverse's is
    `https://127.0.0.1:<port>/<tenant>` under `--tls`).
    """
    if fixed_token:
        return FixedTokenProvider(fixed_token)
    if not client_id:
        raise ValueError("client_id is required for msal client credentials")
    if authority is None:
        if not tenant_id:
            raise ValueError("tenant_id or authority is required")
        authority = f"https://login.microsoftonline.com/{tenant_id}"
    if client_secret:
        credential: Any = client_secret
    elif cert_path and thumbprint:
        credential = _load_certificate(cert_path, thumbprint)
    else:
        raise ValueError("a client secret or a certificate (cert_path + thumbprint) is required")
    return MsalTokenProvider(resource_url=resource_url, client_id=client_id, authority=authority,
                             client_credential=credential, timeout_s=timeout_s)
