"""What `w365 provision` makes: the service's own three tables, the `w365_invoicerun` lookup on
invoices, and the "W365 Invoicing" security role (docs/deploy.md lists them for admins)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.dataverse import metadata_shapes as m

ROLE_NAME = "W365 Invoicing"
PRIVILEGE_DEPTH = "Global"  # organization-wide: runs and tasks are shared by every billing user
_TABLE_VERBS = ("Create", "Read", "Write", "Append", "AppendTo")


@dataclass(frozen=True)
class LookupSpec:
    """A lookup column, created with its one-to-many relationship."""

    table: str  # referencing table (logical name)
    name: str  # column logical name
    nav: str  # single-valued navigation property (the lookup's schema name)
    target: str  # referenced table (logical name)
    display: str
    delete: str = "RemoveLink"

    @property
    def relationship(self) -> str:
        """The relationship's schema name: `<target>_<table>_<column>`."""
        return f"{self.target}_{self.table}_{self.name}"

    def body(self) -> dict[str, Any]:
        """The `OneToManyRelationshipMetadata` for `POST RelationshipDefinitions`."""
        return m.one_to_many(self.relationship, self.target, self.table,
                             m.lookup(self.nav, [self.target], display=self.display),
                             delete=self.delete)


@dataclass(frozen=True)
class TableSpec:
    """One table: its `EntityMetadata` (non-lookup columns), lookups and alternate keys."""

    schema: str
    entity_set: str
    display: str
    plural: str
    columns: tuple[dict[str, Any], ...]
    lookups: tuple[LookupSpec, ...] = ()
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def logical(self) -> str:
        """The logical name (the schema name in lower case)."""
        return self.schema.lower()

    def column(self, logical: str) -> dict[str, Any]:
        """The attribute body of one non-lookup column."""
        return next(c for c in self.columns if c["SchemaName"].lower() == logical)

    def body(self) -> dict[str, Any]:
        """The `EntityMetadata` for `POST EntityDefinitions` (with every non-lookup column)."""
        return m.entity(self.schema, self.entity_set, list(self.columns), display=self.display,
                        plural=self.plural, ownership="OrganizationOwned")


def _run() -> TableSpec:
    return TableSpec(
        "w365_InvoiceRun", "w365_invoiceruns", "Invoice Run", "Invoice Runs",
        (
            m.string("w365_name", 200, primary=True, display="Name"),
            m.string("w365_runkey", 100, display="Run Key"),
            m.picklist("w365_mode", {1: "Single", 2: "Bulk"}, display="Mode"),
            m.picklist("w365_source", {1: "API", 2: "Webhook", 3: "Page", 4: "CLI"}, display="Source"),
            m.memo("w365_requestjson", display="Request JSON"),
            m.picklist("w365_status", {1: "Running", 2: "Completed", 3: "Completed with errors"},
                       display="Run Status"),
            *[m.integer(n, display=n[5:].title()) for n in
              ("w365_total", "w365_created", "w365_skipped", "w365_failed")],
            m.string("w365_leaseowner", 200, display="Lease Owner"),
            m.date_time("w365_leaseexpires", display="Lease Expires"),
        ),
        (LookupSpec("w365_invoicerun", "w365_initiatinguser", "w365_InitiatingUser", "systemuser",
                    "Initiating User"),),
        {"w365_runkey": ("w365_runkey",)},
    )


def _run_item() -> TableSpec:
    return TableSpec(
        "w365_InvoiceRunItem", "w365_invoicerunitems", "Invoice Run Item", "Invoice Run Items",
        (
            m.string("w365_name", 200, primary=True, display="Name"),
            m.integer("w365_rowindex", display="Row Index"),
            m.string("w365_cyclekey", 100, display="Cycle Key"),
            m.boolean("w365_triggerposttasks", display="Trigger Post Tasks"),
            m.picklist("w365_result", {1: "Created", 2: "Skipped", 3: "Failed"}, display="Result"),
            m.memo("w365_message", 4000, display="Message"),
            m.string("w365_correlationid", 100, display="Correlation Id"),
        ),
        (
            LookupSpec("w365_invoicerunitem", "w365_invoicerun", "w365_InvoiceRun", "w365_invoicerun",
                       "Invoice Run", delete="Cascade"),
            LookupSpec("w365_invoicerunitem", "w365_billingcontract", "w365_BillingContract",
                       "w365_billingcontract", "Billing Contract"),
            LookupSpec("w365_invoicerunitem", "w365_invoice", "w365_Invoice", "invoice", "Invoice"),
        ),
        {"w365_runrow": ("w365_invoicerun", "w365_rowindex")},
    )


def _task() -> TableSpec:
    return TableSpec(
        "w365_PostInvoiceTask", "w365_postinvoicetasks", "Post-Invoice Task", "Post-Invoice Tasks",
        (
            m.string("w365_name", 200, primary=True, display="Name"),
            m.picklist("w365_tasktype", {1: "Send", 2: "Sync", 3: "Charge"}, display="Task Type"),
            m.picklist("w365_status", {1: "Queued", 2: "Succeeded", 3: "Failed", 4: "Skipped"},
                       display="Task Status"),
            m.integer("w365_attempts", display="Attempts"),
            m.memo("w365_message", 4000, display="Message"),
            m.date_time("w365_completedon", display="Completed On"),
            m.string("w365_signature", 200, display="Signature"),
        ),
        (LookupSpec("w365_postinvoicetask", "w365_invoice", "w365_Invoice", "invoice", "Invoice"),),
    )


TABLES: tuple[TableSpec, ...] = (_run(), _run_item(), _task())
INVOICE_LOOKUP = LookupSpec("invoice", "w365_invoicerun", "w365_InvoiceRun", "w365_invoicerun",
                            "Invoice Run")


def role_privileges() -> tuple[str, ...]:
    """Privilege names "W365 Invoicing" holds: the three tables, and linking them to invoices,
    contracts and users."""
    names = [f"prv{verb}{t.schema}" for t in TABLES for verb in _TABLE_VERBS]
    names += ["prvAppendInvoice", "prvAppendToInvoice", "prvAppendTow365_BillingContract",
              "prvAppendToSystemUser"]
    return tuple(names)
