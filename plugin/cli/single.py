"""`w365 cycles ID`, `w365 preview ID [--cycle K]`, `w365 generate ID [--cycle K] [--on-existing X]`.

They call the same service functions as the API (`plugin.invoicing.single`), not the HTTP API.
"""
from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable

import click

from plugin.cli.common import (connect, dataverse_errors_as_click, format_table, load_config,
                               parse_as_of, parse_contract_id)
from plugin.errors import ApiError

_CYCLE_HELP = 'cycle key (its start date, e.g. 2026-01-01) or "one-time"; default: the preselected cycle'


def _api_errors(command: Callable) -> Callable:
    """ApiErrors (unknown contract, cycle, ...) as one clear line and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return command(*args, **kwargs)
        except ApiError as exc:
            raise click.ClickException(f"{exc.message} ({exc.code})") from exc

    return wrapper


def _header_lines(header: dict[str, Any]) -> list[str]:
    return [f"{header['name']} ({header['id']})",
            f"Account: {header['account']['name'] or header['account']['id']}   Type: {header['type']['label']}   "
            f"Billing Policy: {header['billing_policy']['label']}   "
            f"Invoice OTP Immediately: {'yes' if header['invoice_otp_immediately'] else 'no'}   "
            f"Currency: {header['currency']['code']}"]


def format_cycles(body: dict[str, Any]) -> str:
    """The cycle list as a table, the default marked with `*`."""
    rows = [["*" if c["key"] == body["default"] else "", c["key"], c["start"], c["end"], c["status"],
             ", ".join(i["number"] or i["id"] for i in c["invoices"])] for c in body["cycles"]]
    table = format_table(rows, ["", "cycle", "start", "end", "status", "invoices"])
    return "\n".join(_header_lines(body["header"]) + ["", table])


def format_preview(body: dict[str, Any]) -> str:
    """The preview: lines grouped by category with subtotals, then totals and warnings."""
    cycle = body["cycle"]
    out = _header_lines(body["header"]) + [
        f"Cycle {cycle['key']} ({cycle['start']} – {cycle['end']}, {cycle['status']})   "
        f"Invoice date {body['invoice_date']}   Due {body['due_date']}", ""]
    if body["nothing_to_invoice"]:
        out.append("Nothing to invoice.")
    for group in body["categories"]:
        lines = [l for l in body["lines"] if l["category"] == group["category"]]
        if not lines:
            continue
        out.append(f"{group['category']} ({group['line_count']})")
        rows = [[l["description"], f"{l['period_start']}–{l['period_end']}", l["quantity"], l["unit_price"],
                 l["proration_factor"], l["amount"], l["discount"], l["tax"], l["total"]] for l in lines]
        rows.append(["subtotal", "", "", "", "", group["amount"], group["discount"], group["tax"], group["total"]])
        out += [format_table(rows, ["description", "period", "qty", "unit", "factor", "amount", "discount",
                                    "tax", "total"], right={2, 3, 4, 5, 6, 7, 8}), ""]
    totals = body["totals"]
    out.append(f"Totals: amount {totals['amount']}  discount {totals['discount']}  tax {totals['tax']}  "
               f"total {totals['total']} {body['currency']['code'] or ''}".rstrip())
    out += [f"Warning: {w}" for w in body["warnings"]]
    return "\n".join(out)


def format_result(body: dict[str, Any]) -> str:
    """One line for the generate result."""
    result = body["result"]
    invoice = result["invoice"]
    head = f"{result['status']}: {invoice['number']} total {invoice['total']}" if invoice else result["status"]
    return f"{head} — {result['message']}" if result.get("message") else head


def _print(body: dict[str, Any], as_json: bool, formatter: Callable[[dict[str, Any]], str]) -> None:
    click.echo(json.dumps(body, indent=2) if as_json else formatter(body))


_json_option = click.option("--json", "as_json", is_flag=True, help="print the API's JSON instead of a table")
_as_of_option = click.option("--as-of", help="the date to list/bill as of (YYYY-MM-DD), default today (UTC)")


@click.command("cycles")
@click.argument("contract_id")
@_as_of_option
@_json_option
@dataverse_errors_as_click
@_api_errors
def cycles(contract_id: str, as_of: str | None, as_json: bool) -> None:
    """List a billing contract's cycles (the default marked *)."""
    from plugin.invoicing.single import contract_cycles

    config = load_config()
    body = contract_cycles(connect(config), parse_contract_id(contract_id), parse_as_of(as_of),
                           config.invoicing_cycle_range)
    _print(body, as_json, format_cycles)


@click.command("preview")
@click.argument("contract_id")
@click.option("--cycle", help=_CYCLE_HELP)
@_as_of_option
@_json_option
@dataverse_errors_as_click
@_api_errors
def preview(contract_id: str, cycle: str | None, as_of: str | None, as_json: bool) -> None:
    """Show the invoice a cycle would produce, by category (writes nothing)."""
    from plugin.invoicing.single import preview as preview_invoice

    config = load_config()
    body = preview_invoice(connect(config), parse_contract_id(contract_id), cycle, parse_as_of(as_of),
                           config.invoicing_cycle_range)
    _print(body, as_json, format_preview)


def stdin_is_terminal() -> bool:
    """Whether a person can answer a prompt (stdin is a terminal)."""
    return sys.stdin.isatty()


def _confirm_reinvoice(client: Any, contract_id: str, cycle: str | None, as_of: Any, cycle_range: int) -> str:
    """The on-existing choice when none was given: confirmed at a prompt for an invoiced cycle, else skip.

    "skip" for a cycle that is not invoiced makes sure that a cycle invoiced by someone else meanwhile
    never gets an additional invoice that nobody confirmed.
    """
    from plugin.invoicing.single import preview as preview_invoice

    body = preview_invoice(client, contract_id, cycle, as_of, cycle_range)
    if body["cycle"]["status"] != "invoiced":
        return "skip"
    existing = ", ".join(i["number"] or i["id"] for i in body["existing_invoices"]) or "an invoice"
    state = f"Cycle {body['cycle']['key']} is already invoiced ({existing})."
    if not stdin_is_terminal():
        click.echo(f"Error: {state} Nothing was created. To create an additional invoice, run again with "
                   "--on-existing create_additional (or --on-existing skip to skip it).", err=True)
        raise SystemExit(2)
    if not click.confirm(f"{state} Create an additional invoice?", default=False, err=True):
        click.echo("Nothing was created.", err=True)
        raise SystemExit(1)
    return "create_additional"


@click.command("generate")
@click.argument("contract_id")
@click.option("--cycle", help=_CYCLE_HELP)
@click.option("--on-existing", type=click.Choice(["create_additional", "skip"]), default=None,
              help="when the cycle is already invoiced (default: create_additional)")
@click.option("--as-of", help="the date to bill as of (YYYY-MM-DD), default today (UTC)")
@click.option("--idempotency-key", help="a retry with the same key returns the first result")
@_json_option
@dataverse_errors_as_click
@_api_errors
def generate(contract_id: str, cycle: str | None, on_existing: str | None, as_of: str | None,
             idempotency_key: str | None, as_json: bool) -> None:
    """Generate one invoice for a contract (never post-invoicing tasks).

    An already invoiced cycle gets an additional invoice only when confirmed: at the prompt on a
    terminal, or with `--on-existing create_additional` (elsewhere it exits 2 and creates nothing).
    """
    from plugin.invoicing.single import GenerateRequest, generate as generate_invoice

    config = load_config()
    client, contract_id, as_of_date = connect(config), parse_contract_id(contract_id), parse_as_of(as_of)
    if on_existing is None:
        on_existing = _confirm_reinvoice(client, contract_id, cycle, as_of_date, config.invoicing_cycle_range)
    result = generate_invoice(client, GenerateRequest(
        contract_id=contract_id, cycle=cycle, as_of=as_of_date, on_existing=on_existing),
        source="cli", run_key=idempotency_key, cycle_range=config.invoicing_cycle_range)
    _print(result.body, as_json, format_result)
    if result.outcome["status"] == "failed":
        raise SystemExit(1)
