"""The I/O edge of the tasks: SMTP, signed HTTP POSTs and the outbox directory."""
from __future__ import annotations

import json
import os
import re
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from plugin.posttasks.model import TransientTaskError
from plugin.posttasks.signing import SIGNATURE_HEADER, signature


class PermanentTaskError(Exception):
    """The target refused the request for good: the task fails without another attempt."""


def json_bytes(payload: Any) -> bytes:
    """The canonical JSON body of a payload (what gets signed and sent)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def outbox_filename(invoice_number: str | None, suffix: str) -> str:
    """`<invoice number><suffix>` reduced to `[A-Za-z0-9._-]`, never a hidden or relative name."""
    stem = _UNSAFE_NAME_CHARS.sub("_", invoice_number or "invoice").lstrip(".") or "invoice"
    return stem + suffix


def write_outbox(directory: str, filename: str, content: bytes) -> Path:
    """Write `content` to `directory/filename` atomically (a reader never sees half a file).

    Raises PermissionError when the name would resolve outside the directory."""
    folder = Path(directory)
    target = (folder / filename).resolve()
    if target.parent != folder.resolve():
        raise PermissionError("the outbox file name leads outside the outbox directory")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, folder / filename)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / filename


def smtp_sender(smtp_url: str) -> str:
    """The From address: `?from=` in the SMTP URL, else the authenticated user, else a fixed default."""
    parts = urlsplit(smtp_url)
    query = parse_qs(parts.query)
    if query.get("from"):
        return query["from"][0]
    if parts.username and "@" in unquote(parts.username):
        return unquote(parts.username)
    return "invoices@w365.local"


def send_smtp(message: EmailMessage, smtp_url: str, timeout: float) -> None:
    """Deliver `message` through `smtp://[user:pass@]host:port` (or `smtps://`, `?starttls=1`)."""
    parts = urlsplit(smtp_url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise PermanentTaskError(f"unsupported SMTP URL {smtp_url!r} (use smtp://host:port)")
    secure = parts.scheme == "smtps"
    port = parts.port or (465 if secure else 25)
    starttls = parse_qs(parts.query).get("starttls", ["0"])[0] in ("1", "true", "yes")
    try:
        cls = smtplib.SMTP_SSL if secure else smtplib.SMTP
        with cls(parts.hostname, port, timeout=timeout) as smtp:
            if starttls:
                smtp.starttls(context=ssl.create_default_context())
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(400 <= code < 500 for code in codes):
            raise TransientTaskError(f"SMTP server deferred the recipient: {exc.recipients}") from exc
        raise PermanentTaskError(f"SMTP server refused the recipient: {exc.recipients}") from exc
    except smtplib.SMTPResponseException as exc:
        text = f"SMTP server answered {exc.smtp_code}: {exc.smtp_error!r}"
        if 400 <= exc.smtp_code < 500:
            raise TransientTaskError(text) from exc
        raise PermanentTaskError(text) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientTaskError(f"SMTP server not reachable: {exc}") from exc


def post_signed(url: str, payload: Any, key: str, idempotency_key: str, timeout: float) -> requests.Response:
    """POST `payload` as JSON with its HMAC-SHA256 signature; transient failures raise TransientTaskError."""
    body = json_bytes(payload)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(body, key),
               "Idempotency-Key": idempotency_key}
    try:
        response = requests.post(url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise TransientTaskError(f"{url} not reachable: {exc.__class__.__name__}") from exc
    if response.status_code in (408, 425, 429) or response.status_code >= 500:
        raise TransientTaskError(f"{url} answered {response.status_code}")
    if response.status_code >= 400:
        raise PermanentTaskError(f"{url} answered {response.status_code}: {response.text[:200]}")
    return response
