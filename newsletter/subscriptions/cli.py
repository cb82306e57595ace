"""``newsletter subscribers import CSV [--dry-run]`` and ``export [--format csv|json]``."""

from __future__ import annotations

import click

from newsletter.audit import Actor
from newsletter.cliutil import CommandGroup, read_text_file
from newsletter.subscriptions import roster

subscribers_cli = CommandGroup("subscribers", help="The subscriber roster, in bulk.")


@subscribers_cli.command("import")
@click.argument("csv_path", metavar="CSV")
@click.option("--dry-run", is_flag=True, help="Check every row and report; change nothing.")
def import_command(csv_path: str, dry_run: bool) -> None:
    """Add or update institutional addresses (active at once) from a CSV with columns email,
    role, municipality, topics (slugs separated by ';'), frequency, locale, optional name."""
    report = roster.import_roster(read_text_file(csv_path), actor=Actor.console(), dry_run=dry_run)
    if report.dry_run:
        for error in report.errors:
            click.echo(error, err=True)
        if report.errors:
            raise click.ClickException(
                f"dry run: {len(report.errors)} bad row(s), nothing imported"
            )
        click.echo(
            f"dry run: would create {report.created}, would update {report.updated}; "
            "nothing changed"
        )
        return
    click.echo(f"created {report.created}, updated {report.updated}")


@subscribers_cli.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
def export_command(fmt: str) -> None:
    """Print every subscriber as CSV (importable again) or JSON."""
    click.echo(roster.export_subscribers(fmt, actor=Actor.console()), nl=False)
