"""Configuration: one immutable object read from the environment (a `.env` file honoured)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from dotenv import dotenv_values


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError as exc:
        raise ValueError(f"expected an integer, got {value!r}") from exc


def _pages_auth(value: str | None, api_auth: tuple[str, ...]) -> str:
    """W365_PAGES_AUTH: `entra` or `dev`; unset, `dev` when the API is in dev mode, else `entra`."""
    mode = (value or ("dev" if "dev" in api_auth else "entra")).strip().lower()
    if mode not in ("entra", "dev"):
        raise ValueError(f"W365_PAGES_AUTH must be entra or dev, got {value!r}")
    return mode


def _positive(value: str | None, default: float) -> float:
    try:
        number = float(value) if value not in (None, "") else default
    except ValueError as exc:
        raise ValueError(f"expected a number of seconds, got {value!r}") from exc
    if not number > 0:
        raise ValueError(f"expected a positive number of seconds, got {value!r}")
    return number


@dataclass(frozen=True)
class Config:
    """Everything the service reads from its environment (docs/interfaces.md)."""

    dataverse_url: str = "http://127.0.0.1:8800"
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    client_cert_path: str | None = None
    client_cert_thumbprint: str | None = None
    authority: str | None = None
    dataverse_token: str | None = None

    api_auth: tuple[str, ...] = ("dev",)
    api_keys: tuple[str, ...] = ()
    entra_audience: str | None = None
    entra_issuer: str | None = None
    entra_jwks_url: str | None = None
    webhook_keys: tuple[str, ...] = ()
    # the pages' sign-in: "entra" (OpenID Connect through msal) or "dev" (loopback only, the application user)
    pages_auth: str | None = None   # None: `dev` when the API is in dev mode, else `entra`
    entra_client_id: str | None = None
    entra_client_secret: str | None = None
    entra_authority: str | None = None
    session_secret: str | None = None
    allowed_hosts: tuple[str, ...] = ()   # W365_ALLOWED_HOSTS; empty: any Host (dev mode: loopback names only)

    invoicing_cycle_range: int = 2

    smtp_url: str | None = None
    outbox_dir: str = ".w365/outbox"
    accounting_webhook_url: str | None = None
    payment_webhook_url: str | None = None
    task_signing_key: str | None = None

    # Limits inside the service (not environment contract, but overridable by tests).
    max_body_bytes: int = 2 * 1024 * 1024   # bodies: at most 10 MiB anywhere; 2 MiB is plenty here
    max_header_bytes: int = 16 * 1024
    webhook_budget_s: float = 50.0
    interactive_retry_budget_s: float = 20.0
    bulk_retry_budget_s: float = 300.0
    bulk_concurrency: int = 4
    # Sweeps for post-invoicing tasks a stopped process left Queued (None: off). On in a service built
    # from the environment (serve, demo, gunicorn); off in a bare Config, so tests opt in.
    task_recovery_interval_s: float | None = None
    task_recovery_grace_s: float = 120.0
    # Durable runs: the executing process's lease on a run row (W365_RUN_LEASE_S); the sweep that
    # takes over runs whose lease expired runs in services built from the environment, tests opt in.
    run_lease_s: float = 30.0
    run_chunk_rows: int = 250   # rows read and written per step (and per task of a queue worker)
    run_sweep: bool = False
    broker_url: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env") -> "Config":
        """Build a Config from `environ` (default: os.environ) over the values of a `.env` file."""
        values: dict[str, str] = {}
        if dotenv_path and Path(dotenv_path).is_file():
            values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        get = values.get
        return cls(
            dataverse_url=(get("W365_DATAVERSE_URL") or cls.dataverse_url).rstrip("/"),
            tenant_id=get("W365_TENANT_ID") or None,
            client_id=get("W365_CLIENT_ID") or None,
            client_secret=get("W365_CLIENT_SECRET") or None,
            client_cert_path=get("W365_CLIENT_CERT_PATH") or None,
            client_cert_thumbprint=get("W365_CLIENT_CERT_THUMBPRINT") or None,
            authority=get("W365_AUTHORITY") or None,
            dataverse_token=get("W365_DATAVERSE_TOKEN") or None,
            api_auth=_split(get("W365_API_AUTH")) or ("dev",),
            api_keys=_split(get("W365_API_KEYS")),
            entra_audience=get("W365_ENTRA_AUDIENCE") or None,
            entra_issuer=get("W365_ENTRA_ISSUER") or None,
            entra_jwks_url=get("W365_ENTRA_JWKS_URL") or None,
            webhook_keys=_split(get("W365_WEBHOOK_KEYS")),
            pages_auth=_pages_auth(get("W365_PAGES_AUTH"), _split(get("W365_API_AUTH")) or ("dev",)),
            entra_client_id=get("W365_ENTRA_CLIENT_ID") or None,
            entra_client_secret=get("W365_ENTRA_CLIENT_SECRET") or None,
            entra_authority=(get("W365_ENTRA_AUTHORITY") or "").rstrip("/") or None,
            session_secret=get("W365_SESSION_SECRET") or None,
            allowed_hosts=tuple(h.lower() for h in _split(get("W365_ALLOWED_HOSTS"))),
            invoicing_cycle_range=_int(get("W365_INVOICING_CYCLE_RANGE"), 2),
            smtp_url=get("W365_SMTP_URL") or None,
            outbox_dir=get("W365_OUTBOX_DIR") or cls.outbox_dir,
            accounting_webhook_url=get("W365_ACCOUNTING_WEBHOOK_URL") or None,
            payment_webhook_url=get("W365_PAYMENT_WEBHOOK_URL") or None,
            task_signing_key=get("W365_TASK_SIGNING_KEY") or None,
            task_recovery_interval_s=min(60.0, _positive(get("W365_RUN_LEASE_S"), 30.0)),
            run_lease_s=_positive(get("W365_RUN_LEASE_S"), 30.0),
            run_chunk_rows=max(_int(get("W365_RUN_CHUNK_ROWS"), 250), 1),
            run_sweep=True,
            broker_url=get("W365_BROKER_URL") or None,
        )

    @property
    def pages_mode(self) -> str:
        """How the pages authenticate: `entra` (sign-in) or `dev` (no sign-in, loopback only)."""
        return self.pages_auth or ("dev" if "dev" in self.api_auth else "entra")

    def with_overrides(self, **changes) -> "Config":
        """A copy with some fields changed (tests, the demo)."""
        return replace(self, **changes)

    @property
    def effective_authority(self) -> str | None:
        """The msal authority: explicit, else Entra's for the tenant."""
        if self.authority:
            return self.authority.rstrip("/")
        if self.tenant_id:
            return f"https://login.microsoftonline.com/{self.tenant_id}"
        return None
