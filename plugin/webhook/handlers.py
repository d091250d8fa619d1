"""Webhook dispatch by `MessageName`: each custom API message registers its handler here."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from marshmallow import Schema, ValidationError

from plugin.config import Config
from plugin.errors import ApiError
from schemas.webhook import ExecutionContext

if TYPE_CHECKING:
    from connectors.dataverse import DataverseClient


@dataclass(frozen=True)
class WebhookCall:
    """One authenticated, parsed webhook delivery, ready for its message handler.

    `client` already acts as the initiating user (`MSCRMCallerID`) on every request it makes, and
    its retry budget fits the call's deadline. `size_exceeded`: Dataverse stripped InputParameters
    (payload over 256 KB); the handler must re-read what it needs.
    """

    context: ExecutionContext
    client: "DataverseClient"
    config: Config
    size_exceeded: bool
    deadline: float  # time.monotonic() by which the answer must be sent

    @property
    def remaining_s(self) -> float:
        """Seconds left before the deadline."""
        return max(self.deadline - time.monotonic(), 0.0)


def load_params(call: WebhookCall, schema: Schema) -> dict[str, Any]:
    """The call's InputParameters loaded by `schema`; 400 `malformed_payload` with field details otherwise."""
    try:
        return schema.load(call.context.input_parameters)
    except ValidationError as exc:
        raise ApiError(400, "malformed_payload", f"invalid {call.context.message_name} parameters",
                       {"fields": exc.messages}) from exc


Handler = Callable[[WebhookCall], dict[str, Any]]
_HANDLERS: dict[str, Handler] = {}


def register(message_name: str, handler: Handler) -> Handler:
    """Register the handler of a custom API message (case-insensitive, as Dataverse names are)."""
    _HANDLERS[message_name.lower()] = handler
    return handler


def handler_for(message_name: str) -> Handler | None:
    """The handler registered for `message_name`, if any."""
    return _HANDLERS.get(message_name.lower())
