"""Validation of what the admin passes to `w365 register`: the webhook URL and the webhook key."""
from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from connectors.dataverse.auth import is_loopback_host

from . import spec


class InvalidInput(ValueError):
    """Input refused before anything is read or written; the message says why."""


def check_webhook_url(url: str) -> list[str]:
    """Refuse a URL Dataverse could not (or should not) post to; warn about odd but usable ones."""
    if not url or url != url.strip() or any(c.isspace() for c in url):
        raise InvalidInput(f"must be an absolute URL without spaces, got {url!r}")
    if len(url) > spec.URL_MAX_CHARS:
        raise InvalidInput(f"is longer than Dataverse's {spec.URL_MAX_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"is not a valid URL ({exc}): {url!r}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"must be an http(s) URL with a host, e.g. "
                           f"https://billing.example.com{spec.WEBHOOK_PATH}; got {url!r}")
    if parts.username or parts.password:
        raise InvalidInput("must not carry credentials; the webhook key is sent in a header")
    if parts.fragment:
        raise InvalidInput("must not have a #fragment")
    if scheme == "http" and not is_loopback_host(parts.hostname):
        raise InvalidInput(f"must use https (the webhook key travels in a header); plain http is "
                           f"accepted only for a loopback host such as 127.0.0.1. Got {url!r}")
    warnings = []
    if scheme == "https" and port not in (None, 443):
        warnings.append(f"Dataverse posts webhooks only to ports 80 and 443; port {port} will not be "
                        "reached.")
    if not parts.path.rstrip("/").endswith(spec.WEBHOOK_PATH):
        warnings.append(f"the service's webhook route is {spec.WEBHOOK_PATH}; {parts.path or '/'} may "
                        "not answer.")
    return warnings


def check_webhook_key(key: str) -> list[str]:
    """Refuse a key W365_WEBHOOK_KEYS could not hold or Dataverse could not store; warn on a weak one."""
    if not key or any(c.isspace() for c in key) or "," in key:
        raise InvalidInput("must be non-empty, without spaces or commas (W365_WEBHOOK_KEYS is "
                           "a comma-separated list)")
    if len(spec.authvalue(key)) > spec.AUTHVALUE_MAX_CHARS:
        raise InvalidInput(f"is too long for Dataverse ({spec.AUTHVALUE_MAX_CHARS} characters in all)")
    if len(key) < 16:
        return ["the webhook key is shorter than 16 characters; a long random key is safer."]
    return []


def new_webhook_key() -> str:
    """A fresh random webhook key (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)
