"""JSON views of what the single flow reads (docs/interfaces.md header of a contract)."""
from __future__ import annotations

from typing import Any

from plugin.engine import Contract, label, offers_change_log


def contract_header(contract: Contract) -> dict[str, Any]:
    """`{id, name, account, type, billing_policy, invoice_otp_immediately, currency, automations, change_log}`."""
    currency = contract.currency
    return {
        "id": contract.id,
        "name": contract.name,
        "account": {"id": contract.account_id, "name": contract.account_name},
        "type": {"value": int(contract.type), "label": label(contract.type)},
        "billing_policy": {"value": int(contract.policy), "label": label(contract.policy)},
        "invoice_otp_immediately": contract.otp_immediately,
        "currency": {"id": currency.id, "code": currency.code, "precision": currency.precision},
        "automations": {"send": contract.autosend, "sync": contract.autosync, "charge": contract.autocharge},
        "change_log": offers_change_log(contract),
    }
