"""What every command needs: the configuration, a connector, and Dataverse errors as clean CLI errors."""
from __future__ import annotations

import functools
from typing import Any, Callable

import click

from plugin.config import Config


def connect(config: Config | None = None, **options: Any):
    """A connector for the configured Dataverse (W365_* variables, `.env` honoured)."""
    from connectors.dataverse import DataverseClient

    client = DataverseClient.from_config(config or Config.from_env())
    return client.with_options(**options) if options else client


def dataverse_errors_as_click(command: Callable) -> Callable:
    """Turn connector errors into one clear line and a non-zero exit instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any):
        from connectors.dataverse import errors

        try:
            return command(*args, **kwargs)
        except errors.AuthenticationError as exc:
            raise click.ClickException(f"Dataverse refused our credentials: {exc}") from exc
        except errors.PrivilegeError as exc:
            raise click.ClickException(f"The Dataverse identity lacks a privilege: {exc}") from exc
        except errors.DataverseConnectionError as exc:
            raise click.ClickException(f"Dataverse is unreachable: {exc}") from exc
        except errors.DataverseError as exc:
            raise click.ClickException(f"Dataverse error: {exc}") from exc

    return wrapper
