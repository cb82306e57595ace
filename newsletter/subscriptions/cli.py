"""``newsletter subscribers import CSV [--dry-run]`` and ``export [--format csv|json]``."""

from __future__ import annotations

import click

from newsletter.audit import Actor
from newsletter.cliutil import CommandGroup, read_text_file
from newsletter.progress import progress
from newsletter.subscriptions import roster

subscribers_cli = CommandGroup("subscribers", help="The subscriber roster, in bulk.")


@subscribers_cli.command("import")
@click.argument("csv_path", metavar="CSV")
@click.option("--dry-run", is_flag=True, help="Check every row and report; change nothing.")
@click.option(
    "--reactivate",
    is_flag=True,
    help="Also bring back addresses that unsubscribed, bounced or complained "
    "(recorded in the consent ledger). Without it they are left as they are.",
)
def import_command(csv_path: str, dry_run: bool, reactivate: bool) -> None:
    """Add or update people from a CSV with columns email, role, municipality, topics (slugs
    separated by ';'), frequency, locale, optional name, local_news, alerts (true/false; empty:
    on for mayors and officials with a municipality), consent_at (ISO 8601), consent_source.

    Mayors and officials are active at once; citizens are active only with consent_at and
    consent_source, otherwise pending with a confirmation mail. All or nothing: a bad row
    rejects the file with its line number."""
    text = read_text_file(csv_path)
    with progress(max(0, text.count("\n") - 1), "checking rows", min_items=1000) as step:
        report = roster.import_roster(
            text, actor=Actor.console(), dry_run=dry_run, reactivate=reactivate, progress=step
        )
    if report.dry_run:
        for error in report.errors:
            click.echo(error, err=True)
        if report.errors:
            raise click.ClickException(
                f"dry run: {len(report.errors)} bad row(s), nothing imported"
            )
        click.echo(f"dry run: {_counts(report, 'would ')}; nothing changed")
        return
    click.echo(_counts(report))


def _counts(report: roster.RosterReport, would: str = "") -> str:
    verb = ("create", "update") if would else ("created", "updated")
    line = f"{would}{verb[0]} {report.created}, {would}{verb[1]} {report.updated}"
    if report.pending:
        line += f", {report.pending} pending with a confirmation mail"
    if report.reactivated:
        line += f", reactivated {report.reactivated}"
    if report.left_alone:
        line += f", left {report.left_alone} unsubscribed/bounced as they were (--reactivate)"
    return line


@subscribers_cli.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
def export_command(fmt: str) -> None:
    """Print every subscriber as CSV (importable again) or JSON."""
    click.echo(roster.export_subscribers(fmt, actor=Actor.console()), nl=False)
