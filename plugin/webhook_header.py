"""The header that carries the webhook key: one name shared by the webhook and the registration."""
from __future__ import annotations

WEBHOOK_HEADER = "x-w365-webhook-key"
