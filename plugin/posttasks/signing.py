"""HMAC-SHA256 signatures: of task request bodies (`X-W365-Signature: sha256=<hex>`), and of the task
rows the service writes (`w365_signature`), so that only rows it wrote are ever executed."""
from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any, Mapping

from plugin.local_secrets import kept_secret

GENERATED_KEY_FILE = Path(".w365") / "task-signing.key"

SIGNATURE_HEADER = "X-W365-Signature"


def signature(body: bytes, key: str) -> str:
    """The header value for `body` signed with `key`."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, key: str, header_value: str | None) -> bool:
    """Whether `header_value` is the signature of `body` under `key` (constant-time comparison)."""
    return bool(header_value) and hmac.compare_digest(signature(body, key), header_value)


def row_signature(key: str, task_id: str, invoice_id: str, task_type: int) -> str:
    """`w365_signature` of a task row: HMAC-SHA256 of `taskid|invoiceid|tasktype` (ids in lower case)."""
    message = f"{str(task_id).lower()}|{str(invoice_id).lower()}|{int(task_type)}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def row_is_signed(row: Mapping[str, Any], key: str) -> bool:
    """Whether a task row as read carries the signature this service writes (constant-time comparison)."""
    given = row.get("w365_signature")
    if not given or not row.get("_w365_invoice_value") or row.get("w365_tasktype") is None:
        return False
    expected = row_signature(key, row["w365_postinvoicetaskid"], row["_w365_invoice_value"], row["w365_tasktype"])
    return hmac.compare_digest(expected, str(given))


def row_signing_key(configured: str | None, path: Path = GENERATED_KEY_FILE) -> str:
    """W365_TASK_SIGNING_KEY, else a key generated once and kept in `./.w365/` (readable by its owner only)."""
    return configured or kept_secret(path)
