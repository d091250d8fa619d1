"""Placeholder: being built."""
import click


@click.command("register")
def register():
    """Not built yet."""
    raise click.ClickException("not built yet")


@click.command("unregister")
def unregister():
    """Not built yet."""
    raise click.ClickException("not built yet")


@click.command("registration-status")
def registration_status():
    """Not built yet."""
    raise click.ClickException("not built yet")

