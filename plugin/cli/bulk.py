"""Placeholder: being built."""
import click


@click.command("bulk")
def bulk():
    """Not built yet."""
    raise click.ClickException("not built yet")

