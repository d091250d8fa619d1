"""Webhook authentication: a key from `W365_WEBHOOK_KEYS` in `x-w365-webhook-key` or `?code=`."""
from __future__ import annotations

from flask import Request

from plugin.auth import key_matches
from plugin.config import Config
from plugin.errors import ApiError
from plugin.webhook_header import WEBHOOK_HEADER


def check_webhook_key(config: Config, request: Request) -> None:
    """Raise 401 unless the request carries one of the configured webhook keys (constant-time compare)."""
    candidates = [c for c in (request.headers.get(WEBHOOK_HEADER), request.args.get("code")) if c]
    # either place may carry the key (a stale header beside a valid ?code= still authenticates)
    if not config.webhook_keys or not any([key_matches(c, config.webhook_keys) for c in candidates]):
        raise ApiError(401, "unauthorized", "missing or invalid webhook key")
