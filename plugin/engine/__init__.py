"""The invoicing engine: docs/billing-rules.md billing rules as pure functions over frozen dataclasses (no I/O).

Typical use (callers read rows through the connector, then):

    from plugin.engine import build_invoice, list_cycles, preview_json
    data = ContractData(...)    # plugin/invoicing/mapping.py builds it from Dataverse rows
    listing = list_cycles(data, as_of, cycle_range)      # .options, .default, .as_json()
    draft = build_invoice(data, cycle_key, as_of, cycle_range)   # InvoiceDraft (key None: default)
    if draft.nothing_to_invoice: ...                     # skipped, NOTHING_TO_INVOICE
    preview_json(draft)                                  # docs/interfaces.md preview body with preview_hash
    build_change_log(data, as_of, today)                 # change-log invoice (no schedule)

The engine knows nothing of Dataverse: the column mapping and the records written live with the
I/O in `plugin/invoicing/` (`mapping.py`).

Errors (`EngineError` subclasses with `.code`, `.status`, `.message`, `.details`): `UnknownCycle`,
`NoCycleAvailable`, `InvalidRecord`, `ChangeLogNotAllowed`, `EarlierCyclesNotInvoiced`.
"""

from .change_log import (
    CHANGE_LOG_PREFIX,
    EARLIER_CYCLES_MESSAGE,
    ChangeLogNotAllowed,
    EarlierCyclesNotInvoiced,
    build_change_log,
    change_log_key,
    offers_change_log,
    parse_change_log_key,
)
from .cycles import (
    ONE_TIME,
    Cycle,
    CycleListing,
    CycleOption,
    CycleStatus,
    add_months,
    cycle_at,
    cycle_containing,
    cycle_for_key,
    cycle_index,
    list_cycles,
    resolve_cycle,
)
from .draft import (
    NOTHING_TO_INVOICE,
    Consumption,
    InvoiceCategory,
    InvoiceDraft,
    InvoiceLine,
    LineCategory,
    Totals,
)
from .errors import EngineError, InvalidRecord, NoCycleAvailable, UnknownCycle
from .invoice import already_invoiced_warning, build_for_option, build_invoice
from .model import (
    BillingPolicy,
    BillingSchedule,
    BillingType,
    ChangeLog,
    Contract,
    ContractData,
    ContractType,
    Currency,
    InvoiceRef,
    NonRecurringItem,
    ProrateUnit,
    ScheduleStatus,
    Subscription,
    UsageRecord,
    label,
)
from .preview import preview_hash, preview_json

__all__ = [
    "CHANGE_LOG_PREFIX",
    "EARLIER_CYCLES_MESSAGE",
    "ChangeLogNotAllowed",
    "EarlierCyclesNotInvoiced",
    "build_change_log",
    "change_log_key",
    "offers_change_log",
    "parse_change_log_key",
    "ONE_TIME",
    "Cycle",
    "CycleListing",
    "CycleOption",
    "CycleStatus",
    "add_months",
    "cycle_at",
    "cycle_containing",
    "cycle_for_key",
    "cycle_index",
    "list_cycles",
    "resolve_cycle",
    "NOTHING_TO_INVOICE",
    "Consumption",
    "InvoiceCategory",
    "InvoiceDraft",
    "InvoiceLine",
    "LineCategory",
    "Totals",
    "EngineError",
    "InvalidRecord",
    "NoCycleAvailable",
    "UnknownCycle",
    "already_invoiced_warning",
    "build_for_option",
    "build_invoice",
    "BillingPolicy",
    "BillingSchedule",
    "BillingType",
    "ChangeLog",
    "Contract",
    "ContractData",
    "ContractType",
    "Currency",
    "InvoiceRef",
    "NonRecurringItem",
    "ProrateUnit",
    "ScheduleStatus",
    "Subscription",
    "UsageRecord",
    "label",
    "preview_hash",
    "preview_json",
]
