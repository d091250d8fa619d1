"""`w365 bulk (--ids … | --ids-file F) [--post-tasks] [--format table|csv|json]`: a bulk run with a progress bar.

It calls the run engine directly (`plugin.runs.service`, source `cli`), not the HTTP API.
"""
from __future__ import annotations

import json
import sys

import click

from plugin.cli.common import (connect, dataverse_errors_as_click, format_table, load_config,
                               parse_as_of, parse_contract_id)
from plugin.runs.model import RunRequest, RunRow, RunView, results_csv
from plugin.runs.service import RunService

TASK_WAIT_S = 90.0


def _split_ids(texts: list[str]) -> list[str]:
    return [part.strip() for text in texts for part in text.replace("\n", ",").split(",") if part.strip()]


def _read_ids(ids: tuple[str, ...], ids_file: str | None) -> list[str]:
    """Ids from `--ids` (repeatable, comma-separated) and/or a file (one per line or comma-separated; # comments)."""
    texts = list(ids)
    if ids_file:
        try:
            with click.open_file(ids_file) as handle:
                content = handle.read()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {ids_file}: {exc.strerror}", param_hint="--ids-file") from exc
        texts += [line.split("#", 1)[0] for line in content.splitlines()]
    found = _split_ids(texts)
    if not found:
        raise click.UsageError("give the contracts with --ids or --ids-file")
    return [parse_contract_id(i) for i in found]  # a repeated id stays: its row is Skipped as a duplicate


def _table_text(view: RunView) -> str:
    body = view.as_json()
    rows = []
    for row, row_result in zip(body["rows"], view.results):
        result, invoice = row["result"], row["result"]["invoice"] or {}
        tasks = ", ".join(f"{t['task']} {t['status']}" for t in result["post_tasks"])
        currency = (row_result.outcome.currency if row_result.outcome is not None else None) or ""
        total = f"{invoice['total']} {currency}".strip() if invoice.get("total") else ""
        rows.append([str(row["row_index"] + 1), row["name"] or row["billing_contract_id"], row["cycle"] or "",
                     result["status"], invoice.get("number") or "", total, result["message"] or "", tasks])
    counts = body["counts"]
    summary = (f"run {view.run_id}: {body['status']} - created {counts['created']}, "
               f"skipped {counts['skipped']}, failed {counts['failed']}"
               + (f", throttled {body['throttled_s']:g} s" if body["throttled_s"] else ""))
    table = format_table(rows, ["#", "Billing Contract Name", "Cycle", "Result", "Invoice", "Total",
                                "Message", "Post tasks"], right={0, 5})
    return f"{table}\n\n{summary}"


@click.command("bulk")
@click.option("--ids", "ids", multiple=True, metavar="ID[,ID…]", help="billing contract ids (repeatable)")
@click.option("--ids-file", type=click.Path(dir_okay=False, allow_dash=True),
              help="a file of ids (one per line or comma-separated; - for stdin)")
@click.option("--post-tasks", is_flag=True, help="trigger the contracts' enabled post-invoicing tasks")
@click.option("--on-existing", type=click.Choice(["create_additional", "skip"]), default=None,
              help="an already invoiced cycle: create an additional invoice (default) or skip it")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD", help="the date that picks default cycles")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.argument("more_ids", nargs=-1, metavar="[ID]...")  # `--ids A B C`: the ids after the first one
@dataverse_errors_as_click
def bulk(ids: tuple[str, ...], ids_file: str | None, post_tasks: bool, on_existing: str | None,
         as_of: str | None, fmt: str, more_ids: tuple[str, ...]) -> None:
    """Invoice many contracts in one run (each its default cycle), with a progress bar.

    Exits 1 when any row Failed (0 when every row is Created or Skipped).

    Ids: `--ids A,B`, `--ids A --ids B`, `--ids A B` or `--ids-file F`.
    """
    contract_ids = _read_ids(ids + more_ids, ids_file)
    config = load_config()
    service = RunService(connect(config), config)
    request = RunRequest(rows=tuple(RunRow(i, cid, None, post_tasks) for i, cid in enumerate(contract_ids)),
                         source="cli", on_existing=on_existing, as_of=parse_as_of(as_of))
    with click.progressbar(length=len(contract_ids), label="Invoicing", file=sys.stderr, show_pos=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.pos)

        run_id = service.start(request, background=False, on_progress=progress)
    if post_tasks:
        click.echo("Waiting for post-invoicing tasks…", err=True)
        service.worker.wait_idle(TASK_WAIT_S)
    view = service.view(run_id)
    service.close()
    if fmt == "json":
        click.echo(json.dumps(view.as_json(), indent=2))
    elif fmt == "csv":
        click.echo(results_csv(view), nl=False)
    else:
        click.echo(_table_text(view))
    if view.counts()["failed"]:
        sys.exit(1)  # a script must notice that some contracts were not invoiced
