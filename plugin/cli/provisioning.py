"""`w365 provision [--dry-run]` and `w365 provision-status`: the service's own tables and role."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import click

from connectors.dataverse.errors import DataverseError
from plugin.cli.common import connect, explain_dataverse_error, load_config
from plugin.config import Config
from plugin.provisioning import (Change, Finding, ProvisionError, apply_plan, plan_provision,
                                 read_snapshot)

_HINT = (" Provisioning creates tables and a security role: it needs the System Administrator or "
         "System Customizer role (docs/deploy.md).")


@contextmanager
def _clear_errors(config: Config) -> Iterator[None]:
    """Connector and provisioning failures become a one-line error (exit 1), never a traceback."""
    try:
        yield
    except (DataverseError, ProvisionError) as exc:
        raise click.ClickException(explain_dataverse_error(exc, config.dataverse_url, _HINT)) from None


def _echo_findings(findings: tuple[Finding, ...]) -> None:
    for f in findings:
        click.echo(f"  {f.state:<8} {f.component:<10} {f.name}")


def _echo_change(change: Change, verb: str) -> None:
    click.echo(f"  {verb:<8} {change.summary}")
    click.echo(f"           {change.method} {change.path}")


@click.command("provision")
@click.option("--dry-run", is_flag=True, help="Print the planned requests; write nothing.")
def provision(dry_run: bool) -> None:
    """Create the service's tables, columns, keys, lookups and security role (idempotent)."""
    config = load_config()
    client = connect(config)
    with _clear_errors(config):
        snapshot = read_snapshot(client)
        plan = plan_provision(snapshot)
        click.echo(f"Dataverse: {config.dataverse_url}")
        if not plan.changes:
            click.echo("Nothing to do: everything exists.")
            return
        if dry_run:
            click.echo(f"Planned changes ({len(plan.changes)}):")
            for change in plan.changes:
                _echo_change(change, "create")
            click.echo("Dry run: nothing was written.")
            return
        apply_plan(client, plan, snapshot, on_applied=lambda c: _echo_change(c, "created"))
    click.echo(f"Provisioned: {len(plan.changes)} change(s). `w365 provision-status` checks.")


@click.command("provision-status")
@click.pass_context
def provision_status(ctx: click.Context) -> None:
    """List what exists and what is missing; exit code 1 while anything is missing."""
    config = load_config()
    client = connect(config)
    with _clear_errors(config):
        plan = plan_provision(read_snapshot(client))
    click.echo(f"Dataverse: {config.dataverse_url}")
    _echo_findings(plan.findings)
    if plan.missing:
        click.echo(f"Not ready: {len(plan.missing)} missing. `w365 provision` creates them.")
        ctx.exit(1)
    click.echo("Ready.")
