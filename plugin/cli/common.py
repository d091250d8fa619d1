"""What every command shares: configuration, a connector, argument parsing, tables, and clean CLI errors."""
from __future__ import annotations

import functools
import re
from datetime import date
from typing import TYPE_CHECKING, Any, Callable, Iterable

import click

from plugin.config import Config

if TYPE_CHECKING:
    from connectors.dataverse import DataverseClient


def _invalid_config(exc: ValueError) -> click.ClickException:
    return click.ClickException(f"the configuration is incomplete or invalid: {exc}")


def load_config() -> Config:
    """The configuration from the environment (`.env` honoured); an invalid one is a one-line CLI error."""
    try:
        return Config.from_env()
    except ValueError as exc:
        raise _invalid_config(exc) from None


def connect(config: Config | None = None, **options: Any) -> "DataverseClient":
    """A connector for the configured Dataverse (W365_* variables, `.env` honoured)."""
    from connectors.dataverse import DataverseClient

    try:
        client = DataverseClient.from_config(config or load_config())
    except ValueError as exc:
        raise _invalid_config(exc) from None
    return client.with_options(**options) if options else client


def parse_contract_id(value: str) -> str:
    """A billing contract id argument, normalised; anything but a GUID is a usage error."""
    from schemas.webhook import is_guid, normalise_guid

    if not is_guid(value):
        raise click.BadParameter(f"{value!r} is not a billing contract id (GUID)")
    return normalise_guid(value)


def parse_as_of(value: str | None) -> date | None:
    """An `--as-of` value (YYYY-MM-DD) as a date, in the range the API accepts; None when not given."""
    from marshmallow import ValidationError

    from schemas.api import AS_OF_RANGE

    try:
        return AS_OF_RANGE(date.fromisoformat(value)) if value else None
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc
    except ValidationError as exc:
        raise click.BadParameter(f"{value!r}: {' '.join(exc.messages)}") from exc


def format_table(rows: Iterable[list[str]], header: list[str], right: Iterable[int] = ()) -> str:
    """Rows as a plain-text table under `header`; the columns numbered in `right` right-aligned."""
    rows, right = list(rows), set(right)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def root_cause(message: str) -> str:
    """The short reason inside a long requests/urllib3 connection error text."""
    found = (re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", message)
             or re.search(r"(\w*(?:Timeout|timed out)\w*)", message))
    return found.group(1).strip() if found else message[:200]


def explain_dataverse_error(exc: Exception, dataverse_url: str | None, privilege_hint: str = "") -> str:
    """One clear sentence for a failure talking to Dataverse (any other error: its own text)."""
    from connectors.dataverse.errors import (AuthenticationError, DataverseConnectionError, DataverseError,
                                             PrivilegeError)

    if isinstance(exc, PrivilegeError):
        return f"the Dataverse identity lacks a privilege this needs ({exc.message}).{privilege_hint}"
    if isinstance(exc, AuthenticationError):
        return (f"Dataverse did not accept the credentials ({exc.message}). Check W365_DATAVERSE_TOKEN, or "
                "W365_TENANT_ID / W365_CLIENT_ID / W365_CLIENT_SECRET (or the certificate) and "
                "W365_AUTHORITY.")
    if isinstance(exc, DataverseConnectionError):
        where = f" at {dataverse_url}" if dataverse_url else ""
        return (f"cannot reach Dataverse{where} ({root_cause(exc.message)}). "
                "Check W365_DATAVERSE_URL and the network.")
    if isinstance(exc, DataverseError):
        return f"Dataverse refused a request: {exc}"
    return str(exc)


def _configured_url() -> str | None:
    try:
        return Config.from_env().dataverse_url
    except ValueError:
        return None


def dataverse_errors_as_click(command: Callable) -> Callable:
    """Turn connector errors into one clear line and exit code 1 instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from connectors.dataverse.errors import DataverseError

        try:
            return command(*args, **kwargs)
        except DataverseError as exc:
            raise click.ClickException(explain_dataverse_error(exc, _configured_url())) from exc

    return wrapper
