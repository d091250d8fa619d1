"""Placeholder: being built."""
import click


@click.command("cycles")
def cycles():
    """Not built yet."""
    raise click.ClickException("not built yet")


@click.command("preview")
def preview():
    """Not built yet."""
    raise click.ClickException("not built yet")


@click.command("generate")
def generate():
    """Not built yet."""
    raise click.ClickException("not built yet")

