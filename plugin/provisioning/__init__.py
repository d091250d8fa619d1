"""`w365 provision`: the service's own tables, columns, keys, lookups and security role, made
through the metadata Web API. `plan` is pure; `read` and `apply` are the I/O edges."""

from . import spec
from .apply import ProvisionError, apply_plan
from .model import Change, Finding, Plan, Snapshot
from .plan import plan_provision
from .read import read_snapshot


def provision(client) -> Plan:
    """Read, plan and apply: afterwards everything exists (idempotent). Returns the plan applied."""
    snap = read_snapshot(client)
    plan = plan_provision(snap)
    apply_plan(client, plan, snap)
    return plan


__all__ = ["spec", "ProvisionError", "apply_plan", "Change", "Finding", "Plan", "Snapshot",
           "plan_provision", "read_snapshot", "provision"]
