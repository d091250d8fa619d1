"""`w365 register`, `w365 unregister`, `w365 registration-status`: the admin commands of docs/deploy.md."""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import click

from connectors.dataverse.errors import DataverseError
from plugin.cli.common import connect, explain_dataverse_error, load_config
from plugin.config import Config
from plugin.registration import (Change, Finding, InvalidInput, Plan, PlanInterrupted, RegistrationError,
                                 apply_plan, check_webhook_key, check_webhook_url, new_webhook_key,
                                 plan_register, plan_unregister, read_snapshot, spec)

if TYPE_CHECKING:
    from connectors.dataverse import DataverseClient

_DONE = {"create": "created", "update": "updated", "delete": "deleted"}
_PRIVILEGE_HINT = (" Registering needs create/update/delete on custom APIs, service endpoints and processing "
                   "steps: the System Administrator or System Customizer role.")


def _explain(exc: Exception, config: Config) -> str:
    """One clear sentence for a failure talking to Dataverse."""
    return explain_dataverse_error(exc, config.dataverse_url, _PRIVILEGE_HINT)


@contextmanager
def _clear_errors(config: Config) -> Iterator[None]:
    """Turn connector and registration failures into a one-line error (exit 1), never a traceback."""
    try:
        yield
    except PlanInterrupted as exc:
        if not isinstance(exc.error, (DataverseError, RegistrationError)):
            raise exc.error
        raise click.ClickException(
            f"stopped after {exc.applied} of {exc.total} changes: {_explain(exc.error, config)} "
            "Running the command again picks up where it stopped (nothing is duplicated).") from None
    except (DataverseError, RegistrationError) as exc:
        raise click.ClickException(_explain(exc, config)) from None


def _connect() -> tuple[Config, "DataverseClient"]:
    config = load_config()
    return config, connect(config)


def _echo_change(change: Change, done: bool = False) -> None:
    verb = _DONE[change.action] if done else change.action
    click.echo(f"  {verb:<7} {change.summary}")


def _echo_findings(findings: tuple[Finding, ...] | list[Finding]) -> None:
    for f in findings:
        detail = f"  {f.detail}" if f.detail else ""
        click.echo(f"  {f.state:<8} {f.component:<18} {f.name}{detail}")


def _choose_key(option: str | None, config: Config) -> tuple[str, bool]:
    """The webhook key to register and whether it was generated now."""
    if option:
        return option, False
    if config.webhook_keys:
        return config.webhook_keys[0], False
    return new_webhook_key(), True


def _checked(check, value: str, option: str) -> list[str]:
    """Run an input check; a refusal becomes click's usage error (exit 2) naming the option."""
    try:
        return check(value)
    except InvalidInput as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None


def _echo_dry_run(plan: Plan, generated: bool) -> None:
    click.echo(f"Planned changes ({len(plan.changes)}):")
    for change in plan.changes:
        _echo_change(change)
    if generated:
        click.echo("A new webhook key would be generated (none in --webhook-key or W365_WEBHOOK_KEYS).")
    click.echo("Dry run: nothing was written.")


def _refuse_conflicts(plan: Plan) -> None:
    if plan.conflicts:
        _echo_findings(plan.conflicts)
        raise click.ClickException(
            "some existing components differ in columns Dataverse fixes once saved, so they cannot be "
            "updated in place; nothing was written. `w365 unregister --all` removes the custom APIs "
            "(and their messages) so that `w365 register` can create them again.")


@click.command("register")
@click.option("--url", required=True,
              help=f"The service's public webhook URL (https://host{spec.WEBHOOK_PATH}).")
@click.option("--dry-run", is_flag=True, help="Print the planned changes; write nothing.")
@click.option("--webhook-key", help=f"The key Dataverse sends in the {spec.WEBHOOK_HEADER} header "
                                    "(default: the first of W365_WEBHOOK_KEYS, else a new one).")
def register(url: str, dry_run: bool, webhook_key: str | None) -> None:
    """Create or update the custom APIs, the webhook endpoint and its steps (idempotent)."""
    warnings = _checked(check_webhook_url, url, "--url")
    config, client = _connect()
    key, generated = _choose_key(webhook_key, config)
    warnings += _checked(check_webhook_key, key, "--webhook-key" if webhook_key else "W365_WEBHOOK_KEYS")
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)
    with _clear_errors(config):
        plan = plan_register(read_snapshot(client), url, key)
        click.echo(f"Dataverse: {config.dataverse_url}")
        _refuse_conflicts(plan)
        extras = [f for f in plan.findings if f.state == "extra"]
        if extras:
            click.echo("Notes:")
            _echo_findings(extras)
        if dry_run:
            _echo_dry_run(plan, generated)
            return

        def applied(change: Change) -> None:
            _echo_change(change, done=True)
            if generated and change.entity_set == "serviceendpoints" and change.action != "delete":
                click.echo(f"\nNew webhook key (shown only this once): {key}\n"
                           "Add it to W365_WEBHOOK_KEYS of the plugin service, or its webhook calls "
                           "will get 401.\n")

        apply_plan(client, plan, on_applied=applied)
    click.echo(f"Registered: the webhook posts to {url}.")


@click.command("unregister")
@click.option("--all", "remove_all", is_flag=True,
              help="Also delete the custom APIs (and so their messages).")
@click.option("--dry-run", is_flag=True, help="Print the planned changes; write nothing.")
def unregister(remove_all: bool, dry_run: bool) -> None:
    """Remove the webhook steps, then the endpoint (and with --all the custom APIs)."""
    config, client = _connect()
    with _clear_errors(config):
        plan = plan_unregister(read_snapshot(client), remove_custom_apis=remove_all)
        click.echo(f"Dataverse: {config.dataverse_url}")
        if not plan.changes:
            click.echo("Nothing to remove.")
            return
        if dry_run:
            for change in plan.changes:
                _echo_change(change)
            click.echo("Dry run: nothing was written.")
            return
        apply_plan(client, plan, on_applied=lambda change: _echo_change(change, done=True))
    click.echo("Unregistered." + ("" if remove_all else " The custom APIs stay (remove them with --all)."))


@click.command("registration-status")
@click.option("--url", help="The expected webhook URL; a different registered URL counts as a problem.")
@click.pass_context
def registration_status(ctx: click.Context, url: str | None) -> None:
    """List what exists and what is missing; exit code 1 when the org is not ready."""
    config, client = _connect()
    with _clear_errors(config):
        plan = plan_register(read_snapshot(client), url, None)
    click.echo(f"Dataverse: {config.dataverse_url}")
    _echo_findings(plan.findings)
    if plan.problems:
        click.echo(f"Not ready: {len(plan.problems)} problem(s). `w365 register --url <webhook URL>` fixes "
                   "missing and differing parts.")
        if plan.conflicts:
            click.echo("Conflicts (columns fixed once saved) need `w365 unregister --all` first.")
        ctx.exit(1)
    click.echo("Ready.")
