"""``newsletter municipalities import CSV``."""

from __future__ import annotations

import click

from newsletter.audit import Actor
from newsletter.cliutil import CommandGroup, read_text_file
from newsletter.reference import service

municipalities_cli = CommandGroup("municipalities", help="The area's municipalities.")


@municipalities_cli.command("import")
@click.argument("csv_path", metavar="CSV")
def import_command(csv_path: str) -> None:
    """Upsert municipalities by name from a CSV with columns name, istat_code."""
    counts = service.import_municipalities(read_text_file(csv_path), actor=Actor.console())
    click.echo(f"created {counts.created}, updated {counts.updated}, unchanged {counts.unchanged}")


@municipalities_cli.command("rename")
@click.argument("current")
@click.argument("new_name", metavar="NEW_NAME")
def rename_command(current: str, new_name: str) -> None:
    """Give a comune its new official name; its old page and feed addresses redirect."""
    municipality = service.rename_municipality(current, new_name, actor=Actor.console())
    click.echo(f"{municipality.name}: /comuni/{municipality.slug}")
