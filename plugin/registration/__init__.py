"""Admin registration of the service in Dataverse (docs/deploy.md): read a snapshot, plan, apply.

`plan` is pure (snapshot in, changes out); `read` and `apply` are the I/O edges through the connector.
"""
from . import spec
from .apply import PlanInterrupted, RegistrationError, apply_plan
from .checks import InvalidInput, check_webhook_key, check_webhook_url, new_webhook_key
from .model import (Bind, Change, ExistingCustomApi, ExistingEndpoint, ExistingParameter, ExistingStep,
                    Finding, Plan, Ref, Snapshot)
from .plan import plan_register, plan_unregister
from .read import read_snapshot

__all__ = [
    "spec", "PlanInterrupted", "RegistrationError", "apply_plan", "InvalidInput", "check_webhook_key",
    "check_webhook_url", "new_webhook_key", "Bind", "Change", "ExistingCustomApi", "ExistingEndpoint",
    "ExistingParameter", "ExistingStep", "Finding", "Plan", "Ref", "Snapshot", "plan_register",
    "plan_unregister", "read_snapshot",
]
