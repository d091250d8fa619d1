"""Every name and fixed value the registration writes to Dataverse, in one place (docs/interfaces.md)."""
from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from plugin.webhook_header import WEBHOOK_HEADER

ENDPOINT_NAME = "w365-invoicing"
WEBHOOK_PATH = "/api/v1/webhooks/dataverse"

# serviceendpoint choices (Dataverse serviceendpoint metadata)
CONTRACT_WEBHOOK = 8
MESSAGEFORMAT_JSON = 2
AUTHTYPE_HTTP_HEADER = 5
AUTHVALUE_MAX_CHARS = 2048
URL_MAX_CHARS = 2000

# sdkmessageprocessingstep choices. Stage 30 is the main operation itself and takes no registered
# steps; 40 (PostOperation) runs after it, still inside the transaction, so a failing synchronous webhook
# fails the call the command button made, which is what the button needs to see.
STAGE_POST_OPERATION = 40
MODE_SYNCHRONOUS = 0
STEP_RANK = 1
SUPPORTED_DEPLOYMENT_SERVER = 0

# customapi choices
BINDING_GLOBAL = 0
STEP_TYPE_SYNC_AND_ASYNC = 2

# customapirequestparameter.type
TYPE_BOOLEAN = 0
TYPE_STRING = 10
TYPE_STRING_ARRAY = 11
TYPE_GUID = 12
TYPE_LABELS = {0: "Boolean", 1: "DateTime", 2: "Decimal", 3: "Entity", 4: "EntityCollection",
               5: "EntityReference", 6: "Float", 7: "Integer", 8: "Money", 9: "Picklist",
               10: "String", 11: "StringArray", 12: "Guid"}

@dataclass(frozen=True)
class ParameterSpec:
    """One request parameter of a custom API."""

    uniquename: str
    type: int
    isoptional: bool
    description: str


@dataclass(frozen=True)
class CustomApiSpec:
    """One unbound custom API message the webhook step listens to."""

    uniquename: str
    displayname: str
    description: str
    parameters: tuple[ParameterSpec, ...]

    @property
    def step_name(self) -> str:
        """The name of the webhook step registered on this message."""
        return f"{ENDPOINT_NAME}: {self.uniquename}"


CUSTOM_APIS: tuple[CustomApiSpec, ...] = (
    CustomApiSpec(
        "w365_GenerateInvoice", "Generate Invoice",
        "Work 365: generate the invoice of one billing contract's cycle.",
        (
            ParameterSpec("BillingContractId", TYPE_GUID, False, "The billing contract to invoice."),
            ParameterSpec("Cycle", TYPE_STRING, True,
                          "Cycle key (start date) or 'one-time'; default: the next uninvoiced cycle."),
            ParameterSpec("OnExisting", TYPE_STRING, True,
                          "What to do when the cycle already has an invoice."),
        ),
    ),
    CustomApiSpec(
        "w365_GenerateInvoices", "Generate Invoices",
        "Work 365: generate invoices for many billing contracts (bulk window).",
        (
            ParameterSpec("RunId", TYPE_STRING, False,
                          "Client-generated run key; results are written to w365_invoiceruns."),
            ParameterSpec("Rows", TYPE_STRING, True,
                          "JSON array of {billingContractId, cycle?, triggerPostInvoicingTasks, kind?, asOf?}"
                          " (kind \"change_log\" with asOf: a change-log invoice)."),
            ParameterSpec("BillingContractIds", TYPE_STRING_ARRAY, True,
                          "Billing contracts to invoice (their default cycles)."),
            ParameterSpec("TriggerPostInvoicingTasks", TYPE_BOOLEAN, True,
                          "Run the contracts' enabled post-invoicing tasks."),
        ),
    ),
)


def parameter_name(api: CustomApiSpec, parameter: ParameterSpec) -> str:
    """The recommended `{api}.{param}` name of a request parameter row."""
    return f"{api.uniquename}.{parameter.uniquename}"


def authvalue(key: str) -> str:
    """The HttpHeader auth value: the XML settings list Dataverse stores for header auth."""
    def attr(value: str) -> str:
        return '"' + escape(value, {'"': "&quot;"}) + '"'

    return f"<settings><setting name={attr(WEBHOOK_HEADER)} value={attr(key)} /></settings>"
