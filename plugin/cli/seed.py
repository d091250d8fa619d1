"""Placeholder: being built."""
import click


@click.command("seed")
def seed():
    """Not built yet."""
    raise click.ClickException("not built yet")

