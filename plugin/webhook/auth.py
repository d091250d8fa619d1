"""Webhook authentication: a key from `W365_WEBHOOK_KEYS` in `x-w365-webhook-key` or `?code=`."""
from __future__ import annotations

from flask import Request

from plugin.auth import key_matches
from plugin.config import Config
from plugin.errors import ApiError

HEADER = "x-w365-webhook-key"


def check_webhook_key(config: Config, request: Request) -> None:
    """Raise 401 unless the request carries one of the configured webhook keys (constant-time compare)."""
    candidate = request.headers.get(HEADER) or request.args.get("code")
    if not config.webhook_keys or not candidate or not key_matches(candidate, config.webhook_keys):
        raise ApiError(401, "unauthorized", "missing or invalid webhook key")
