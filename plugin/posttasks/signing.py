"""HMAC-SHA256 signatures of task request bodies (`X-W365-Signature: sha256=<hex>`)."""
from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-W365-Signature"


def signature(body: bytes, key: str) -> str:
    """The header value for `body` signed with `key`."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, key: str, header_value: str | None) -> bool:
    """Whether `header_value` is the signature of `body` under `key` (constant-time comparison)."""
    return bool(header_value) and hmac.compare_digest(signature(body, key), header_value)
