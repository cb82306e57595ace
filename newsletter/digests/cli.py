"""``newsletter digests build`` and ``newsletter digests preview``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from newsletter.cliutil import CommandGroup
from newsletter.digests import service
from newsletter.exceptions import ValidationError
from newsletter.progress import progress
from newsletter.vocabulary import Frequency, Locale

digests_group = CommandGroup("digests", help="Compose, enqueue and preview digests.")


def _parse_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"--at: not an ISO-8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValidationError(f"--at: give a UTC offset, e.g. {value}+01:00 or {value}Z")
    return parsed


@digests_group.command("build")
@click.option("--frequency", type=click.Choice(Frequency.values()), required=True)
@click.option("--at", "at", metavar="ISO-8601", help="the instant to build for (default: now)")
def build_command(frequency: str, at: str | None) -> None:
    """Compose the digests due at that instant and enqueue one delivery per recipient."""
    with progress(3, f"building {frequency} digests", min_items=1) as step:
        result = service.build_digests(frequency, _parse_at(at), progress=step)
    click.echo(f"{result.period_key}: {result.digests} digests, {result.deliveries} deliveries")


@digests_group.command("preview")
@click.option("--frequency", type=click.Choice(Frequency.values()), default=Frequency.WEEKLY.value)
@click.option("--topics", default="", help="comma-separated topic slugs")
@click.option("--lang", type=click.Choice(Locale.values()), default=Locale.IT.value)
@click.option("--mayor", "mayor", metavar="MUNICIPALITY", help="the mayor's digest of a town")
@click.option("--at", "at", metavar="ISO-8601")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True)
def preview_command(
    frequency: str, topics: str, lang: str, mayor: str | None, at: str | None, out: str
) -> None:
    """Write the HTML and text of one variant to DIR (nothing is stored or sent)."""
    slugs = [s for s in topics.split(",") if s.strip()]
    rendered = service.preview_digest(frequency, slugs, lang, mayor=mayor, at=_parse_at(at))
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "digest.html").write_text(rendered.html, encoding="utf-8")
        (folder / "digest.txt").write_text(rendered.text, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"{out}: {exc.strerror}") from None
    click.echo(f"{rendered.subject}\n{folder / 'digest.html'}\n{folder / 'digest.txt'}")
