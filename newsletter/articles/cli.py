"""``newsletter articles import SOURCE`` and ``newsletter articles sources add|list|poll``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from flask import current_app

from newsletter.articles import feeds_import, service
from newsletter.audit import Actor
from newsletter.cliutil import CommandGroup, read_text_file
from newsletter.exceptions import ValidationError
from newsletter.progress import progress

PROGRESS_MIN_ITEMS = 20  # shorter imports finish before a bar would be useful

articles_cli = CommandGroup("articles", help="Articles: import files and feeds, feed sources.")


@contextmanager
def progress_bar(total: int) -> Iterator[Callable[[], None]]:
    """Progress of an import on stderr: a bar on a terminal, periodic lines in logs."""
    with progress(total, "importing", min_items=PROGRESS_MIN_ITEMS) as step:
        yield lambda: step(1)


def _is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


@articles_cli.command("import")
@click.argument("source", metavar="SOURCE")
def import_command(source: str) -> None:
    """Upsert articles from a JSON file (the article format) or an RSS/Atom URL."""
    if _is_url(source):
        feed = feeds_import.source_for_url(source)
        result = feeds_import.fetch_source(feed, progress=progress_bar)
        if result.status == "not-modified":
            click.echo("not modified since the last import")
        click.echo(result.counts.line())
        return
    text = read_text_file(source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{source}: not JSON (line {exc.lineno}: {exc.msg})") from None
    items = service.parse_import_file(data, current_app.config["TIMEZONE"])
    service.check_topics(items)
    target = service.file_source()
    with progress_bar(len(items)) as step:
        counts = service.upsert_many(target, items, progress=step)
    click.echo(counts.line())


@articles_cli.command("refresh")
def refresh_command() -> None:
    """Re-classify automatically labelled articles and re-detect municipality mentions
    (after editing data/topics.toml or the municipality table)."""
    topics, mentions = service.refresh_all()
    click.echo(f"topics changed on {topics} articles, mentions changed on {mentions}")


@articles_cli.command("retrain")
def retrain_command() -> None:
    """Retrain the topic model on the topics editors chose (the nightly job does the same)."""
    from newsletter.articles import training

    click.echo(training.retrain().line())


sources_cli = CommandGroup("sources", help="Feeds the worker polls.")
articles_cli.add_command(sources_cli)


@sources_cli.command("add")
@click.argument("url")
@click.option("--name", help="A name for the source (default: the URL's host).")
def sources_add(url: str, name: str | None) -> None:
    """Register an RSS/Atom feed to be polled by the worker."""
    source = feeds_import.add_source(url, name, actor=Actor.console())
    click.echo(f"added source {source.id}: {source.name} <{source.url}>")


@sources_cli.command("list")
def sources_list() -> None:
    """Every source with its kind and the outcome of its last fetch."""
    for source in feeds_import.list_sources():
        fetched = (
            source.last_fetched_at.isoformat(timespec="seconds")
            if source.last_fetched_at
            else "never"
        )
        status = source.last_status or "-"
        polled = "polled" if source.poll else "not polled"
        fields = [str(source.id), str(source.kind), source.name, source.url or "-"]
        fields += [polled, status, fetched, source.last_error or ""]
        click.echo("\t".join(fields).rstrip("\t"))


@sources_cli.command("poll")
def sources_poll() -> None:
    """Poll every registered feed now, as the worker does on its schedule."""
    feeds_import.poll_all_sources()
    failed = [
        s for s in feeds_import.list_sources() if s.poll and s.last_status in {"error", "timeout"}
    ]
    for source in failed:
        click.echo(f"{source.name}: {source.last_error}", err=True)
    if failed:
        raise click.ClickException(f"{len(failed)} source(s) failed")
    click.echo("all sources polled")
