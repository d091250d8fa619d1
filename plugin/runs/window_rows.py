"""The bulk window's rows (docs/interfaces.md `/bulk/rows`): names, cycles, default cycle, automations."""
from __future__ import annotations

from datetime import date
from typing import Any

from connectors.dataverse import DataverseClient
from plugin.engine import list_cycles
from plugin.invoicing.present import contract_header
from plugin.invoicing.reads import LoadedContract
from plugin.runs.rows import read_contracts


def bulk_rows(client: DataverseClient, ids: list[str], as_of: date, cycle_range: int) -> dict[str, Any]:
    """One row per requested contract in request order (read set-based); unknown ids in `not_found`."""
    found = read_contracts(client, ids)
    rows, not_found, errors = [], [], []
    for contract_id in ids:
        loaded = found.get(contract_id)
        if loaded is None:
            not_found.append(contract_id)
        elif not isinstance(loaded, LoadedContract):
            errors.append({"billing_contract_id": contract_id, "message": str(loaded)})
        else:
            contract = loaded.data.contract
            header = contract_header(contract)
            rows.append({
                "billing_contract_id": contract.id, "name": contract.name,
                **_cycles(loaded, as_of, cycle_range),
                "automations": header["automations"],
                "currency": header["currency"],  # the bulk window formats invoice totals with it
                "change_log": header["change_log"],
            })
    return {"rows": rows, "not_found": not_found, "errors": errors}


def _cycles(loaded: LoadedContract, as_of: date, cycle_range: int) -> dict[str, Any]:
    listing = list_cycles(loaded.data, as_of, cycle_range).as_json()
    return {"cycles": listing["cycles"], "default_cycle": listing["default"]}
